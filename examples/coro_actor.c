/* Coroutine actors (Python Cookbook 12.12, the ActorScheduler): actors
 * are tasks on one thread that wait for messages sent to them by name.
 * The recipe's "counter" sends each count to a "printer" and the next,
 * smaller count to itself, 10,000 times over, with no thread, no lock and
 * no recursion; the printer prints every thousandth count. A counter that
 * reaches 0 tells the printer to stop (a NULL message) and ends, and the
 * scheduler returns once both have ended. */
#include <stdint.h>
#include <stdio.h>

#include <cfutures.h>

static cf_sched *sched;
static cf_coro_id printer_id, counter_id;

static void printer(void *arg)
{
    long *printed = arg;
    void *msg;
    while (cf_coro_recv(&msg, CF_FOREVER) == 0 && msg != NULL) {
        intptr_t n = (intptr_t)msg;
        if (n % 1000 == 0 || n < 3)
            printf("Got: %ld\n", (long)n);
        (*printed)++;
    }
}

static void counter(void *arg)
{
    (void)arg;
    void *msg;
    while (cf_coro_recv(&msg, CF_FOREVER) == 0) {
        intptr_t n = (intptr_t)msg;
        if (n == 0)
            break;
        cf_coro_send(sched, printer_id, (void *)n);
        cf_coro_send(sched, counter_id, (void *)(n - 1));
    }
    cf_coro_send(sched, printer_id, NULL); /* the printer's sentinel */
}

int main(void)
{
    long printed = 0;
    if (cf_sched_create(&sched, 0) < 0)
        return 1;
    if (cf_coro_spawn(sched, printer, &printed, &printer_id) < 0 ||
        cf_coro_spawn(sched, counter, NULL, &counter_id) < 0 ||
        cf_coro_send(sched, counter_id, (void *)(intptr_t)10000) < 0)
        return 1;
    int rc = cf_sched_run(sched);
    printf("printer received %ld counts; scheduler returned %d with %zu actors left\n",
           printed, rc, cf_sched_count(sched));
    cf_sched_destroy(sched);
    return rc != 0 || printed != 10000;
}
