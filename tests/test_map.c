/* cf_map over a process pool: ordering, chunking, errors, timeouts,
 * laziness and early release.
 *
 * Scenarios ported from CPython's Lib/test/test_concurrent_futures
 * (executor.py test_map*, test_process_pool.py test_map_chunksize),
 * rewritten for the C API. No test asserts on timing.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cfutures.h>

#include "support.h"

/* ------------------------------------------------------------ tasks */

/* Fails every item whose value is 3 mod 10. */
static int map_picky(const msgpack_object *args, msgpack_packer *out)
{
    int64_t n;
    if (cf_arg_i64(args, 0, &n) < 0)
        return cf_task_fail("map_picky: expected an integer");
    if (n % 10 == 3)
        return cf_task_fail("map_picky rejects %lld", (long long)n);
    return msgpack_pack_int64(out, -n);
}
CF_TASK(map_picky);

/* Returns a value of kind k (see KINDS): every msgpack format a result can
 * take, since cf_map reads scalars straight from the bytes. */
enum { KINDS = 26 };
static int map_kind(const msgpack_object *args, msgpack_packer *out)
{
    int64_t k;
    static char text[300], bytes[300];
    memset(text, 'x', sizeof(text));
    memset(bytes, 0xab, sizeof(bytes));
    if (cf_arg_i64(args, 0, &k) < 0)
        return cf_task_fail("map_kind: expected an integer");
    switch (k % KINDS) {
    case 0: return msgpack_pack_nil(out);
    case 1: return msgpack_pack_true(out);
    case 2: return msgpack_pack_false(out);
    case 3: return msgpack_pack_uint64(out, 0);
    case 4: return msgpack_pack_uint64(out, 127);
    case 5: return msgpack_pack_uint64(out, 128);
    case 6: return msgpack_pack_uint64(out, 65535);
    case 7: return msgpack_pack_uint64(out, UINT64_MAX);
    case 8: return msgpack_pack_int64(out, -1);
    case 9: return msgpack_pack_int64(out, -32);
    case 10: return msgpack_pack_int64(out, -33);
    case 11: return msgpack_pack_int64(out, INT64_MIN);
    case 12: return msgpack_pack_int8(out, 5); /* positive in a signed format */
    case 13: return msgpack_pack_float(out, 1.5f);
    case 14: return msgpack_pack_double(out, -2.25);
    case 15: return msgpack_pack_str_with_body(out, "", 0);
    case 16: return msgpack_pack_str_with_body(out, text, 31);
    case 17: return msgpack_pack_str_with_body(out, text, 40);
    case 18: return msgpack_pack_str_with_body(out, text, sizeof(text));
    case 19: return msgpack_pack_bin_with_body(out, bytes, 0);
    case 20: return msgpack_pack_bin_with_body(out, bytes, sizeof(bytes));
    case 21: return msgpack_pack_array(out, 0);
    case 22: return support_pack_container(out, 0); /* nested array */
    case 23: return support_pack_container(out, 1); /* map */
    case 24: return support_pack_container(out, 2); /* ext */
    default: return msgpack_pack_int16(out, -300);
    }
}
CF_TASK(map_kind);

/* [dir, n]: n * n, except item 2, which waits on the gate of dir first
 * (support_gate_hold: it runs up to the liveness bound at most). */
static int map_third_blocks(const msgpack_object *args, msgpack_packer *out)
{
    int64_t n;
    if (cf_arg_i64(args, 1, &n) < 0)
        return cf_task_fail("map_third_blocks: expected dir, n");
    if (n == 2) {
        int rc = support_gate_hold(args, NULL);
        if (rc != 0)
            return rc;
    }
    return msgpack_pack_int64(out, n * n);
}
CF_TASK(map_third_blocks);

/* ------------------------------------------------------------ inputs */

struct map_input {
    size_t n;          /* items; SIZE_MAX: endless */
    size_t produced;   /* items packed so far */
    size_t fail_at;    /* return fail_rc at this index; SIZE_MAX: never */
    int fail_rc;
    size_t last_index; /* expected next index (checks sequential calls) */
    bool out_of_order;
    const char *dir;   /* for support_gate */
};

