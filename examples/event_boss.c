/* examples/event_boss.c — boss and workers with events (Python's Event,
 * Python Cookbook 12.2): the workers wait for the boss's "go", the boss
 * waits for their "ready" and "done" reports.
 *
 * Each worker sums its slice of 1..1000 once "go" is set; the boss prints
 * the results in worker order after joining, so the output is fixed.
 */
#include <cfutures.h>

#include <pthread.h>
#include <stdio.h>

#define WORKERS 4
#define TOTAL 1000

struct worker {
    pthread_t thread;
    int id;
    cf_event ready; /* set by the worker just before it waits for go */
    long sum;       /* written before done is set */
    cf_event done;
};

static cf_event go;

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    cf_event_set(&w->ready);
    cf_event_wait(&go, CF_FOREVER);
    long lo = (long)w->id * (TOTAL / WORKERS) + 1, hi = lo + TOTAL / WORKERS;
    for (long n = lo; n < hi; n++)
        w->sum += n;
    cf_event_set(&w->done);
    return NULL;
}

static int start_workers(struct worker *w)
{
    for (int i = 0; i < WORKERS; i++) {
        w[i] = (struct worker){.id = i};
        if (cf_event_init(&w[i].ready) != 0 || cf_event_init(&w[i].done) != 0)
            return -1;
        if (pthread_create(&w[i].thread, NULL, worker_main, &w[i]) != 0)
            return -1;
    }
    return 0;
}

int main(void)
{
    struct worker w[WORKERS];
    long total = 0;

    if (cf_event_init(&go) != 0 || start_workers(w) != 0) {
        fprintf(stderr, "setup failed\n");
        return 1;
    }
    for (int i = 0; i < WORKERS; i++)
        cf_event_wait(&w[i].ready, CF_FOREVER);
    printf("boss: %d workers ready; go is set? %s\n", WORKERS, cf_event_is_set(&go) ? "yes" : "no");
    /* Nobody can have finished: all are waiting for go. */
    printf("boss: worker 0 done before go? %s\n", cf_event_wait(&w[0].done, 0.01) ? "yes" : "no");
    cf_event_set(&go);
    printf("boss: go\n");
    for (int i = 0; i < WORKERS; i++) {
        cf_event_wait(&w[i].done, CF_FOREVER);
        pthread_join(w[i].thread, NULL);
        printf("worker %d: sum = %ld\n", i, w[i].sum);
        total += w[i].sum;
        cf_event_destroy(&w[i].ready);
        cf_event_destroy(&w[i].done);
    }
    printf("boss: total = %ld (expected %d)\n", total, TOTAL * (TOTAL + 1) / 2);
    cf_event_clear(&go);
    printf("boss: go cleared, is_set? %s\n", cf_event_is_set(&go) ? "yes" : "no");
    cf_event_destroy(&go);
    return total == TOTAL * (TOTAL + 1) / 2 ? 0 : 1;
}
