/* What a map's input callback packs, as cf_map gathers it into chunks
 * (executor/map.c): every item is checked to be exactly one value, and the
 * input is read no further after one that is not; what a callback packed
 * before it failed or ended is dropped, never sent (it used to follow the
 * counted items and make the whole chunk unreadable); items of any size,
 * packed in one write or many, arrive whole and in order.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cfutures.h>

#include "support.h"

/* A checksum that sees the order of the bytes, and their number. */
static uint64_t weigh(const unsigned char *b, size_t n)
{
    uint64_t sum = n;
    for (size_t i = 0; i < n; i++)
        sum += (i + 1) * b[i];
    return sum;
}

/* [bin] -> weigh(bin); [int] -> itself. */
static int input_measure(const msgpack_object *args, msgpack_packer *out)
{
    const void *b;
    size_t n;
    int64_t v;
    if (cf_arg_bin(args, 0, &b, &n) == 0)
        return msgpack_pack_uint64(out, weigh(b, n));
    if (cf_arg_i64(args, 0, &v) == 0)
        return msgpack_pack_int64(out, v);
    return cf_task_fail("input_measure: unexpected arguments");
}
CF_TASK(input_measure);

struct script {
    size_t n;       /* items */
    size_t bad_at;  /* index that misbehaves; SIZE_MAX: none */
    int how;        /* what it does there (see script_input) */
    size_t calls;   /* how often the callback ran */
};

/* Item i is [i]; at bad_at: 1 packs a value and fails with -EIO; 2 packs
 * a value and says the input ended; 3 packs two values; 4 packs none. */
static int script_input(void *arg, size_t index, msgpack_packer *pk)
{
    struct script *s = arg;
    s->calls++;
    if (index == s->bad_at) {
        switch (s->how) {
        case 1: cf_pack_args(pk, "i", (int64_t)index); return -EIO;
        case 2: cf_pack_args(pk, "i", (int64_t)index); return 0;
        case 3: cf_pack_args(pk, "i", (int64_t)index); cf_pack_args(pk, "i", (int64_t)1); return 1;
        default: return 1;
        }
    }
    if (index >= s->n)
        return 0;
    return cf_pack_args(pk, "i", (int64_t)index) == 0 ? 1 : -ENOMEM;
}

/* A map of input_measure over `input`, in chunks of `chunk` (asserts). */
static cf_map *open_map(cf_executor *ex, cf_map_input_fn input, void *arg, size_t chunk)
{
    cf_map_options o = {.timeout = CF_FOREVER, .chunksize = chunk};
    cf_map *m;
    cr_assert_eq(cf_map_create(&m, ex, "input_measure", input, arg, &o), 0);
    return m;
}

/* Runs the script in chunks of `chunk`; the items before bad_at must all
 * succeed, then the map ends with `want` (CF_EEMPTY: cleanly). */
static void run_script(cf_executor *ex, struct script *s, size_t chunk, int want)
{
    cf_map *m = open_map(ex, script_input, s, chunk);
    const msgpack_object *r;
    size_t idx, got = 0;
    int rc;
    while ((rc = cf_map_next(m, &idx, &r)) == 0) {
        int64_t v;
        cr_assert_eq(idx, got, "chunks of %zu, how %d", chunk, s->how);
        cr_assert_eq(cf_obj_i64(r, &v), 0);
        cr_assert_eq(v, (int64_t)idx);
        got++;
    }
    cr_assert_eq(rc, want, "chunks of %zu, how %d: %s (%s)", chunk, s->how, cf_strerror(rc),
                 cf_map_error_message(m));
    if (want != CF_EEMPTY)
        cr_assert_eq(idx, s->bad_at);
    cr_assert_eq(got, s->bad_at < s->n ? s->bad_at : s->n, "chunks of %zu, how %d", chunk,
                 s->how);
    cf_map_release(m);
}

/* Item 10 of 50 misbehaves in the way `how` says, for each chunk size;
 * the map must end with `want` there. calls: how often the input may run
 * (0: not checked). */
static void bad_item_in_every_chunking(int how, int want, size_t calls)
{
    cf_executor *ex = support_new_pool(2, 0);
    const size_t chunks[] = {1, 4, 100};
    for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
        struct script s = {.n = 50, .bad_at = 10, .how = how};
        run_script(ex, &s, chunks[c], want);
        if (calls)
            cr_assert_eq(s.calls, calls, "how %d, chunks of %zu", how, chunks[c]);
    }
    cf_executor_release(ex);
}

Test(map_input, what_a_failing_or_ending_callback_packed_is_dropped, .timeout = 30)
{
    bad_item_in_every_chunking(1, -EIO, 0);
    bad_item_in_every_chunking(2, CF_EEMPTY, 0);
}

Test(map_input, an_item_must_be_exactly_one_value, .timeout = 30)
{
    /* Checked as it is packed: the input is read no further. */
    bad_item_in_every_chunking(3, CF_EPROTO, 11);
    bad_item_in_every_chunking(4, CF_EPROTO, 11);
}

/* Sizes around cf_pack_args' gathering buffer (128 bytes) and up to a
 * chunk that no longer fits the ring (a side segment). */
static const size_t sizes[] = {0, 1, 100, 127, 128, 129, 4096, 16385, 70000, 300000};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

static size_t fill(unsigned char *bytes, size_t index)
{
    size_t n = sizes[index % NSIZES];
    for (size_t i = 0; i < n; i++)
        bytes[i] = (unsigned char)(index * 31 + i);
    return n;
}

static int sized_input(void *arg, size_t index, msgpack_packer *pk)
{
    static unsigned char bytes[300000];
    (void)arg;
    if (index >= 3 * NSIZES)
        return 0;
    size_t n = fill(bytes, index);
    if (index % 2 == 0) /* one write for the body */
        return cf_pack_args(pk, "b", bytes, n) == 0 ? 1 : -ENOMEM;
    /* the body in small writes */
    if (msgpack_pack_array(pk, 1) || msgpack_pack_bin(pk, n))
        return -ENOMEM;
    for (size_t at = 0; at < n; at += 7)
        if (msgpack_pack_bin_body(pk, bytes + at, n - at < 7 ? n - at : 7))
            return -ENOMEM;
    return 1;
}

Test(map_input, items_of_every_size_arrive_whole, .timeout = 60)
{
    cf_executor *ex = support_new_pool(2, 0);
    const size_t chunks[] = {1, 3, 3 * NSIZES};
    for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
        cf_map *m = open_map(ex, sized_input, NULL, chunks[c]);
        const msgpack_object *r;
        size_t idx, got = 0;
        int rc;
        while ((rc = cf_map_next(m, &idx, &r)) == 0) {
            static unsigned char want[300000];
            uint64_t v;
            cr_assert_eq(idx, got);
            cr_assert_eq(cf_obj_u64(r, &v), 0);
            cr_assert_eq(v, weigh(want, fill(want, idx)), "item %zu, chunks of %zu", idx,
                         chunks[c]);
            got++;
        }
        cr_assert_eq(rc, CF_EEMPTY, "%s", cf_map_error_message(m));
        cr_assert_eq(got, 3 * NSIZES);
        cf_map_release(m);
    }
    cf_executor_release(ex);
}
