/* Cooperative thread termination, the Python Cookbook's CountdownTask
 * (recipe 12.2): the task checks a "running" flag at every step, and
 * terminate() clears it; the thread ends at its next check and main joins
 * it. Nothing is killed from outside.
 *
 * The task's pause between steps waits on a condition variable instead of
 * sleeping, so terminate() also cuts the current pause short. The
 * "T-minus" lines, whose count depends on timing, go to stderr; stdout
 * only says what is certain.
 */
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include <cfutures.h>

struct countdown {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool running; /* cleared by terminate(); read by the task at each step */
    int at;       /* the last step the task reached */
    int from;
    double pause; /* seconds between steps */
};

static void countdown_terminate(struct countdown *c)
{
    pthread_mutex_lock(&c->mu);
    c->running = false;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* Waits `pause` seconds or until terminated. Called with c->mu held. */
static void countdown_pause(struct countdown *c)
{
    struct timespec until;

    clock_gettime(CLOCK_MONOTONIC, &until); /* cv uses this clock */
    until.tv_nsec += (long)(c->pause * 1e9);
    until.tv_sec += until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    while (c->running && pthread_cond_timedwait(&c->cv, &c->mu, &until) == 0)
        ;
}

static void countdown_run(void *arg)
{
    struct countdown *c = arg;

    pthread_mutex_lock(&c->mu);
    for (int n = c->from; c->running && n > 0; n--) {
        fprintf(stderr, "T-minus %d\n", n);
        c->at = n;
        pthread_cond_broadcast(&c->cv); /* tell main how far we got */
        countdown_pause(c);
    }
    pthread_mutex_unlock(&c->mu);
}

int main(void)
{
    struct countdown c = {.running = true, .at = 0, .from = 10, .pause = 0.2};
    cf_thread t;
    int stopped_at;
    pthread_condattr_t ca;

    pthread_mutex_init(&c.mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c.cv, &ca);
    pthread_condattr_destroy(&ca);
    if (cf_thread_init(&t, "countdown", countdown_run, &c) < 0 || cf_thread_start(&t) < 0) {
        fprintf(stderr, "countdown: cannot start the thread\n");
        return 1;
    }
    printf("started %s from %d\n", cf_thread_name(&t), c.from);

    /* Let it count down to 7, then ask it to stop. */
    pthread_mutex_lock(&c.mu);
    while (c.at == 0 || c.at > 7)
        pthread_cond_wait(&c.cv, &c.mu);
    pthread_mutex_unlock(&c.mu);
    printf("reached T-minus 7: terminating\n");
    countdown_terminate(&c);

    if (cf_thread_join(&t, CF_FOREVER) < 0)
        return 1;
    stopped_at = c.at; /* safe: the thread has ended */
    fprintf(stderr, "stopped at T-minus %d\n", stopped_at);
    printf("joined; alive: %s; stopped before zero: %s\n", cf_thread_is_alive(&t) ? "yes" : "no",
           stopped_at > 1 ? "yes" : "no");
    cf_thread_destroy(&t);
    pthread_cond_destroy(&c.cv);
    pthread_mutex_destroy(&c.mu);
    return 0;
}
