/* The parent's side of spilling (executor/executor.c with ipc/spill.c):
 * submits and map chunks too large for the task ring are packed straight
 * into a memfd and sealed in place. Covers what the unit tests of
 * tests/test_spill.c cannot: forks while a record is being packed (a new
 * pool's fork server, the user's own fork), many threads submitting large
 * records at once, map chunks that spill (their item count is patched
 * after the items), failures of each memfd step in the parent, and that no
 * descriptor outlives its record. Found by an independent review.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cfutures.h>

#include "ipc/segcache.h"
#include "ipc/side.h"
#include "ipc/spill.h"
#include "support.h"

/* Bounded wait until this process holds `want` descriptors again. */
static void expect_fds(int want)
{
    for (int waited = 0; support_open_fds() != want && waited < SUPPORT_LIVENESS_MS; waited++)
        support_sleep_ms(1);
    cr_assert_eq(support_open_fds(), want, "descriptors: %d, expected %d", support_open_fds(),
                 want);
}

/* A child forked while a spill buffer is in its memfd: sealing must still
 * work (the child does not inherit the writable mapping). */
Test(spill_submit, fork_while_spilled_still_seals, .timeout = 20)
{
    struct cf__spill sp;
    struct cf__side seg = {.fd = -1};
    static char buf[1 << 20];
    cf__spill_init(&sp, 1000, 8);
    cr_assert_eq(cf__spill_write(&sp, buf, sizeof(buf)), 0);
    cr_assert(cf__spill_spilled(&sp));
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        pause();
        _exit(0);
    }
    int rc = cf__spill_seal(&sp, &seg);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    cr_assert_eq(rc, 0, "sealing after a fork: %s", strerror(-rc));
    cr_assert_eq(seg.size, sizeof(buf) - 8);
    cf__side_close(&seg);
    cf__spill_destroy(&sp);
}

static cf_executor *other_pool;
static unsigned char big_item[1 << 20];

/* Item 0 is 1 MiB (its chunk spills); packing item 1 creates another
 * pool, whose fork server is forked while item 0's bytes sit mapped. */
static int pool_in_the_middle(void *arg, size_t index, msgpack_packer *pk)
{
    (void)arg;
    if (index >= 2)
        return 0;
    if (index == 1 && !other_pool) {
        cf_process_pool_options o = {.max_workers = 1};
        if (cf_process_pool_create(&other_pool, &o) < 0)
            return -1;
    }
    return cf_pack_args(pk, "b", big_item, index == 0 ? sizeof(big_item) : (size_t)10) < 0
               ? -1
               : 1;
}

Test(spill_submit, a_pool_created_while_a_chunk_spills, .timeout = 60)
{
    cf_executor *ex = support_new_pool(1, 0);
    cf_map_options o = {.timeout = CF_FOREVER, .chunksize = 2};
    cf_map *m;
    for (size_t i = 0; i < sizeof(big_item); i++)
        big_item[i] = support_pattern(i);
    cr_assert_eq(cf_map_create(&m, ex, "support_bin_digest", pool_in_the_middle, NULL, &o), 0);
    size_t index;
    const msgpack_object *r;
    int rc = cf_map_next(m, &index, &r);
    cr_assert_eq(rc, 0, "%s: %s", cf_strerror(rc), cf_map_error_message(m));
    cr_assert_eq(index, 0);
    support_expect_digest(r, big_item, sizeof(big_item));
    cr_assert_eq(cf_map_next(m, &index, &r), 0);
    support_expect_digest(r, big_item, 10);
    cr_assert_eq(cf_map_next(m, &index, &r), CF_EEMPTY);
    cf_map_release(m);
    cr_assert_not_null(other_pool);
    cf_executor_release(other_pool);
    other_pool = NULL;
    cf_executor_release(ex);
}

#define CHUNK_ITEM 50000

static int spilling_items(void *arg, size_t index, msgpack_packer *pk)
{
    (void)arg;
    if (index >= 200)
        return 0;
    static unsigned char b[CHUNK_ITEM];
    for (size_t i = 0; i < sizeof(b); i++)
        b[i] = support_pattern(i + index);
    return cf_pack_args(pk, "b", b, sizeof(b)) < 0 ? -1 : 1;
}

/* Chunks of 50 items of 50 kB: every chunk spills, and its count is
 * patched after its items were written into the memfd. */
