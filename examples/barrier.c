/* examples/barrier.c — threads meeting at a barrier (Python's Barrier):
 * 4 threads compute in rounds; nobody starts round r+1 before all have
 * finished round r, and the barrier's action, run by the last arrival,
 * prints each round's total.
 *
 * Only the action and main print, so the output is fixed.
 */
#include <cfutures.h>

#include <pthread.h>
#include <stdio.h>

#define THREADS 4
#define ROUNDS 3

static cf_barrier barrier;
static long partial[THREADS]; /* each thread writes its own slot */
static int round_no;          /* advanced by the action */

/* Runs once per round, with every thread of the round stopped at the
 * barrier: it may read every slot. */
static int round_done(void *arg)
{
    (void)arg;
    long sum = 0;
    for (int i = 0; i < THREADS; i++)
        sum += partial[i];
    printf("round %d: all %d threads arrived, total = %ld\n", ++round_no, THREADS, sum);
    return 0;
}

static void *worker(void *arg)
{
    int id = (int)(long)arg;
    for (int r = 1; r <= ROUNDS; r++) {
        partial[id] = (long)r * (id + 1); /* this round's work */
        if (cf_barrier_wait(&barrier) < 0)
            return NULL;
    }
    return NULL;
}

int main(void)
{
    pthread_t t[THREADS];
    int started = 0;

    if (cf_barrier_init(&barrier, THREADS, round_done, NULL, CF_FOREVER) != 0)
        return 1;
    printf("barrier for %d parties\n", cf_barrier_parties(&barrier));
    for (; started < THREADS; started++)
        if (pthread_create(&t[started], NULL, worker, (void *)(long)started) != 0)
            break;
    if (started < THREADS)
        cf_barrier_abort(&barrier); /* release whoever did start */
    for (int i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    printf("done after %d rounds; broken? %s\n", round_no,
           cf_barrier_broken(&barrier) ? "yes" : "no");
    cf_barrier_destroy(&barrier);
    return round_no == ROUNDS ? 0 : 1;
}
