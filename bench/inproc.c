/* In-process task rate and round trip (issue 15): 1 M trivial tasks (an
 * atomic increment) submitted to a pool of 2 threads, then waited for, the
 * per-task handles kept in an array allocated before the clock starts:
 *   - cfutures native submit (cf_submit_fn), waited with cf_wait;
 *   - cfutures registered msgpack tasks on the thread pool (cf_submit);
 *   - libuv uv_queue_work (UV_THREADPOOL_SIZE=2), waited with uv_run;
 *   - GLib GThreadPool (2 threads), waited with g_thread_pool_free;
 *   - a bare pthread queue (one mutex, one condition, an array ring).
 * Each run measures every contender back to back, so that ratios compare
 * figures taken under the same load; the rows give the median over runs.
 * The round trip (submit one task, wait for it, 20,000 times, p50) is
 * measured the same way. Links libuv and GLib (Makefile). */
#include <glib.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

#include <cfutures.h>

#include "bench/bench.h"

#define N 1000000
#define RT_N 20000
#define THREADS 2

/* On a cache line of its own: next to a pointer a submit loop reads (the
 * futures array's), every task's increment pulled that line away from the
 * submitter; cfutures' loop paid for it and libuv's did not. */
static struct {
    _Alignas(64) _Atomic long n;
    char pad[64 - sizeof(long)];
} counter_line;
#define counter (counter_line.n)

/* ----------------------------------------------------------- cfutures */

static void *native_inc(void *arg)
{
    (void)arg;
    atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed);
    return NULL;
}

static int msgpack_inc(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed);
    return msgpack_pack_nil(out);
}
CF_TASK(msgpack_inc);

static cf_future **futures; /* [N], allocated before the clock */

static cf_executor *make_pool(void)
{
    cf_thread_pool_options o = {.max_workers = THREADS};
    cf_executor *ex;
    if (cf_thread_pool_create(&ex, &o) < 0)
        exit(1);
    return ex;
}

static void check_counter(const char *who)
{
    if (atomic_load(&counter) != N) {
        fprintf(stderr, "inproc: %s ran %ld tasks of %d\n", who, atomic_load(&counter), N);
        exit(1);
    }
    atomic_store(&counter, 0);
}

#define BATCH 250

/* native: 0 msgpack, 1 cf_submit_fn, 2 cf_submit_fn_batch of BATCH. */
static double cf_rate(int native)
{
    cf_executor *ex = make_pool();
    double t0 = bench_now();
    for (int i = 0; native == 2 && i < N; i += BATCH)
        if (cf_submit_fn_batch(ex, native_inc, NULL, BATCH, &futures[i]) != BATCH)
            exit(1);
    for (int i = 0; native < 2 && i < N; i++) {
        int rc = native ? cf_submit_fn(ex, native_inc, NULL, &futures[i])
                        : cf_submit(ex, msgpack_inc, &futures[i], "");
        if (rc < 0)
            exit(1);
    }
    if (cf_wait(futures, N, CF_ALL_COMPLETED, CF_FOREVER, NULL) != N)
        exit(1);
    double t = bench_now() - t0;
    for (int i = 0; i < N; i++)
        cf_future_release(futures[i]);
    cf_executor_release(ex);
    check_counter(native ? "native" : "msgpack");
    _Static_assert(N % BATCH == 0, "whole batches");
    return N / t;
}

/* --------------------------------------------------------------- libuv */

static uv_work_t *works; /* [N] */

static void uv_inc(uv_work_t *w)
{
    (void)w;
    atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed);
}

static void uv_after(uv_work_t *w, int status)
{
    (void)w;
    (void)status;
}

static double uv_rate(uv_loop_t *loop)
{
    double t0 = bench_now();
    for (int i = 0; i < N; i++)
        if (uv_queue_work(loop, &works[i], uv_inc, uv_after) < 0)
            exit(1);
    uv_run(loop, UV_RUN_DEFAULT);
    double t = bench_now() - t0;
    check_counter("libuv");
    return N / t;
}

/* ---------------------------------------------------------------- GLib */

static void g_inc(gpointer data, gpointer user)
{
    (void)data;
    (void)user;
    atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed);
}

static double glib_rate(void)
{
    GThreadPool *pool = g_thread_pool_new(g_inc, NULL, THREADS, TRUE, NULL);
    double t0 = bench_now();
    for (int i = 0; i < N; i++)
        g_thread_pool_push(pool, GINT_TO_POINTER(i + 1), NULL); /* NULL is refused */
    g_thread_pool_free(pool, FALSE, TRUE); /* waits for every task */
    double t = bench_now() - t0;
    check_counter("GLib");
    return N / t;
}

/* ---------------------------------------------------------------- bare */

struct bare_task {
    void (*fn)(void *);
    void *arg;
    _Atomic int done;
};

static struct bare {
    pthread_mutex_t mu;
    pthread_cond_t work, all_done;
    struct bare_task **q; /* [N] ring (never wraps within a run) */
    size_t head, tail;
    int idle;
    bool stop;
    long completed, expected;
} bare = {.mu = PTHREAD_MUTEX_INITIALIZER, .work = PTHREAD_COND_INITIALIZER,
          .all_done = PTHREAD_COND_INITIALIZER};