Test(spill_submit, map_chunks_that_spill, .timeout = 120)
{
    cf_executor *ex = support_new_pool(2, 0);
    cf_map_options o = {.timeout = CF_FOREVER, .chunksize = 50};
    cf_map *m;
    cr_assert_eq(cf_map_create(&m, ex, "support_bin_digest", spilling_items, NULL, &o), 0);
    static unsigned char b[CHUNK_ITEM];
    size_t index, n = 0;
    const msgpack_object *r;
    int rc;
    while ((rc = cf_map_next(m, &index, &r)) == 0) {
        cr_assert_eq(index, n);
        for (size_t i = 0; i < sizeof(b); i++)
            b[i] = support_pattern(i + index);
        support_expect_digest(r, b, sizeof(b));
        n++;
    }
    cr_assert_eq(rc, CF_EEMPTY, "%s: %s", cf_strerror(rc), cf_map_error_message(m));
    cr_assert_eq(n, 200);
    cf_map_release(m);
    cf_executor_release(ex);
}

struct submitter {
    cf_executor *ex;
    int k;
    int bad;
};

static void *submit_large(void *arg)
{
    struct submitter *t = arg;
    size_t n = ((size_t)1 << 20) + (size_t)t->k * 4099;
    unsigned char *b = malloc(n);
    if (!b) {
        t->bad++;
        return NULL;
    }
    for (int j = 0; j < 8; j++) {
        for (size_t i = 0; i < n; i++)
            b[i] = support_pattern(i + (size_t)t->k * 7 + (size_t)j);
        cf_future *f;
        const msgpack_object *o;
        if (cf_submit_named(t->ex, "support_bin_digest", CF_FOREVER, &f, "b", b, n) != 0) {
            t->bad++;
            continue;
        }
        if (cf_future_result(f, CF_FOREVER, &o) != 0 || o->type != MSGPACK_OBJECT_ARRAY ||
            o->via.array.size != 2 || o->via.array.ptr[1].via.u64 != support_digest(b, n))
            t->bad++;
        cf_future_release(f);
    }
    free(b);
    return NULL;
}

Test(spill_submit, threads_submitting_large_records_leave_no_descriptor, .timeout = 120)
{
    cf_executor *ex = support_new_pool(2, 0);
    int before = support_open_fds();
    pthread_t th[6];
    struct submitter t[6];
    for (int i = 0; i < 6; i++) {
        t[i] = (struct submitter){ex, i, 0};
        cr_assert_eq(pthread_create(&th[i], NULL, submit_large, &t[i]), 0);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(t[i].bad, 0, "thread %d: %d bad results", i, t[i].bad);
    }
    cf__seg_trim(); /* kept segments stay open while free; none may stay busy */
    expect_fds(before);
    /* Spilled, then refused: the segment goes with the refusal. */
    cr_assert_eq(cf_executor_shutdown(ex, true, false), 0);
    static unsigned char big[2 << 20];
    cf_future *f;
    cr_assert_eq(cf_submit_named(ex, "support_bin_digest", CF_FOREVER, &f, "b", big, sizeof(big)),
                 CF_ESHUTDOWN);
    cf__seg_trim(); /* closes it only if the refusal released it */
    expect_fds(before);
    cf_executor_release(ex);
}

/* One step of packing a 3 MiB submit fails: the submit reports that
 * step's own error, keeps no descriptor, and the next submit works. */
static void parent_failure(enum cf__spill_op op, int err)
{
    cf__seg_enable(false); /* the one-shot path; kept segments: below */
    cf_executor *ex = support_new_pool(1, 0);
    static unsigned char big[3 << 20];
    cf_future *f = NULL;
    const msgpack_object *o;
    int before = support_open_fds();
    cf__spill_fault_arm(op, 1, err);
    int rc = cf_submit_named(ex, "support_bin_digest", CF_FOREVER, &f, "b", big, sizeof(big));
    cf__spill_fault_arm(op, 0, 0);
    cr_assert_eq(rc, -err, "step %d: %d (%s)", (int)op, rc, cf_strerror(rc));
    cr_assert_null(f);
    expect_fds(before);
    cr_assert_eq(cf_submit_named(ex, "support_bin_digest", CF_FOREVER, &f, "b", big, sizeof(big)), 0);
    cr_assert_eq(cf_future_result(f, CF_FOREVER, &o), 0, "%s", cf_future_error_message(f));
    support_expect_digest(o, big, sizeof(big));
    cf_future_release(f);
    cf_executor_release(ex);
}

Test(spill_submit, memfd_create_fails, .timeout = 60)
{
    parent_failure(CF__SPILL_OP_CREATE, EMFILE);
}

Test(spill_submit, growing_fails, .timeout = 60)
{
    parent_failure(CF__SPILL_OP_GROW, ENOSPC);
}

Test(spill_submit, a_large_write_fails, .timeout = 60)
{
    parent_failure(CF__SPILL_OP_WRITE, EIO);
}

Test(spill_submit, sealing_fails, .timeout = 60)
{
    parent_failure(CF__SPILL_OP_SEAL, EBADF);
}

