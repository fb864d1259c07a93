/* First figures for the process pool core: the submit->result round trip
 * of a trivial task with one in flight (p50, p99), the throughput of
 * individually submitted trivial tasks, and of cf_map with the automatic
 * chunk size. Prints figures only; never fails on time. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <cfutures.h>

static int bench_noop(const msgpack_object *args, msgpack_packer *out)
{
    int64_t x = 0;
    cf_arg_i64(args, 0, &x);
    return msgpack_pack_int64(out, x + 1);
}
CF_TASK(bench_noop);

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void round_trip(cf_executor *pool)
{
    enum { N = 20000 };
    static double lat[N];
    for (int i = 0; i < N; i++) {
        cf_future *f;
        int64_t r;
        double t0 = now();
        if (cf_submit(pool, bench_noop, &f, "i", (int64_t)i) < 0 ||
            cf_future_result_i64(f, CF_FOREVER, &r) < 0 || r != i + 1)
            exit(1);
        lat[i] = now() - t0;
        cf_future_release(f);
    }
    qsort(lat, N, sizeof(lat[0]), by_value);
    printf("round trip, one in flight:   p50 %7.1f us   p99 %7.1f us   (%d tasks)\n",
           lat[N / 2] * 1e6, lat[N * 99 / 100] * 1e6, N);
}

static void submit_throughput(cf_executor *pool)
{
    enum { N = 200000 };
    cf_future **fs = malloc(N * sizeof(*fs));
    double t0 = now();
    for (int i = 0; i < N; i++)
        if (cf_submit(pool, bench_noop, &fs[i], "i", (int64_t)i) < 0)
            exit(1);
    if (cf_wait(fs, N, CF_ALL_COMPLETED, CF_FOREVER, NULL) != N)
        exit(1);
    double t = now() - t0;
    for (int i = 0; i < N; i++)
        cf_future_release(fs[i]);
    free(fs);
    printf("submit throughput:           %9.0f tasks/s   (%d futures, then wait)\n", N / t, N);
}

static int count_input(void *arg, size_t index, msgpack_packer *pk)
{
    return index >= *(size_t *)arg ? 0 : cf_pack_args(pk, "i", (int64_t)index) < 0 ? -1 : 1;
}

static void map_throughput(cf_executor *pool)
{
    size_t n = 2000000, i;
    cf_map *m;
    const msgpack_object *r;
    double t0 = now();
    if (cf_map_create(&m, pool, "bench_noop", count_input, &n, NULL) < 0)
        exit(1);
    size_t got = 0;
    while (cf_map_next(m, &i, &r) == 0)
        got++;
    double t = now() - t0;
    cf_map_release(m);
    if (got != n)
        exit(1);
    printf("map throughput (auto chunk): %9.0f tasks/s   (%zu items)\n", n / t, n);
}

int main(void)
{
    cf_executor *pool;
    if (cf_process_pool_create(&pool, NULL) < 0)
        return 1;
    printf("cfutures core bench, %d workers\n", cf_executor_workers(pool));
    round_trip(pool);
    submit_throughput(pool);
    map_throughput(pool);
    cf_executor_release(pool);
    return 0;
}
