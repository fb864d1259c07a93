/* The thread pool's queue (executor/thread_pool.c) where its lock-free
 * design could go wrong: a pool thread that claims a queued future (runs
 * it while waiting on it) gives its place back and alone frees its
 * record; a submit right after each wait starts no thread nobody needs;
 * a done future's result read by two threads at once; streams that make
 * its threads hold (sleep a moment before taking again) lose nothing.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cfutures.h>

/* The length of its one byte argument (or of nothing: 0). */
static int pq_len(const msgpack_object *args, msgpack_packer *out)
{
    const void *p;
    size_t n = 0;
    if (args->via.array.size > 0 && cf_arg_bin(args, 0, &p, &n) < 0)
        return cf_task_fail("pq_len: expected bytes");
    return msgpack_pack_uint64(out, n);
}
CF_TASK(pq_len);

/* The same, reading every byte after letting other threads run first:
 * the bytes live in the task's record, which must outlive the task. */
static int pq_len_slow(const msgpack_object *args, msgpack_packer *out)
{
    const unsigned char *p;
    size_t n = 0;
    if (cf_arg_bin(args, 0, (const void **)&p, &n) < 0)
        return cf_task_fail("pq_len_slow: expected bytes");
    for (int i = 0; i < 20; i++)
        sched_yield();
    size_t zeros = 0;
    for (size_t i = 0; i < n; i++)
        zeros += p[i] == 0;
    return msgpack_pack_uint64(out, zeros);
}
CF_TASK(pq_len_slow);

/* On the pool's one thread: fills the queue (max_pending 2) with two
 * tasks, waits for both (this thread runs them itself: nobody else
 * would), then submits a third without waiting for room. Returns that
 * submit's code. */
static void *pq_fill_wait_submit(void *arg)
{
    cf_executor *ex = arg;
    cf_future *x = NULL, *y = NULL, *z = NULL;
    intptr_t rc = cf_submit_named(ex, "pq_len", 0, &x, "");
    if (rc == 0)
        rc = cf_submit_named(ex, "pq_len", 0, &y, "");
    cf_future *both[2] = {x, y};
    if (rc == 0 && cf_wait(both, 2, CF_ALL_COMPLETED, CF_FOREVER, NULL) != 2)
        rc = -1000;
    if (rc == 0) {
        rc = cf_submit_named(ex, "pq_len", 0, &z, "");
        if (rc == 0 && cf_future_error(z, CF_FOREVER) != 0)
            rc = -1001;
    }
    cf_future_release(x);
    cf_future_release(y);
    cf_future_release(z);
    return (void *)rc;
}

/* Futures a pool thread ran while they were queued are done: their places
 * must be free (with them still counted, this submit found the queue full
 * and, waiting for room, would have waited for itself). */
Test(th_pool_queue, a_claimed_future_gives_its_place_back, .timeout = 30)
{
    cf_executor *ex;
    cf_thread_pool_options o = {.max_workers = 1, .max_pending = 2};
    cr_assert_eq(cf_thread_pool_create(&ex, &o), 0);
    cf_future *f;
    cr_assert_eq(cf_submit_fn(ex, pq_fill_wait_submit, ex, &f), 0);
    intptr_t rc = -1;
    cr_assert_eq(cf_future_result_intptr(f, CF_FOREVER, &rc), 0);
    cr_assert_eq(rc, 0, "the third submit: %s (%d)", cf_strerror((int)rc), (int)rc);
    cf_future_release(f);
    cf_executor_release(ex);
}

enum { BIG = 1000, NESTED = 300 };

/* Submits a task whose record is too large to live in its future (it is
 * allocated apart), then waits for it: this thread may claim and decode
 * it while the other thread pops the queue's entry. */
static void *pq_nested_big(void *arg)
{
    cf_executor *ex = arg;
    static const unsigned char bytes[BIG];
    cf_future *b;
    if (cf_submit_args(ex, pq_len_slow, &b, CF_ARGS(cf_bin(bytes, sizeof(bytes)))) < 0)
        return (void *)(intptr_t)-1;
    uint64_t n = 0;
    const msgpack_object *o;
    intptr_t r = cf_future_result(b, CF_FOREVER, &o) == 0 && cf_obj_u64(o, &n) == 0
                     ? (intptr_t)n
                     : -2;
    cf_future_release(b);
    return (void *)r;
}

