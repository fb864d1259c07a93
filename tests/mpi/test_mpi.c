/* tests/mpi/test_mpi.c — the MPI pool's tests: one MPI job (mpiexec -n 3:
 * the root and two serving ranks) runs every check in turn.
 *
 * Criterion forks a process per test, which an MPI job cannot host, so
 * this is a small runner of its own: every rank walks the same table of
 * checks and calls cf_mpi_pool_create with the check's options; serving
 * ranks serve and move on to the next check, the root runs the check's
 * body against the executor. Each body is bounded by an alarm whose
 * handler names the check and ends the job. The bodies marked `generic`
 * use nothing of MPI: the root runs them against a process pool as well,
 * so the two backends are held to the same behaviour. The last line is
 * "mpi tests: N passed, N failed"; the exit status is non-zero on any
 * failure (tests/mpi/run.sh reads both, under the reaper that checks that
 * the job left no process and no /dev/shm object behind).
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <cfutures.h>
#include <cfutures/mpi.h>

/* ------------------------------------------------------------ harness */

static const char *current_check = "start-up";
static int failures_in_check;
static int my_rank;

#define EXPECT(cond)                                                                       \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "FAIL %s (rank %d) %s:%d: %s\n", current_check, my_rank,       \
                    __FILE__, __LINE__, #cond);                                            \
            failures_in_check++;                                                           \
            return;                                                                        \
        }                                                                                  \
    } while (0)

#define EXPECT_EQ(a, b)                                                                    \
    do {                                                                                   \
        long long a_ = (long long)(a), b_ = (long long)(b);                                \
        if (a_ != b_) {                                                                    \
            fprintf(stderr, "FAIL %s (rank %d) %s:%d: %s == %s (%lld != %lld)\n",         \
                    current_check, my_rank, __FILE__, __LINE__, #a, #b, a_, b_);           \
            failures_in_check++;                                                           \
            return;                                                                        \
        }                                                                                  \
    } while (0)

static void on_alarm(int sig)
{
    (void)sig;
    char buf[256];
    int n = snprintf(buf, sizeof(buf), "TIMEOUT in check %s (rank %d): ending the job\n",
                     current_check, my_rank);
    if (n > 0)
        (void)!write(2, buf, (size_t)n);
    _exit(2);
}

/* ------------------------------------------------------------- tasks */

static int t_square(const msgpack_object *args, msgpack_packer *out)
{
    int64_t n;
    if (cf_arg_i64(args, 0, &n) < 0)
        return cf_task_fail("t_square wants [n]");
    return msgpack_pack_int64(out, n * n);
}

static int t_sleep_ms(const msgpack_object *args, msgpack_packer *out)
{
    int64_t ms;
    if (cf_arg_i64(args, 0, &ms) < 0)
        return cf_task_fail("t_sleep_ms wants [ms]");
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
    return msgpack_pack_int64(out, ms);
}

/* [ms] -> the pid of the process that ran it, after sleeping ms. */
static int t_pid(const msgpack_object *args, msgpack_packer *out)
{
    int64_t ms = 0;
    if (cf_arg_count(args) > 0 && cf_arg_i64(args, 0, &ms) < 0)
        return cf_task_fail("t_pid wants [] or [ms]");
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
    return msgpack_pack_int64(out, getpid());
}

static int t_fail(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    (void)out;
    return cf_task_fail("boom %d", 42);
}

static int t_crash(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    (void)out;
    raise(SIGSEGV);
    return 0;
}

/* Node mode: kills the serving rank this worker belongs to (the worker's
 * parent is its pool's fork server, whose parent is the rank). */
static int t_kill_rank(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)getppid());
    FILE *f = fopen(path, "r");
    if (!f || !fgets(buf, sizeof(buf), f))
        return cf_task_fail("cannot read %s", path);
    fclose(f);
    int rank_pid = 0;
    const char *p = strrchr(buf, ')');
    if (!p || sscanf(p + 1, " %*c %d", &rank_pid) != 1 || rank_pid <= 1)
        return cf_task_fail("no grandparent in %s", path);
    kill(rank_pid, SIGKILL);
    return msgpack_pack_nil(out);
}

static uint64_t digest(const unsigned char *b, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h ^ n;
}

static unsigned char pattern(size_t i)
{
    return (unsigned char)(i * 131 + (i >> 12));
}

