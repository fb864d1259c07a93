/* Process pool throughput of trivial tasks: N individually submitted
 * futures then one wait; cf_map with the automatic chunk size; and what a
 * pool costs to start and shut down. Anchors: CPython's ProcessPoolExecutor
 * on the same workloads (bench/cpython_anchor.py; for map, its best
 * chunksize of those it tries). */
#include <cfutures.h>

#include "bench/bench.h"

static int bench_noop(const msgpack_object *args, msgpack_packer *out)
{
    int64_t x = 0;
    cf_arg_i64(args, 0, &x);
    return msgpack_pack_int64(out, x + 1);
}
CF_TASK(bench_noop);

#define SUBMIT_N 200000
#define MAP_N 4000000

static double submit_rate(cf_executor *pool)
{
    static cf_future *fs[SUBMIT_N];
    double t0 = bench_now();
    for (int i = 0; i < SUBMIT_N; i++)
        if (cf_submit(pool, bench_noop, &fs[i], "i", (int64_t)i) < 0)
            exit(1);
    if (cf_wait(fs, SUBMIT_N, CF_ALL_COMPLETED, CF_FOREVER, NULL) != SUBMIT_N)
        exit(1);
    double t = bench_now() - t0;
    for (int i = 0; i < SUBMIT_N; i++)
        cf_future_release(fs[i]);
    return SUBMIT_N / t;
}

static int count_input(void *arg, size_t index, msgpack_packer *pk)
{
    return index >= *(size_t *)arg ? 0 : cf_pack_args(pk, "i", (int64_t)index) < 0 ? -1 : 1;
}

static double map_rate(cf_executor *pool, size_t n)
{
    size_t i, got = 0;
    cf_map *m;
    const msgpack_object *r;
    double t0 = bench_now();
    if (cf_map_create(&m, pool, "bench_noop", count_input, &n, NULL) < 0)
        exit(1);
    while (cf_map_next(m, &i, &r) == 0) {
        if (i != got || r->type != MSGPACK_OBJECT_POSITIVE_INTEGER || r->via.u64 != i + 1)
            exit(1);
        got++;
    }
    double t = bench_now() - t0;
    cf_map_release(m);
    if (got != n)
        exit(1);
    return (double)n / t;
}

/* Create, one trivial task (so that every worker is surely up), shut down. */
static double start_stop(int workers)
{
    cf_process_pool_options o = {.max_workers = workers};
    cf_executor *pool;
    cf_future *f;
    int64_t r;
    double t0 = bench_now();
    if (cf_process_pool_create(&pool, &o) < 0 ||
        cf_submit(pool, bench_noop, &f, "i", (int64_t)1) < 0 ||
        cf_future_result_i64(f, CF_FOREVER, &r) < 0 || r != 2)
        exit(1);
    cf_future_release(f);
    cf_executor_release(pool);
    return bench_now() - t0;
}

int main(void)
{
    int runs = bench_runs(5);
    cf_executor *pool;
    if (cf_process_pool_create(&pool, NULL) < 0)
        return 1;
    int workers = cf_executor_workers(pool);
    double v[runs], ours;
    char w[160], o[64];

    map_rate(pool, MAP_N / 10); /* warm-up */
    for (int r = 0; r < runs; r++)
        v[r] = submit_rate(pool);
    ours = bench_median(v, (size_t)runs);
    snprintf(w, sizeof w, "submit %d trivial futures, then wait (%d runs)", SUBMIT_N, runs);
    bench_row_cpython(w, bench_rate(o, sizeof o, ours), ours, "submit_rate", true, 100,
                      ">= 100x");

    for (int r = 0; r < runs; r++)
        v[r] = map_rate(pool, MAP_N);
    ours = bench_median(v, (size_t)runs);
    bench_rate(o, sizeof o, ours);
    snprintf(w, sizeof w, "map %d trivial tasks, auto chunk (%d runs)", MAP_N, runs);
    bench_row(w, o, "10 M tasks/s", ours / 10e6, ">= 10 M/s", ours >= 10e6);
    bench_row_cpython("map, auto chunk vs CPython's best chunksize", o, ours, "map_rate", true,
                      5, ">= 5x");
    cf_executor_release(pool);

    int ns[] = {workers, 8};
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
        for (int r = 0; r < runs; r++)
            v[r] = start_stop(ns[k]);
        ours = bench_median(v, (size_t)runs);
        char key[32];
        snprintf(key, sizeof key, "start_stop_%d", ns[k]);
        snprintf(w, sizeof w, "pool start + 1 task + shutdown, %d workers (%d runs)", ns[k],
                 runs);
        bench_row_cpython(w, bench_time(o, sizeof o, ours), ours, key, false, -1, "report");
    }
    return 0;
}