static int map_ints(void *arg, size_t index, msgpack_packer *pk)
{
    struct map_input *in = arg;
    if (index != in->last_index)
        in->out_of_order = true;
    if (index == in->fail_at)
        return in->fail_rc;
    if (index >= in->n)
        return 0;
    in->last_index = index + 1;
    in->produced++;
    return cf_pack_args(pk, "i", (int64_t)index) == 0 ? 1 : -ENOMEM;
}

static int map_gate_input(void *arg, size_t index, msgpack_packer *pk)
{
    struct map_input *in = arg;
    if (index >= in->n)
        return 0;
    in->produced++;
    return cf_pack_args(pk, "si", in->dir, (int64_t)index) == 0 ? 1 : -ENOMEM;
}

static struct map_input map_input_of(size_t n)
{
    return (struct map_input){.n = n, .fail_at = SIZE_MAX};
}

/* A map of support_square over the items of `in`. */
static cf_map *map_squares(cf_executor *ex, struct map_input *in, const cf_map_options *opts)
{
    cf_map *m = NULL;
    int rc = cf_map_create(&m, ex, "support_square", map_ints, in, opts);
    cr_assert_eq(rc, 0, "map create: %s", cf_strerror(rc));
    return m;
}

/* Asserts that result r is the square of its index. */
static void map_assert_square(const msgpack_object *r, size_t idx)
{
    int64_t v;
    cr_assert_eq(cf_obj_i64(r, &v), 0);
    cr_assert_eq(v, (int64_t)idx * (int64_t)idx);
}

/* Takes results from m while they succeed, asserting that they come in
 * index order and are squares. Returns the code that ended the run, with
 * the index it came with in *idx and the results taken in *count. */
static int map_take_ordered_squares(cf_map *m, size_t *idx, size_t *count)
{
    const msgpack_object *r;
    int rc;
    *count = 0;
    while ((rc = cf_map_next(m, idx, &r)) == 0) {
        cr_assert_eq(*idx, *count, "out of order: %zu at position %zu", *idx, *count);
        map_assert_square(r, *idx);
        (*count)++;
    }
    return rc;
}

/* Runs a whole ordered map of support_square over n items and checks it. */
static void map_check_ordered(cf_executor *ex, size_t n, const cf_map_options *opts)
{
    struct map_input in = map_input_of(n);
    cf_map *m = map_squares(ex, &in, opts);
    size_t idx, count;
    const msgpack_object *o;
    int rc = map_take_ordered_squares(m, &idx, &count);
    cr_assert_eq(rc, CF_EEMPTY, "map ended with %s: %s", cf_strerror(rc),
                 cf_map_error_message(m));
    cr_assert_eq(count, n);
    cr_assert_not(in.out_of_order);
    cr_assert_eq(in.produced, n);
    cr_assert_eq(cf_map_next(m, &idx, &o), CF_EEMPTY, "still empty afterwards");
    cf_map_release(m);
}

/* ------------------------------------------------------------ tests */

Test(map, ordered_fixed_chunks, .timeout = 30)
{
    cf_executor *ex = support_new_pool(2, 0);
    const size_t chunks[] = {1, 2, 7, 100, 5000};
    for (size_t i = 0; i < sizeof(chunks) / sizeof(*chunks); i++) {
        cf_map_options o = {.timeout = CF_FOREVER, .chunksize = chunks[i]};
        map_check_ordered(ex, 1000, &o);
    }
    cf_executor_release(ex);
}

Test(map, ordered_automatic_chunks, .timeout = 30)
{
    cf_executor *ex = support_new_pool(2, 0);
    map_check_ordered(ex, 20000, NULL);
    cf_map_options o = {.timeout = CF_FOREVER};
    map_check_ordered(ex, 1, &o);
    map_check_ordered(ex, 3, &o);
    cf_executor_release(ex);
}

