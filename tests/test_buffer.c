/* cf_buffer: a byte argument written in place. Every size class of the
 * record reaches the task intact (the stack, the heap, a kept segment, a
 * one-shot memfd, and a thread pool's heap); a large one is written into
 * shared memory, not copied; the segment goes back to the cache after the
 * result and after a release; every argument check (a finite timeout too)
 * leaves the buffer with the caller; a failed submit consumes it without
 * leaking; a memfd that cannot be made fails the create with its reason;
 * another thread may submit it; a forked child that releases an inherited
 * one leaves its own cache intact; a later pool's processes do not keep a
 * buffer's one-shot memfd open. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cfutures.h>

#include "ipc/segcache.h"
#include "ipc/spill.h"
#include "serialize/record.h"
#include "tests/support.h"

/* Whether [p, p + n) lies in one shared mapping of a memfd (from
 * /proc/self/maps): the bytes are written where the worker reads them. */
static bool in_memfd_mapping(const void *p, size_t n)
{
    FILE *maps = fopen("/proc/self/maps", "r");
    cr_assert_not_null(maps);
    char line[512];
    bool found = false;
    uintptr_t a = (uintptr_t)p;
    while (!found && fgets(line, sizeof(line), maps)) {
        unsigned long lo, hi;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 && a >= lo && a + n <= hi)
            found = perms[3] == 's' && strstr(line, "memfd:") != NULL;
    }
    fclose(maps);
    return found;
}

/* Creates, fills, submits and checks one buffer of n bytes. */
static void round_trip(cf_executor *ex, size_t n)
{
    cf_buffer *b;
    cf_future *f;
    const msgpack_object *o;
    cr_assert_eq(cf_buffer_create(ex, "support_bin_digest", n, &b), 0);
    cr_assert_eq(cf_buffer_size(b), n);
    unsigned char *d = cf_buffer_data(b);
    if (n == 0)
        cr_assert_null(d);
    else
        cr_assert_not_null(d);
    for (size_t i = 0; i < n; i++)
        d[i] = support_pattern(i + n);
    uint64_t want = support_digest(d, n);
    cr_assert_eq(cf_buffer_submit(b, NULL, &f), 0);
    cr_assert_eq(cf_future_result(f, CF_FOREVER, &o), 0, "%zu bytes: %s", n,
                 cf_future_error_message(f));
    cr_assert_eq(o->type, MSGPACK_OBJECT_ARRAY);
    cr_assert_eq(o->via.array.ptr[0].via.u64, n);
    cr_assert_eq(o->via.array.ptr[1].via.u64, want, "%zu bytes arrived changed", n);
    cf_future_release(f);
}

Test(buffer, every_size_reaches_a_process_pool_worker, .timeout = 60)
{
    /* 1 MiB rings: records beyond ~128 KiB go to a side segment. */
    cf_executor *ex = support_new_pool(2, 0);
    size_t sizes[] = {0, 10, 100 << 10, 4 << 20, 4 << 20, 33 << 20};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        round_trip(ex, sizes[i]);
    cf_executor_release(ex);
}

Test(buffer, one_shot_segments_when_none_is_kept, .timeout = 60)
{
    bool was = cf__seg_enable(false);
    cf_executor *ex = support_new_pool(1, 0);
    round_trip(ex, 3 << 20);
    round_trip(ex, 200 << 10);
    cf_executor_release(ex);
    cf__seg_enable(was);
}

Test(buffer, a_thread_pool_takes_one_too, .timeout = 60)
{
    cf_executor *ex;
    cr_assert_eq(cf_thread_pool_create(&ex, NULL), 0);
    size_t sizes[] = {0, 10, 100 << 10, 5 << 20};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        round_trip(ex, sizes[i]);
    cf_executor_release(ex);
}

Test(buffer, a_large_one_is_written_in_shared_memory, .timeout = 60)
{
    cf_executor *ex = support_new_pool(1, 0);
    struct cf__seg_stats before, after;
    cf_buffer *b;
    cf__seg_stats(&before);
    cr_assert_eq(cf_buffer_create(ex, "support_bin_digest", 8 << 20, &b), 0);
    cr_assert(in_memfd_mapping(cf_buffer_data(b), 8 << 20),
              "the bytes are not in a shared memfd mapping: submitting would copy them");
    cf_buffer_release(b);
    /* Released unsent, the segment is free again: the next buffer reuses
     * it rather than making another. */
    cr_assert_eq(cf_buffer_create(ex, "support_bin_digest", 8 << 20, &b), 0);
    cf__seg_stats(&after);
    cr_assert_eq(after.created - before.created, 1, "one segment, reused");
    cr_assert_eq(after.reused - before.reused, 1);
    cf_buffer_release(b);
    /* A small one stays off shared memory. */
    cr_assert_eq(cf_buffer_create(ex, "support_bin_digest", 64, &b), 0);
    cr_assert_not(in_memfd_mapping(cf_buffer_data(b), 64));
    cf_buffer_release(b);
    cf_executor_release(ex);
}