/* [bin] -> [len, digest] */
static int t_digest(const msgpack_object *args, msgpack_packer *out)
{
    const void *p;
    size_t n;
    if (cf_arg_bin(args, 0, &p, &n) < 0)
        return cf_task_fail("t_digest wants [bin]");
    msgpack_pack_array(out, 2);
    msgpack_pack_uint64(out, n);
    return msgpack_pack_uint64(out, digest(p, n));
}

/* [n] -> n bytes of the pattern */
static int t_bytes(const msgpack_object *args, msgpack_packer *out)
{
    int64_t n;
    if (cf_arg_i64(args, 0, &n) < 0 || n < 0)
        return cf_task_fail("t_bytes wants [n]");
    unsigned char *b = malloc((size_t)n + 1);
    if (!b)
        return cf_task_fail("out of memory");
    for (int64_t i = 0; i < n; i++)
        b[i] = pattern((size_t)i);
    msgpack_pack_bin(out, (size_t)n);
    int rc = msgpack_pack_bin_body(out, b, (size_t)n);
    free(b);
    return rc;
}

static int64_t init_value = -1;
static int t_init(const msgpack_object *args, msgpack_packer *out)
{
    if (cf_arg_i64(args, 0, &init_value) < 0)
        return cf_task_fail("t_init wants [v]");
    return msgpack_pack_nil(out);
}

static int t_get_init(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    return msgpack_pack_int64(out, init_value);
}

/* --------------------------------------------------------- helpers */

static int64_t result_i64(cf_future *f)
{
    int64_t v = -1;
    return cf_future_result_i64(f, 60, &v) == 0 ? v : -1;
}

struct range {
    size_t n;
};

static int range_input(void *arg, size_t index, msgpack_packer *pk)
{
    struct range *r = arg;
    if (index >= r->n)
        return 0;
    msgpack_pack_array(pk, 1);
    msgpack_pack_uint64(pk, index);
    return 1;
}

/* Counts distinct values among v[0..n). */
static int distinct(const int64_t *v, size_t n)
{
    int d = 0;
    for (size_t i = 0; i < n; i++) {
        bool seen = false;
        for (size_t j = 0; j < i; j++)
            seen |= v[j] == v[i];
        d += !seen;
    }
    return d;
}

/* ------------------------------------------------------------- checks */

static void c_submit_result(cf_executor *ex)
{
    cf_future *f;
    EXPECT_EQ(cf_submit(ex, t_square, &f, "i", (int64_t)7), 0);
    EXPECT_EQ(result_i64(f), 49);
    cf_future_release(f);
    enum { N = 2000 };
    static cf_future *fs[N];
    for (int i = 0; i < N; i++)
        EXPECT_EQ(cf_submit_named(ex, "t_square", CF_FOREVER, &fs[i], "i", (int64_t)i), 0);
    long long sum = 0, want = 0;
    for (int i = 0; i < N; i++) {
        sum += result_i64(fs[i]);
        want += (long long)i * i;
        cf_future_release(fs[i]);
    }
    EXPECT_EQ(sum, want);
    /* Raw arguments and submit options. */
    unsigned char raw[] = {0x91, 0x05}; /* [5] */
    EXPECT_EQ(cf_submit_raw(ex, "t_square", CF_FOREVER, &f, raw, sizeof(raw)), 0);
    EXPECT_EQ(result_i64(f), 25);
    cf_future_release(f);
    cf_submit_options o = CF_SUBMIT_OPTIONS_INIT;
    EXPECT_EQ(cf_submit_with(ex, &o, "t_square", &f, "i", (int64_t)9), 0);
    EXPECT_EQ(result_i64(f), 81);
    cf_future_release(f);
}

static void c_task_errors(cf_executor *ex)
{
    cf_future *f, *g, *h;
    /* A name nobody registered is refused at once (the root has the same
     * registry); one registered on the root only, after the ranks (and
     * their workers) started, is unknown where it runs: that one future
     * fails. */
    EXPECT_EQ(cf_submit_named(ex, "no_such_task", CF_FOREVER, &f, ""), CF_ENOTASK);
    static int calls; /* a fresh name per executor: registered after it started */
    char late[32];
    snprintf(late, sizeof(late), "t_root_only_%d", ++calls);
    EXPECT_EQ(cf_task_register(late, t_square), 0);
    EXPECT_EQ(cf_submit_named(ex, late, CF_FOREVER, &f, "i", (int64_t)2), 0);
    EXPECT_EQ(cf_submit(ex, t_fail, &g, ""), 0);
    EXPECT_EQ(cf_submit(ex, t_square, &h, "i", (int64_t)3), 0); /* the others go on */
    EXPECT_EQ(cf_future_error(f, 60), CF_ENOTASK);
    EXPECT_EQ(cf_future_error(g, 60), CF_ETASK);
    EXPECT(strstr(cf_future_error_message(g), "boom 42") != NULL);
    EXPECT_EQ(result_i64(h), 9);
    cf_future_release(f);
    cf_future_release(g);
    cf_future_release(h);
}

