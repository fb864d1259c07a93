/* Issue 16 (1), the thread pool's side: a task, or a done-callback (which
 * runs on the pool thread that completed the future), waiting on another
 * future of its own pool. With every thread so waiting, the task waited
 * for would never run (CPython's ThreadPoolExecutor deadlocks so). A pool
 * thread that waits on a future of its own pool still queued now runs that
 * task itself (executor/thread_pool.c, pool_wait_here). One pool thread
 * (max_workers 1) is the case where nothing else could run it.
 *
 * "Within a second" for tasks of a few milliseconds is a liveness bound
 * (the broken wait takes its whole 5 s timeout), not a speed test.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include <cfutures.h>

static double thcw_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* [v] -> v + 1 */
static int thcw_inc(const msgpack_object *args, msgpack_packer *out)
{
    int64_t v;
    if (cf_arg_i64(args, 0, &v) < 0)
        return cf_task_fail("thcw_inc: expected an integer");
    return msgpack_pack_int64(out, v + 1);
}
CF_TASK(thcw_inc);

static cf_executor *thcw_pool; /* the pool the tasks below submit to */

/* [v]: submits thcw_inc(v) to thcw_pool and returns its result: a task
 * that waits on another task of its own pool. */
static int thcw_submit_and_wait(const msgpack_object *args, msgpack_packer *out)
{
    int64_t v, r;
    cf_future *f;
    if (cf_arg_i64(args, 0, &v) < 0)
        return cf_task_fail("thcw_submit_and_wait: expected an integer");
    int rc = cf_submit_named(thcw_pool, "thcw_inc", CF_FOREVER, &f, "i", v);
    if (rc != 0)
        return rc;
    rc = cf_future_result_i64(f, 5.0, &r);
    cf_future_release(f);
    if (rc != 0)
        return cf_task_fail("the inner wait returned %s", cf_strerror(rc));
    return msgpack_pack_int64(out, r);
}
CF_TASK(thcw_submit_and_wait);

/* Waits until thcw_release is set (5 s at most), returns 0. */
static atomic_bool thcw_release;
static int thcw_hold(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    for (int i = 0; i < 5000 && !atomic_load(&thcw_release); i++) {
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    return msgpack_pack_int64(out, 0);
}
CF_TASK(thcw_hold);

static cf_executor *thcw_one_thread(void)
{
    cf_executor *ex;
    cf_thread_pool_options o = {.max_workers = 1};
    cr_assert_eq(cf_thread_pool_create(&ex, &o), 0);
    return ex;
}

Test(th_callback_wait, task_waits_on_a_task_of_its_pool, .timeout = 30)
{
    thcw_pool = thcw_one_thread();
    cf_future *f;
    double t0 = thcw_now();
    cr_assert_eq(cf_submit_named(thcw_pool, "thcw_submit_and_wait", CF_FOREVER, &f, "i",
                                 (int64_t)41),
                 0);
    int64_t v;
    int rc = cf_future_result_i64(f, 10.0, &v);
    cr_assert_eq(rc, 0, "%s: %s", cf_strerror(rc), cf_future_error_message(f));
    cr_assert_eq(v, 42);
    cr_assert_lt(thcw_now() - t0, 1.0, "the inner wait waited for itself");
    cf_future_release(f);
    cf_executor_release(thcw_pool);
}

/* A done-callback on the pool thread submits and waits, by result, by
 * cf_wait and by as_completed. */
struct thcw_seen {
    cf_executor *ex;
    int how;
    int rc;
    int64_t v;
    double took;
    atomic_bool done;
};

static int thcw_callback(cf_future *f, void *arg)
{
    (void)f;
    struct thcw_seen *s = arg;
    double t0 = thcw_now();
    cf_future *g;
    int rc = cf_submit_named(s->ex, "thcw_inc", CF_FOREVER, &g, "i", (int64_t)99);
    if (rc == 0) {
        if (s->how == 0) {
            rc = cf_future_result_i64(g, 5.0, &s->v);
        } else if (s->how == 1) {
            rc = cf_wait(&g, 1, CF_ALL_COMPLETED, 5.0, NULL);
            rc = rc == 1 ? cf_future_result_i64(g, 0, &s->v) : rc < 0 ? rc : -ETIMEDOUT;
        } else {
            cf_as_completed *it;
            cf_future *got;
            rc = cf_as_completed_create(&it, &g, 1, 5.0);
            if (rc == 0) {
                rc = cf_as_completed_next(it, &got);
                if (rc == 0)
                    rc = cf_future_result_i64(got, 0, &s->v);
                cf_as_completed_release(it);
            }
        }
        cf_future_release(g);
    }
    s->took = thcw_now() - t0;
    s->rc = rc;
    atomic_store(&s->done, true);
    return 0;
}

Test(th_callback_wait, callback_waits_on_a_task_of_its_pool, .timeout = 60)
{
    for (int how = 0; how < 3; how++) {
        cf_executor *ex = thcw_one_thread();
        struct thcw_seen s = {.ex = ex, .how = how, .rc = 1};
        cf_future *f;
        atomic_store(&thcw_release, false);
        cr_assert_eq(cf_submit_named(ex, "thcw_hold", CF_FOREVER, &f, ""), 0);
        /* Added while the task is held: it runs on the pool thread. */
        cr_assert_eq(cf_future_add_done_callback(f, thcw_callback, &s), 0);
        cr_assert_not(cf_future_done(f));
        atomic_store(&thcw_release, true);
        cr_assert_eq(cf_future_error(f, 10.0), 0);
        /* The future is done before its callbacks run: wait for ours. */
        for (int i = 0; i < 15000 && !atomic_load(&s.done); i++) {
            struct timespec ms = {0, 1000000};
            nanosleep(&ms, NULL);
        }
        cr_assert(atomic_load(&s.done), "the callback never returned");
        cr_assert_eq(s.rc, 0, "how %d: %s", how, cf_strerror(s.rc));
        cr_assert_eq(s.v, 100);
        cr_assert_lt(s.took, 1.0, "how %d: the callback waited %.2f s", how, s.took);
        cf_future_release(f);
        cf_executor_release(ex);
    }
}
