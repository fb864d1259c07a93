/* tests/test_th_queue_fd.c — cf_queue_fd, the cookbook's recipe 12.13
 * (polling multiple thread queues): the descriptor is readable exactly
 * while the queue holds items (FIFO, LIFO and priority alike) and for good
 * once it is shut down; it stays exact when many threads put and get at
 * once; a consumer that waits in poll() never misses an item; destroy
 * closes it; and every error path.
 *
 * "Readable" is asked of poll() with a zero timeout, so no test sleeps on a
 * clock: a wait in poll() is bounded only as a liveness guard.
 */
#include <cfutures.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/resource.h>
#include <unistd.h>

#define ITEM(n) ((void *)(intptr_t)(n))
#define NUM(p) ((intptr_t)(p))

static bool readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int n = poll(&p, 1, 0);
    cr_assert_geq(n, 0);
    return n == 1 && (p.revents & POLLIN);
}

/* The readiness of fd must be "qsize > 0" after each of a run of puts and
 * gets that takes the queue through empty <-> non-empty several times. */
static void follows_put_get(enum cf_queue_kind kind)
{
    cf_queue q;
    void *item;
    cr_assert_eq(cf_queue_init(&q, kind, 0), 0);
    int fd = cf_queue_fd(&q);
    cr_assert_geq(fd, 0);
    cr_assert_eq(cf_queue_fd(&q), fd, "the same descriptor every time");
    cr_assert_not(readable(fd), "an empty queue");
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 5; i++) {
            cr_assert_eq(cf_queue_put_priority(&q, ITEM(i), 5 - i, 0), 0);
            cr_assert(readable(fd), "after put %d of round %d", i, round);
        }
        for (int i = 0; i < 5; i++) {
            cr_assert(readable(fd), "before get %d", i);
            cr_assert_eq(cf_queue_try_get(&q, &item), 0);
            cr_assert_eq(readable(fd), i < 4, "after get %d of round %d", i, round);
        }
        cr_assert_eq(cf_queue_try_get(&q, &item), CF_EEMPTY);
        cr_assert_not(readable(fd), "a failed get changes nothing");
    }
    cf_queue_destroy(&q);
}

Test(th_queue_fd, follows_put_get_fifo, .timeout = 20)
{
    follows_put_get(CF_QUEUE_FIFO);
}

Test(th_queue_fd, follows_put_get_lifo, .timeout = 20)
{
    follows_put_get(CF_QUEUE_LIFO);
}

Test(th_queue_fd, follows_put_get_priority, .timeout = 20)
{
    follows_put_get(CF_QUEUE_PRIORITY);
}

Test(th_queue_fd, bounded_and_timed_calls, .timeout = 20)
{
    cf_queue q;
    void *item;
    cr_assert_eq(cf_queue_init(&q, CF_QUEUE_FIFO, 1), 0);
    int fd = cf_queue_fd(&q);
    cr_assert_eq(cf_queue_put_timed(&q, ITEM(1), 0), 0);
    cr_assert_eq(cf_queue_try_put(&q, ITEM(2)), CF_EFULL);
    cr_assert(readable(fd), "a refused put leaves it readable");
    cr_assert_eq(cf_queue_get_timed(&q, &item, 5), 0);
    cr_assert_not(readable(fd));
    cr_assert_eq(cf_queue_get_timed(&q, &item, 0.01), -ETIMEDOUT);
    cr_assert_not(readable(fd));
    cf_queue_destroy(&q);
}

Test(th_queue_fd, created_on_a_non_empty_queue, .timeout = 20)
{
    cf_queue q;
    void *item;
    cr_assert_eq(cf_queue_init(&q, CF_QUEUE_LIFO, 0), 0);
    cr_assert_eq(cf_queue_put(&q, ITEM(7)), 0);
    int fd = cf_queue_fd(&q);
    cr_assert_geq(fd, 0);
    cr_assert(readable(fd), "items queued before the descriptor count");
    cr_assert_eq(cf_queue_get(&q, &item), 0);
    cr_assert_not(readable(fd));
    cf_queue_destroy(&q);
}