static void run_map(cf_executor *ex, size_t n, bool unordered, size_t chunksize)
{
    struct range r = {n};
    cf_map_options o = {.timeout = CF_FOREVER, .unordered = unordered, .chunksize = chunksize};
    cf_map *m;
    EXPECT_EQ(cf_map_create(&m, ex, "t_square", range_input, &r, &o), 0);
    size_t count = 0, idx;
    const msgpack_object *res;
    int rc;
    bool in_order = true;
    unsigned long long sum = 0;
    while ((rc = cf_map_next(m, &idx, &res)) == 0) {
        int64_t v;
        if (cf_obj_i64(res, &v) < 0 || (uint64_t)v != (uint64_t)idx * idx)
            break;
        in_order &= idx == count;
        sum += idx;
        count++;
    }
    cf_map_release(m);
    EXPECT_EQ(rc, CF_EEMPTY);
    EXPECT_EQ(count, n);
    EXPECT(sum == (unsigned long long)n * (n - 1) / 2);
    if (!unordered)
        EXPECT(in_order);
}

static void c_map_ordered(cf_executor *ex)
{
    run_map(ex, 10000, false, 0);
    run_map(ex, 3000, false, 1); /* a record per item */
}

static void c_map_unordered(cf_executor *ex)
{
    run_map(ex, 10000, true, 0);
}

static void c_map_million(cf_executor *ex)
{
    run_map(ex, 1000000, false, 0);
}

/* Futures spread over the ranks complete through cf_wait and
 * cf_as_completed. */
static void c_wait_as_completed(cf_executor *ex)
{
    enum { N = 8 };
    cf_future *fs[N];
    int64_t pids[N];
    for (int i = 0; i < N; i++)
        EXPECT_EQ(cf_submit(ex, t_pid, &fs[i], "i", (int64_t)(50 + 20 * (N - i))), 0);
    EXPECT_EQ(cf_wait(fs, N, CF_FIRST_COMPLETED, 60, NULL) >= 1, 1);
    EXPECT_EQ(cf_wait(fs, N, CF_ALL_COMPLETED, 60, NULL), N);
    cf_as_completed *it;
    EXPECT_EQ(cf_as_completed_create(&it, fs, N, 60), 0);
    int yielded = 0;
    cf_future *f;
    while (cf_as_completed_next(it, &f) == 0)
        pids[yielded++] = result_i64(f);
    cf_as_completed_release(it);
    EXPECT_EQ(yielded, N);
    EXPECT(distinct(pids, N) >= 2); /* more than one rank ran them */
    for (int i = 0; i < N; i++)
        cf_future_release(fs[i]);

    /* as_completed while they are still running */
    for (int i = 0; i < N; i++)
        EXPECT_EQ(cf_submit(ex, t_sleep_ms, &fs[i], "i", (int64_t)(10 * (i % 3))), 0);
    EXPECT_EQ(cf_as_completed_create(&it, fs, N, 60), 0);
    yielded = 0;
    while (cf_as_completed_next(it, &f) == 0) {
        EXPECT(cf_future_done(f));
        yielded++;
    }
    cf_as_completed_release(it);
    EXPECT_EQ(yielded, N);
    for (int i = 0; i < N; i++)
        cf_future_release(fs[i]);
}

static _Atomic int callbacks_run;
static int count_cb(cf_future *f, void *arg)
{
    (void)arg;
    if (cf_future_done(f))
        atomic_fetch_add(&callbacks_run, 1);
    return 0;
}

static void c_callbacks(cf_executor *ex)
{
    enum { N = 200 };
    cf_future *fs[N];
    atomic_store(&callbacks_run, 0);
    for (int i = 0; i < N; i++) {
        EXPECT_EQ(cf_submit(ex, t_square, &fs[i], "i", (int64_t)i), 0);
        EXPECT_EQ(cf_future_add_done_callback(fs[i], count_cb, NULL), 0);
    }
    EXPECT_EQ(cf_wait(fs, N, CF_ALL_COMPLETED, 60, NULL), N);
    /* Added after completion: runs at once. */
    EXPECT_EQ(cf_future_add_done_callback(fs[0], count_cb, NULL), 0);
    for (int k = 0; k < 1000 && atomic_load(&callbacks_run) < N + 1; k++)
        usleep(1000);
    EXPECT_EQ(atomic_load(&callbacks_run), N + 1);
    for (int i = 0; i < N; i++)
        cf_future_release(fs[i]);
}

