/* Tests for ipc/spill.c: a msgpack buffer that moves into a memfd past its
 * limit, grows there, rolls back like a msgpack_sbuffer, and is sealed in
 * place as a side segment (ipc/side.c) that a receiver accepts; and every
 * system call it makes failing (the CF_FAULT_INJECTION hook).
 */
#include <criterion/criterion.h>
#include <cfutures.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipc/segcache.h"
#include "ipc/side.h"
#include "ipc/spill.h"
#include "tests/support.h"

static struct cf__spill sp;
static struct cf__side seg = {.fd = -1}, rx = {.fd = -1};

static void teardown(void)
{
    cf__spill_fault_arm(CF__SPILL_OP_CREATE, 0, 0);
    cf__spill_fault_arm(CF__SPILL_OP_GROW, 0, 0);
    cf__spill_fault_arm(CF__SPILL_OP_REMAP, 0, 0);
    cf__spill_fault_arm(CF__SPILL_OP_WRITE, 0, 0);
    cf__spill_fault_arm(CF__SPILL_OP_SEAL, 0, 0);
    cf__side_close(&rx);
    cf__side_close(&seg);
    cf__spill_destroy(&sp);
}

static unsigned char pattern(size_t i)
{
    return (unsigned char)((i * 2654435761u) >> 13);
}

/* Appends n pattern bytes (positions at..at+n) in pieces of `step`. */
static void append(size_t at, size_t n, size_t step)
{
    static unsigned char buf[1 << 20];
    while (n > 0) {
        size_t k = n < step ? n : step;
        if (k > sizeof(buf))
            k = sizeof(buf);
        for (size_t i = 0; i < k; i++)
            buf[i] = pattern(at + i);
        cr_assert_eq(cf__spill_write(&sp, (const char *)buf, k), 0, "err %d", sp.err);
        at += k;
        n -= k;
    }
}

static void expect_pattern(const unsigned char *p, size_t from, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != pattern(from + i))
            cr_assert_fail("byte %zu differs", from + i);
}

/* Opens the sealed segment as a receiver would and checks its bytes. */
static void expect_segment(size_t from, size_t n)
{
    cr_assert_geq(seg.fd, 0);
    cr_assert_eq(seg.size, n);
    cr_assert_eq(cf__side_open(&rx, getpid(), seg.fd, n), 0);
    if (n)
        expect_pattern(rx.map, from, n);
    cf__side_close(&rx);
}

Test(spill, small_records_stay_on_the_heap, .fini = teardown, .timeout = 20)
{
    cf__spill_init(&sp, 4096, 0);
    append(0, 4000, 7);
    cr_assert_not(cf__spill_spilled(&sp));
    cr_assert_eq(sp.sb.size, 4000);
    cr_assert_leq(sp.sb.alloc, 4096);
    expect_pattern((const unsigned char *)sp.sb.data, 0, 4000);
    /* Sealing a heap record copies it into a fresh segment. */
    cr_assert_eq(cf__spill_seal(&sp, &seg), 0);
    cr_assert_eq(sp.sb.size, 0);
    expect_segment(0, 4000);
}

Test(spill, large_record_sealed_in_place, .fini = teardown, .timeout = 30)
{
    const size_t n = (24u << 20) + 12345;
    cf__spill_init(&sp, 100000, 0);
    append(0, 90000, 1000);
    cr_assert_not(cf__spill_spilled(&sp));
    /* Crossing the limit moves the bytes; then small and large appends
     * (memcpy and pwrite) and several growths. */
    append(90000, 20000, 3);
    cr_assert(cf__spill_spilled(&sp));
    append(110000, n - 110000 - (1 << 20), 1 << 20);
    append(n - (1 << 20), 1 << 20, 4093);
    cr_assert_eq(sp.sb.size, n);
    cr_assert_geq(sp.sb.alloc, n);
    expect_pattern((const unsigned char *)sp.sb.data, 0, n);
    int fd = sp.fd;
    cr_assert_eq(cf__spill_seal(&sp, &seg), 0);
    cr_assert_eq(seg.fd, fd, "sealed in place, not copied");
    cr_assert_not(cf__spill_spilled(&sp));
    cr_assert_eq(sp.sb.size, 0);
    int seals = fcntl(seg.fd, F_GET_SEALS);
    cr_assert_eq(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL),
                 F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
    expect_segment(0, n);
    /* The buffer is usable again, on the heap. */
    append(0, 100, 100);
    cr_assert_not(cf__spill_spilled(&sp));
    expect_pattern((const unsigned char *)sp.sb.data, 0, 100);
}

/* The head (the parent's 8-byte id prefix) is in the view but not in the
 * segment, through a spill and growths that move the mapping. */