Test(map, unordered_yields_every_index_once, .timeout = 30)
{
    cf_executor *ex = support_new_pool(2, 0);
    const size_t chunks[] = {0, 1, 3};
    for (size_t c = 0; c < sizeof(chunks) / sizeof(*chunks); c++) {
        enum { N = 3000 };
        static unsigned char seen[N];
        memset(seen, 0, sizeof(seen));
        struct map_input in = map_input_of(N);
        cf_map_options o = {.timeout = CF_FOREVER, .chunksize = chunks[c], .unordered = true};
        cf_map *m = map_squares(ex, &in, &o);
        size_t idx, count = 0;
        const msgpack_object *r;
        int rc;
        while ((rc = cf_map_next(m, &idx, &r)) == 0) {
            cr_assert_lt(idx, N);
            cr_assert_eq(seen[idx], 0, "index %zu yielded twice", idx);
            seen[idx] = 1;
            map_assert_square(r, idx);
            count++;
        }
        cr_assert_eq(rc, CF_EEMPTY, "%s", cf_strerror(rc));
        cr_assert_eq(count, N);
        cf_map_release(m);
    }
    cf_executor_release(ex);
}

Test(map, empty_input, .timeout = 30)
{
    cf_executor *ex = support_new_pool(2, 0);
    cf_map_options variants[] = {
        {.timeout = CF_FOREVER},
        {.timeout = CF_FOREVER, .chunksize = 4},
        {.timeout = CF_FOREVER, .unordered = true},
    };
    for (size_t i = 0; i < 3; i++) {
        struct map_input in = map_input_of(0);
        cf_map *m = map_squares(ex, &in, &variants[i]);
        size_t idx;
        const msgpack_object *r;
        cr_assert_eq(cf_map_next(m, &idx, &r), CF_EEMPTY);
        cr_assert_eq(cf_map_next(m, &idx, &r), CF_EEMPTY);
        cr_assert_eq(in.produced, 0);
        cf_map_release(m);
    }
    cf_executor_release(ex);
}

Test(map, invalid_arguments, .timeout = 30)
{
    cf_executor *ex = support_new_pool(2, 0);
    struct map_input in = map_input_of(3);
    cf_map *m = NULL;
    cr_assert_eq(cf_map_create(NULL, ex, "support_square", map_ints, &in, NULL), -EINVAL);
    cr_assert_eq(cf_map_create(&m, NULL, "support_square", map_ints, &in, NULL), -EINVAL);
    cr_assert_eq(cf_map_create(&m, ex, NULL, map_ints, &in, NULL), -EINVAL);
    cr_assert_eq(cf_map_create(&m, ex, "", map_ints, &in, NULL), -EINVAL);
    cr_assert_eq(cf_map_create(&m, ex, "support_square", NULL, &in, NULL), -EINVAL);
    cr_assert_null(m);
    cr_assert_eq(cf_map_next(NULL, NULL, NULL), -EINVAL);
    cf_map_release(NULL);
    cr_assert_str_eq(cf_map_error_message(NULL), "");

    /* An unknown task is refused at once, not item by item. */
    cr_assert_eq(cf_map_create(&m, ex, "map_no_such_task", map_ints, &in, NULL), CF_ENOTASK);
    cr_assert_null(m);
    cf_executor_release(ex);
}

Test(map, input_callback_error, .timeout = 30)
{
    cf_executor *ex = support_new_pool(2, 0);
    const size_t chunks[] = {0, 1, 8};
    for (size_t c = 0; c < 3; c++) {
        struct map_input in = map_input_of(1000);
        in.fail_at = 50;
        in.fail_rc = -EIO;
        cf_map_options o = {.timeout = CF_FOREVER, .chunksize = chunks[c]};
        cf_map *m = map_squares(ex, &in, &o);
        size_t idx, count;
        const msgpack_object *r;
        int rc = map_take_ordered_squares(m, &idx, &count);
        cr_assert_eq(count, 50, "items before the failing input: %zu", count);
        cr_assert_eq(rc, -EIO, "got %s", cf_strerror(rc));
        cr_assert_eq(idx, 50);
        cr_assert(strstr(cf_map_error_message(m), "50") != NULL, "%s",
                  cf_map_error_message(m));
        cr_assert_eq(cf_map_next(m, &idx, &r), CF_EEMPTY);
        cr_assert_eq(in.produced, 50, "the input was read past its failure");
        cf_map_release(m);
    }
    cf_executor_release(ex);
}