/* The thread that runs a future frees its record, not the one that pops
 * its entry afterwards (which freed it under a claimer decoding it: a
 * use after free AddressSanitizer reports). */
Test(th_pool_queue, a_claimer_keeps_the_record_it_decodes, .timeout = 60)
{
    cf_executor *ex;
    cf_thread_pool_options o = {.max_workers = 2};
    cr_assert_eq(cf_thread_pool_create(&ex, &o), 0);
    /* One at a time, so that each inner task is alone in the queue: the
     * other thread (spinning or woken) pops it while this one runs it. */
    for (int i = 0; i < NESTED; i++) {
        cf_future *f;
        intptr_t n = 0;
        cr_assert_eq(cf_submit_fn(ex, pq_nested_big, ex, &f), 0);
        cr_assert_eq(cf_future_result_intptr(f, CF_FOREVER, &n), 0);
        cr_assert_eq(n, BIG, "task %d: %ld", i, (long)n);
        cf_future_release(f);
    }
    cf_executor_release(ex);
}

static void *pq_nop(void *arg)
{
    return arg;
}

/* Threads of this process whose name starts with prefix. */
static int count_threads(const char *prefix)
{
    DIR *d = opendir("/proc/self/task");
    cr_assert_not_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], name[32] = "";
        snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue; /* a thread that just ended */
        if (fgets(name, sizeof(name), f) && strncmp(name, prefix, strlen(prefix)) == 0)
            n++;
        fclose(f);
    }
    closedir(d);
    return n;
}

/* Submit, wait, again: one task at a time. A submit right after a wait
 * may start a thread (thread_pool.h: the thread that completed the last
 * task counts as busy until its callbacks returned, and a thread may be
 * preempted right there), but only a few ever start, far from all. The count of places
 * ahead that a submit looks at must be the real one: from an old look it
 * only grew, and each submit started a thread up to max_workers. */
Test(th_pool_queue, submits_after_waits_start_no_extra_threads, .timeout = 30)
{
    cf_executor *ex;
    cf_thread_pool_options o = {.max_workers = 64, .thread_name_prefix = "pq-seq"};
    cr_assert_eq(cf_thread_pool_create(&ex, &o), 0);
    for (int i = 0; i < 200; i++) {
        cf_future *f;
        void *p;
        cr_assert_eq(cf_submit_fn(ex, pq_nop, NULL, &f), 0);
        cr_assert_eq(cf_future_result_ptr(f, CF_FOREVER, &p), 0);
        cf_future_release(f);
    }
    int n = count_threads("pq-seq_");
    /* On a loaded machine (a sanitized suite running beside this one) a
     * preempted thread made 5-9 start; the old count made all 64. */
    cr_assert(n >= 1 && n <= 16, "%d threads started for one task at a time", n);
    cf_executor_release(ex);
}

enum { READ_FUTURES = 200 };

static cf_future *read_fs[READ_FUTURES];

static void *read_as_i64(void *arg)
{
    (void)arg;
    long bad = 0;
    for (int i = 0; i < READ_FUTURES; i++) {
        int64_t v = -1;
        bad += cf_future_result_i64(read_fs[i], CF_FOREVER, &v) != 0 || v != i;
    }
    return (void *)bad;
}

static void *pq_identity(void *arg)
{
    return arg;
}

/* One thread unpacks each result (making the future's extras) while the
 * other reads the packed bytes without the lock: ThreadSanitizer reported
 * the unlocked read of the extras' pointer before it became a flag set
 * before completion. */
