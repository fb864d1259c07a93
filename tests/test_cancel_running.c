/* Issue 18 (1): cancelling a running future must fail, as Python's
 * Future.cancel() does: cf_future_cancel returns false, the future stays
 * running (not done, not cancelled, no callback run), and it then
 * completes with its result. For a stand-alone future after
 * cf_future_set_running, a thread-pool task and a process-pool task, each
 * known to have started (the task sets a process-shared event before it
 * blocks on another).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdatomic.h>

#include <cfutures.h>

#include "tests/support.h"

/* Shared with the workers: created before each pool. */
static struct crun_shared {
    cf_pevent started, go;
} *crun;

static void crun_setup(void)
{
    crun = cf_pshared_alloc(sizeof(*crun));
    cr_assert_not_null(crun);
    cr_assert_eq(cf_pevent_init(&crun->started), 0);
    cr_assert_eq(cf_pevent_init(&crun->go), 0);
}

static void crun_teardown(void)
{
    if (!crun)
        return;
    cf_pevent_destroy(&crun->started);
    cf_pevent_destroy(&crun->go);
    cf_pshared_free(crun, sizeof(*crun));
    crun = NULL;
}

/* []: says it started, waits for go (10 s at most), returns 5. */
static int crun_hold(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    cf_pevent_set(&crun->started);
    if (!cf_pevent_wait(&crun->go, 10.0))
        return cf_task_fail("crun_hold: never told to go");
    return msgpack_pack_int64(out, 5);
}
CF_TASK(crun_hold);

static int crun_count(cf_future *f, void *arg)
{
    (void)f;
    atomic_fetch_add((atomic_int *)arg, 1);
    return 0;
}

static void crun_assert_running(cf_future *f, const atomic_int *callbacks)
{
    cr_assert(cf_future_running(f), "no longer running");
    cr_assert_not(cf_future_done(f), "done");
    cr_assert_not(cf_future_cancelled(f), "cancelled");
    cr_assert_eq(cf_future_result(f, 0, NULL), -ETIMEDOUT);
    cr_assert_eq(atomic_load(callbacks), 0, "a callback ran");
}

/* The task of ex is running (it said so); cancel must fail and leave it
 * to complete. */
static void crun_check_executor(cf_executor *ex)
{
    cf_future *f;
    atomic_int callbacks = 0;
    cr_assert_eq(cf_submit(ex, crun_hold, &f, ""), 0);
    cr_assert_eq(cf_future_add_done_callback(f, crun_count, &callbacks), 0);
    cr_assert(cf_pevent_wait(&crun->started, 10.0), "the task never started");
    cr_assert_not(cf_future_cancel(f), "cancelled a running task");
    crun_assert_running(f, &callbacks);
    cr_assert_not(cf_future_cancel(f), "cancelled a running task (twice)");
    crun_assert_running(f, &callbacks);
    cr_assert_eq(cf_pevent_set(&crun->go), 0);
    int64_t v;
    int rc = cf_future_result_i64(f, 10.0, &v);
    cr_assert_eq(rc, 0, "%s: %s", cf_strerror(rc), cf_future_error_message(f));
    cr_assert_eq(v, 5);
    cr_assert_not(cf_future_cancelled(f));
    cr_assert_not(cf_future_cancel(f), "a finished future cannot be cancelled");
    /* The callback runs once, after the result (on the completing thread). */
    for (int i = 0; i < 10000 && atomic_load(&callbacks) == 0; i++)
        support_sleep_ms(1);
    cr_assert_eq(atomic_load(&callbacks), 1);
    cf_future_release(f);
}

Test(cancel_running, stand_alone_future, .timeout = 20)
{
    cf_future *f;
    atomic_int callbacks = 0;
    cr_assert_eq(cf_future_create(&f), 0);
    cr_assert_eq(cf_future_add_done_callback(f, crun_count, &callbacks), 0);
    cr_assert_eq(cf_future_set_running(f), 0);
    cr_assert_not(cf_future_cancel(f), "cancelled a running future");
    crun_assert_running(f, &callbacks);
    cr_assert_eq(support_set_i64(f, 8), 0);
    int64_t v;
    cr_assert_eq(cf_future_result_i64(f, 0, &v), 0);
    cr_assert_eq(v, 8);
    cr_assert_not(cf_future_cancelled(f));
    cr_assert_eq(atomic_load(&callbacks), 1);
    cf_future_release(f);
}

Test(cancel_running, thread_pool_task, .init = crun_setup, .fini = crun_teardown, .timeout = 30)
{
    cf_executor *ex;
    cf_thread_pool_options o = {.max_workers = 2};
    cr_assert_eq(cf_thread_pool_create(&ex, &o), 0);
    crun_check_executor(ex);
    cf_executor_release(ex);
}

Test(cancel_running, process_pool_task, .init = crun_setup, .fini = crun_teardown,
     .timeout = 30)
{
    cf_executor *ex = support_new_pool(2, 0);
    crun_check_executor(ex);
    cf_executor_release(ex);
}
