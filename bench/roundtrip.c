/* Submit->result round trip of a trivial task with one in flight (p50,
 * p99), against the physical limit of the design measured in the same run:
 * a ping-pong between two processes in shared memory through a robust
 * process-shared mutex and our futex event count (ipc/pshared.h, the same
 * primitives and the same spin setting as the task and result rings), and a
 * ping-pong that spins on one shared word; and against CPython's
 * ProcessPoolExecutor (bench/cpython_anchor.py). */
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cfutures.h>

#include "bench/bench.h"
#include "ipc/clock.h"
#include "ipc/pshared.h"

#define N 20000

static int bench_noop(const msgpack_object *args, msgpack_packer *out)
{
    int64_t x = 0;
    cf_arg_i64(args, 0, &x);
    return msgpack_pack_int64(out, x + 1);
}
CF_TASK(bench_noop);

static double lat[N];

static void cf_round_trip(cf_executor *pool, double *p50, double *p99)
{
    for (int i = 0; i < N; i++) {
        cf_future *f;
        int64_t r;
        double t0 = bench_now();
        if (cf_submit(pool, bench_noop, &f, "i", (int64_t)i) < 0 ||
            cf_future_result_i64(f, CF_FOREVER, &r) < 0 || r != i + 1)
            exit(1);
        lat[i] = bench_now() - t0;
        cf_future_release(f);
    }
    *p99 = bench_pct(lat, N, 99);
    *p50 = bench_pct(lat, N, 50);
}

/* --------------------------------------------- ping-pong anchors */

struct shared {
    cf__pmutex mx;
    cf__pcond req_cv, resp_cv;
    int64_t req, resp; /* under mx */
    _Alignas(64) _Atomic int64_t spin_req;
    _Alignas(64) _Atomic int64_t spin_resp;
};

static void cond_server(struct shared *s)
{
    int64_t seen = 0;
    cf__pmutex_lock(&s->mx);
    for (;;) {
        while (s->req == seen)
            cf__pcond_wait(&s->req_cv, &s->mx, CF__NO_DEADLINE, 0, NULL);
        seen = s->req;
        if (seen < 0)
            break;
        s->resp = seen + 1;
        cf__pcond_signal(&s->resp_cv);
    }
    cf__pmutex_unlock(&s->mx);
}

static void spin_server(struct shared *s)
{
    int64_t seen = 0;
    for (;;) {
        int64_t r;
        while ((r = atomic_load_explicit(&s->spin_req, memory_order_acquire)) == seen)
            __builtin_ia32_pause();
        if (r < 0)
            break;
        seen = r;
        atomic_store_explicit(&s->spin_resp, r + 1, memory_order_release);
    }
}

static void ping_pong(bool spin, double *p50, double *p99)
{
    struct shared *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE,
                            MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED)
        exit(1);
    memset(s, 0, sizeof *s);
    cf__pmutex_init(&s->mx);
    cf__pcond_init(&s->req_cv);
    cf__pcond_init(&s->resp_cv);
    pid_t pid = fork();
    if (pid == 0) {
        spin ? spin_server(s) : cond_server(s);
        _exit(0);
    }
    for (int64_t i = 1; i <= N; i++) {
        double t0 = bench_now();
        if (spin) {
            atomic_store_explicit(&s->spin_req, i, memory_order_release);
            while (atomic_load_explicit(&s->spin_resp, memory_order_acquire) != i + 1)
                __builtin_ia32_pause();
        } else {
            cf__pmutex_lock(&s->mx);
            s->req = i;
            cf__pcond_signal(&s->req_cv);
            while (s->resp != i + 1)
                cf__pcond_wait(&s->resp_cv, &s->mx, CF__NO_DEADLINE, 0, NULL);
            cf__pmutex_unlock(&s->mx);
        }
        lat[i - 1] = bench_now() - t0;
    }
    if (spin) {
        atomic_store(&s->spin_req, -1);
    } else {
        cf__pmutex_lock(&s->mx);
        s->req = -1;
        cf__pcond_signal(&s->req_cv);
        cf__pmutex_unlock(&s->mx);
    }
    waitpid(pid, NULL, 0);
    munmap(s, sizeof *s);
    *p99 = bench_pct(lat, N, 99);
    *p50 = bench_pct(lat, N, 50);
}

static void median_of(int runs, void (*fn)(void *, double *, double *), void *arg,
                      double *p50, double *p99)
{
    double a[runs], b[runs];
    for (int r = 0; r < runs; r++)
        fn(arg, &a[r], &b[r]);
    *p50 = bench_median(a, (size_t)runs);
    *p99 = bench_median(b, (size_t)runs);
}

static void run_cf(void *pool, double *p50, double *p99)
{
    cf_round_trip(pool, p50, p99);
}
static void run_cond(void *arg, double *p50, double *p99)
{
    (void)arg;
    ping_pong(false, p50, p99);
}
static void run_spin(void *arg, double *p50, double *p99)
{
    (void)arg;
    ping_pong(true, p50, p99);
}

int main(void)
{
    int runs = bench_runs(5);
    cf_executor *pool;
    if (cf_process_pool_create(&pool, NULL) < 0)
        return 1;
    /* warm up: first records fault in the rings' pages */
    double w50, w99;
    cf_round_trip(pool, &w50, &w99);
    double c50, c99, m50, m99, s50, s99;
    median_of(runs, run_cf, pool, &c50, &c99);
    cf_executor_release(pool);
    median_of(runs, run_cond, NULL, &m50, &m99);
    median_of(runs, run_spin, NULL, &s50, &s99);

    char w[160], o[64], a[64];
    snprintf(w, sizeof w, "round trip, 1 in flight, p50 (%d tasks x %d runs)", N, runs);
    snprintf(o, sizeof o, "%.1f us", c50 * 1e6);
    snprintf(a, sizeof a, "mutex+cond ping-pong %.1f us", m50 * 1e6);
    bench_row(w, o, a, c50 / m50, "<= 1.5x", c50 / m50 <= 1.5);
    snprintf(a, sizeof a, "spin ping-pong %.2f us", s50 * 1e6);
    bench_row("round trip p50 vs spinning", o, a, c50 / s50, "report", -1);
    bench_row_cpython("round trip p50 vs CPython (faster by)", o, c50, "rt_p50", false, 25,
                      ">= 25x");
    snprintf(o, sizeof o, "%.1f us", c99 * 1e6);
    snprintf(a, sizeof a, "mutex+cond ping-pong %.1f us", m99 * 1e6);
    bench_row("round trip, 1 in flight, p99", o, a, c99 / m99, "report", -1);
    bench_row_cpython("round trip p99 vs CPython (faster by)", o, c99, "rt_p99", false, -1,
                      "report");
    return 0;
}
