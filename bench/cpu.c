/* CPU-bound map: a trial-division prime test of odd numbers near 10^12
 * (about a million divisions, ~1 ms, for a prime), mapped over the pool
 * with the automatic chunk size; against the same kernel in a serial
 * single-core loop and in an OpenMP `parallel for` (schedule(dynamic), as
 * many threads as the pool has workers). Built with -fopenmp. */
#include <math.h>
#include <omp.h>

#include <cfutures.h>

#include "bench/bench.h"

#define BASE 1000000000000ULL
/* Primes only, so that every item costs the same full ~1 ms. */
#define ITEMS 2000
static uint64_t numbers[ITEMS];

static int is_prime(uint64_t n)
{
    if (n < 2 || n % 2 == 0)
        return n == 2;
    for (uint64_t d = 3; d * d <= n; d += 2)
        if (n % d == 0)
            return 0;
    return 1;
}

static int bench_prime(const msgpack_object *args, msgpack_packer *out)
{
    uint64_t n = 0;
    cf_arg_u64(args, 0, &n);
    return is_prime(n) ? msgpack_pack_true(out) : msgpack_pack_false(out);
}
CF_TASK(bench_prime);

static int input(void *arg, size_t index, msgpack_packer *pk)
{
    (void)arg;
    return index >= ITEMS ? 0 : cf_pack_args(pk, "u", numbers[index]) < 0 ? -1 : 1;
}

static int count_serial(int threads)
{
    int found = 0;
    (void)threads;
    for (int i = 0; i < ITEMS; i++)
        found += is_prime(numbers[i]);
    return found;
}

static int count_openmp(int threads)
{
    int found = 0;
#pragma omp parallel for num_threads(threads) schedule(dynamic) reduction(+ : found)
    for (int i = 0; i < ITEMS; i++)
        found += is_prime(numbers[i]);
    return found;
}

/* Seconds one count of the primes took; every number must be found. */
static double timed_count(int (*count)(int threads), int threads)
{
    double t0 = bench_now();
    int found = count(threads);
    double t = bench_now() - t0;
    if (found != ITEMS)
        exit(1);
    return t;
}

static double pool_map(cf_executor *pool)
{
    cf_map *m;
    size_t i, found = 0;
    const msgpack_object *r;
    double t0 = bench_now();
    if (cf_map_create(&m, pool, "bench_prime", input, NULL, NULL) < 0)
        exit(1);
    while (cf_map_next(m, &i, &r) == 0)
        found += r->type == MSGPACK_OBJECT_BOOLEAN && r->via.boolean;
    double t = bench_now() - t0;
    cf_map_release(m);
    if (found != ITEMS)
        exit(1);
    return t;
}

int main(void)
{
    int runs = bench_runs(3);
    uint64_t n = BASE + 1;
    for (int k = 0; k < ITEMS; n += 2)
        if (is_prime(n))
            numbers[k++] = n;

    cf_executor *pool;
    if (cf_process_pool_create(&pool, NULL) < 0)
        return 1;
    int cores = cf_executor_workers(pool);
    double s[runs], o[runs], p[runs];
    for (int r = 0; r < runs; r++) {
        s[r] = timed_count(count_serial, 1);
        o[r] = timed_count(count_openmp, cores);
        p[r] = pool_map(pool);
    }
    cf_executor_release(pool);
    double ts = bench_median(s, (size_t)runs), to = bench_median(o, (size_t)runs),
           tp = bench_median(p, (size_t)runs);

    char w[160], ours[64], a[96], t[64];
    snprintf(w, sizeof w, "CPU-bound map, %d primes near 1e12, %.2f ms each (%d runs)", ITEMS,
             ts / ITEMS * 1e3, runs);
    snprintf(ours, sizeof ours, "%.2f s, speedup %.2f", tp, ts / tp);
    snprintf(a, sizeof a, "serial loop %.2f s", ts);
    snprintf(t, sizeof t, ">= 0.95 x %d cores", cores);
    bench_row(w, ours, a, ts / tp, t, ts / tp >= 0.95 * cores);
    snprintf(a, sizeof a, "OpenMP %d threads %.2f s, speedup %.2f", cores, to, ts / to);
    bench_row("CPU-bound map vs OpenMP parallel for (time OpenMP / ours)", ours, a, to / tp,
              ">= 0.95x", to / tp >= 0.95);
    return 0;
}
