/* Issue 16 (1): a done-callback of a process pool runs on the pool's
 * collector thread, the one thread that completes the pool's futures. A
 * callback that waits on another future of the same pool used to wait for
 * itself: its full timeout, or for ever with CF_FOREVER, and every other
 * future of the pool stalled meanwhile. Now such a wait does the
 * collector's work itself (executor/process_pool.c, pool_wait_here) and
 * returns as soon as the result is there: cf_future_result, cf_wait,
 * cf_as_completed_next and cf_map_next alike, nested callbacks too.
 *
 * The bound "within a second" for a task that sleeps 200 ms is a liveness
 * bound (the broken wait takes 5 s or for ever), not a speed test.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cfutures.h>

#include "ipc/clock.h"
#include "tests/support.h"

/* [ms, v]: sleeps ms milliseconds, returns v. */
static int cbw_sleep(const msgpack_object *args, msgpack_packer *out)
{
    int64_t ms, v;
    if (cf_arg_i64(args, 0, &ms) < 0 || cf_arg_i64(args, 1, &v) < 0)
        return cf_task_fail("cbw_sleep: expected ms, v");
    support_sleep_ms((long)ms);
    return msgpack_pack_int64(out, v);
}
CF_TASK(cbw_sleep);

enum how { BY_RESULT, BY_RESULT_FOREVER, BY_WAIT, BY_AS_COMPLETED, BY_MAP, BY_SUBMIT_AND_WAIT };

/* What a callback saw, read by the test once `done` is set. */
struct seen {
    cf_executor *ex;
    cf_future *other; /* the future the callback waits on (its own ref) */
    enum how how;
    int rc;
    int64_t value;
    double took;      /* seconds the callback's wait took */
    bool on_collector_thread;
    pthread_t test_thread;
    atomic_bool done;
};

static int sum_map_input(void *arg, size_t index, msgpack_packer *pk)
{
    (void)arg;
    if (index >= 3)
        return 0;
    return cf_pack_args(pk, "ii", (int64_t)50, (int64_t)index + 1) == 0 ? 1 : -ENOMEM;
}

/* Waits, the way s->how says, for s->other (or for a map of the same
 * pool) and records what it got. */
static int waiting_callback(cf_future *f, void *arg)
{
    (void)f;
    struct seen *s = arg;
    s->on_collector_thread = !pthread_equal(pthread_self(), s->test_thread);
    uint64_t t0 = cf__now_ns();
    int rc = 0;
    int64_t v = 0;
    switch (s->how) {
    case BY_RESULT: rc = cf_future_result_i64(s->other, 5.0, &v); break;
    case BY_RESULT_FOREVER: rc = cf_future_result_i64(s->other, CF_FOREVER, &v); break;
    case BY_WAIT: {
        bool mask[1];
        rc = cf_wait(&s->other, 1, CF_ALL_COMPLETED, 5.0, mask);
        if (rc == 1 && mask[0])
            rc = cf_future_result_i64(s->other, 0, &v);
        else if (rc >= 0)
            rc = -ETIMEDOUT;
        break;
    }
    case BY_AS_COMPLETED: {
        cf_as_completed *it;
        cf_future *got;
        rc = cf_as_completed_create(&it, &s->other, 1, 5.0);
        if (rc == 0) {
            rc = cf_as_completed_next(it, &got);
            if (rc == 0)
                rc = cf_future_result_i64(got, 0, &v);
            cf_as_completed_release(it);
        }
        break;
    }
    case BY_MAP: {
        /* A map over the same pool, made and iterated in the callback. */
        cf_map *m;
        cf_map_options o = {.timeout = 5.0, .chunksize = 1};
        rc = cf_map_create(&m, s->ex, "cbw_sleep", sum_map_input, NULL, &o);
        if (rc == 0) {
            size_t idx;
            const msgpack_object *r;
            int64_t item;
            while ((rc = cf_map_next(m, &idx, &r)) == 0 && cf_obj_i64(r, &item) == 0)
                v += item;
            if (rc == CF_EEMPTY)
                rc = 0;
            cf_map_release(m);
        }
        break;
    }
    case BY_SUBMIT_AND_WAIT: {
        cf_future *g;
        rc = cf_submit_named(s->ex, "cbw_sleep", CF_FOREVER, &g, "ii", (int64_t)100,
                             (int64_t)77);
        if (rc == 0) {
            rc = cf_future_result_i64(g, 5.0, &v);
            cf_future_release(g);
        }
        break;
    }
    }
    s->took = (double)(cf__now_ns() - t0) / 1e9;
    s->rc = rc;
    s->value = v;
    atomic_store(&s->done, true);
    return 0;
}

