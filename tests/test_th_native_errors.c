/* Error paths of native submit and the event-loop handle that need a
 * special setting: results no pointer can hold, and a process at its
 * descriptor limit (no eventfd can be made). The main paths are in
 * test_th_native.c. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cfutures.h>

static cf_executor *nv_pool(int workers)
{
    cf_thread_pool_options o = {.max_workers = workers};
    cf_executor *ex;
    cr_assert_eq(cf_thread_pool_create(&ex, &o), 0);
    return ex;
}

static int nv_loop_cb(cf_future *f, void *arg)
{
    (void)f;
    (void)arg;
    return 0;
}

Test(th_native_errors, intptr_out_of_range_and_types, .timeout = 20)
{
    cf_future *big, *neg, *nil;
    cr_assert_eq(cf_future_create(&big), 0);
    cr_assert_eq(cf_future_create(&neg), 0);
    cr_assert_eq(cf_future_create(&nil), 0);
    /* uint64 2^64 - 1: no intptr_t holds it. */
    cr_assert_eq(cf_future_set_result(big, "\xcf\xff\xff\xff\xff\xff\xff\xff\xff", 9), 0);
    cr_assert_eq(cf_future_set_result(neg, "\xd0\x80", 2), 0); /* int8 -128 */
    cr_assert_eq(cf_future_set_result(nil, "\xc0", 1), 0);
    intptr_t v;
    cr_assert_eq(cf_future_result_intptr(big, 0, &v), CF_ETYPE);
    cr_assert_eq(cf_future_result_intptr(neg, 0, &v), 0);
    cr_assert_eq(v, -128);
    void *p;
    cr_assert_eq(cf_future_result_ptr(nil, 0, &p), CF_ETYPE);
    cf_future_release(big);
    cf_future_release(neg);
    cf_future_release(nil);
}

/* No descriptor can be made (the process is at its descriptor limit):
 * the loop calls say why, and nothing is registered. */
Test(th_native_errors, no_descriptor_left, .timeout = 20)
{
    cf_executor *ex = nv_pool(1);
    cf_future *f;
    cr_assert_eq(cf_future_create(&f), 0);
    struct rlimit old, low;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    int probe = dup(0);
    cr_assert_geq(probe, 0);
    close(probe);
    /* The lowest free descriptor is `probe`: allow none from it on. */
    low = old;
    low.rlim_cur = (rlim_t)probe;
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    int fd_rc = cf_executor_loop_fd(ex);
    int add_rc = cf_future_add_loop_callback(f, ex, nv_loop_cb, NULL);
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    cr_assert_eq(fd_rc, -EMFILE);
    cr_assert_eq(add_rc, -EMFILE);
    cr_assert_eq(cf_executor_run_loop_callbacks(ex), 0);
    /* With descriptors again, it works. */
    cr_assert_geq(cf_executor_loop_fd(ex), 0);
    cf_future_release(f);
    cf_executor_release(ex);
}