Test(th_pool_queue, a_result_read_by_two_threads_at_once, .timeout = 60)
{
    cf_executor *ex;
    cf_thread_pool_options o = {.max_workers = 2};
    cr_assert_eq(cf_thread_pool_create(&ex, &o), 0);
    for (int i = 0; i < READ_FUTURES; i++)
        cr_assert_eq(cf_submit_fn(ex, pq_identity, (void *)(intptr_t)i, &read_fs[i]), 0);
    cr_assert_eq(cf_wait(read_fs, READ_FUTURES, CF_ALL_COMPLETED, CF_FOREVER, NULL),
                 READ_FUTURES);
    pthread_t other;
    cr_assert_eq(pthread_create(&other, NULL, read_as_i64, NULL), 0);
    long bad = 0;
    for (int i = 0; i < READ_FUTURES; i++) {
        intptr_t v = -1;
        bad += cf_future_result_intptr(read_fs[i], CF_FOREVER, &v) != 0 || v != i;
    }
    void *other_bad;
    pthread_join(other, &other_bad);
    cr_assert_eq(bad, 0);
    cr_assert_eq((long)other_bad, 0);
    for (int i = 0; i < READ_FUTURES; i++)
        cf_future_release(read_fs[i]);
    cf_executor_release(ex);
}

static void *pq_count(void *arg)
{
    atomic_fetch_add((atomic_long *)arg, 1);
    return arg;
}

struct pq_stream {
    cf_executor *ex;
    atomic_long *ran;
    int bursts, per_burst;
    bool wait_between; /* wait for each burst's results (no hold then) */
    int failures;
};

/* Streams native tasks in bursts, as fast as it can (the pool's threads
 * keep up, catch up with it and hold: executor/thread_pool.c), and checks
 * each future's result. */
static void *pq_streamer(void *arg)
{
    struct pq_stream *s = arg;
    cf_future *fs[512];
    for (int b = 0; b < s->bursts; b++) {
        for (int i = 0; i < s->per_burst; i++)
            if (cf_submit_fn(s->ex, pq_count, s->ran, &fs[i]) < 0)
                s->failures++;
        if (s->wait_between &&
            cf_wait(fs, (size_t)s->per_burst, CF_ALL_COMPLETED, CF_FOREVER, NULL) != s->per_burst)
            s->failures++;
        for (int i = 0; i < s->per_burst; i++) {
            void *p = NULL;
            if (cf_future_result_ptr(fs[i], CF_FOREVER, &p) < 0 || p != s->ran)
                s->failures++;
            cf_future_release(fs[i]);
        }
    }
    return NULL;
}

/* Streams that make the pool's threads hold: with a queue of 8 places
 * (the submitter runs out of room while a thread holds, and must end the
 * hold), from two submitters at once, with and without waits between
 * bursts, then a shutdown right after a stream. Every task runs once and
 * every result arrives. */
Test(th_pool_queue, streams_that_hold_lose_nothing, .timeout = 60)
{
    for (int round = 0; round < 4; round++) {
        cf_executor *ex;
        cf_thread_pool_options o = {.max_workers = 2, .max_pending = round < 2 ? 8 : 0};
        cr_assert_eq(cf_thread_pool_create(&ex, &o), 0);
        atomic_long ran = 0;
        struct pq_stream s[2];
        pthread_t th[2];
        for (int k = 0; k < 2; k++) {
            s[k] = (struct pq_stream){ex, &ran, 40, 500, (round + k) % 2 == 1, 0};
            cr_assert_eq(pthread_create(&th[k], NULL, pq_streamer, &s[k]), 0);
        }
        for (int k = 0; k < 2; k++) {
            pthread_join(th[k], NULL);
            cr_assert_eq(s[k].failures, 0, "round %d submitter %d", round, k);
        }
        cr_assert_eq(atomic_load(&ran), 2 * 40 * 500);
        /* One more stream, not waited for: shutdown(wait) must run it. */
        cf_future *fs[500];
        for (int i = 0; i < 500; i++)
            cr_assert_eq(cf_submit_fn(ex, pq_count, &ran, &fs[i]), 0);
        cr_assert_eq(cf_executor_shutdown(ex, true, false), 0);
        cr_assert_eq(atomic_load(&ran), 2 * 40 * 500 + 500);
        for (int i = 0; i < 500; i++) {
            cr_assert(cf_future_done(fs[i]));
            cf_future_release(fs[i]);
        }
        cf_executor_release(ex);
    }
}
