/* tests/test_options.c — option structs left zero take the defaults.
 *
 * Every options struct (process pool, thread pool, submit, map) must work
 * as `= {0}` and as its CF_..._OPTIONS_INIT: a zero timeout in a struct is
 * "no limit", never "poll" (cf_submit_options.poll asks for that). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support.h"

static int opt_slow_square(const msgpack_object *args, msgpack_packer *out)
{
    int64_t n;
    if (cf_arg_i64(args, 0, &n) < 0)
        return cf_task_fail("opt_slow_square: expected one integer");
    support_sleep_ms(20);
    return msgpack_pack_int64(out, n * n);
}
CF_TASK(opt_slow_square);

static void expect_square(cf_executor *ex)
{
    cf_future *f;
    int64_t r = 0;
    cr_assert_eq(cf_submit(ex, support_square, &f, "i", (int64_t)7), 0);
    cr_assert_eq(cf_future_result_i64(f, CF_FOREVER, &r), 0, "%s",
                 cf_future_error_message(f));
    cr_assert_eq(r, 49);
    cf_future_release(f);
}

Test(options, zeroed_process_pool_options_take_the_defaults, .timeout = 30)
{
    setenv("CF_WORKERS", "2", 1);
    cf_process_pool_options po = {0};
    cf_executor *ex = NULL;
    cr_assert_eq(cf_process_pool_create(&ex, &po), 0);
    cr_assert_eq(cf_executor_workers(ex), cf_default_workers());
    expect_square(ex);
    cf_executor_release(ex);

    cf_process_pool_options init = CF_PROCESS_POOL_OPTIONS_INIT;
    cr_assert_eq(cf_process_pool_create(&ex, &init), 0);
    cr_assert_eq(cf_executor_workers(ex), 2);
    cf_executor_release(ex);
}

Test(options, zeroed_process_pool_options_report_a_bad_environment, .timeout = 30)
{
    char text[1024];
    support_stderr_begin();
    setenv("CF_WORKERS", "abc", 1);
    cf_process_pool_options po = {0};
    cf_executor *ex = NULL;
    cr_assert_eq(cf_process_pool_create(&ex, &po), -EINVAL);
    cr_assert_null(ex);
    po.max_workers = -1; /* negative stays an error */
    setenv("CF_WORKERS", "2", 1);
    cr_assert_eq(cf_process_pool_create(&ex, &po), -EINVAL);
    support_stderr_end(text, sizeof(text));
    cr_assert(strstr(text, "CF_WORKERS=\"abc\""), "stderr: %s", text);
}

Test(options, zeroed_thread_pool_options_take_the_defaults, .timeout = 30)
{
    cf_thread_pool_options to = {0};
    cf_executor *ex = NULL;
    cr_assert_eq(cf_thread_pool_create(&ex, &to), 0);
    cr_assert_eq(cf_executor_workers(ex), cf_thread_pool_default_workers());
    expect_square(ex);
    cf_executor_release(ex);

    cf_thread_pool_options init = CF_THREAD_POOL_OPTIONS_INIT;
    cr_assert_eq(cf_thread_pool_create(&ex, &init), 0);
    cr_assert_eq(cf_executor_workers(ex), cf_thread_pool_default_workers());
    cf_executor_release(ex);
}

static int count_to(void *arg, size_t index, msgpack_packer *pk)
{
    if (index >= *(size_t *)arg)
        return 0;
    return cf_pack_args(pk, "i", (int64_t)index) == 0 ? 1 : -ENOMEM;
}

/* The map runs long enough (20 ms per item, one worker) that a timeout of
 * 0 read as "poll" fails the first cf_map_next. */
static void run_map(const cf_map_options *mo)
{
    cf_executor *ex = support_new_pool(1, 0);
    size_t n = 6, seen = 0, index;
    cf_map *m;
    const msgpack_object *r;
    cr_assert_eq(cf_map_create(&m, ex, "opt_slow_square", count_to, &n, mo), 0);
    int rc;
    while ((rc = cf_map_next(m, &index, &r)) == 0) {
        cr_assert_eq(r->via.i64, (int64_t)(index * index));
        seen++;
    }
    cr_assert_eq(rc, CF_EEMPTY, "%s: %s", cf_strerror(rc), cf_map_error_message(m));
    cr_assert_eq(seen, n);
    cf_map_release(m);
    cf_executor_release(ex);
}

Test(options, map_options_with_only_unordered_set_have_no_timeout, .timeout = 30)
{
    cf_map_options mo = {.unordered = true};
    run_map(&mo);
}

Test(options, map_options_init_is_every_default, .timeout = 30)
{
    cf_map_options mo = CF_MAP_OPTIONS_INIT;
    run_map(&mo);
}

/* A thread pool with one thread and one queue slot: the thread holds a
 * gate task and the slot a second one, so the task queue is full. */
Test(options, zeroed_submit_options_wait_for_room, .timeout = 30)
{
    char dir[64];
    support_make_dir(dir, sizeof(dir));
    cf_thread_pool_options to = {.max_workers = 1, .max_pending = 1};
    cf_executor *ex;
    cr_assert_eq(cf_thread_pool_create(&ex, &to), 0);
    cf_future *g0 = support_block_worker(ex, dir, 0);
    cf_future *g1 = support_submit_gate(ex, dir, 1);
    cf_future *f = NULL;

    cf_submit_options so = {.poll = true};
    cr_assert_eq(cf_submit_with(ex, &so, "support_square", &f, "i", (int64_t)3), CF_EFULL);
    cr_assert_null(f);
    so = (cf_submit_options){.timeout = 0.05};
    cr_assert_eq(cf_submit_with(ex, &so, "support_square", &f, "i", (int64_t)3), -ETIMEDOUT);
    /* The argument of cf_submit_named keeps its meaning: 0 polls. */
    cr_assert_eq(cf_submit_named(ex, "support_square", 0, &f, "i", (int64_t)3), CF_EFULL);

    /* All zero waits: open the gate only later, from another thread's
     * point of view, so the submit has to wait for room. */
    pid_t opener = fork();
    cr_assert_geq(opener, 0);
    if (opener == 0) {
        support_sleep_ms(100);
        _exit(support_gate_try_open(dir) ? 0 : 1);
    }
    so = (cf_submit_options)CF_SUBMIT_OPTIONS_INIT;
    cr_assert_eq(cf_submit_with(ex, &so, "support_square", &f, "i", (int64_t)3), 0);
    int64_t r = 0;
    cr_assert_eq(cf_future_result_i64(f, CF_FOREVER, &r), 0);
    cr_assert_eq(r, 9);
    int status;
    cr_assert_eq(waitpid(opener, &status, 0), opener);
    cf_future_release(f);
    cf_future_release(g0);
    cf_future_release(g1);
    cf_executor_release(ex);
    support_remove_dir(dir);
}

Test(options, submit_options_reject_bad_retries, .timeout = 30)
{
    cf_executor *ex;
    cr_assert_eq(cf_thread_pool_create(&ex, NULL), 0);
    cf_future *f = NULL;
    cf_submit_options so = {.max_retries = CF_NO_RETRIES - 1};
    cr_assert_eq(cf_submit_with(ex, &so, "support_square", &f, "i", (int64_t)3), -EINVAL);
    so.max_retries = CF_NO_RETRIES;
    cr_assert_eq(cf_submit_with(ex, &so, "support_square", &f, "i", (int64_t)3), 0);
    cf_future_release(f);
    cf_executor_release(ex);
}