Test(spill, head_stays_out_of_the_segment, .fini = teardown, .timeout = 30)
{
    const size_t head = 8, n = 9u << 20;
    cf__spill_init(&sp, 64 << 10, head);
    append(0, head, head);
    append(head, 60000, 999);
    /* Something right after our mapping forces the next growth to move. */
    append(head + 60000, 300000, 70000);
    cr_assert(cf__spill_spilled(&sp));
    void *after = mmap((char *)sp.base + sp.head_map + sp.file_cap, 4096, PROT_NONE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    void *old_base = sp.base;
    append(head + 360000, n - head - 360000, 1 << 20);
    if (after != MAP_FAILED) {
        cr_assert_neq(sp.base, old_base, "moved past the obstacle");
        munmap(after, 4096);
    }
    expect_pattern((const unsigned char *)sp.sb.data, 0, n);
    cr_assert_eq(cf__spill_seal(&sp, &seg), 0);
    expect_segment(head, n - head);
}

/* workers/execute.c rolls sb.size back after a failed task and packs
 * something else; the view must follow, spilled or not. */
Test(spill, rollback_then_rewrite, .fini = teardown, .timeout = 20)
{
    cf__spill_init(&sp, 1000, 0);
    append(0, 500000, 100000);
    cr_assert(cf__spill_spilled(&sp));
    sp.sb.size = 10;
    append(10, 200000, 65536); /* pwrite over pages already written */
    append(200010, 5, 5);
    cr_assert_eq(sp.sb.size, 200015);
    expect_pattern((const unsigned char *)sp.sb.data, 0, 200015);
    cr_assert_eq(cf__spill_seal(&sp, &seg), 0);
    expect_segment(0, 200015);
}

Test(spill, rollback_into_the_head, .fini = teardown, .timeout = 20)
{
    cf__spill_init(&sp, 100, 8);
    append(0, 200000, 100000);
    sp.sb.size = 3;
    append(3, 150000, 150000); /* one pwrite-sized append across the head */
    expect_pattern((const unsigned char *)sp.sb.data, 0, 150003);
    cr_assert_eq(cf__spill_seal(&sp, &seg), 0);
    expect_segment(8, 149995);
}

Test(spill, msgpack_packer_through_it, .fini = teardown, .timeout = 20)
{
    static char blob[300000];
    msgpack_packer pk;
    msgpack_unpacked u;
    size_t off = 0;
    memset(blob, 'x', sizeof(blob));
    cf__spill_init(&sp, 1024, 0);
    msgpack_packer_init(&pk, &sp, cf__spill_write);
    cr_assert_eq(msgpack_pack_array(&pk, 2), 0);
    cr_assert_eq(msgpack_pack_int(&pk, 42), 0);
    cr_assert_eq(msgpack_pack_bin_with_body(&pk, blob, sizeof(blob)), 0);
    cr_assert_eq(cf__spill_seal(&sp, &seg), 0);
    cr_assert_eq(cf__side_open(&rx, getpid(), seg.fd, seg.size), 0);
    msgpack_unpacked_init(&u);
    cr_assert_eq(msgpack_unpack_next(&u, rx.map, rx.size, &off), MSGPACK_UNPACK_SUCCESS);
    cr_assert_eq(u.data.type, MSGPACK_OBJECT_ARRAY);
    cr_assert_eq(u.data.via.array.ptr[1].via.bin.size, sizeof(blob));
    cr_assert_eq(memcmp(u.data.via.array.ptr[1].via.bin.ptr, blob, sizeof(blob)), 0);
    msgpack_unpacked_destroy(&u);
}

Test(spill, reset_drops_an_unannounced_memfd, .fini = teardown, .timeout = 20)
{
    cf__spill_init(&sp, 1000, 0);
    append(0, 300000, 100000);
    int fd = sp.fd;
    cr_assert_geq(fd, 0);
    cf__spill_reset(&sp);
    cr_assert_not(cf__spill_spilled(&sp));
    cr_assert_eq(sp.sb.size, 0);
    cr_assert_eq(fcntl(fd, F_GETFD), -1, "descriptor closed");
    cr_assert_eq(errno, EBADF);
}

Test(spill, empty_and_head_only_records, .fini = teardown, .timeout = 20)
{
    cf__spill_init(&sp, 10, 8);
    append(0, 8, 8);
    cr_assert_eq(cf__spill_seal(&sp, &seg), 0);
    expect_segment(8, 0);
    cf__side_close(&seg);
    append(0, 3, 3);
    cr_assert_eq(cf__spill_seal(&sp, &seg), -EINVAL, "shorter than its head");
    cr_assert_eq(seg.fd, -1);
    cr_assert_eq(sp.sb.size, 0);
}

/* Each failing system call: the write fails with the reason kept, nothing
 * leaks, and the buffer still works afterwards. */
static void write_fails_at(enum cf__spill_op op, size_t first, int err)
{
    static char big[400000];
    cf__spill_init(&sp, 1000, 8);
    append(0, first, 1000);
    cf__spill_fault_arm(op, 1, err);
    cr_assert_eq(cf__spill_write(&sp, big, sizeof(big)), -1);
    cr_assert_eq(sp.err, -err);
    cf__spill_fault_arm(op, 0, 0);
    cr_assert_eq(sp.sb.size, first, "nothing appended");
    expect_pattern((const unsigned char *)sp.sb.data, 0, first);
    append(first, 500000, 250000);
    cr_assert_eq(cf__spill_seal(&sp, &seg), 0);
    expect_segment(8, first + 500000 - 8);
}

Test(spill, memfd_create_fails, .fini = teardown, .timeout = 20)
{
    write_fails_at(CF__SPILL_OP_CREATE, 900, EMFILE);
}

Test(spill, ftruncate_fails_on_spill, .fini = teardown, .timeout = 20)
{
    write_fails_at(CF__SPILL_OP_GROW, 900, ENOSPC);
}

Test(spill, ftruncate_fails_on_growth, .fini = teardown, .timeout = 20)
{
    write_fails_at(CF__SPILL_OP_GROW, 300000, ENOSPC);
}

Test(spill, mremap_fails_on_growth, .fini = teardown, .timeout = 20)
{
    write_fails_at(CF__SPILL_OP_REMAP, 300000, ENOMEM);
}

Test(spill, pwrite_fails, .fini = teardown, .timeout = 20)
{
    write_fails_at(CF__SPILL_OP_WRITE, 300000, ENOSPC);
}

Test(spill, pwrite_fails_while_spilling, .fini = teardown, .timeout = 20)
{
    /* Moving 90 kB into the new memfd is one pwrite, which fails: the memfd
     * is dropped and the bytes are still there, on the heap. */
    static char more[20000];
    cf__spill_init(&sp, 100000, 0);
    append(0, 90000, 90000);
    cf__spill_fault_arm(CF__SPILL_OP_WRITE, 1, EIO);
    cr_assert_eq(cf__spill_write(&sp, more, sizeof(more)), -1);
    cr_assert_eq(sp.err, -EIO);
    cr_assert_not(cf__spill_spilled(&sp));
    cr_assert_eq(sp.sb.size, 90000);
    expect_pattern((const unsigned char *)sp.sb.data, 0, 90000);
    append(90000, 20000, 20000);
    cr_assert(cf__spill_spilled(&sp));
    cr_assert_eq(cf__spill_seal(&sp, &seg), 0);
    expect_segment(0, 110000);
}

Test(spill, seal_fails, .fini = teardown, .timeout = 20)
{
    cf__spill_init(&sp, 1000, 0);
    append(0, 300000, 100000);
    cf__spill_fault_arm(CF__SPILL_OP_SEAL, 1, ENOMEM);
    cr_assert_eq(cf__spill_seal(&sp, &seg), -ENOMEM);
    cr_assert_eq(seg.fd, -1);
    cr_assert_not(cf__spill_spilled(&sp), "memfd released");
    cr_assert_eq(sp.sb.size, 0);
    append(0, 10, 10);
    cr_assert_eq(cf__spill_seal(&sp, &seg), 0);
    expect_segment(0, 10);
}

/* A writable mapping left behind would make F_SEAL_WRITE fail (EBUSY):
 * the side layer refuses to seal around one. */
Test(spill, side_seal_refuses_a_writable_mapping, .fini = teardown, .timeout = 20)
{
    int fd = cf__side_memfd();
    cr_assert_geq(fd, 0);
    cr_assert_eq(ftruncate(fd, 8192), 0);
    void *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    cr_assert_neq(m, MAP_FAILED);
    cr_assert_eq(cf__side_seal(&seg, fd, 100), -EBUSY);
    cr_assert_eq(seg.fd, -1);
    cr_assert_eq(fcntl(fd, F_GETFD), -1, "the descriptor was taken and closed");
    munmap(m, 8192);
}

Test(spill, take_a_heap_record, .fini = teardown, .timeout = 20)
{
    size_t len;
    cf__spill_init(&sp, 1000, 8);
    append(0, 500, 100);
    unsigned char *bytes = cf__spill_take(&sp, &len);
    cr_assert_not_null(bytes);
    cr_assert_eq(len, 500);
    expect_pattern(bytes, 0, 500);
    free(bytes);
    cr_assert_eq(sp.sb.size, 0);
    cr_assert_null(cf__spill_take(&sp, &len), "nothing left");
    cr_assert_eq(len, 0);
    append(0, 300000, 100000);
    cr_assert_null(cf__spill_take(&sp, &len), "spilled: seal it instead");
    cr_assert_eq(len, 0);
    cr_assert_eq(sp.sb.size, 300000, "left as it was");
}

/* ------------------------------------------------- through a process pool */

/* [n, seed, fail]: packs n pattern bytes as a bin; with fail, then fails
 * (execute.c rolls the spilled bytes back and packs an error instead). */
static int spill_make(const msgpack_object *args, msgpack_packer *out)
{
    uint64_t n, seed;
    bool fail;
    if (cf_arg_u64(args, 0, &n) < 0 || cf_arg_u64(args, 1, &seed) < 0 ||
        cf_arg_bool(args, 2, &fail) < 0)
        return cf_task_fail("spill_make: expected [n, seed, fail]");
    unsigned char *b = malloc(n ? n : 1);
    if (!b)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        b[i] = pattern(i + seed);
    int rc = msgpack_pack_bin_with_body(out, b, n);
    free(b);
    if (rc < 0)
        return -ENOMEM; /* the spill buffer refused the bytes */
    return fail ? cf_task_fail("spill_make: failing after packing %llu bytes",
                               (unsigned long long)n)
                : 0;
}
CF_TASK(spill_make);

static cf_executor *pool;

static void pool_teardown(void)
{
    if (pool)
        cf_executor_release(pool);
    pool = NULL;
    teardown();
}

/* Runs spill_make(n, seed, fail) and checks a success's bytes; returns the
 * future's error (0 on success). */
static int make_in_pool(size_t n, uint64_t seed, bool fail)
{
    cf_future *f;
    const msgpack_object *o;
    const void *b;
    size_t got;
    cr_assert_eq(cf_submit(pool, spill_make, &f, "uu?", (uint64_t)n, seed, (int)fail), 0);
    int rc = cf_future_result(f, CF_FOREVER, &o);
    if (rc == 0) {
        cr_assert_eq(cf_obj_bin(o, &b, &got), 0);
        cr_assert_eq(got, n);
        expect_pattern(b, seed, n);
    }
    cf_future_release(f);
    return rc;
}

Test(spill_pool, large_results_packed_in_place, .fini = pool_teardown, .timeout = 60)
{
    pool = support_new_pool(1, 0); /* 1 MiB rings: 128 KiB records inline */
    cr_assert_eq(make_in_pool(100, 1, false), 0, "inline");
    cr_assert_eq(make_in_pool((size_t)5 << 20, 2, false), 0, "spilled");
    cr_assert_eq(make_in_pool(3000, 3, false), 0, "inline again");
    cr_assert_eq(make_in_pool((size_t)300 << 10, 4, false), 0, "spilled again");
    cr_assert_eq(make_in_pool((size_t)7 << 20, 5, true), CF_ETASK,
                 "rolled back out of a memfd");
    cr_assert_eq(make_in_pool((size_t)6 << 20, 6, false), 0, "and the buffer still works");
}

/* The worker could not seal its result (no memory, no descriptors): the
 * task fails with the reason; the worker stays and serves the next one. */
Test(spill_pool, seal_failure_fails_only_that_task, .fini = pool_teardown, .timeout = 60)
{
    cf__seg_enable(false); /* the one-shot path (inherited by the worker) */
    cf__spill_fault_arm(CF__SPILL_OP_SEAL, 1, ENOMEM); /* inherited by the worker */
    pool = support_new_pool(1, 0);
    cf_future *f;
    cr_assert_eq(cf_submit(pool, spill_make, &f, "uu?", (uint64_t)(2u << 20), (uint64_t)9, 0),
                 0);
    cr_assert_eq(cf_future_result(f, CF_FOREVER, NULL), -ENOMEM);
    cr_assert(strstr(cf_future_error_message(f), "could not pass a") != NULL, "%s",
              cf_future_error_message(f));
    cf_future_release(f);
    cr_assert_eq(make_in_pool((size_t)2 << 20, 10, false), 0);
    cf_stats st;
    cr_assert_eq(cf_executor_stats(pool, &st), 0);
    cr_assert_eq(st.worker_deaths, 0);
}

/* No memfd while packing: the task's pack call fails, the task reports
 * it, and nothing is left half-built for the next result. */
Test(spill_pool, memfd_failure_while_packing, .fini = pool_teardown, .timeout = 60)
{
    cf__seg_enable(false); /* the one-shot path (inherited by the worker) */
    cf__spill_fault_arm(CF__SPILL_OP_CREATE, 1, EMFILE);
    pool = support_new_pool(1, 0);
    cr_assert_neq(make_in_pool((size_t)2 << 20, 11, false), 0);
    cr_assert_eq(make_in_pool((size_t)2 << 20, 12, false), 0);
}