Test(th_queue_fd, shutdown_is_readable_for_good, .timeout = 20)
{
    cf_queue q;
    void *item;
    cr_assert_eq(cf_queue_init(&q, CF_QUEUE_FIFO, 0), 0);
    int fd = cf_queue_fd(&q);
    cr_assert_eq(cf_queue_put(&q, ITEM(1)), 0);
    cr_assert_eq(cf_queue_shutdown(&q, false), 0);
    cr_assert(readable(fd));
    cr_assert_eq(cf_queue_get(&q, &item), 0, "drains what was queued");
    cr_assert(readable(fd), "a get would not block: it returns CF_ESHUTDOWN");
    cr_assert_eq(cf_queue_get(&q, &item), CF_ESHUTDOWN);
    cr_assert(readable(fd));
    cf_queue_destroy(&q);

    cr_assert_eq(cf_queue_init(&q, CF_QUEUE_PRIORITY, 0), 0);
    fd = cf_queue_fd(&q);
    cr_assert_not(readable(fd));
    cr_assert_eq(cf_queue_shutdown(&q, true), 0);
    cr_assert(readable(fd), "an empty queue shut down");
    cf_queue_destroy(&q);

    cr_assert_eq(cf_queue_init(&q, CF_QUEUE_FIFO, 0), 0);
    cr_assert_eq(cf_queue_shutdown(&q, false), 0);
    fd = cf_queue_fd(&q);
    cr_assert(readable(fd), "asked for after the shutdown");
    cf_queue_destroy(&q);
}

Test(th_queue_fd, destroy_closes_it, .timeout = 20)
{
    cf_queue q;
    cr_assert_eq(cf_queue_init(&q, CF_QUEUE_FIFO, 0), 0);
    int fd = cf_queue_fd(&q);
    cr_assert_geq(fcntl(fd, F_GETFD), 0);
    cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC, "close-on-exec");
    cf_queue_destroy(&q);
    errno = 0;
    cr_assert_eq(fcntl(fd, F_GETFD), -1);
    cr_assert_eq(errno, EBADF, "destroy closed the descriptor");

    /* A queue never asked for one closes nothing (fd 0 must survive). */
    cr_assert_eq(cf_queue_init(&q, CF_QUEUE_FIFO, 0), 0);
    int zero = fcntl(0, F_GETFD);
    cf_queue_destroy(&q);
    cr_assert_eq(fcntl(0, F_GETFD), zero);
}

Test(th_queue_fd, errors, .timeout = 20)
{
    cr_assert_eq(cf_queue_fd(NULL), -EINVAL);

    /* No descriptor left to give: eventfd's EMFILE comes back, the queue
     * works on without one, and a later call succeeds. */
    cf_queue q;
    void *item;
    struct rlimit old, low;
    cr_assert_eq(cf_queue_init(&q, CF_QUEUE_FIFO, 0), 0);
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    int lowest = dup(0); /* the lowest free number */
    cr_assert_geq(lowest, 0);
    close(lowest);
    low = old;
    low.rlim_cur = (rlim_t)lowest;
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    int rc = cf_queue_fd(&q);
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    cr_assert_eq(rc, -EMFILE);
    cr_assert_eq(cf_queue_put(&q, ITEM(1)), 0);
    cr_assert_eq(cf_queue_get(&q, &item), 0);
    int fd = cf_queue_fd(&q);
    cr_assert_geq(fd, 0);
    cr_assert_not(readable(fd));
    cf_queue_destroy(&q);
}

/* ------------------------------------------------------- contention */

#define THREADS 4
#define PER_THREAD 20000

struct churn {
    cf_queue *q;
    int seed;
    _Atomic long *balance; /* puts minus successful gets */
};

/* Puts and tries to get at random, so the queue crosses empty <->
 * non-empty all the time from several threads at once. */
static void *churn(void *arg)
{
    struct churn *c = arg;
    unsigned s = (unsigned)c->seed * 2654435761u + 1;
    void *item;
    for (int i = 0; i < PER_THREAD; i++) {
        s = s * 1103515245u + 12345u;
        if ((s >> 16) & 1) {
            if (cf_queue_put_priority(c->q, ITEM(i), (int64_t)(s >> 20), 0) == 0)
                atomic_fetch_add(c->balance, 1);
        } else if (cf_queue_try_get(c->q, &item) == 0) {
            atomic_fetch_sub(c->balance, 1);
        }
    }
    return NULL;
}

