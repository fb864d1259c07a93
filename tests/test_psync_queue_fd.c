/* tests/test_psync_queue_fd.c — the readiness descriptor of a pollable
 * cf_pqueue across fork: made before the fork, it is readable in every
 * process exactly while the queue holds items (a put in the child wakes a
 * poll() in the parent and the other way round); shutdown makes it
 * readable for good; a process killed holding the queue's lock after
 * touching the descriptor is repaired by the next locker; destroy closes
 * it; and the error paths. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cfutures.h>

#include "psync_support.h"
#include "threading/internal.h"

#define CAPACITY 4
#define ITEM_MAX 16

struct shared {
    _Atomic int step; /* the parent's and the child's turns */
};

static struct shared *sh;
static cf_pqueue *q;
static size_t q_bytes;

static void setup(void)
{
    sh = cf_pshared_alloc(sizeof *sh);
    cr_assert_not_null(sh);
    q_bytes = cf_pqueue_footprint(CAPACITY, ITEM_MAX);
    q = cf_pshared_alloc(q_bytes);
    cr_assert_not_null(q);
    cr_assert_eq(cf_pqueue_init_pollable(q, CAPACITY, ITEM_MAX), 0);
}

static void teardown(void)
{
    psync_kill_all();
    if (q) {
        cf_pqueue_destroy(q);
        cf_pshared_free(q, q_bytes);
    }
    if (sh)
        cf_pshared_free(sh, sizeof *sh);
    q = NULL;
    sh = NULL;
}

/* poll() on fd for up to ms milliseconds: whether it is readable. */
static bool readable_within(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int n;

    do
        n = poll(&p, 1, ms);
    while (n < 0 && errno == EINTR);
    return n == 1 && (p.revents & POLLIN);
}

static bool readable(int fd)
{
    return readable_within(fd, 0);
}

/* The child: waits in poll() for the parent's item, takes it, checks the
 * descriptor cleared, then puts one of its own. 0 when all went as meant. */
static int ping_pong_child(int unused)
{
    char buf[ITEM_MAX];
    size_t len;
    int fd = cf_pqueue_fd(q);

    (void)unused;
    if (fd < 0 || readable(fd))
        return 1;
    atomic_store(&sh->step, 1);
    if (!readable_within(fd, 10000))
        return 2; /* the parent's put did not reach this process's copy */
    if (cf_pqueue_try_get(q, buf, sizeof buf, &len) != 0 || len != 4 || memcmp(buf, "ping", 4))
        return 3;
    if (readable(fd))
        return 4;
    if (cf_pqueue_put(q, "pong", 4) != 0)
        return 5;
    return 0;
}

Test(psync_queue_fd, follows_put_get_across_fork, .init = setup, .fini = teardown,
     .timeout = 30)
{
    char buf[ITEM_MAX];
    size_t len;
    int fd = cf_pqueue_fd(q);

    cr_assert_geq(fd, 0);
    cr_assert_not(readable(fd));
    pid_t child = psync_spawn(ping_pong_child, 0);
    cr_assert(psync_eventually_at_least(&sh->step, 1));
    cr_assert_eq(cf_pqueue_put(q, "ping", 4), 0);
    cr_assert_eq(psync_reap(child), 0, "the child's view (see ping_pong_child)");
    cr_assert(readable(fd), "the child's put made the parent's copy readable");
    cr_assert_eq(cf_pqueue_get(q, buf, sizeof buf, &len), 0);
    cr_assert_eq(memcmp(buf, "pong", 4), 0);
    cr_assert_not(readable(fd));

    /* Through full and back to empty, in one process. */
    for (int i = 0; i < CAPACITY; i++) {
        cr_assert_eq(cf_pqueue_put(q, &i, sizeof i), 0);
        cr_assert(readable(fd));
    }
    cr_assert_eq(cf_pqueue_try_put(q, "x", 1), CF_EFULL);
    for (int i = 0; i < CAPACITY; i++) {
        cr_assert(readable(fd));
        cr_assert_eq(cf_pqueue_try_get(q, buf, sizeof buf, &len), 0);
    }
    cr_assert_not(readable(fd));
    cr_assert_eq(cf_pqueue_try_get(q, buf, sizeof buf, &len), CF_EEMPTY);
    cr_assert_not(readable(fd));
}

/* Many producer processes and one consumer that sleeps in poll(): no item
 * may be left without readiness. */
#define PRODUCERS 3
#define PER_PRODUCER 400

static int produce(int p)
{
    for (int i = 0; i < PER_PRODUCER; i++) {
        int v = p * PER_PRODUCER + i;

        if (cf_pqueue_put(q, &v, sizeof v) != 0)
            return 1;
    }
    return 0;
}

Test(psync_queue_fd, poll_consumer_loses_nothing, .init = setup, .fini = teardown,
     .timeout = 60)
{
    pid_t kids[PRODUCERS];
    int fd = cf_pqueue_fd(q), got = 0, v;
    size_t len;
    static bool seen[PRODUCERS * PER_PRODUCER];

    for (int p = 0; p < PRODUCERS; p++)
        kids[p] = psync_spawn(produce, p);
    while (got < PRODUCERS * PER_PRODUCER) {
        cr_assert(readable_within(fd, 10000), "stuck with %d items taken", got);
        cr_assert_eq(cf_pqueue_try_get(q, &v, sizeof v, &len), 0,
                     "readable, yet empty (this consumer is alone)");
        cr_assert(v >= 0 && v < PRODUCERS * PER_PRODUCER && !seen[v]);
        seen[v] = true;
        got++;
    }
    for (int p = 0; p < PRODUCERS; p++)
        cr_assert_eq(psync_reap(kids[p]), 0);
    cr_assert_not(readable(fd));
}