Test(map, failing_items_report_and_continue, .timeout = 30)
{
    cf_executor *ex = support_new_pool(2, 0);
    const size_t chunks[] = {0, 1, 4};
    for (size_t c = 0; c < 3; c++) {
        for (int unordered = 0; unordered < 2; unordered++) {
            enum { N = 200 };
            unsigned char seen[N] = {0};
            struct map_input in = map_input_of(N);
            cf_map_options o = {.timeout = CF_FOREVER, .chunksize = chunks[c],
                                .unordered = unordered};
            cf_map *m;
            cr_assert_eq(cf_map_create(&m, ex, "map_picky", map_ints, &in, &o), 0);
            size_t idx, ok = 0, failed = 0, pos = 0;
            const msgpack_object *r;
            int rc;
            while ((rc = cf_map_next(m, &idx, &r)) != CF_EEMPTY) {
                cr_assert_lt(idx, N);
                if (!unordered)
                    cr_assert_eq(idx, pos);
                pos++;
                cr_assert_eq(seen[idx], 0);
                seen[idx] = 1;
                if (idx % 10 == 3) {
                    char want[64];
                    cr_assert_eq(rc, CF_ETASK, "item %zu: %s", idx, cf_strerror(rc));
                    snprintf(want, sizeof(want), "map_picky rejects %zu", idx);
                    const char *msg = cf_map_error_message(m);
                    cr_assert(strstr(msg, want) != NULL, "message: %s", msg);
                    snprintf(want, sizeof(want), "%zu", idx);
                    cr_assert(strstr(msg, want) != NULL, "message: %s", msg);
                    failed++;
                } else {
                    int64_t v;
                    cr_assert_eq(rc, 0, "item %zu: %s", idx, cf_strerror(rc));
                    cr_assert_eq(cf_obj_i64(r, &v), 0);
                    cr_assert_eq(v, -(int64_t)idx);
                    ok++;
                }
            }
            cr_assert_eq(failed, N / 10);
            cr_assert_eq(ok, N - N / 10);
            cf_map_release(m);
        }
    }
    cf_executor_release(ex);
}

Test(map, timeout, .timeout = 30)
{
    char dir[64], go[128];
    support_make_dir(dir, sizeof(dir));
    snprintf(go, sizeof(go), "%s/go", dir);
    cf_executor *ex = support_new_pool(2, 0);
    struct map_input in = map_input_of(10);
    in.dir = dir;
    cf_map_options o = {.timeout = 0.2, .chunksize = 1};
    cf_map *m;
    cr_assert_eq(cf_map_create(&m, ex, "support_gate", map_gate_input, &in, &o), 0);
    size_t idx;
    const msgpack_object *r;
    /* The gate stays closed: nothing can finish before the deadline. */
    cr_assert_eq(cf_map_next(m, &idx, &r), -ETIMEDOUT);
    cr_assert(strstr(cf_map_error_message(m), "timed out"), "message: '%s'",
              cf_map_error_message(m));
    cr_assert_eq(cf_map_next(m, &idx, &r), CF_EEMPTY, "a timeout ends the map");
    cf_map_release(m);
    support_touch(go);
    cf_executor_release(ex);
    support_remove_dir(dir);
}

/* Issue 12 (5): a timeout ends the map, as Python's map does. Items 0 and
 * 1 come back, item 2 blocks past the deadline: -ETIMEDOUT, then the map
 * is over (CF_EEMPTY, again and again), the items not started were
 * cancelled, and nothing is read from the input any more. The blocked
 * item cannot be cancelled (it runs): once its gate opens it finishes
 * unseen, and a waiting shutdown waits for it and returns. */