/* With one record in flight per rank (credits 1, batches of 1), tasks
 * behind the first two wait on the root and can be cancelled. */
static void c_cancel_pending(cf_executor *ex)
{
    enum { N = 10 };
    cf_future *fs[N];
    for (int i = 0; i < N; i++)
        EXPECT_EQ(cf_submit(ex, t_sleep_ms, &fs[i], "i", (int64_t)300), 0);
    int cancelled = 0;
    for (int i = N - 1; i >= 4; i--)
        cancelled += cf_future_cancel(fs[i]);
    EXPECT_EQ(cancelled, N - 4);
    EXPECT_EQ(cf_wait(fs, N, CF_ALL_COMPLETED, 60, NULL), N);
    for (int i = 0; i < 4; i++)
        EXPECT_EQ(result_i64(fs[i]), 300);
    for (int i = 4; i < N; i++)
        EXPECT(cf_future_cancelled(fs[i]));
    cf_stats st;
    EXPECT_EQ(cf_executor_stats(ex, &st), 0);
    EXPECT_EQ(st.cancelled, N - 4);
    EXPECT_EQ(st.completed, 4);
    for (int i = 0; i < N; i++)
        cf_future_release(fs[i]);
}

static void c_shutdown_cancel(cf_executor *ex)
{
    enum { N = 10 };
    cf_future *fs[N];
    for (int i = 0; i < N; i++)
        EXPECT_EQ(cf_submit(ex, t_sleep_ms, &fs[i], "i", (int64_t)200), 0);
    usleep(50000); /* the first two on their ranks */
    EXPECT_EQ(cf_executor_shutdown(ex, CF_WAIT, true), 0);
    int done = 0, cancelled = 0;
    for (int i = 0; i < N; i++) {
        done += cf_future_done(fs[i]);
        cancelled += cf_future_cancelled(fs[i]);
    }
    EXPECT_EQ(done, N);
    EXPECT(cancelled >= N - 4 && cancelled < N);
    cf_future *f;
    EXPECT_EQ(cf_submit(ex, t_square, &f, "i", (int64_t)1), CF_ESHUTDOWN);
    for (int i = 0; i < N; i++)
        cf_future_release(fs[i]);
}

static void c_shutdown_waits(cf_executor *ex)
{
    enum { N = 20 };
    cf_future *fs[N];
    for (int i = 0; i < N; i++)
        EXPECT_EQ(cf_submit(ex, t_sleep_ms, &fs[i], "i", (int64_t)20), 0);
    EXPECT_EQ(cf_executor_shutdown(ex, CF_NOWAIT, false), 0);
    EXPECT_EQ(cf_executor_shutdown(ex, CF_WAIT, false), 0);
    for (int i = 0; i < N; i++) {
        EXPECT_EQ(result_i64(fs[i]), 20);
        cf_future_release(fs[i]);
    }
}

static void c_stats(cf_executor *ex)
{
    enum { N = 100 };
    cf_future *fs[N];
    for (int i = 0; i < N; i++)
        EXPECT_EQ(cf_submit(ex, t_square, &fs[i], "i", (int64_t)i), 0);
    EXPECT_EQ(cf_wait(fs, N, CF_ALL_COMPLETED, 60, NULL), N);
    cf_stats st;
    EXPECT_EQ(cf_executor_stats(ex, &st), 0);
    EXPECT_EQ(st.submitted, N);
    EXPECT_EQ(st.completed, N);
    EXPECT_EQ(st.in_flight, 0);
    EXPECT(st.workers >= 2);
    uint64_t tasks = 0;
    for (int r = 0; r < 2; r++) {
        cf_worker_stats ws;
        EXPECT_EQ(cf_executor_worker_stats(ex, r, &ws), 0);
        EXPECT(ws.pid > 0);
        tasks += ws.tasks;
    }
    EXPECT_EQ(tasks, N);
    cf_worker_stats ws;
    EXPECT_EQ(cf_executor_worker_stats(ex, -1, &ws), -EINVAL);
    for (int i = 0; i < N; i++)
        cf_future_release(fs[i]);
}