static struct bare_task *bare_tasks; /* [N] */

static void bare_inc(void *arg)
{
    (void)arg;
    atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed);
}

static void *bare_thread(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&bare.mu);
    for (;;) {
        while (bare.head == bare.tail && !bare.stop) {
            bare.idle++;
            pthread_cond_wait(&bare.work, &bare.mu);
            bare.idle--;
        }
        if (bare.head == bare.tail)
            break;
        struct bare_task *t = bare.q[bare.head++];
        pthread_mutex_unlock(&bare.mu);
        t->fn(t->arg);
        atomic_store_explicit(&t->done, 1, memory_order_release);
        pthread_mutex_lock(&bare.mu);
        if (++bare.completed == bare.expected)
            pthread_cond_signal(&bare.all_done);
    }
    pthread_mutex_unlock(&bare.mu);
    return NULL;
}

static void bare_submit(struct bare_task *t)
{
    pthread_mutex_lock(&bare.mu);
    bare.q[bare.tail++] = t;
    if (bare.idle)
        pthread_cond_signal(&bare.work);
    pthread_mutex_unlock(&bare.mu);
}

static void bare_wait_all(long n)
{
    pthread_mutex_lock(&bare.mu);
    while (bare.completed < n)
        pthread_cond_wait(&bare.all_done, &bare.mu);
    pthread_mutex_unlock(&bare.mu);
}

static void bare_reset(long expected)
{
    pthread_mutex_lock(&bare.mu);
    bare.head = bare.tail = 0;
    bare.completed = 0;
    bare.expected = expected;
    pthread_mutex_unlock(&bare.mu);
}

static double bare_rate(void)
{
    bare_reset(N);
    double t0 = bench_now();
    for (int i = 0; i < N; i++) {
        bare_tasks[i] = (struct bare_task){bare_inc, NULL, 0};
        bare_submit(&bare_tasks[i]);
    }
    bare_wait_all(N);
    double t = bench_now() - t0;
    check_counter("bare");
    return N / t;
}

/* ---------------------------------------------------------- round trips */

static double lat[RT_N];

static double rt_native(void)
{
    cf_executor *ex = make_pool();
    for (int i = 0; i < RT_N; i++) {
        cf_future *f;
        void *p;
        double t0 = bench_now();
        if (cf_submit_fn(ex, native_inc, NULL, &f) < 0 ||
            cf_future_result_ptr(f, CF_FOREVER, &p) < 0)
            exit(1);
        lat[i] = bench_now() - t0;
        cf_future_release(f);
    }
    cf_executor_release(ex);
    atomic_store(&counter, 0);
    return bench_pct(lat, RT_N, 50);
}

static double rt_uv(uv_loop_t *loop)
{
    for (int i = 0; i < RT_N; i++) {
        double t0 = bench_now();
        uv_queue_work(loop, &works[0], uv_inc, uv_after);
        uv_run(loop, UV_RUN_DEFAULT);
        lat[i] = bench_now() - t0;
    }
    atomic_store(&counter, 0);
    return bench_pct(lat, RT_N, 50);
}

static GMutex g_mu;
static GCond g_cv;
static int g_done;

static void g_inc_signal(gpointer data, gpointer user)
{
    (void)data;
    (void)user;
    atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed);
    g_mutex_lock(&g_mu);
    g_done++;
    g_cond_signal(&g_cv);
    g_mutex_unlock(&g_mu);
}

static double rt_glib(void)
{
    GThreadPool *pool = g_thread_pool_new(g_inc_signal, NULL, THREADS, TRUE, NULL);
    for (int i = 0; i < RT_N; i++) {
        double t0 = bench_now();
        g_thread_pool_push(pool, GINT_TO_POINTER(1), NULL);
        g_mutex_lock(&g_mu);
        while (g_done <= i)
            g_cond_wait(&g_cv, &g_mu);
        g_mutex_unlock(&g_mu);
        lat[i] = bench_now() - t0;
    }
    g_thread_pool_free(pool, FALSE, TRUE);
    g_done = 0;
    atomic_store(&counter, 0);
    return bench_pct(lat, RT_N, 50);
}

static double rt_bare(void)
{
    for (int i = 0; i < RT_N; i++) {
        bare_reset(1);
        double t0 = bench_now();
        bare_tasks[0] = (struct bare_task){bare_inc, NULL, 0};
        bare_submit(&bare_tasks[0]);
        bare_wait_all(1);
        lat[i] = bench_now() - t0;
    }
    atomic_store(&counter, 0);
    return bench_pct(lat, RT_N, 50);
}

/* ---------------------------------------------------------------- main */

static double best3(double a, double b, double c)
{
    double m = a > b ? a : b;
    return m > c ? m : c;
}

static double least3(double a, double b, double c)
{
    double m = a < b ? a : b;
    return m < c ? m : c;
}