Test(map, timeout_ends_the_map, .timeout = 30)
{
    char dir[64];
    support_make_dir(dir, sizeof(dir));
    for (int unordered = 0; unordered < 2; unordered++) {
        char go[128];
        snprintf(go, sizeof(go), "%s/go", dir);
        unlink(go);
        cf_executor *ex = support_new_pool(1, 0);
        struct map_input in = map_input_of(20);
        in.dir = dir;
        cf_map_options o = {.timeout = 1.0, .chunksize = 1, .unordered = unordered};
        cf_map *m;
        cr_assert_eq(cf_map_create(&m, ex, "map_third_blocks", map_gate_input, &in, &o), 0);
        size_t idx;
        const msgpack_object *r;
        int64_t v;
        for (size_t k = 0; k < 2; k++) {
            int rc = cf_map_next(m, &idx, &r);
            cr_assert_eq(rc, 0, "item %zu: %s: %s", k, cf_strerror(rc), cf_map_error_message(m));
            cr_assert_eq(idx, k);
            cr_assert_eq(cf_obj_i64(r, &v), 0);
            cr_assert_eq(v, (int64_t)(k * k));
        }
        int rc = cf_map_next(m, &idx, &r);
        cr_assert_eq(rc, -ETIMEDOUT, "%s", cf_strerror(rc));
        const char *msg = cf_map_error_message(m);
        cr_assert(strstr(msg, "map timed out after 1 s with ") && strstr(msg, "pending"), "%s",
                  msg);
        size_t produced = in.produced;
        for (int k = 0; k < 3; k++)
            cr_assert_eq(cf_map_next(m, &idx, &r), CF_EEMPTY, "the map has ended");
        cr_assert_str_eq(cf_map_error_message(m), msg, "the message stays");
        cr_assert_eq(in.produced, produced, "the input is not read after the timeout");
        cf_stats st;
        cr_assert_eq(cf_executor_stats(ex, &st), 0);
        /* One worker, blocked on item 2: what was queued behind it (at
         * least the chunk submitted after item 1 was yielded... or after 0)
         * is cancelled. */
        cr_assert_geq(st.cancelled, 1, "nothing was cancelled (%s)", msg);
        cf_map_release(m);
        support_touch(go);
        cr_assert_eq(cf_executor_shutdown(ex, CF_WAIT, false), 0);
        cr_assert_eq(cf_executor_stats(ex, &st), 0);
        cr_assert_eq(st.in_flight, 0);
        cf_executor_release(ex);
    }
    support_remove_dir(dir);
}

Test(map, lazy_and_bounded, .timeout = 30)
{
    cf_executor *ex = support_new_pool(2, 0);
    const size_t inflight[] = {1, 4, 16};
    const size_t chunks[] = {1, 2, 0};
    for (size_t a = 0; a < 3; a++) {
        for (size_t b = 0; b < 3; b++) {
            for (int unordered = 0; unordered < 2; unordered++) {
                /* Endless input: only the window bounds how far it runs. */
                struct map_input in = map_input_of(SIZE_MAX);
                cf_map_options o = {.timeout = CF_FOREVER, .chunksize = chunks[b],
                                    .max_inflight = inflight[a], .unordered = unordered};
                /* The map refills only once the chunk being yielded is used
                 * up, and then while the window's items plus one more chunk
                 * fit in max_inflight (one chunk always goes when the window
                 * is empty). The automatic chunk size never outgrows
                 * max_inflight. So: read-but-not-yielded <= max(M, chunk). */
                size_t chunk = chunks[b] ? chunks[b] : inflight[a];
                size_t bound = inflight[a] > chunk ? inflight[a] : chunk;
                cf_map *m = map_squares(ex, &in, &o);
                cr_assert_leq(in.produced, bound);
                size_t idx, yielded = 0;
                const msgpack_object *r;
                while (yielded < 300) {
                    int rc = cf_map_next(m, &idx, &r);
                    cr_assert_eq(rc, 0, "%s: %s", cf_strerror(rc), cf_map_error_message(m));
                    map_assert_square(r, idx);
                    yielded++;
                    cr_assert_leq(in.produced - yielded, bound,
                                  "input ran %zu items ahead (max_inflight %zu, chunk %zu)",
                                  in.produced - yielded, inflight[a], chunks[b]);
                }
                /* Releasing a map over an endless input returns. */
                cf_map_release(m);
            }
        }
    }
    cf_executor_release(ex);
}

/* Two tasks hold both workers on the gate; then a map queues items that no
 * worker can take. Releasing the map must cancel them all: none runs. */