/* Node mode: a task that kills its worker costs that one task. */
static void c_node_crash(cf_executor *ex)
{
    cf_future *bad, *good[20];
    EXPECT_EQ(cf_submit(ex, t_crash, &bad, ""), 0);
    for (int i = 0; i < 20; i++)
        EXPECT_EQ(cf_submit(ex, t_square, &good[i], "i", (int64_t)i), 0);
    EXPECT_EQ(cf_future_error(bad, 60), CF_EWORKER);
    for (int i = 0; i < 20; i++) {
        EXPECT_EQ(result_i64(good[i]), (int64_t)i * i);
        cf_future_release(good[i]);
    }
    cf_future_release(bad);
    /* ... and the ranks still serve. */
    run_map(ex, 20000, true, 0);
}

static void c_node_timeout(cf_executor *ex)
{
    cf_submit_options o = CF_SUBMIT_OPTIONS_INIT;
    o.task_timeout = 0.5;
    cf_future *f, *g;
    EXPECT_EQ(cf_submit_with(ex, &o, "t_sleep_ms", &f, "i", (int64_t)20000), 0);
    EXPECT_EQ(cf_submit_with(ex, &o, "t_sleep_ms", &g, "i", (int64_t)10), 0);
    EXPECT_EQ(cf_future_error(f, 60), -ETIMEDOUT);
    EXPECT_EQ(result_i64(g), 10);
    cf_future_release(f);
    cf_future_release(g);
}

/* Rank mode: nothing interrupts the task, but its future fails at the
 * deadline and the late result is dropped. */
static void c_rank_timeout(cf_executor *ex)
{
    cf_submit_options o = CF_SUBMIT_OPTIONS_INIT;
    o.task_timeout = 0.3;
    cf_future *f, *g, *h;
    EXPECT_EQ(cf_submit_with(ex, &o, "t_sleep_ms", &f, "i", (int64_t)1500), 0);
    EXPECT_EQ(cf_submit(ex, t_sleep_ms, &g, "i", (int64_t)10), 0);
    EXPECT_EQ(cf_future_error(f, 30), -ETIMEDOUT);
    EXPECT(strstr(cf_future_error_message(f), "timeout") != NULL);
    EXPECT_EQ(result_i64(g), 10);
    /* Queued behind busy ranks past its deadline: fails, never runs. */
    cf_future *busy;
    EXPECT_EQ(cf_submit(ex, t_sleep_ms, &busy, "i", (int64_t)600), 0);
    o.task_timeout = 0.05;
    EXPECT_EQ(cf_submit_with(ex, &o, "t_sleep_ms", &h, "i", (int64_t)1), 0);
    EXPECT_EQ(cf_future_error(h, 30), -ETIMEDOUT);
    EXPECT_EQ(result_i64(busy), 600);
    cf_stats st;
    EXPECT_EQ(cf_executor_stats(ex, &st), 0);
    EXPECT_EQ(st.failed_timeout, 2);
    cf_future_release(f);
    cf_future_release(g);
    cf_future_release(h);
    cf_future_release(busy);
}

static void c_initializer(cf_executor *ex)
{
    cf_future *fs[6];
    for (int i = 0; i < 6; i++)
        EXPECT_EQ(cf_submit(ex, t_get_init, &fs[i], ""), 0);
    for (int i = 0; i < 6; i++) {
        EXPECT_EQ(result_i64(fs[i]), 1234);
        cf_future_release(fs[i]);
    }
}

static void payload_roundtrip(cf_executor *ex, size_t n)
{
    cf_buffer *b;
    EXPECT_EQ(cf_buffer_create(ex, "t_digest", n, &b), 0);
    unsigned char *d = cf_buffer_data(b);
    for (size_t i = 0; i < n; i++)
        d[i] = pattern(i);
    uint64_t want = digest(d, n);
    cf_future *f, *g;
    EXPECT_EQ(cf_buffer_submit(b, NULL, &f), 0);
    const msgpack_object *res;
    EXPECT_EQ(cf_future_result(f, 120, &res), 0);
    const msgpack_object *items;
    size_t k;
    uint64_t len, dig;
    EXPECT_EQ(cf_obj_array(res, &items, &k), 0);
    EXPECT_EQ(k, 2);
    EXPECT_EQ(cf_obj_u64(&items[0], &len), 0);
    EXPECT_EQ(cf_obj_u64(&items[1], &dig), 0);
    EXPECT_EQ(len, n);
    EXPECT(dig == want);
    cf_future_release(f);
    /* and a large result back */
    EXPECT_EQ(cf_submit(ex, t_bytes, &g, "i", (int64_t)n), 0);
    EXPECT_EQ(cf_future_result(g, 120, &res), 0);
    const void *p;
    size_t plen;
    EXPECT_EQ(cf_obj_bin(res, &p, &plen), 0);
    EXPECT_EQ(plen, n);
    unsigned char *expect = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++)
        expect[i] = pattern(i);
    bool same = memcmp(p, expect, n) == 0;
    free(expect);
    EXPECT(same);
    cf_future_release(g);
}