/* The same steps failing with a kept segment (ipc/segcache.h): a free one
 * of ~300 KiB must grow for a 3 MiB submit, and its new pages are written
 * with pwrite. Growing it fails: the segment is retired (never lent again
 * half-grown) and the record goes to a fresh one-shot memfd instead, so
 * the submit works. Writing fails: that submit fails with the write's
 * error and the segment goes back to the cache. Either way no descriptor
 * is lost or left busy, and the next submit works. */
static void parent_failure_kept(enum cf__spill_op op, int err, bool falls_back)
{
    cf_executor *ex = support_new_pool(1, 0); /* 1 MiB rings: 300 KiB spills */
    static unsigned char small[300 << 10], big[3 << 20];
    cf_future *f = NULL;
    const msgpack_object *o;
    int before = support_open_fds();
    cr_assert_eq(cf_submit_named(ex, "support_bin_digest", CF_FOREVER, &f, "b", small, sizeof(small)),
                 0);
    cr_assert_eq(cf_future_result(f, CF_FOREVER, &o), 0, "%s", cf_future_error_message(f));
    cf_future_release(f);
    f = NULL;
    struct cf__seg_stats st;
    cf__seg_stats(&st);
    cr_assert_eq(st.created, 1, "a kept segment carried the small record");
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = support_pattern(i);
    cf__spill_fault_arm(op, 1, err);
    int rc = cf_submit_named(ex, "support_bin_digest", CF_FOREVER, &f, "b", big, sizeof(big));
    cf__spill_fault_arm(op, 0, 0);
    cf__seg_stats(&st);
    if (falls_back) {
        cr_assert_eq(rc, 0, "step %d: %d (%s)", (int)op, rc, cf_strerror(rc));
        cr_assert_eq(cf_future_result(f, CF_FOREVER, &o), 0, "%s", cf_future_error_message(f));
        support_expect_digest(o, big, sizeof(big));
        cf_future_release(f);
        cr_assert_eq(st.retired, 1, "the segment that failed to grow is gone");
    } else {
        cr_assert_eq(rc, -err, "step %d: %d (%s)", (int)op, rc, cf_strerror(rc));
        cr_assert_null(f);
        cr_assert_eq(st.retired, 0);
    }
    for (int round = 0; round < 2; round++) {
        cr_assert_eq(cf_submit_named(ex, "support_bin_digest", CF_FOREVER, &f, "b", big, sizeof(big)),
                     0);
        cr_assert_eq(cf_future_result(f, CF_FOREVER, &o), 0, "%s", cf_future_error_message(f));
        support_expect_digest(o, big, sizeof(big));
        cf_future_release(f);
    }
    cf__seg_stats(&st);
    cr_assert_eq(st.created, falls_back ? 2 : 1, "then one kept segment carries them all");
    cf__seg_trim();
    expect_fds(before);
    cf_executor_release(ex);
}

Test(spill_submit, growing_a_kept_segment_fails, .timeout = 60)
{
    parent_failure_kept(CF__SPILL_OP_GROW, ENOSPC, true);
}

Test(spill_submit, remapping_a_kept_segment_fails, .timeout = 60)
{
    parent_failure_kept(CF__SPILL_OP_REMAP, ENOMEM, true);
}

Test(spill_submit, writing_a_kept_segment_fails, .timeout = 60)
{
    parent_failure_kept(CF__SPILL_OP_WRITE, EIO, false);
}

/* A grow whose mremap failed leaves the file larger than the mapping; it
 * cannot shrink (F_SEAL_SHRINK), so a later grow to a size in between must
 * not try to. Found by review: every later submit failed with EPERM. */
Test(spill_submit, a_kept_segment_larger_than_its_mapping_still_grows, .timeout = 60)
{
    struct cf__spill sp;
    static unsigned char bytes[3 << 20];
    cf__spill_init(&sp, 1000, 8);
    cf__spill_set_reuse(&sp, true);
    cr_assert_eq(cf__spill_write(&sp, (const char *)bytes, 300 << 10), 0);
    cr_assert_not_null(sp.seg);
    /* ftruncate to ~3 MiB works, the mremap after it fails. */
    cf__spill_fault_arm(CF__SPILL_OP_REMAP, 1, ENOMEM);
    cr_assert_eq(cf__spill_write(&sp, (const char *)bytes, sizeof(bytes)), -1);
    cf__spill_fault_arm(CF__SPILL_OP_REMAP, 0, 0);
    cr_assert_eq(sp.err, -ENOMEM);
    /* 1 MiB in all: more than mapped, less than the file. */
    cr_assert_eq(cf__spill_write(&sp, (const char *)bytes, 700 << 10), 0, "%d", sp.err);
    cf__spill_destroy(&sp);
    cf__seg_trim();
}
