/* Cancelling a task whose worker died inside the ring's pop: the worker
 * noted the record in its slot, then died before the ring's tail moved,
 * so the record is still in the ring. The future must stay reachable by a
 * cancel there: a copy queued again beside the original let the cancel
 * take the copy while the original ran anyway, reading a segment given
 * back for reuse (issue 16, item 3). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/fault.h"
#include "tests/support.h"

/* Initializer [dir]: holds while dir/hold exists (the test keeps a
 * replacement worker there, so that the record stays in the ring). */
static int rq_hold_init(const msgpack_object *args, msgpack_packer *out)
{
    const char *dir;
    size_t len;
    char path[256];
    if (cf_arg_str(args, 0, &dir, &len) < 0)
        return cf_task_fail("rq_hold_init: expected dir");
    snprintf(path, sizeof(path), "%.*s/hold", (int)len, dir);
    for (int t = 0; t < SUPPORT_LIVENESS_MS && support_file_exists(path); t++)
        support_sleep_ms(1);
    return msgpack_pack_nil(out);
}
CF_TASK(rq_hold_init);

/* [dir, k, bin]: creates dir/ran-k, returns the binary's length. */
static int rq_mark(const msgpack_object *args, msgpack_packer *out)
{
    const char *dir;
    const void *bin;
    size_t len, blen = 0;
    int64_t k;
    char path[256];
    if (cf_arg_str(args, 0, &dir, &len) < 0 || cf_arg_i64(args, 1, &k) < 0 ||
        cf_arg_bin(args, 2, &bin, &blen) < 0)
        return cf_task_fail("rq_mark: expected dir, k, bin");
    snprintf(path, sizeof(path), "%.*s/ran-%lld", (int)len, dir, (long long)k);
    support_touch(path);
    return msgpack_pack_uint64(out, blen);
}
CF_TASK(rq_mark);

static void run_case(size_t arg_bytes)
{
    char marks[64], g1[64], g2[64], path[160];
    support_make_dir(marks, sizeof(marks));
    support_make_dir(g1, sizeof(g1));
    support_make_dir(g2, sizeof(g2));
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    cr_assert_eq(cf_pack_args(&pk, "s", marks), 0);
    /* The armed state is shared with processes forked after the first
     * arm: arm (harmlessly) before the pool forks, re-arm later. */
    cr_assert_eq(cf__fault_arm(CF__FAULT_RING_POP_PARTIAL, CF__FAULT_CRASH, 1u << 30,
                               CF__ROLE_WORKER),
                 0);
    cf_executor *ex = NULL;
    cf_process_pool_options o = {.max_workers = 2, .initializer = "rq_hold_init",
                                 .initargs = sb.data, .initargs_len = sb.size};
    cr_assert_eq(cf_process_pool_create(&ex, &o), 0);
    msgpack_sbuffer_destroy(&sb);

    /* Both workers held; the victim waits in the ring. */
    cf_future *held1 = support_block_worker(ex, g1, 1);
    cf_future *held2 = support_block_worker(ex, g2, 2);
    unsigned char *bytes = calloc(1, arg_bytes);
    cr_assert_not_null(bytes);
    cf_future *victim;
    cr_assert_eq(cf_submit(ex, rq_mark, &victim, "sib", marks, (int64_t)0, bytes, arg_bytes),
                 0);
    /* The next worker to pop dies with the record noted but the tail not
     * moved; its replacement waits in its initializer. */
    snprintf(path, sizeof(path), "%s/hold", marks);
    cr_assert(support_touch(path));
    cr_assert_eq(cf__fault_arm(CF__FAULT_RING_POP_PARTIAL, CF__FAULT_CRASH, 1, CF__ROLE_WORKER),
                 0);
    support_gate_open(g2);
    int64_t k;
    cr_assert_eq(cf_future_result_i64(held2, CF_FOREVER, &k), 0);
    cf_stats st;
    for (int t = 0; t < SUPPORT_LIVENESS_MS; t++) {
        cr_assert_eq(cf_executor_stats(ex, &st), 0);
        if (st.worker_deaths >= 1)
            break;
        support_sleep_ms(1);
    }
    cr_assert_geq(st.worker_deaths, 1, "the worker never died in its pop");
    cf__fault_disarm();

    cr_assert(cf_future_cancel(victim), "the victim did not start: it must cancel");
    cr_assert(cf_future_cancelled(victim));

    /* Let the replacement in, and the held worker go: both go through the
     * ring; the cancelled record must be skipped wherever it is. */
    remove(path);
    support_gate_open(g1);
    cr_assert_eq(cf_future_result_i64(held1, CF_FOREVER, &k), 0);
    for (int i = 1; i <= 4; i++) {
        cf_future *f;
        cr_assert_eq(cf_submit(ex, rq_mark, &f, "sib", marks, (int64_t)i, bytes, (size_t)1), 0);
        int rc = cf_future_result_i64(f, CF_FOREVER, &k);
        cr_assert_eq(rc, 0, "%s (%s)", cf_strerror(rc), cf_future_error_message(f));
        cf_future_release(f);
    }
    cf_executor_release(ex);
    snprintf(path, sizeof(path), "%s/ran-0", marks);
    cr_assert(!support_file_exists(path), "the cancelled task ran");
    free(bytes);
    cf_future_release(victim);
    cf_future_release(held1);
    cf_future_release(held2);
    support_remove_dir(marks);
    support_remove_dir(g1);
    support_remove_dir(g2);
}

Test(requeue_cancel, small_record_left_in_the_ring, .timeout = 90)
{
    run_case(16);
}

/* Large enough for a segment of its own (the ring carries its descriptor). */
Test(requeue_cancel, large_record_left_in_the_ring, .timeout = 90)
{
    run_case(4u << 20);
}