static void c_large_payload(cf_executor *ex)
{
    payload_roundtrip(ex, (size_t)300 << 20);
}

/* split_bytes 4096: every message over it crosses in pieces. */
static void c_split(cf_executor *ex)
{
    payload_roundtrip(ex, (size_t)3 << 20);
    payload_roundtrip(ex, 4096 - 100); /* around the edge */
    payload_roundtrip(ex, 4096);
    run_map(ex, 20000, false, 0);
}

/* A done-callback that submits (it runs on the root's progress thread). */
static cf_executor *cb_ex;
static cf_future *cb_inner;
static int submit_cb(cf_future *f, void *arg)
{
    (void)f;
    (void)arg;
    cf_future *inner = NULL;
    cf_submit(cb_ex, t_square, &inner, "i", (int64_t)12);
    __atomic_store_n(&cb_inner, inner, __ATOMIC_RELEASE); /* the test thread polls it */
    return 0;
}

static void c_callback_submits(cf_executor *ex)
{
    cf_future *f;
    cb_ex = ex;
    __atomic_store_n(&cb_inner, NULL, __ATOMIC_RELEASE);
    EXPECT_EQ(cf_submit(ex, t_square, &f, "i", (int64_t)2), 0);
    EXPECT_EQ(cf_future_add_done_callback(f, submit_cb, NULL), 0);
    EXPECT_EQ(result_i64(f), 4);
    for (int k = 0; k < 5000 && !__atomic_load_n(&cb_inner, __ATOMIC_ACQUIRE); k++)
        usleep(1000);
    cf_future *inner = __atomic_load_n(&cb_inner, __ATOMIC_ACQUIRE);
    EXPECT(inner != NULL);
    EXPECT_EQ(result_i64(inner), 144);
    cf_future_release(inner);
    cf_future_release(f);
}

/* ------------------------------------------------------------- table */

struct check {
    const char *name;
    unsigned timeout; /* seconds */
    void (*body)(cf_executor *ex);
    cf_mpi_pool_options opts;
    bool generic; /* also run against a process pool */
    int expect_create; /* what cf_mpi_pool_create returns on the root (0 normally) */
};

static unsigned char init_args[] = {0x91, 0xcd, 0x04, 0xd2}; /* [1234] */

/* Node mode, an initializer that fails in every local worker: the local
 * pools break, and the futures say so instead of hanging. */
static void c_node_init_fails(cf_executor *ex)
{
    cf_future *f;
    EXPECT_EQ(cf_submit(ex, t_square, &f, "i", (int64_t)2), 0);
    EXPECT_EQ(cf_future_error(f, 60), CF_EBROKEN);
    cf_future_release(f);
}

static const struct check checks[] = {
    {"submit_result", 60, c_submit_result, {0}, true, 0},
    {"task_errors", 60, c_task_errors, {0}, true, 0},
    {"map_ordered", 120, c_map_ordered, {0}, true, 0},
    {"map_unordered", 120, c_map_unordered, {0}, true, 0},
    {"map_1M_tiny_tasks", 300, c_map_million, {0}, false, 0},
    {"wait_as_completed_across_ranks", 60, c_wait_as_completed, {0}, false, 0},
    {"callbacks", 60, c_callbacks, {0}, true, 0},
    {"callback_submits", 60, c_callback_submits, {0}, true, 0},
    {"cancel_pending", 60, c_cancel_pending, {.batch_records = 1, .credits = 1}, false, 0},
    {"shutdown_cancel_futures", 60, c_shutdown_cancel, {.batch_records = 1, .credits = 1}, false, 0},
    {"shutdown_waits_for_pending", 60, c_shutdown_waits, {.batch_records = 1, .credits = 1}, true, 0},
    {"stats_per_rank", 60, c_stats, {0}, false, 0},
    {"rank_mode_task_timeout", 60, c_rank_timeout, {.batch_records = 1, .credits = 1}, false, 0},
    {"initializer_rank_mode", 60, c_initializer,
     {.initializer = "t_init", .initargs = init_args, .initargs_len = sizeof(init_args)}, false, 0},
    {"initializer_node_mode", 60, c_initializer,
     {.workers_per_rank = 2, .initializer = "t_init", .initargs = init_args,
      .initargs_len = sizeof(init_args)}, false, 0},
    {"initializer_fails_node_mode", 60, c_node_init_fails,
     {.workers_per_rank = 1, .initializer = "t_fail"}, false, 0},
    {"node_mode_crashing_task", 120, c_node_crash, {.workers_per_rank = 2}, false, 0},
    {"node_mode_task_timeout", 60, c_node_timeout, {.workers_per_rank = CF_MPI_AUTO}, false, 0},
    {"node_mode_map", 120, c_map_unordered, {.workers_per_rank = 2}, false, 0},
    {"large_payload_300MiB", 300, c_large_payload, {0}, false, 0},
    {"split_messages", 120, c_split, {.split_bytes = 4096}, false, 0},
    {"bad_options", 30, NULL, {.workers_per_rank = -2}, false, -EINVAL},
    {"bad_split_bytes", 30, NULL, {.split_bytes = 10}, false, -EINVAL},
    {"bad_batch_records", 30, NULL, {.batch_records = -1}, false, -EINVAL},
    {"root_outside_communicator", 30, NULL, {.root = 3}, false, -EINVAL},
    {"unregistered_initializer", 30, NULL, {.initializer = "nope"}, false, CF_ENOTASK},
};