Test(map, release_early_cancels_rest, .timeout = 30)
{
    char dir[64], go[128], path[160], ran[160];
    support_make_dir(dir, sizeof(dir));
    snprintf(go, sizeof(go), "%s/go", dir);
    snprintf(ran, sizeof(ran), "%s/ran", dir);
    cf_executor *ex = support_new_pool(2, 0);
    cf_future *hold[2];
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(cf_submit_named(ex, "support_gate", CF_FOREVER, &hold[k], "si", dir,
                                     (int64_t)(1000 + k)),
                     0);
        snprintf(path, sizeof(path), "%s/started-%d", dir, 1000 + k);
        cr_assert(support_wait_file(path), "holder %d never started", k);
    }
    struct map_input in = map_input_of(40);
    in.dir = dir;
    cf_map_options o = {.timeout = CF_FOREVER, .chunksize = 1, .max_inflight = 20};
    cf_map *m;
    cr_assert_eq(cf_map_create(&m, ex, "support_gate", map_gate_input, &in, &o), 0);
    cr_assert_gt(in.produced, 0);
    cr_assert_leq(in.produced, 20);
    cf_map_release(m);

    support_touch(go);
    int64_t v;
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(cf_future_result_i64(hold[k], CF_FOREVER, &v), 0);
        cr_assert_eq(v, 1000 + k);
        cf_future_release(hold[k]);
    }
    cr_assert_eq(cf_executor_shutdown(ex, CF_WAIT, false), 0);
    /* Only the two holders ever ran. */
    cr_assert_eq(support_file_size(ran), 2, "%lld tasks ran", (long long)support_file_size(ran));
    cf_executor_release(ex);
    support_remove_dir(dir);
}

/* Released half-way with results still pending: no hang, no leak. */
Test(map, release_midway, .timeout = 30)
{
    cf_executor *ex = support_new_pool(2, 0);
    for (int unordered = 0; unordered < 2; unordered++) {
        struct map_input in = map_input_of(5000);
        cf_map_options o = {.timeout = CF_FOREVER, .unordered = unordered};
        cf_map *m = map_squares(ex, &in, &o);
        size_t idx;
        const msgpack_object *r;
        for (int i = 0; i < 10; i++)
            cr_assert_eq(cf_map_next(m, &idx, &r), 0);
        cf_map_release(m);
    }
    /* The pool is still fine. */
    map_check_ordered(ex, 100, NULL);
    cf_executor_release(ex);
}

/* Every kind of result comes out of a map exactly as msgpack-c unpacks it
 * from a single submit (cf_map reads scalars itself, containers through
 * msgpack-c), in chunks of every size from 1 up. */
Test(map, results_of_every_format_match_msgpack, .timeout = 60)
{
    cf_executor *ex = support_new_pool(2, 0);
    const size_t chunks[] = {1, 3, 7, KINDS * 3};
    for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
        struct map_input in = map_input_of(KINDS * 3);
        cf_map_options o = {.timeout = CF_FOREVER, .chunksize = chunks[c]};
        cf_map *m;
        cr_assert_eq(cf_map_create(&m, ex, "map_kind", map_ints, &in, &o), 0);
        size_t idx, n = 0;
        const msgpack_object *r;
        int rc;
        while ((rc = cf_map_next(m, &idx, &r)) == 0) {
            cf_future *f;
            const msgpack_object *want;
            cr_assert_eq(cf_submit_named(ex, "map_kind", CF_FOREVER, &f, "i", (int64_t)idx), 0);
            cr_assert_eq(cf_future_result(f, CF_FOREVER, &want), 0);
            cr_assert(msgpack_object_equal(*r, *want), "item %zu (kind %zu), chunks of %zu: "
                      "type %d vs %d", idx, idx % KINDS, chunks[c], (int)r->type, (int)want->type);
            cr_assert_eq(r->type, want->type, "item %zu", idx);
            /* Even empty, a map's str or bin points somewhere (memcpy-safe). */
            if (r->type == MSGPACK_OBJECT_STR || r->type == MSGPACK_OBJECT_BIN)
                cr_assert_not_null(r->type == MSGPACK_OBJECT_STR ? r->via.str.ptr
                                                                 : r->via.bin.ptr,
                                   "item %zu", idx);
            cf_future_release(f);
            n++;
        }
        cr_assert_eq(rc, CF_EEMPTY, "%s", cf_map_error_message(m));
        cr_assert_eq(n, KINDS * 3);
        cf_map_release(m);
    }
    cf_executor_release(ex);
}