Test(buffer, after_the_result_the_segment_is_reused, .timeout = 60)
{
    cf_executor *ex = support_new_pool(1, 0);
    struct cf__seg_stats before, after;
    round_trip(ex, 6 << 20); /* warms the worker's side too */
    cf__seg_stats(&before);
    round_trip(ex, 6 << 20);
    round_trip(ex, 6 << 20);
    cf__seg_stats(&after);
    cr_assert_eq(after.created, before.created, "no new segment for later buffers");
    cr_assert_geq(after.reused - before.reused, 2);
    cf_executor_release(ex);
}

Test(buffer, argument_checks_leave_the_buffer_with_the_caller, .timeout = 30)
{
    cf_executor *ex = support_new_pool(1, 0);
    cf_buffer *b = NULL;
    cf_future *f = NULL;
    char long_name[CF__TASK_NAME_MAX + 2];
    memset(long_name, 'x', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    cr_assert_eq(cf_buffer_create(NULL, "support_bin_digest", 8, &b), -EINVAL);
    cr_assert_eq(cf_buffer_create(ex, NULL, 8, &b), -EINVAL);
    cr_assert_eq(cf_buffer_create(ex, "support_bin_digest", 8, NULL), -EINVAL);
    cr_assert_eq(cf_buffer_create(ex, "", 8, &b), -EINVAL);
    cr_assert_eq(cf_buffer_create(ex, long_name, 8, &b), -EINVAL);
    cr_assert_eq(cf_buffer_create(ex, "support_bin_digest", (size_t)UINT32_MAX + 1, &b), -EINVAL);
    cr_assert_null(b, "a failed create hands out nothing");
    cr_assert_null(cf_buffer_data(NULL));
    cr_assert_eq(cf_buffer_size(NULL), 0);
    cf_buffer_release(NULL);

    cr_assert_eq(cf_buffer_create(ex, "support_bin_digest", 3, &b), 0);
    memcpy(cf_buffer_data(b), "abc", 3);
    cf_submit_options bad = CF_SUBMIT_OPTIONS_INIT;
    bad.timeout = NAN;
    cr_assert_eq(cf_buffer_submit(NULL, NULL, &f), -EINVAL);
    cr_assert_eq(cf_buffer_submit(b, NULL, NULL), -EINVAL);
    cr_assert_eq(cf_buffer_submit(b, &bad, &f), -EINVAL);
    bad = (cf_submit_options)CF_SUBMIT_OPTIONS_INIT;
    bad.max_retries = CF_NO_RETRIES - 1;
    cr_assert_eq(cf_buffer_submit(b, &bad, &f), -EINVAL);
    cr_assert_null(f);
    /* Still the caller's, bytes and all: it submits fine now. */
    cr_assert_eq(memcmp(cf_buffer_data(b), "abc", 3), 0);
    const msgpack_object *o;
    cr_assert_eq(cf_buffer_submit(b, NULL, &f), 0);
    cr_assert_eq(cf_future_result(f, CF_FOREVER, &o), 0);
    cr_assert_eq(o->via.array.ptr[1].via.u64, support_digest((const unsigned char *)"abc", 3));
    cf_future_release(f);
    cf_executor_release(ex);
}

Test(buffer, a_failed_submit_consumes_it_without_a_leak, .timeout = 60)
{
    cf_executor *ex = support_new_pool(1, 0);
    cf_buffer *small, *large;
    cf_future *f = NULL;
    int fds = support_open_fds();
    cr_assert_eq(cf_buffer_create(ex, "support_bin_digest", 16, &small), 0);
    cr_assert_eq(cf_buffer_create(ex, "support_bin_digest", 2 << 20, &large), 0);
    cr_assert_eq(cf_executor_shutdown(ex, true, false), 0);
    cr_assert_eq(cf_buffer_submit(small, NULL, &f), CF_ESHUTDOWN);
    cr_assert_eq(cf_buffer_submit(large, NULL, &f), CF_ESHUTDOWN);
    cr_assert_null(f);
    /* Its kept segment went back (a one-shot memfd would be closed): after
     * a trim no descriptor of ours is left. LeakSanitizer sees the rest. */
    cf__seg_trim();
    cr_assert_eq(support_open_fds(), fds);
    cf_executor_release(ex);
}

static int buf_late(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    return msgpack_pack_nil(out);
}

/* Registered after the pool was created: the parent knows the name, the
 * workers do not, and the future says so. */
Test(buffer, a_task_the_workers_lack_fails_its_future, .timeout = 30)
{
    cf_executor *ex = support_new_pool(1, 0);
    cf_buffer *b = NULL;
    cf_future *f;
    cr_assert_eq(cf_buffer_create(ex, "no_such_task_here", 4, &b), CF_ENOTASK);
    cr_assert_null(b);
    cr_assert_eq(cf_task_register("buf_late", buf_late), 0);
    cr_assert_eq(cf_buffer_create(ex, "buf_late", 4, &b), 0);
    memset(cf_buffer_data(b), 0, 4);
    cr_assert_eq(cf_buffer_submit(b, NULL, &f), 0);
    cr_assert_eq(cf_future_error(f, CF_FOREVER), CF_ENOTASK);
    cf_future_release(f);
    cf_executor_release(ex);
}

Test(buffer, a_memfd_that_cannot_be_made_fails_the_create, .timeout = 30)
{
    bool was = cf__seg_enable(false);
    cf_executor *ex = support_new_pool(1, 0);
    cf_buffer *b = NULL;
    int fds = support_open_fds();
    cf__spill_fault_arm(CF__SPILL_OP_CREATE, 1, EMFILE);
    cr_assert_eq(cf_buffer_create(ex, "support_bin_digest", 2 << 20, &b), -EMFILE);
    cf__spill_fault_arm(CF__SPILL_OP_CREATE, 0, 0);
    cr_assert_null(b);
    cr_assert_eq(support_open_fds(), fds);
    round_trip(ex, 2 << 20); /* and the next one works */
    cf_executor_release(ex);
    cf__seg_enable(was);
}

Test(buffer, a_finite_timeout_is_refused_and_the_buffer_kept, .timeout = 30)
{
    cf_executor *ex = support_new_pool(1, 0);
    cf_buffer *b;
    cf_future *f = NULL;
    cf_submit_options o = CF_SUBMIT_OPTIONS_INIT;
    cr_assert_eq(cf_buffer_create(ex, "support_bin_digest", 1 << 20, &b), 0);
    memset(cf_buffer_data(b), 9, 1 << 20);
    o.poll = true;
    cr_assert_eq(cf_buffer_submit(b, &o, &f), -EINVAL, "poll could end in CF_EFULL");
    o.poll = false;
    o.timeout = 2.5;
    cr_assert_eq(cf_buffer_submit(b, &o, &f), -EINVAL);
    cr_assert_null(f);
    o.timeout = 0; /* the default: no limit */
    cr_assert_eq(cf_buffer_submit(b, &o, &f), 0);
    cr_assert_eq(cf_future_error(f, CF_FOREVER), 0, "%s", cf_future_error_message(f));
    cf_future_release(f);
    cr_assert_eq(cf_buffer_create(ex, "support_bin_digest", 1 << 20, &b), 0);
    memset(cf_buffer_data(b), 9, 1 << 20);
    o.timeout = -3; /* any negative one waits without limit */
    cr_assert_eq(cf_buffer_submit(b, &o, &f), 0);
    cr_assert_eq(cf_future_error(f, CF_FOREVER), 0, "%s", cf_future_error_message(f));
    cf_future_release(f);
    cf_executor_release(ex);
}

struct handoff {
    cf_buffer *b;
    cf_future *f;
    int rc;
};

static void *submit_elsewhere(void *arg)
{
    struct handoff *h = arg;
    h->rc = cf_buffer_submit(h->b, NULL, &h->f);
    return NULL;
}

Test(buffer, another_thread_may_submit_it, .timeout = 60)
{
    cf_executor *ex = support_new_pool(2, 0);
    for (int round = 0; round < 4; round++) {
        size_t n = (size_t)(round + 1) << 20;
        struct handoff h = {NULL, NULL, -1};
        const msgpack_object *o;
        pthread_t t;
        cr_assert_eq(cf_buffer_create(ex, "support_bin_digest", n, &h.b), 0);
        unsigned char *d = cf_buffer_data(h.b);
        for (size_t i = 0; i < n; i++)
            d[i] = support_pattern(i);
        uint64_t want = support_digest(d, n);
        cr_assert_eq(pthread_create(&t, NULL, submit_elsewhere, &h), 0);
        cr_assert_eq(pthread_join(t, NULL), 0);
        cr_assert_eq(h.rc, 0);
        cr_assert_eq(cf_future_result(h.f, CF_FOREVER, &o), 0, "%s", cf_future_error_message(h.f));
        cr_assert_eq(o->via.array.ptr[1].via.u64, want);
        cf_future_release(h.f);
    }
    cf_executor_release(ex);
}

/* The child of a user's fork lends a segment of its own, then releases the
 * parent's large buffer (which the rules forbid it to use): the release
 * must not hand the parent's segment to the child's cache, where its own
 * segment holds the same slot. The parent's buffer is untouched by all
 * this. */
Test(buffer, a_forked_child_releasing_an_inherited_one, .timeout = 60)
{
    cf_executor *ex = support_new_pool(1, 0);
    cf_buffer *b;
    const msgpack_object *o;
    cf_future *f;
    size_t n = 8 << 20;
    cr_assert_eq(cf_buffer_create(ex, "support_bin_digest", n, &b), 0);
    memset(cf_buffer_data(b), 3, n);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        /* A segment of its own first (straight from the cache: no pool, so
         * no thread, which ThreadSanitizer forbids after this fork), so
         * that it holds the slot the inherited buffer names; then the
         * release of the inherited one; then the cache must still know
         * that slot is lent. */
        struct cf__seg *mine = cf__seg_lend(n), *second;
        cf_buffer_release(b);
        second = cf__seg_lend(n);
        int ok = mine && second && second != mine && second->map != mine->map;
        if (mine)
            cf__seg_return(mine);
        if (second)
            cf__seg_return(second);
        _exit(ok ? 0 : 1);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
    unsigned char *copy = malloc(n);
    cr_assert_not_null(copy);
    memset(copy, 3, n);
    cr_assert_eq(cf_buffer_submit(b, NULL, &f), 0);
    cr_assert_eq(cf_future_result(f, CF_FOREVER, &o), 0, "%s", cf_future_error_message(f));
    cr_assert_eq(o->via.array.ptr[1].via.u64, support_digest(copy, n));
    free(copy);
    cf_future_release(f);
    cf_executor_release(ex);
}

/* cfutures-side memfds that process `pid` holds open. */
static int side_fds_of(pid_t pid)
{
    char dir[64];
    int n = 0;
    snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        char path[320], target[128];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        ssize_t len = readlink(path, target, sizeof(target) - 1);
        if (len > 0) {
            target[len] = '\0';
            n += strstr(target, "memfd:cfutures-side") != NULL;
        }
    }
    if (d)
        closedir(d);
    return n;
}

