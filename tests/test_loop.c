/* The process pool's side of issue 15: it refuses cf_submit_fn with
 * -ENOTSUP, and its futures report to the event-loop handle like the
 * thread pool's (a burst of completions read through the descriptor on
 * this thread; release with callbacks still queued). The thread pool's
 * side is in test_th_native.c.
 */
#include <cfutures.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>

static int lp_double(const msgpack_object *args, msgpack_packer *out)
{
    int64_t x;
    if (cf_arg_i64(args, 0, &x) < 0)
        return cf_task_fail("lp_double: expected an integer");
    return msgpack_pack_int64(out, 2 * x);
}
CF_TASK(lp_double);

static void *lp_native(void *arg)
{
    return arg;
}

static cf_executor *lp_pool(void)
{
    cf_process_pool_options o = {.max_workers = 2};
    cf_executor *ex;
    cr_assert_eq(cf_process_pool_create(&ex, &o), 0);
    return ex;
}

Test(loop_process_pool, native_submit_refused, .timeout = 30)
{
    cf_executor *ex = lp_pool();
    cf_future *f = NULL;
    cr_assert_eq(cf_submit_fn(ex, lp_native, NULL, &f), -ENOTSUP);
    cr_assert_null(f);
    cf_future *fs[2];
    cr_assert_eq(cf_submit_fn_batch(ex, lp_native, NULL, 2, fs), -ENOTSUP);
    cf_stats st;
    cr_assert_eq(cf_executor_stats(ex, &st), 0);
    cr_assert_eq(st.submitted, 0);
    cf_executor_release(ex);
}

struct lp_count {
    pthread_t thread;
    int ran, wrong_thread;
    int64_t sum;
};

static int lp_cb(cf_future *f, void *arg)
{
    struct lp_count *c = arg;
    if (!pthread_equal(pthread_self(), c->thread))
        c->wrong_thread++;
    int64_t v;
    if (cf_future_result_i64(f, 0, &v) == 0)
        c->sum += v;
    c->ran++;
    return 0;
}

Test(loop_process_pool, burst_through_descriptor, .timeout = 60)
{
    cf_executor *ex = lp_pool();
    int fd = cf_executor_loop_fd(ex);
    cr_assert_geq(fd, 0);
    enum { N = 500 };
    struct lp_count c = {.thread = pthread_self()};
    for (int i = 0; i < N; i++) {
        cf_future *f;
        cr_assert_eq(cf_submit(ex, lp_double, &f, "i", (int64_t)i), 0);
        cr_assert_eq(cf_future_add_loop_callback(f, ex, lp_cb, &c), 0);
        cf_future_release(f);
    }
    while (c.ran < N) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        cr_assert_eq(poll(&p, 1, 20000), 1, "no readiness with %d of %d run", c.ran, N);
        cr_assert_geq(cf_executor_run_loop_callbacks(ex), 0);
    }
    cr_assert_eq(c.wrong_thread, 0);
    cr_assert_eq(c.sum, (int64_t)N * (N - 1));
    cf_executor_release(ex);
}

Test(loop_process_pool, release_with_queue_never_run, .timeout = 60)
{
    cf_executor *ex = lp_pool();
    struct lp_count c = {.thread = pthread_self()};
    for (int i = 0; i < 100; i++) {
        cf_future *f;
        cr_assert_eq(cf_submit(ex, lp_double, &f, "i", (int64_t)i), 0);
        cr_assert_eq(cf_future_add_loop_callback(f, ex, lp_cb, &c), 0);
        cf_future_release(f);
    }
    cf_executor_release(ex);
    cr_assert_eq(c.ran, 100);
    cr_assert_eq(c.wrong_thread, 0);
}