/* Children of this process still alive (the pools' processes). */
static int count_children(void)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)getpid());
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char cp[384];
        snprintf(cp, sizeof(cp), "%s/%s/children", path, e->d_name);
        FILE *f = fopen(cp, "r");
        if (!f)
            continue;
        int c;
        bool in_word = false;
        while ((c = fgetc(f)) != EOF) {
            bool digit = c >= '0' && c <= '9';
            n += digit && !in_word;
            in_word = digit;
        }
        fclose(f);
    }
    closedir(d);
    return n;
}

/* The jobs of their own that tests/mpi/run.sh starts besides the main
 * one, for what one MPI job can do only once: initialise MPI. */
static int special_job(const char *mode)
{
    cf_task_register("t_square", t_square);
    cf_executor *ex = NULL;
    int rc;
    alarm(60);
    if (strcmp(mode, "--self-init") == 0) {
        /* cf_mpi_pool_create initialises MPI and finalises it: at release
         * on the root, before returning on the serving ranks. */
        rc = cf_mpi_pool_create(&ex, NULL);
        int fin = 0;
        if (rc == CF_MPI_SERVED) {
            MPI_Finalized(&fin);
            return fin ? 0 : 1;
        }
        if (rc != 0)
            return fprintf(stderr, "FAIL self-init: create %d\n", rc), 1;
        cf_future *f;
        int64_t v = 0;
        if (cf_submit(ex, t_square, &f, "i", (int64_t)11) < 0 ||
            cf_future_result_i64(f, 30, &v) < 0 || v != 121)
            return fprintf(stderr, "FAIL self-init: result %lld\n", (long long)v), 1;
        cf_future_release(f);
        cf_executor_release(ex);
        MPI_Finalized(&fin);
        if (!fin)
            return fprintf(stderr, "FAIL self-init: MPI not finalised at release\n"), 1;
        printf("mpi tests: 1 passed, 0 failed\n");
        return 0;
    }
    if (strcmp(mode, "--thread-single") == 0) {
        /* Initialised below MPI_THREAD_SERIALIZED: every rank says
         * -ENOTSUP, and none waits for another. */
        MPI_Init(NULL, NULL);
        int provided = MPI_THREAD_MULTIPLE;
        MPI_Query_thread(&provided);
        rc = cf_mpi_pool_create(&ex, NULL);
        int ok = provided >= MPI_THREAD_SERIALIZED || rc == -ENOTSUP, all = 0;
        if (!ok)
            fprintf(stderr, "FAIL thread-single: create %d with level %d\n", rc, provided);
        MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
        MPI_Comm_rank(MPI_COMM_WORLD, &my_rank);
        if (my_rank == 0)
            printf("mpi tests: %d passed, %d failed%s\n", all, !all,
                   provided >= MPI_THREAD_SERIALIZED ? " (MPI_Init gave SERIALIZED: nothing to check)"
                                                     : "");
        MPI_Finalize();
        return all ? 0 : 1;
    }
    return 2;
}

