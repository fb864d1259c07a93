/* Whatever the application does with SIGCHLD (ignores it, or reaps every
 * child in a handler with waitpid(-1)), worker deaths and the fork
 * server's death are seen: a crashing task's future fails and the worker
 * is replaced; a killed fork server breaks the pool and release returns. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/support.h"

static int sc_crash(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    (void)out;
    raise(SIGKILL);
    return cf_task_fail("sc_crash: still alive");
}
CF_TASK(sc_crash);

static atomic_int reaped;

/* What many programs install: reap every child, whoever it belongs to. */
static void reap_all(int sig)
{
    (void)sig;
    int saved = errno;
    while (waitpid(-1, NULL, WNOHANG) > 0)
        atomic_fetch_add(&reaped, 1);
    errno = saved;
}

static void set_disposition(bool handler)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sa.sa_handler = handler ? reap_all : SIG_IGN;
    cr_assert_eq(sigaction(SIGCHLD, &sa, NULL), 0);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A crashing task fails its future (before the fix, with SIG_IGN, it
 * waited for ever: the fork server inherited the disposition and never
 * learnt the exit); the replacement runs the next task. */
static void crash_is_seen(bool handler)
{
    set_disposition(handler);
    cf_executor *ex = support_new_pool(1, 0);
    for (int round = 0; round < 3; round++) {
        cf_future *f;
        cr_assert_eq(cf_submit(ex, sc_crash, &f, ""), 0);
        int rc = cf_future_error(f, 20.0);
        cr_assert_eq(rc, CF_EWORKER, "round %d: %s (%s)", round, cf_strerror(rc),
                     cf_future_error_message(f) ? cf_future_error_message(f) : "-");
        cf_future_release(f);
        int64_t r;
        cr_assert_eq(cf_submit(ex, support_square, &f, "i", (int64_t)7), 0);
        cr_assert_eq(cf_future_result_i64(f, 20.0, &r), 0, "the replacement runs tasks");
        cr_assert_eq(r, 49);
        cf_future_release(f);
    }
    cf_executor_release(ex);
}

/* A killed fork server breaks the pool, seen without waitpid (before the
 * fix the application's disposition took its exit status, the collector
 * never learnt of it, and release hung). */
static void forkserver_death_is_seen(bool handler)
{
    char dir[64];
    set_disposition(handler);
    cf_executor *ex = support_new_pool(1, 0);
    support_make_dir(dir, sizeof(dir));
    cf_future *held = support_block_worker(ex, dir, 1);
    support_kill_forkserver();
    int rc = cf_future_error(held, 20.0);
    cr_assert_eq(rc, CF_EBROKEN, "%s", cf_strerror(rc));
    cr_assert(strstr(cf_future_error_message(held), "fork server"), "%s",
              cf_future_error_message(held));
    cf_future *f = NULL;
    cr_assert_eq(cf_submit(ex, support_square, &f, "i", (int64_t)1), CF_EBROKEN);
    double t0 = now_s();
    cr_assert_eq(cf_executor_shutdown(ex, CF_WAIT, false), 0);
    cf_executor_release(ex);
    cr_assert_lt(now_s() - t0, 5.0, "release took %.1f s", now_s() - t0);
    cf_future_release(held);
    support_remove_dir(dir);
}

Test(sigchld, ignored_crash_is_seen, .timeout = 60)
{
    crash_is_seen(false);
}

Test(sigchld, handler_crash_is_seen, .timeout = 60)
{
    crash_is_seen(true);
}

Test(sigchld, ignored_forkserver_death_is_seen, .timeout = 60)
{
    forkserver_death_is_seen(false);
}

Test(sigchld, handler_forkserver_death_is_seen, .timeout = 60)
{
    forkserver_death_is_seen(true);
    /* (The handler usually reaps the fork server before the collector's
     * next look; either way its death must be seen.) */
    cr_log_info("the handler reaped %d children", atomic_load(&reaped));
}

/* Shutdown with the application's handler reaping: no hang, nothing left. */
Test(sigchld, handler_shutdown_returns, .timeout = 60)
{
    set_disposition(true);
    for (int i = 0; i < 3; i++) {
        cf_executor *ex = support_new_pool(2, 0);
        cf_future *f;
        int64_t r;
        cr_assert_eq(cf_submit(ex, support_square, &f, "i", (int64_t)i), 0);
        cr_assert_eq(cf_future_result_i64(f, 20.0, &r), 0);
        cf_future_release(f);
        double t0 = now_s();
        cf_executor_release(ex);
        cr_assert_lt(now_s() - t0, 5.0, "release took %.1f s", now_s() - t0);
    }
}