Test(psync_queue_fd, shutdown_is_readable_for_good, .init = setup, .fini = teardown,
     .timeout = 20)
{
    char buf[ITEM_MAX];
    size_t len;
    int fd = cf_pqueue_fd(q);

    cr_assert_eq(cf_pqueue_put(q, "a", 1), 0);
    cr_assert_eq(cf_pqueue_shutdown(q, false), 0);
    cr_assert_eq(cf_pqueue_get(q, buf, sizeof buf, &len), 0);
    cr_assert(readable(fd), "drained, and a get returns CF_ESHUTDOWN at once");
    cr_assert_eq(cf_pqueue_get(q, buf, sizeof buf, &len), CF_ESHUTDOWN);
    cr_assert_eq(cf_pqueue_shutdown(q, true), 0);
    cr_assert(readable(fd));
}

/* A process that dies holding the lock after raising the counter but
 * before recording it (here: a raw write with `set` left 0, as a SIGKILL
 * between the two would leave it). */
static int die_holding_lock(int unused)
{
    uint64_t one = 1;

    (void)unused;
    if (cf__pmutex_lock(&q->mx) < 0)
        return 1;
    if (write(q->ready.fd, &one, sizeof one) != sizeof one)
        return 2;
    _exit(0); /* without unlocking */
}

Test(psync_queue_fd, dead_holder_repaired, .init = setup, .fini = teardown, .timeout = 20)
{
    int fd = cf_pqueue_fd(q);

    cr_assert_eq(psync_reap(psync_spawn(die_holding_lock, 0)), 0);
    cr_assert(readable(fd), "the dead process left it readable on an empty queue");
    cr_assert_eq(cf_pqueue_qsize(q), 0, "the next locker learns of the death...");
    cr_assert_not(readable(fd), "...and puts the descriptor right");
    cr_assert_eq(cf_pqueue_put(q, "b", 1), 0);
    cr_assert(readable(fd));
}

static void *timed_get(void *arg)
{
    char buf[ITEM_MAX];
    size_t len;

    *(int *)arg = cf_pqueue_get_timed(q, buf, sizeof buf, &len, 1.0);
    return NULL;
}

/* The same death seen by a getter that was asleep in the queue: it learns
 * of it when it re-locks after its wait, and repairs the descriptor before
 * it gives up. */
Test(psync_queue_fd, dead_holder_repaired_by_a_waiter, .init = setup, .fini = teardown,
     .timeout = 20)
{
    int fd = cf_pqueue_fd(q), rc = 1;
    pthread_t t;

    cr_assert_eq(pthread_create(&t, NULL, timed_get, &rc), 0);
    psync_sleep_ms(100); /* let it wait (the test holds either way) */
    cr_assert_eq(psync_reap(psync_spawn(die_holding_lock, 0)), 0);
    cr_assert(readable(fd), "the dead process left it readable on an empty queue");
    pthread_join(t, NULL);
    cr_assert_eq(rc, -ETIMEDOUT);
    cr_assert_not(readable(fd), "the waiter put the descriptor right");
}

Test(psync_queue_fd, destroy_closes_it, .init = setup, .fini = teardown, .timeout = 20)
{
    int fd = cf_pqueue_fd(q);

    cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    cf_pqueue_destroy(q);
    errno = 0;
    cr_assert_eq(fcntl(fd, F_GETFD), -1);
    cr_assert_eq(errno, EBADF);
    cf_pshared_free(q, q_bytes);
    q = NULL;
}

Test(psync_queue_fd, errors, .init = setup, .fini = teardown, .timeout = 20)
{
    struct rlimit old, low;
    int fd = cf_pqueue_fd(q);

    cr_assert_eq(cf_pqueue_fd(NULL), -EINVAL);
    cr_assert_eq(cf_pqueue_init_pollable(NULL, 1, 1), -EINVAL);

    /* A scribbled descriptor number is refused, never used or closed. */
    q->ready.fd = 0;
    cr_assert_eq(cf_pqueue_fd(q), CF_EPROTO);
    cr_assert_eq(cf_pqueue_put(q, "c", 1), CF_EPROTO);
    cf_pqueue_destroy(q); /* must leave fd 0 open */
    cr_assert_geq(fcntl(0, F_GETFD), 0);
    q->ready.fd = fd;
    cr_assert_eq(cf_pqueue_init_pollable(q, CAPACITY, ITEM_MAX), 0);
    close(fd); /* the first init's descriptor, orphaned above */

    /* A queue made without one. */
    cf_pqueue_destroy(q);
    cr_assert_eq(cf_pqueue_init(q, CAPACITY, ITEM_MAX), 0);
    cr_assert_eq(cf_pqueue_fd(q), -ENOENT);
    cr_assert_eq(cf_pqueue_put(q, "d", 1), 0, "works on without a descriptor");
    cf_pqueue_destroy(q);

    /* No descriptor left to give. */
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    int lowest = dup(0);
    cr_assert_geq(lowest, 0);
    close(lowest);
    low = old;
    low.rlim_cur = (rlim_t)lowest;
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    int rc = cf_pqueue_init_pollable(q, CAPACITY, ITEM_MAX);
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    cr_assert_eq(rc, -EMFILE);
    cr_assert_eq(cf_pqueue_init_pollable(q, CAPACITY, ITEM_MAX), 0);
}
