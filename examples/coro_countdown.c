/* Coroutines as an alternative to threads (Python Cookbook 12.12): the
 * recipe's round-robin scheduler running two countdowns and a countup as
 * tasks on one thread. Each task does a step and yields where a thread
 * would give up the CPU; the scheduler runs the ready tasks in turn, so
 * their lines interleave in a fixed order, run after run.
 *
 * Then a fourth part of the recipe's idea: tasks that sleep. Three
 * "ticker" tasks sleep different intervals on the same thread, and the
 * scheduler sleeps only when none of them is ready. */
#include <stdint.h>
#include <stdio.h>

#include <cfutures.h>

static void countdown(void *arg)
{
    intptr_t n = (intptr_t)arg;
    while (n > 0) {
        printf("T-minus %ld\n", (long)n);
        cf_coro_yield();
        n--;
    }
    printf("Blastoff!\n");
}

static void countup(void *arg)
{
    intptr_t n = (intptr_t)arg;
    for (intptr_t x = 0; x < n; x++) {
        printf("Counting up %ld\n", (long)x);
        cf_coro_yield();
    }
}

struct ticker {
    const char *name;
    double interval;
    int ticks;
};

static void tick(void *arg)
{
    const struct ticker *t = arg;
    for (int i = 1; i <= t->ticks; i++) {
        cf_coro_sleep(t->interval);
        printf("%s tick %d\n", t->name, i);
    }
}

int main(void)
{
    cf_sched *sched;
    if (cf_sched_create(&sched, 0) < 0)
        return 1;
    cf_coro_spawn(sched, countdown, (void *)(intptr_t)10, NULL);
    cf_coro_spawn(sched, countdown, (void *)(intptr_t)5, NULL);
    cf_coro_spawn(sched, countup, (void *)(intptr_t)15, NULL);
    int rc = cf_sched_run(sched);

    /* Due at 10, 20, 30, 40 ms; 25, 50, 75 ms; 45 ms: the lines come in
     * deadline order. */
    static const struct ticker tickers[] = {
        {"fast", 0.010, 4}, {"medium", 0.025, 3}, {"slow", 0.045, 1}};
    for (size_t i = 0; i < sizeof tickers / sizeof tickers[0]; i++)
        cf_coro_spawn(sched, tick, (void *)&tickers[i], NULL);
    if (rc == 0)
        rc = cf_sched_run(sched);
    cf_sched_destroy(sched);
    if (rc < 0)
        fprintf(stderr, "coro_countdown: %s\n", cf_strerror(rc));
    return rc < 0;
}