/* A 200 ms task `other`, then a quick one whose callback (added while it
 * is pending, so that it runs on the collector) waits the way `how` says. */
static void check_wait_from_callback(enum how how, int64_t expect)
{
    cf_executor *ex = support_new_pool(2, 0);
    struct seen s = {.ex = ex, .how = how, .rc = 1, .test_thread = pthread_self()};
    cr_assert_eq(cf_submit_named(ex, "cbw_sleep", CF_FOREVER, &s.other, "ii", (int64_t)200,
                                 (int64_t)42),
                 0);
    cf_future *quick;
    /* The quick task sleeps a little so that the callback is surely added
     * while it is pending (then it runs on the collector). */
    cr_assert_eq(cf_submit_named(ex, "cbw_sleep", CF_FOREVER, &quick, "ii", (int64_t)20,
                                 (int64_t)1),
                 0);
    cr_assert_eq(cf_future_add_done_callback(quick, waiting_callback, &s), 0);
    for (int i = 0; i < 15000 && !atomic_load(&s.done); i++)
        support_sleep_ms(1);
    cr_assert(atomic_load(&s.done), "the callback never returned");
    cr_assert(s.on_collector_thread, "the callback ran in the test thread");
    cr_assert_eq(s.rc, 0, "the callback's wait returned %s", cf_strerror(s.rc));
    cr_assert_eq(s.value, expect);
    cr_assert_lt(s.took, 1.0, "the callback's wait took %.2f s (it waited for itself)", s.took);
    /* The pool is still fine. */
    int64_t v;
    cr_assert_eq(cf_future_result_i64(quick, CF_FOREVER, &v), 0);
    cf_future *more;
    cr_assert_eq(cf_submit_named(ex, "cbw_sleep", CF_FOREVER, &more, "ii", (int64_t)0,
                                 (int64_t)9),
                 0);
    cr_assert_eq(cf_future_result_i64(more, 10.0, &v), 0);
    cr_assert_eq(v, 9);
    cf_future_release(more);
    cf_future_release(quick);
    cf_future_release(s.other);
    cf_executor_release(ex);
}

Test(callback_wait, result_of_a_future_of_the_same_pool, .timeout = 30)
{
    check_wait_from_callback(BY_RESULT, 42);
}

Test(callback_wait, result_forever, .timeout = 30)
{
    check_wait_from_callback(BY_RESULT_FOREVER, 42);
}

Test(callback_wait, cf_wait, .timeout = 30)
{
    check_wait_from_callback(BY_WAIT, 42);
}

Test(callback_wait, as_completed, .timeout = 30)
{
    check_wait_from_callback(BY_AS_COMPLETED, 42);
}

Test(callback_wait, map_of_the_same_pool, .timeout = 30)
{
    check_wait_from_callback(BY_MAP, 1 + 2 + 3);
}

Test(callback_wait, submit_then_wait, .timeout = 30)
{
    check_wait_from_callback(BY_SUBMIT_AND_WAIT, 77);
}

/* Nested: the callback of A waits on B, whose own callback (run by that
 * wait, on the same thread, if A finished first) waits on C. */