int main(int argc, char **argv)
{
    signal(SIGALRM, on_alarm);
    if (argc > 1 && (strcmp(argv[1], "--self-init") == 0 ||
                     strcmp(argv[1], "--thread-single") == 0))
        return special_job(argv[1]);
    int provided;
    if (MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS)
        return 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &my_rank);
    signal(SIGALRM, on_alarm);
    cf_task_register("t_square", t_square);
    cf_task_register("t_sleep_ms", t_sleep_ms);
    cf_task_register("t_pid", t_pid);
    cf_task_register("t_fail", t_fail);
    cf_task_register("t_crash", t_crash);
    cf_task_register("t_digest", t_digest);
    cf_task_register("t_bytes", t_bytes);
    cf_task_register("t_init", t_init);
    cf_task_register("t_get_init", t_get_init);
    cf_task_register("t_kill_rank", t_kill_rank);
    const char *only = argc > 1 ? argv[1] : NULL;

    if (only && strcmp(only, "--rank-dies") == 0) {
        /* A serving rank dies in the middle of a job with local pools on
         * every serving rank: the launcher ends the job (non-zero), and
         * tests/mpi/run.sh checks that it ended and left nothing. */
        cf_mpi_pool_options o = {.workers_per_rank = 2};
        cf_executor *ex;
        current_check = "rank_dies";
        alarm(60);
        int rc = cf_mpi_pool_create(&ex, &o);
        if (rc == 0) {
            cf_future *f[4];
            for (int i = 0; i < 4; i++)
                cf_submit(ex, t_sleep_ms, &f[i], "i", (int64_t)100000);
            cf_future *k;
            cf_submit(ex, t_kill_rank, &k, "");
            cf_future_result(k, 50, NULL); /* the job ends before this returns */
            fprintf(stderr, "rank_dies: the job outlived its dead rank\n");
            _exit(0); /* run.sh wants a failed job: exit 0 says it was not ended */
        }
        pause(); /* serving ranks: ended by the launcher too */
        return 0;
    }

    int passed = 0, failed = 0;
    if (cf_mpi_pool_create(NULL, NULL) != -EINVAL) {
        fprintf(stderr, "FAIL rank %d: cf_mpi_pool_create(NULL, NULL) is not -EINVAL\n", my_rank);
        failed++;
    }
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        const struct check *c = &checks[i];
        if (only && !strstr(c->name, only))
            continue;
        current_check = c->name;
        failures_in_check = 0;
        alarm(c->timeout);
        cf_executor *ex = NULL;
        int rc = cf_mpi_pool_create(&ex, &c->opts);
        if (rc == CF_MPI_SERVED) {
            alarm(0);
            continue;
        }
        if (c->expect_create) {
            if (rc != c->expect_create) {
                fprintf(stderr, "FAIL %s (rank %d): create returned %d, expected %d\n", c->name,
                        my_rank, rc, c->expect_create);
                failures_in_check++;
            }
        } else if (rc != 0) {
            fprintf(stderr, "FAIL %s (rank %d): cf_mpi_pool_create: %s (%d)\n", c->name,
                    my_rank, cf_strerror(rc), rc);
            failures_in_check++;
        } else if (my_rank == 0) {
            c->body(ex);
        }
        cf_executor_release(ex);
        if (my_rank == 0 && c->generic && rc == 0) {
            /* The same body against a process pool. */
            cf_process_pool_options po = {.max_workers = 2};
            if (c->opts.initializer) {
                po.initializer = c->opts.initializer;
                po.initargs = c->opts.initargs;
                po.initargs_len = c->opts.initargs_len;
            }
            cf_executor *pp;
            if (cf_process_pool_create(&pp, &po) == 0) {
                c->body(pp);
                cf_executor_release(pp);
            } else {
                failures_in_check++;
            }
        }
        alarm(0);
        if (my_rank == 0) {
            printf("%s %s\n", failures_in_check ? "FAIL" : "ok  ", c->name);
            fflush(stdout);
            failures_in_check ? failed++ : passed++;
        } else if (failures_in_check) {
            failed++;
        }
    }
    current_check = "nothing left behind";
    int children = count_children();
    if (children != 0) {
        fprintf(stderr, "FAIL rank %d: %d child process(es) left\n", my_rank, children);
        failed++;
    }
    MPI_Barrier(MPI_COMM_WORLD);
    /* The serving ranks' failures count too. */
    int all_failed = 0;
    MPI_Reduce(&failed, &all_failed, 1, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD);
    if (my_rank == 0)
        printf("mpi tests: %d passed, %d failed\n", passed, all_failed);
    MPI_Finalize();
    return all_failed ? 1 : 0;
}
