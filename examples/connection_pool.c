/* examples/connection_pool.c — a bounded semaphore as a connection pool
 * (Python's BoundedSemaphore): 10 client threads share 3 "connections";
 * the semaphore keeps at most 3 in use at once, and releasing one more
 * than was taken is refused.
 *
 * To make the printed peak deterministic, the first clients keep their
 * connection until all 3 are in use at once (an event marks that moment);
 * later clients just use theirs and leave.
 */
#include <cfutures.h>

#include <pthread.h>
#include <stdio.h>

#define CONNECTIONS 3
#define CLIENTS 10

static cf_sem pool;
static cf_event peak_reached;
static pthread_mutex_t stats_mu = PTHREAD_MUTEX_INITIALIZER;
static int in_use, max_in_use, served;

static void *client(void *arg)
{
    (void)arg;
    if (cf_sem_acquire(&pool) != 0)
        return NULL;
    pthread_mutex_lock(&stats_mu);
    in_use++;
    if (in_use > max_in_use)
        max_in_use = in_use;
    if (in_use == CONNECTIONS)
        cf_event_set(&peak_reached);
    pthread_mutex_unlock(&stats_mu);

    /* "Use" the connection: hold it until the pool has been full once. */
    cf_event_wait(&peak_reached, CF_FOREVER);

    pthread_mutex_lock(&stats_mu);
    in_use--;
    served++;
    pthread_mutex_unlock(&stats_mu);
    cf_sem_release(&pool, 1);
    return NULL;
}

int main(void)
{
    pthread_t t[CLIENTS];
    int started = 0, rc = 1;

    if (cf_sem_init_bounded(&pool, CONNECTIONS) != 0)
        return 1;
    if (cf_event_init(&peak_reached) != 0)
        goto out_sem;
    for (; started < CLIENTS; started++)
        if (pthread_create(&t[started], NULL, client, NULL) != 0)
            break;
    for (int i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    if (started < CLIENTS) {
        fprintf(stderr, "could not start every client\n");
        goto out_event;
    }
    printf("pool of %d connections, %d clients\n", CONNECTIONS, CLIENTS);
    printf("served %d requests, at most %d at once\n", served, max_in_use);
    printf("connections free at the end: %ld\n", cf_sem_value(&pool));
    /* One release too many: a BoundedSemaphore refuses it. */
    int over = cf_sem_release(&pool, 1);
    printf("extra release: %s (count still %ld)\n", cf_strerror(over), cf_sem_value(&pool));
    rc = (served == CLIENTS && max_in_use == CONNECTIONS && over < 0) ? 0 : 1;
out_event:
    cf_event_destroy(&peak_reached);
out_sem:
    cf_sem_destroy(&pool);
    return rc;
}