struct chain {
    cf_future *next;
    int rc;
    int64_t v;
    atomic_bool done;
};

static int chain_callback(cf_future *f, void *arg)
{
    (void)f;
    struct chain *c = arg;
    c->rc = cf_future_result_i64(c->next, 5.0, &c->v);
    atomic_store(&c->done, true);
    return 0;
}

Test(callback_wait, nested_callbacks_wait_in_turn, .timeout = 30)
{
    cf_executor *ex = support_new_pool(3, 0);
    cf_future *a, *b, *c;
    cr_assert_eq(cf_submit_named(ex, "cbw_sleep", CF_FOREVER, &c, "ii", (int64_t)300,
                                 (int64_t)3),
                 0);
    cr_assert_eq(cf_submit_named(ex, "cbw_sleep", CF_FOREVER, &b, "ii", (int64_t)100,
                                 (int64_t)2),
                 0);
    cr_assert_eq(cf_submit_named(ex, "cbw_sleep", CF_FOREVER, &a, "ii", (int64_t)20,
                                 (int64_t)1),
                 0);
    struct chain on_a = {.next = b}, on_b = {.next = c};
    cr_assert_eq(cf_future_add_done_callback(b, chain_callback, &on_b), 0);
    cr_assert_eq(cf_future_add_done_callback(a, chain_callback, &on_a), 0);
    uint64_t t0 = cf__now_ns();
    int64_t v;
    cr_assert_eq(cf_future_result_i64(c, 10.0, &v), 0);
    for (int i = 0; i < 15000 && !(atomic_load(&on_a.done) && atomic_load(&on_b.done)); i++)
        support_sleep_ms(1);
    double took = (double)(cf__now_ns() - t0) / 1e9;
    cr_assert(atomic_load(&on_a.done) && atomic_load(&on_b.done));
    cr_assert_eq(on_b.rc, 0, "%s", cf_strerror(on_b.rc));
    cr_assert_eq(on_b.v, 3);
    cr_assert_eq(on_a.rc, 0, "%s", cf_strerror(on_a.rc));
    cr_assert_eq(on_a.v, 2);
    cr_assert_lt(took, 2.0, "took %.2f s", took);
    cf_future_release(a);
    cf_future_release(b);
    cf_future_release(c);
    cf_executor_release(ex);
}

/* A callback run on the collector outside its batch loop (here: by a
 * task_timeout the collector enforces) waits the same way. */
Test(callback_wait, callback_of_a_timed_out_task, .timeout = 30)
{
    cf_executor *ex = support_new_pool(2, 0);
    struct seen s = {.ex = ex, .how = BY_RESULT, .rc = 1, .test_thread = pthread_self()};
    cf_submit_options so = CF_SUBMIT_OPTIONS_INIT;
    so.task_timeout = 0.1;
    cf_future *slow;
    /* s.other is set before the callback can run (it reads it). */
    cr_assert_eq(cf_submit_named(ex, "cbw_sleep", CF_FOREVER, &s.other, "ii", (int64_t)400,
                                 (int64_t)42),
                 0);
    cr_assert_eq(cf_submit_with(ex, &so, "cbw_sleep", &slow, "ii", (int64_t)5000, (int64_t)0),
                 0);
    cr_assert_eq(cf_future_add_done_callback(slow, waiting_callback, &s), 0);
    for (int i = 0; i < 15000 && !atomic_load(&s.done); i++)
        support_sleep_ms(1);
    cr_assert(atomic_load(&s.done));
    cr_assert_eq(cf_future_error(slow, 0), -ETIMEDOUT);
    cr_assert_eq(s.rc, 0, "%s", cf_strerror(s.rc));
    cr_assert_eq(s.value, 42);
    cr_assert_lt(s.took, 1.0, "took %.2f s", s.took);
    cf_future_release(slow);
    cf_future_release(s.other);
    cf_executor_release(ex);
}