static void exact_under_contention(enum cf_queue_kind kind)
{
    cf_queue q;
    void *item;
    _Atomic long balance = 0;
    struct churn c[THREADS];
    pthread_t t[THREADS];
    cr_assert_eq(cf_queue_init(&q, kind, 0), 0);
    int fd = cf_queue_fd(&q);
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < THREADS; i++) {
            c[i] = (struct churn){&q, round * THREADS + i, &balance};
            cr_assert_eq(pthread_create(&t[i], NULL, churn, &c[i]), 0);
        }
        for (int i = 0; i < THREADS; i++)
            pthread_join(t[i], NULL);
        long n = atomic_load(&balance);
        cr_assert_eq((long)cf_queue_qsize(&q), n);
        cr_assert_eq(readable(fd), n > 0, "round %d left %ld items", round, n);
        /* Drain to empty and check the descriptor followed. */
        while (cf_queue_try_get(&q, &item) == 0)
            atomic_fetch_sub(&balance, 1);
        cr_assert_not(readable(fd), "round %d drained", round);
        /* One item back in: readable again. */
        cr_assert_eq(cf_queue_put(&q, ITEM(1)), 0);
        atomic_fetch_add(&balance, 1);
        cr_assert(readable(fd));
    }
    cf_queue_destroy(&q);
}

Test(th_queue_fd, exact_under_contention_fifo, .timeout = 60)
{
    exact_under_contention(CF_QUEUE_FIFO);
}

Test(th_queue_fd, exact_under_contention_lifo, .timeout = 60)
{
    exact_under_contention(CF_QUEUE_LIFO);
}

Test(th_queue_fd, exact_under_contention_priority, .timeout = 60)
{
    exact_under_contention(CF_QUEUE_PRIORITY);
}

/* ------------------------------------------------- no lost readiness */

#define QUEUES 3
#define PER_QUEUE 5000

struct producer {
    cf_queue *q;
    int id;
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    for (int i = 1; i <= PER_QUEUE; i++)
        cr_assert_eq(cf_queue_put(p->q, ITEM(i)), 0);
    return NULL;
}

/* One consumer sleeps in poll() over three queues fed by three threads and
 * takes only from queues poll() calls readable: if a put ever failed to
 * make its queue readable, the consumer would wait for good (the poll()
 * timeout, far above any scheduling delay, turns that into a failure). */
Test(th_queue_fd, poll_consumer_loses_nothing, .timeout = 60)
{
    cf_queue q[QUEUES];
    struct producer p[QUEUES];
    pthread_t t[QUEUES];
    struct pollfd pfd[QUEUES];
    long next[QUEUES], got = 0;
    for (int i = 0; i < QUEUES; i++) {
        cr_assert_eq(cf_queue_init(&q[i], CF_QUEUE_FIFO, 4), 0);
        pfd[i] = (struct pollfd){.fd = cf_queue_fd(&q[i]), .events = POLLIN};
        cr_assert_geq(pfd[i].fd, 0);
        next[i] = 1;
        p[i] = (struct producer){&q[i], i};
    }
    for (int i = 0; i < QUEUES; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, produce, &p[i]), 0);
    while (got < QUEUES * PER_QUEUE) {
        int n = poll(pfd, QUEUES, 10000);
        cr_assert_gt(n, 0, "poll timed out with %ld of %d items taken", got,
                     QUEUES * PER_QUEUE);
        for (int i = 0; i < QUEUES; i++) {
            if (!(pfd[i].revents & POLLIN))
                continue;
            void *item;
            /* Readable means an item is there: this consumer is alone. */
            cr_assert_eq(cf_queue_try_get(&q[i], &item), 0, "queue %d readable but empty", i);
            cr_assert_eq(NUM(item), next[i], "queue %d in order", i);
            next[i]++;
            got++;
        }
    }
    for (int i = 0; i < QUEUES; i++) {
        pthread_join(t[i], NULL);
        cr_assert_not(readable(pfd[i].fd));
        cf_queue_destroy(&q[i]);
    }
}
