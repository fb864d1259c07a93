/* Thread pool: N trivial tasks submitted as individual futures, then one
 * wait; against CPython's ThreadPoolExecutor on the same workload
 * (bench/cpython_anchor.py). */
#include <cfutures.h>

#include "bench/bench.h"

static int bench_noop(const msgpack_object *args, msgpack_packer *out)
{
    int64_t x = 0;
    cf_arg_i64(args, 0, &x);
    return msgpack_pack_int64(out, x + 1);
}
CF_TASK(bench_noop);

#define N 200000

static double rate(cf_executor *pool)
{
    static cf_future *fs[N];
    double t0 = bench_now();
    for (int i = 0; i < N; i++)
        if (cf_submit(pool, bench_noop, &fs[i], "i", (int64_t)i) < 0)
            exit(1);
    if (cf_wait(fs, N, CF_ALL_COMPLETED, CF_FOREVER, NULL) != N)
        exit(1);
    double t = bench_now() - t0;
    for (int i = 0; i < N; i++)
        cf_future_release(fs[i]);
    return N / t;
}

int main(void)
{
    int runs = bench_runs(5);
    cf_executor *pool;
    if (cf_thread_pool_create(&pool, NULL) < 0)
        return 1;
    int workers = cf_executor_workers(pool);
    rate(pool); /* warm-up: starts the threads */
    double v[runs];
    for (int r = 0; r < runs; r++)
        v[r] = rate(pool);
    cf_executor_release(pool);
    double ours = bench_median(v, (size_t)runs);
    char w[128], o[64];
    bench_rate(o, sizeof o, ours);
    snprintf(w, sizeof w, "thread pool: %d trivial submits, then wait, %d threads (%d runs)",
             N, workers, runs);
    bench_row(w, o, "1 M tasks/s", ours / 1e6, ">= 1 M/s", ours >= 1e6);
    bench_row_cpython("thread pool vs CPython ThreadPoolExecutor", o, ours, "thread_rate", true,
                      25, ">= 25x");
    return 0;
}
