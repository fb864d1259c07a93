/* Producer/consumer with a priority queue and a sentinel (Python
 * Cookbook 1.5 and 12.3): jobs leave by priority (lower value first, equal
 * values in the order they were queued) and a sentinel with the largest
 * priority tells the consumer to stop after everything else.
 *
 * First the producer queues a night's jobs and the consumer, started once
 * they are all queued, prints them in the order it takes them; then a
 * producer and a consumer run at the same time over a small bounded queue
 * and the total shows that nothing was lost or duplicated. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include <cfutures.h>

struct job {
    const char *name;
    int64_t priority;
};

static const struct job jobs[] = {
    {"rotate logs", 5},   {"back up database", 1}, {"send report", 3},
    {"rebuild index", 3}, {"page on-call", 0},     {"clean tmp", 5},
};
#define NJOBS (sizeof(jobs) / sizeof(jobs[0]))

static const struct job stop = {"stop", INT64_MAX}; /* the sentinel */

static void *producer(void *arg)
{
    cf_queue *q = arg;
    for (size_t i = 0; i < NJOBS; i++)
        cf_queue_put_priority(q, (void *)&jobs[i], jobs[i].priority, CF_FOREVER);
    cf_queue_put_priority(q, (void *)&stop, stop.priority, CF_FOREVER);
    return NULL;
}

static void *consumer(void *arg)
{
    cf_queue *q = arg;
    for (;;) {
        void *item;
        int64_t prio;
        if (cf_queue_get_priority(q, &item, &prio, CF_FOREVER) != 0)
            return NULL;
        cf_queue_task_done(q);
        if (item == &stop)
            return NULL;
        printf("  [%lld] %s\n", (long long)prio, ((const struct job *)item)->name);
    }
}

/* Second part: numbers 1..N through a queue of 4 slots, -1 ends. */
enum { N = 10000 };

struct tally {
    cf_queue *q;
    long sum, count;
};

static void *number_producer(void *arg)
{
    cf_queue *q = arg;
    for (intptr_t i = 1; i <= N; i++)
        cf_queue_put(q, (void *)i);
    cf_queue_put(q, (void *)(intptr_t)-1);
    return NULL;
}

static void *number_consumer(void *arg)
{
    struct tally *t = arg;
    void *item;
    while (cf_queue_get(t->q, &item) == 0 && (intptr_t)item != -1) {
        t->sum += (intptr_t)item;
        t->count++;
    }
    return NULL;
}

int main(void)
{
    cf_queue q;
    pthread_t p, c;
    if (cf_queue_init(&q, CF_QUEUE_PRIORITY, 0) < 0)
        return 1;
    pthread_create(&p, NULL, producer, &q);
    pthread_join(p, NULL);
    printf("jobs by priority:\n");
    pthread_create(&c, NULL, consumer, &q);
    pthread_join(c, NULL);
    cf_queue_join(&q); /* every job was task_done */
    cf_queue_destroy(&q);

    struct tally t = {&q, 0, 0};
    if (cf_queue_init(&q, CF_QUEUE_FIFO, 4) < 0)
        return 1;
    pthread_create(&p, NULL, number_producer, &q);
    pthread_create(&c, NULL, number_consumer, &t);
    pthread_join(p, NULL);
    pthread_join(c, NULL);
    cf_queue_destroy(&q);
    printf("bounded queue: %ld numbers, sum %ld\n", t.count, t.sum);
    return t.count == N && t.sum == (long)N * (N + 1) / 2 ? 0 : 1;
}
