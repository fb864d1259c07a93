/* msgpack-c's -1 never crosses the API: a task that returns what its
 * msgpack_pack_* call returned (the README's way) in a worker that cannot
 * get its shared-memory segment fails with the segment's reason (-EMFILE,
 * -ENOSPC), not "Operation not permitted (-1)"; a bare -1 from a task is the
 * task's own failure (CF_ETASK, "task X returned -1"), and one from a map
 * input callback is reported as -ENOMEM. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/segcache.h"
#include "ipc/spill.h"
#include "tests/support.h"

/* [n]: packs n bytes as a bin, the README's way. */
static int pe_big(const msgpack_object *args, msgpack_packer *out)
{
    uint64_t n;
    if (cf_arg_u64(args, 0, &n) < 0)
        return cf_task_fail("pe_big: expected n");
    char *b = calloc(1, n);
    if (!b)
        return cf_task_fail("pe_big: no memory");
    int rc = msgpack_pack_bin(out, n);
    if (rc == 0)
        rc = msgpack_pack_bin_body(out, b, n);
    free(b);
    return rc;
}
CF_TASK(pe_big);

/* [n]: the same, ignoring what the packer said. */
static int pe_big_ignoring(const msgpack_object *args, msgpack_packer *out)
{
    (void)pe_big(args, out);
    return 0;
}
CF_TASK(pe_big_ignoring);

static int pe_minus_one(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    (void)out;
    return -1;
}
CF_TASK(pe_minus_one);

static void expect_segment_error(const char *task, int op, int err)
{
    cf__seg_enable(false);           /* one-shot segments (inherited by the worker) */
    cf__spill_fault_arm(op, 1, err); /* inherited by the worker */
    cf_executor *ex = support_new_pool(1, 0);
    cf_future *f;
    cr_assert_eq(cf_submit_named(ex, task, 0, &f, "u", (uint64_t)(4u << 20)), 0);
    int rc = cf_future_error(f, CF_FOREVER);
    cr_assert_eq(rc, -err, "%s: %s (%d): %s", task, cf_strerror(rc), rc,
                 cf_future_error_message(f));
    cr_assert(strstr(cf_future_error_message(f), "could not pack its result"), "%s",
              cf_future_error_message(f));
    cf_future_release(f);
    /* The worker lives on, and its next large result goes through. */
    const msgpack_object *o;
    cr_assert_eq(cf_submit_named(ex, task, 0, &f, "u", (uint64_t)(4u << 20)), 0);
    rc = cf_future_result(f, CF_FOREVER, &o);
    cr_assert_eq(rc, 0, "%s", cf_strerror(rc));
    cf_future_release(f);
    cf_stats st;
    cr_assert_eq(cf_executor_stats(ex, &st), 0);
    cr_assert_eq(st.worker_deaths, 0);
    cf_executor_release(ex);
}

Test(pack_errors, no_descriptor_for_the_segment, .timeout = 60)
{
    expect_segment_error("pe_big", CF__SPILL_OP_CREATE, EMFILE);
}

Test(pack_errors, no_space_for_the_segment, .timeout = 60)
{
    expect_segment_error("pe_big", CF__SPILL_OP_GROW, ENOSPC);
}

Test(pack_errors, an_ignored_refusal_still_fails, .timeout = 60)
{
    expect_segment_error("pe_big_ignoring", CF__SPILL_OP_CREATE, EMFILE);
}

/* A bare -1 with no writer failure behind it is the task's own failure
 * (the usual C convention): CF_ETASK naming the task and the value, never
 * a bare -1 ("Operation not permitted"). */
static void expect_task_failure(cf_executor *ex)
{
    cf_future *f;
    cr_assert_eq(cf_submit(ex, pe_minus_one, &f, ""), 0);
    int rc = cf_future_error(f, CF_FOREVER);
    cr_assert_eq(rc, CF_ETASK, "%s (%d)", cf_strerror(rc), rc);
    cr_assert(strstr(cf_future_error_message(f), "returned -1"), "%s",
              cf_future_error_message(f));
    cf_future_release(f);
}

Test(pack_errors, a_bare_minus_one_is_the_tasks_failure, .timeout = 60)
{
    cf_executor *ex = support_new_pool(1, 0);
    expect_task_failure(ex);
    cf_executor_release(ex);
    cf_thread_pool_options to = {.max_workers = 1};
    cr_assert_eq(cf_thread_pool_create(&ex, &to), 0);
    expect_task_failure(ex);
    cf_executor_release(ex);
}

static int pe_input(void *arg, size_t index, msgpack_packer *pk)
{
    (void)arg;
    if (index == 2)
        return -1; /* as if msgpack_pack_array had failed */
    return cf_pack_args(pk, "i", (int64_t)index) == 0 ? 1 : -ENOMEM;
}

Test(pack_errors, a_map_input_minus_one_is_enomem, .timeout = 60)
{
    cf_executor *ex = support_new_pool(1, 0);
    cf_map *m;
    cf_map_options mo = {.timeout = CF_FOREVER, .chunksize = 1};
    cr_assert_eq(cf_map_create(&m, ex, "support_square", pe_input, NULL, &mo), 0);
    size_t index;
    const msgpack_object *o;
    int rc, last = 0;
    while ((rc = cf_map_next(m, &index, &o)) != CF_EEMPTY) {
        cr_assert_neq(rc, -1, "a bare -1 from cf_map_next");
        last = rc;
        if (rc != 0)
            break;
    }
    cr_assert_eq(last, -ENOMEM, "%s (%d)", cf_strerror(last), last);
    cf_map_release(m);
    cf_executor_release(ex);
}
