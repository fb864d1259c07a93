/* Tests for cf_pqueue: a bounded byte-string FIFO across forked processes. */
#include <stdio.h>
#include <string.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cfutures.h>

#include "psync_support.h"
#include "threading/internal.h"

#define PRODUCERS 2
#define CONSUMERS 2
#define PER_PRODUCER 500
#define CAPACITY 8
#define ITEM_MAX 32

struct queue_shared {
    _Atomic int seen[PRODUCERS][PER_PRODUCER];
    _Atomic int ready;
    _Atomic int bad; /* items that did not decode */
};

static struct queue_shared *sh;
static cf_pqueue *q;
static size_t q_bytes;

static void setup_with(size_t capacity)
{
    sh = cf_pshared_alloc(sizeof *sh);
    cr_assert_not_null(sh);
    q_bytes = cf_pqueue_footprint(capacity, ITEM_MAX);
    cr_assert_gt(q_bytes, 0);
    q = cf_pshared_alloc(q_bytes);
    cr_assert_not_null(q);
    cr_assert_eq(cf_pqueue_init(q, capacity, ITEM_MAX), 0);
}

static void setup(void)
{
    setup_with(CAPACITY);
}

static void setup2(void)
{
    setup_with(2);
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

static int queue_produce(int p)
{
    char item[ITEM_MAX];

    for (int i = 0; i < PER_PRODUCER; i++) {
        int n = snprintf(item, sizeof item, "%d:%d", p, i);

        if (cf_pqueue_put(q, item, (size_t)n) != 0)
            return 1;
    }
    return 0;
}

static int queue_consume(int unused)
{
    char buf[ITEM_MAX + 1];
    size_t len;
    int rc, p, i;

    (void)unused;
    atomic_fetch_add(&sh->ready, 1);
    while ((rc = cf_pqueue_get(q, buf, ITEM_MAX, &len)) == 0) {
        buf[len] = '\0';
        if (sscanf(buf, "%d:%d", &p, &i) != 2 || p < 0 || p >= PRODUCERS || i < 0 ||
            i >= PER_PRODUCER)
            atomic_fetch_add(&sh->bad, 1);
        else
            atomic_fetch_add(&sh->seen[p][i], 1);
    }
    return rc == CF_ESHUTDOWN ? 0 : 1;
}

/* One blocking get: 0 with an item, 10 for CF_ESHUTDOWN, 20 otherwise. */
static int queue_get_once(int unused)
{
    char buf[ITEM_MAX];
    size_t len;
    int rc;

    (void)unused;
    atomic_fetch_add(&sh->ready, 1);
    rc = cf_pqueue_get(q, buf, sizeof buf, &len);
    if (rc == 0)
        return 0;
    return rc == CF_ESHUTDOWN ? 10 : 20;
}

/* One blocking put: 0 when it went in, 10 for CF_ESHUTDOWN, 20 otherwise. */
static int queue_put_once(int v)
{
    int rc;

    atomic_fetch_add(&sh->ready, 1);
    rc = cf_pqueue_put(q, &v, sizeof v);
    if (rc == 0)
        return 0;
    return rc == CF_ESHUTDOWN ? 10 : 20;
}

Test(psync_queue, every_item_exactly_once, .init = setup, .fini = teardown, .timeout = 20)
{
    pid_t prod[PRODUCERS], cons[CONSUMERS];

    for (int i = 0; i < CONSUMERS; i++)
        cons[i] = psync_spawn(queue_consume, 0);
    for (int i = 0; i < PRODUCERS; i++)
        prod[i] = psync_spawn(queue_produce, i);
    for (int i = 0; i < PRODUCERS; i++)
        cr_assert_eq(psync_reap(prod[i]), 0, "producer %d", i);
    cr_assert_eq(cf_pqueue_shutdown(q, false), 0);
    for (int i = 0; i < CONSUMERS; i++)
        cr_assert_eq(psync_reap(cons[i]), 0, "consumer %d", i);
    cr_assert_eq(atomic_load(&sh->bad), 0);
    for (int p = 0; p < PRODUCERS; p++)
        for (int i = 0; i < PER_PRODUCER; i++)
            cr_assert_eq(atomic_load(&sh->seen[p][i]), 1, "item %d:%d", p, i);
    cr_assert(cf_pqueue_empty(q));
}

Test(psync_queue, full_empty_timeout_fifo, .init = setup2, .fini = teardown, .timeout = 20)
{
    char buf[ITEM_MAX];
    size_t len = 99;

    cr_assert(cf_pqueue_empty(q));
    cr_assert_eq(cf_pqueue_try_get(q, buf, sizeof buf, &len), CF_EEMPTY);
    cr_assert_eq(cf_pqueue_get_timed(q, buf, sizeof buf, &len, 0), CF_EEMPTY);
    cr_assert_eq(cf_pqueue_get_timed(q, buf, sizeof buf, &len, 0.02), -ETIMEDOUT);
    cr_assert_eq(cf_pqueue_try_put(q, "one", 3), 0);
    cr_assert_eq(cf_pqueue_put_timed(q, "two!", 4, 5), 0);
    cr_assert(cf_pqueue_full(q));
    cr_assert_eq(cf_pqueue_qsize(q), 2);
    cr_assert_eq(cf_pqueue_try_put(q, "x", 1), CF_EFULL);
    cr_assert_eq(cf_pqueue_put_timed(q, "x", 1, 0), CF_EFULL);
    cr_assert_eq(cf_pqueue_put_timed(q, "x", 1, 0.02), -ETIMEDOUT);
    cr_assert_eq(cf_pqueue_get(q, buf, sizeof buf, &len), 0);
    cr_assert_eq(len, 3);
    cr_assert_eq(memcmp(buf, "one", 3), 0);
    cr_assert_eq(cf_pqueue_get_timed(q, buf, sizeof buf, &len, CF_FOREVER), 0);
    cr_assert_eq(len, 4);
    cr_assert_eq(memcmp(buf, "two!", 4), 0);
    cr_assert(cf_pqueue_empty(q));
    cr_assert_not(cf_pqueue_full(q));
}

Test(psync_queue, sizes, .init = setup2, .fini = teardown, .timeout = 20)
{
    char big[ITEM_MAX + 1] = {0}, buf[4];
    size_t len = 0;

    cr_assert_eq(cf_pqueue_put(q, big, ITEM_MAX + 1), -EMSGSIZE);
    cr_assert_eq(cf_pqueue_put(q, big, ITEM_MAX), 0);
    cr_assert_eq(cf_pqueue_get(q, buf, sizeof buf, &len), -EMSGSIZE);
    cr_assert_eq(len, ITEM_MAX, "tells the size needed");
    cr_assert_eq(cf_pqueue_qsize(q), 1, "the item stays queued");
    cr_assert_eq(cf_pqueue_get(q, big, sizeof big, &len), 0);
    cr_assert_eq(cf_pqueue_put(q, NULL, 0), 0, "an empty item");
    cr_assert_eq(cf_pqueue_get(q, NULL, 0, &len), 0);
    cr_assert_eq(len, 0);
}

Test(psync_queue, shutdown_wakes_blocked_getter_and_putter, .init = setup2,
     .fini = teardown, .timeout = 20)
{
    pid_t getter = psync_spawn(queue_get_once, 0), putter;
    char buf[ITEM_MAX];
    size_t len;

    cr_assert(psync_eventually_at_least(&sh->ready, 1));
    psync_sleep_ms(20); /* let it block; the test holds either way */
    cr_assert_eq(cf_pqueue_shutdown(q, false), 0);
    cr_assert_eq(psync_reap(getter), 10);
    cr_assert_eq(cf_pqueue_put(q, "x", 1), CF_ESHUTDOWN);
    cr_assert_eq(cf_pqueue_shutdown(q, false), 0, "idempotent");

    /* A fresh queue, full, with a putter blocked. */
    cr_assert_eq(cf_pqueue_init(q, 2, ITEM_MAX), 0);
    cr_assert_eq(cf_pqueue_put(q, "a", 1), 0);
    cr_assert_eq(cf_pqueue_put(q, "b", 1), 0);
    putter = psync_spawn(queue_put_once, 5);
    cr_assert(psync_eventually_at_least(&sh->ready, 2));
    psync_sleep_ms(20);
    cr_assert_eq(cf_pqueue_shutdown(q, false), 0);
    cr_assert_eq(psync_reap(putter), 10);
    /* Not immediate: what is queued still drains, then CF_ESHUTDOWN. */
    cr_assert_eq(cf_pqueue_get(q, buf, sizeof buf, &len), 0);
    cr_assert_eq(buf[0], 'a');
    cr_assert_eq(cf_pqueue_get(q, buf, sizeof buf, &len), 0);
    cr_assert_eq(buf[0], 'b');
    cr_assert_eq(cf_pqueue_get(q, buf, sizeof buf, &len), CF_ESHUTDOWN);
    cr_assert_eq(cf_pqueue_try_get(q, buf, sizeof buf, &len), CF_ESHUTDOWN);
}

Test(psync_queue, shutdown_immediate_discards, .init = setup2, .fini = teardown,
     .timeout = 20)
{
    char buf[ITEM_MAX];
    size_t len;

    cr_assert_eq(cf_pqueue_put(q, "a", 1), 0);
    cr_assert_eq(cf_pqueue_shutdown(q, true), 0);
    cr_assert_eq(cf_pqueue_qsize(q), 0);
    cr_assert_eq(cf_pqueue_get(q, buf, sizeof buf, &len), CF_ESHUTDOWN);
}

Test(psync_queue, consumer_killed_while_blocked, .init = setup2, .fini = teardown,
     .timeout = 20)
{
    pid_t b = psync_spawn_two_kill_one(queue_get_once, &sh->ready);

    cr_assert_eq(cf_pqueue_put(q, "x", 1), 0);
    cr_assert_eq(psync_reap(b), 0, "the live consumer got the item");
    cr_assert(cf_pqueue_empty(q));
}

Test(psync_queue, footprint_and_errors, .init = setup2, .fini = teardown, .timeout = 20)
{
    char buf[4];
    size_t len;

    cr_assert_eq(cf_pqueue_footprint(0, 8), 0);
    cr_assert_eq(cf_pqueue_footprint(8, 0), 0);
    cr_assert_eq(cf_pqueue_footprint(SIZE_MAX, 8), 0);
    cr_assert_eq(cf_pqueue_footprint(8, SIZE_MAX), 0);
    cr_assert_geq(cf_pqueue_footprint(3, 10), 3 * (4 + 10), "room for lengths and items");
    cr_assert_eq(cf_pqueue_init(NULL, 2, 8), -EINVAL);
    cr_assert_eq(cf_pqueue_init(q, 0, 8), -EINVAL);
    cr_assert_eq(cf_pqueue_init(q, 2, 0), -EINVAL);
    cr_assert_eq(cf_pqueue_put(NULL, "x", 1), -EINVAL);
    cr_assert_eq(cf_pqueue_put(q, NULL, 1), -EINVAL);
    cr_assert_eq(cf_pqueue_try_put(NULL, "x", 1), -EINVAL);
    cr_assert_eq(cf_pqueue_put_timed(NULL, "x", 1, 1), -EINVAL);
    cr_assert_eq(cf_pqueue_get(NULL, buf, sizeof buf, &len), -EINVAL);
    cr_assert_eq(cf_pqueue_get(q, buf, sizeof buf, NULL), -EINVAL);
    cr_assert_eq(cf_pqueue_get(q, NULL, 4, &len), -EINVAL);
    cr_assert_eq(cf_pqueue_try_get(NULL, buf, sizeof buf, &len), -EINVAL);
    cr_assert_eq(cf_pqueue_get_timed(NULL, buf, sizeof buf, &len, 1), -EINVAL);
    cr_assert_eq(cf_pqueue_shutdown(NULL, false), -EINVAL);
    cr_assert_eq(cf_pqueue_qsize(NULL), -EINVAL);
    cr_assert_not(cf_pqueue_empty(NULL));
    cr_assert_not(cf_pqueue_full(NULL));
    cf_pqueue_destroy(NULL);
}

/* One blocking get with a 4-byte buffer: 0 with an item, 30 for -EMSGSIZE,
 * 20 otherwise. */
static int queue_get_small(int unused)
{
    char buf[4];
    size_t len;
    int rc;

    (void)unused;
    atomic_fetch_add(&sh->ready, 1);
    rc = cf_pqueue_get(q, buf, sizeof buf, &len);
    return rc == 0 ? 0 : rc == -EMSGSIZE ? 30 : 20;
}

/* A getter whose buffer is too small leaves the item queued: a getter that
 * can take it must not stay asleep. The small one blocks first, so a
 * wake-one would pick it. */
Test(psync_queue, too_small_getter_does_not_strand_the_item, .init = setup2,
     .fini = teardown, .timeout = 30)
{
    char big[ITEM_MAX] = "a long item, more than four";
    pid_t small = psync_spawn(queue_get_small, 0), able;

    cr_assert(psync_eventually_at_least(&sh->ready, 1));
    cr_assert(psync_asleep(small));
    able = psync_spawn(queue_get_once, 0);
    cr_assert(psync_eventually_at_least(&sh->ready, 2));
    cr_assert(psync_asleep(able));
    cr_assert_eq(cf_pqueue_put(q, big, sizeof big), 0);
    cr_assert_eq(psync_reap(able), 0, "the able getter never got the item");
    cr_assert(cf_pqueue_empty(q));
    /* The small getter saw the item (-EMSGSIZE) or is asleep again. */
    if (psync_state(small) == 'Z')
        cr_assert_eq(psync_reap(small), 30);
}

static void put_x(void)
{
    cr_assert_eq(cf_pqueue_put(q, "x", 1), 0);
}

/* A getter woken alone could die before re-locking and strand the item:
 * a put wakes every getter, so the one that did not get it is woken too
 * and goes back to sleep (one more context switch). */
Test(psync_queue, put_wakes_every_getter, .init = setup2, .fini = teardown, .timeout = 30)
{
    pid_t other = psync_wake_one_wakes_both(queue_get_once, &sh->ready, put_x);

    cr_assert_eq(cf_pqueue_put(q, "y", 1), 0);
    cr_assert_eq(psync_reap(other), 0);
}

/* A slot whose length is impossible (written by a broken process) is
 * reported once and dropped: the items behind it still come out. */
Test(psync_queue, corrupt_item_is_dropped, .init = setup, .fini = teardown, .timeout = 20)
{
    char buf[ITEM_MAX];
    size_t len;
    uint32_t bad = ITEM_MAX + 1;

    cr_assert_eq(cf_pqueue_put(q, "bad", 3), 0);
    cr_assert_eq(cf_pqueue_put(q, "good", 4), 0);
    memcpy(q->slots, &bad, sizeof bad); /* the head slot's length */
    cr_assert_eq(cf_pqueue_get(q, buf, sizeof buf, &len), CF_EPROTO);
    cr_assert_eq(cf_pqueue_qsize(q), 1, "the corrupt item was dropped");
    cr_assert_eq(cf_pqueue_get(q, buf, sizeof buf, &len), 0);
    cr_assert_eq(len, 4);
    cr_assert_eq(memcmp(buf, "good", 4), 0);
}

/* Geometry overwritten in the shared memory is refused, never used. */
Test(psync_queue, corrupt_geometry_refused, .init = setup, .fini = teardown, .timeout = 20)
{
    char buf[ITEM_MAX * 4];
    size_t len;

    cr_assert_eq(cf_pqueue_put(q, "a", 1), 0);
    q->capacity = 0; /* would divide by zero */
    cr_assert_eq(cf_pqueue_put(q, "b", 1), CF_EPROTO);
    cr_assert_eq(cf_pqueue_try_get(q, buf, sizeof buf, &len), CF_EPROTO);
    cr_assert_eq(cf_pqueue_qsize(q), CF_EPROTO);
    cr_assert_not(cf_pqueue_empty(q));
    cr_assert_not(cf_pqueue_full(q));
    cr_assert_eq(cf_pqueue_shutdown(q, false), CF_EPROTO);
    q->capacity = CAPACITY;
    q->item_max = ITEM_MAX * 2; /* items longer than a slot */
    cr_assert_eq(cf_pqueue_put(q, buf, ITEM_MAX * 2), CF_EPROTO);
    cr_assert_eq(cf_pqueue_get(q, buf, sizeof buf, &len), CF_EPROTO);
    q->item_max = ITEM_MAX;
    cr_assert_eq(cf_pqueue_get(q, buf, sizeof buf, &len), 0, "usable once repaired");
    cr_assert_eq(len, 1);
}

Test(psync_queue, nan_timeouts_refused, .init = setup2, .fini = teardown, .timeout = 20)
{
    char buf[ITEM_MAX];
    size_t len;

    cr_assert_eq(cf_pqueue_put_timed(q, "x", 1, NAN), -EINVAL);
    cr_assert_eq(cf_pqueue_qsize(q), 0, "nothing was put");
    cr_assert_eq(cf_pqueue_put(q, "x", 1), 0);
    cr_assert_eq(cf_pqueue_get_timed(q, buf, sizeof buf, &len, NAN), -EINVAL);
    cr_assert_eq(cf_pqueue_qsize(q), 1, "nothing was taken");
}