/* Sum of side_fds_of over this process's children and grandchildren (the
 * pools' fork servers and their workers). */
static int side_fds_of_descendants(void)
{
    int n = 0;
    DIR *d = opendir("/proc");
    for (struct dirent *e; d && (e = readdir(d));) {
        char path[300];
        int ppid = 0, gppid = 0;
        snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        if (fscanf(f, "%*d (%*[^)]) %*c %d", &ppid) == 1 && ppid > 0) {
            snprintf(path, sizeof(path), "/proc/%d/stat", ppid);
            FILE *g = fopen(path, "r");
            if (g) {
                if (fscanf(g, "%*d (%*[^)]) %*c %d", &gppid) != 1)
                    gppid = 0;
                fclose(g);
            }
            if (ppid == getpid() || gppid == getpid())
                n += side_fds_of((pid_t)atoi(e->d_name));
        }
        fclose(f);
    }
    if (d)
        closedir(d);
    return n;
}

Test(buffer, a_later_pool_does_not_pin_a_one_shot_memfd, .timeout = 60)
{
    bool was = cf__seg_enable(false); /* large buffers get one-shot memfds */
    cf_executor *ex = support_new_pool(1, 0), *later;
    cf_buffer *b;
    cf_future *f;
    cr_assert_eq(cf_buffer_create(ex, "support_bin_digest", 2 << 20, &b), 0);
    cr_assert_eq(side_fds_of(getpid()), 1, "the buffer's memfd");
    /* The first pool's worker is up and its start handled before the
     * later pool forks: under the sanitizers, whose allocator is not
     * fork-safe, a fork while another thread allocates can leave the
     * child's allocator locked (its workers then hang). */
    cr_assert_eq(cf_submit(ex, support_bin_digest, &f, "b", "x", (size_t)1), 0);
    cr_assert_eq(cf_future_error(f, CF_FOREVER), 0);
    cf_future_release(f);
    later = support_new_pool(2, 0);
    /* Every worker of the later pool is up once each ran a task. */
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(cf_submit(later, support_bin_digest, &f, "b", "x", (size_t)1), 0);
        cr_assert_eq(cf_future_error(f, CF_FOREVER), 0);
        cf_future_release(f);
    }
    cr_assert_eq(side_fds_of_descendants(), 0,
                 "a pool's fork server or workers hold the buffer's memfd open");
    memset(cf_buffer_data(b), 1, 2 << 20);
    cr_assert_eq(cf_buffer_submit(b, NULL, &f), 0);
    cr_assert_eq(cf_future_error(f, CF_FOREVER), 0, "%s", cf_future_error_message(f));
    cf_future_release(f);
    cf_executor_release(later);
    cf_executor_release(ex);
    cf__seg_enable(was);
}