int main(void)
{
    setenv("UV_THREADPOOL_SIZE", "2", 1); /* read when libuv starts its pool */
    int runs = bench_runs(3);
    const char *only = getenv("INPROC_ONLY"); /* "native", for profiling */
    futures = malloc(N * sizeof(*futures));
    works = calloc(N, sizeof(*works));
    bare_tasks = calloc(N, sizeof(*bare_tasks));
    bare.q = malloc(N * sizeof(*bare.q));
    if (!futures || !works || !bare_tasks || !bare.q)
        return 1;
    if (only) {
        for (int r = 0; r < runs; r++)
            printf("%s %.2f M/s\n", only,
                   cf_rate(strcmp(only, "native") == 0  ? 1
                           : strcmp(only, "batch") == 0 ? 2
                                                        : 0) /
                       1e6);
        return 0;
    }
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, bare_thread, NULL);
    uv_loop_t *loop = uv_default_loop();

    double nat[runs], bat[runs], mp[runs], uv[runs], gl[runs], ba[runs];
    double r_nat[runs], r_bat[runs], r_mp[runs]; /* ratios to libuv within each run */
    double rtn[runs], rtu[runs], rtg[runs], rtb[runs], rt_ratio[runs];
    for (int r = 0; r < runs; r++) {
        uv[r] = uv_rate(loop);
        nat[r] = cf_rate(1);
        bat[r] = cf_rate(2);
        mp[r] = cf_rate(0);
        gl[r] = glib_rate();
        ba[r] = bare_rate();
        r_nat[r] = nat[r] / uv[r];
        r_bat[r] = bat[r] / uv[r];
        r_mp[r] = mp[r] / uv[r];
        rtu[r] = rt_uv(loop);
        rtn[r] = rt_native();
        rtg[r] = rt_glib();
        rtb[r] = rt_bare();
        rt_ratio[r] = rtn[r] / least3(rtu[r], rtg[r], rtb[r]);
        fprintf(stderr,
                "inproc run %d: native %.2f, batch %.2f, msgpack %.2f, libuv %.2f, GLib %.2f, bare %.2f "
                "M/s; round trip p50 native %.1f, libuv %.1f, GLib %.1f, bare %.1f us\n",
                r, nat[r] / 1e6, bat[r] / 1e6, mp[r] / 1e6, uv[r] / 1e6, gl[r] / 1e6, ba[r] / 1e6,
                rtn[r] * 1e6, rtu[r] * 1e6, rtg[r] * 1e6, rtb[r] * 1e6);
    }
    pthread_mutex_lock(&bare.mu);
    bare.stop = true;
    pthread_cond_broadcast(&bare.work);
    pthread_mutex_unlock(&bare.mu);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    uv_loop_close(loop);

    double m_nat = bench_median(nat, runs), m_mp = bench_median(mp, runs);
    double m_uv = bench_median(uv, runs), m_gl = bench_median(gl, runs);
    double m_ba = bench_median(ba, runs);
    double q_nat = bench_median(r_nat, runs), q_mp = bench_median(r_mp, runs);
    double m_bat = bench_median(bat, runs), q_bat = bench_median(r_bat, runs);
    char o[64], a[128], w[160];
    snprintf(a, sizeof a, "libuv %.2f M/s (GLib %.2f, bare pthread %.2f)", m_uv / 1e6,
             m_gl / 1e6, m_ba / 1e6);
    snprintf(w, sizeof w, "thread pool, 2 threads: 1 M native cf_submit_fn, then wait (%d runs)",
             runs);
    bench_row(w, bench_rate(o, sizeof o, m_nat), a, q_nat, ">= 1.2x libuv", q_nat >= 1.2);
    snprintf(w, sizeof w,
             "thread pool, 2 threads: 1 M native tasks by cf_submit_fn_batch of %d, then wait "
             "(%d runs)",
             BATCH, runs);
    bench_row(w, bench_rate(o, sizeof o, m_bat), a, q_bat, ">= 1.2x libuv", q_bat >= 1.2);
    snprintf(w, sizeof w, "thread pool, 2 threads: 1 M registered msgpack tasks, then wait (%d runs)",
             runs);
    bench_row(w, bench_rate(o, sizeof o, m_mp), a, q_mp, ">= 0.8x libuv", q_mp >= 0.8);
    double m_rtn = bench_median(rtn, runs), m_rtu = bench_median(rtu, runs);
    double m_rtg = bench_median(rtg, runs), m_rtb = bench_median(rtb, runs);
    double q_rt = bench_median(rt_ratio, runs);
    char t[64];
    snprintf(a, sizeof a, "best of libuv %.1f us / GLib %.1f us / bare %.1f us",
             m_rtu * 1e6, m_rtg * 1e6, m_rtb * 1e6);
    (void)best3;
    snprintf(w, sizeof w, "thread pool: native round trip p50, one in flight (%d runs)", runs);
    bench_row(w, bench_time(t, sizeof t, m_rtn), a, q_rt, "<= 1x best anchor", q_rt <= 1.0);
    return 0;
}
