/* An initializer that kills its worker (abort, _exit, exit(0), a signal)
 * breaks the pool instead of making it fork replacements for ever: pending
 * futures and later submits get CF_EBROKEN with a message naming the
 * initializer and how its worker died, and release returns promptly. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/support.h"

static int init_abort(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    (void)out;
    /* No core file for an abort on purpose. */
    signal(SIGABRT, SIG_DFL);
    abort();
}
CF_TASK(init_abort);

static int init_exit1(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    (void)out;
    _exit(1);
}
CF_TASK(init_exit1);

static int init_exit0(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    (void)out;
    _exit(0); /* exit(0) without the test runner's atexit handlers */
}
CF_TASK(init_exit0);

static int init_sigkill(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    (void)out;
    raise(SIGKILL);
    return msgpack_pack_nil(out);
}
CF_TASK(init_sigkill);

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void expect_broken(const char *init, const char *how)
{
    cf_executor *ex = NULL;
    cf_process_pool_options o = {.max_workers = 2, .initializer = init};
    int rc = cf_process_pool_create(&ex, &o);
    cr_assert_eq(rc, 0, "%s", cf_strerror(rc));
    cf_future *f = NULL;
    rc = cf_submit(ex, support_square, &f, "i", (int64_t)3);
    if (rc == 0) {
        /* Before the fix this waited for ever (2,000 forks a second). */
        cr_assert_eq(cf_future_result(f, 20.0, NULL), CF_EBROKEN, "%s: %s", init,
                     cf_future_error_message(f) ? cf_future_error_message(f) : "(none)");
        const char *msg = cf_future_error_message(f);
        cr_assert(msg && strstr(msg, init) && strstr(msg, how), "%s: message: %s", init, msg);
        cf_future_release(f);
    } else {
        cr_assert_eq(rc, CF_EBROKEN, "%s: submit: %s", init, cf_strerror(rc));
    }
    f = NULL;
    cr_assert_eq(cf_submit(ex, support_square, &f, "i", (int64_t)4), CF_EBROKEN, "%s", init);
    cr_assert_null(f);
    double t0 = now_s();
    cf_executor_release(ex);
    cr_assert_lt(now_s() - t0, 5.0, "%s: release took %.1f s", init, now_s() - t0);
}

Test(initializer_death, abort, .timeout = 60)
{
    expect_broken("init_abort", "SIGABRT");
}

Test(initializer_death, exit_status_1, .timeout = 60)
{
    expect_broken("init_exit1", "exited with status 1");
}

Test(initializer_death, exit_status_0_is_a_death, .timeout = 60)
{
    expect_broken("init_exit0", "exited with status 0");
}

Test(initializer_death, sigkill, .timeout = 60)
{
    expect_broken("init_sigkill", "SIGKILL");
}
