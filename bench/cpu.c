/* CPU-bound map: a trial-division prime test of odd numbers near 10^12
 * (about a million divisions, ~1 ms, for a prime), mapped over the pool
 * with the automatic chunk size; against the same kernel in a serial
 * single-core loop and in an OpenMP `parallel for` (schedule(dynamic), as
 * many threads as the pool has workers). Built with -fopenmp.
 *
 * Then fine-grained uneven maps (issue 15, part 3): items whose costs are
 * drawn from an exponential distribution of mean 10 us and 100 us (a few
 * items cost several times the mean), mapped ordered and unordered with
 * the automatic chunk size, against OpenMP schedule(dynamic) on the same
 * items in the same run.
 *
 * OpenMP runs with OMP_WAIT_POLICY=passive (main re-executes itself with
 * it set): by default libgomp's threads keep spinning after a parallel
 * region, and the pool's workers, started right after it, shared the two
 * cores with them. Measured: two tasks of half the 10 us items each took
 * 0.213-0.226 s right after an OpenMP region, 0.203-0.206 s alone;
 * OpenMP's own times were the same either way (0.201-0.206 s). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <unistd.h>

#include <cfutures.h>

#include "bench/bench.h"
#include "bench/prime_kernel.h"

/* Primes only, so that every item costs the same full ~1 ms. */
#define ITEMS 2000
static uint64_t numbers[ITEMS];

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

/* ------------------------------------------------ fine, uneven items */

/* A spin whose cost is proportional to `iters` and that the compiler
 * cannot drop (the result depends on every step). */
static uint64_t spin(uint64_t iters)
{
    uint64_t x = iters | 1;
    for (uint64_t i = 0; i < iters; i++)
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    return x;
}

static int bench_spin(const msgpack_object *args, msgpack_packer *out)
{
    uint64_t n = 0;
    cf_arg_u64(args, 0, &n);
    return msgpack_pack_uint64(out, spin(n));
}
CF_TASK(bench_spin);

#define UNEVEN_MAX 40000
static uint64_t uneven[UNEVEN_MAX];
static size_t uneven_n;

static int uneven_input(void *arg, size_t index, msgpack_packer *pk)
{
    (void)arg;
    return index >= uneven_n ? 0 : cf_pack_args(pk, "u", uneven[index]) < 0 ? -1 : 1;
}

/* Spin iterations per microsecond on this machine (best of a few tries). */
static double calibrate(void)
{
    double best = 0;
    for (int k = 0; k < 5; k++) {
        double t0 = bench_now();
        volatile uint64_t sink = spin(2000000);
        (void)sink;
        double per_us = 2000000 / ((bench_now() - t0) * 1e6);
        best = per_us > best ? per_us : best;
    }
    return best;
}

/* n items of exponentially distributed cost (mean `mean_us`), from a
 * fixed seed: every run maps the same items. */
static void make_uneven(size_t n, double mean_us, double iters_per_us)
{
    uint64_t s = 88172645463325252ULL;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        double u = ((double)(s >> 11) + 1) / 9007199254740993.0; /* (0, 1] */
        uneven[i] = (uint64_t)(-log(u) * mean_us * iters_per_us) + 1;
    }
    uneven_n = n;
}

static uint64_t checksum_openmp(int threads)
{
    uint64_t sum = 0;
#pragma omp parallel for num_threads(threads) schedule(dynamic) reduction(+ : sum)
    for (size_t i = 0; i < uneven_n; i++)
        sum += spin(uneven[i]);
    return sum;
}

static double uneven_map(cf_executor *pool, bool unordered, uint64_t expect)
{
    cf_map *m;
    cf_map_options o = {.timeout = CF_FOREVER, .unordered = unordered};
    size_t i;
    uint64_t sum = 0, v;
    const msgpack_object *r;
    double t0 = bench_now();
    if (cf_map_create(&m, pool, "bench_spin", uneven_input, NULL, &o) < 0)
        exit(1);
    while (cf_map_next(m, &i, &r) == 0)
        sum += cf_obj_u64(r, &v) == 0 ? v : 0;
    double t = bench_now() - t0;
    cf_map_release(m);
    if (sum != expect)
        exit(1);
    return t;
}

static void uneven_rows(cf_executor *pool, int cores, int runs, double iters_per_us,
                        double mean_us, size_t n)
{
    make_uneven(n, mean_us, iters_per_us);
    uint64_t expect = 0;
    double total = 0;
    for (size_t i = 0; i < n; i++)
        total += (double)uneven[i];
    double o[runs], po[runs], pu[runs], qo[runs], qu[runs];
    for (int r = 0; r < runs; r++) {
        double t0 = bench_now();
        expect = checksum_openmp(cores);
        o[r] = bench_now() - t0;
        po[r] = uneven_map(pool, false, expect);
        pu[r] = uneven_map(pool, true, expect);
        qo[r] = o[r] / po[r];
        qu[r] = o[r] / pu[r];
    }
    double to = bench_median(o, (size_t)runs), tpo = bench_median(po, (size_t)runs),
           tpu = bench_median(pu, (size_t)runs);
    double ro = bench_median(qo, (size_t)runs), ru = bench_median(qu, (size_t)runs);
    double serial = total / iters_per_us / 1e6; /* estimated from the calibration */
    char w[200], ours[64], a[96];
    snprintf(a, sizeof a, "OpenMP dynamic %.3f s, speedup %.2f", to, serial / to);
    snprintf(w, sizeof w,
             "uneven map, %zu items, mean %.0f us (exponential), ordered (%d runs, time OpenMP / "
             "ours)",
             n, mean_us, runs);
    snprintf(ours, sizeof ours, "%.3f s, speedup %.2f", tpo, serial / tpo);
    bench_row(w, ours, a, ro, ">= 0.97x", ro >= 0.97);
    snprintf(w, sizeof w,
             "uneven map, %zu items, mean %.0f us (exponential), unordered (%d runs, time OpenMP "
             "/ ours)",
             n, mean_us, runs);
    snprintf(ours, sizeof ours, "%.3f s, speedup %.2f", tpu, serial / tpu);
    bench_row(w, ours, a, ru, ">= 0.97x", ru >= 0.97);
}

int main(int argc, char **argv)
{
    (void)argc;
    /* libgomp reads the policy once, when it loads: hence the re-exec. */
    if (!getenv("OMP_WAIT_POLICY")) {
        setenv("OMP_WAIT_POLICY", "passive", 1);
        execv("/proc/self/exe", argv);
        /* Could not: run on with OpenMP's default policy. */
    }
    int runs = bench_runs(3);
    uint64_t n = BENCH_PRIME_BASE + 1;
    for (int k = 0; k < ITEMS; n += 2)
        if (is_prime(n))
            numbers[k++] = n;

    cf_executor *pool;
    if (cf_process_pool_create(&pool, NULL) < 0)
        return 1;
    int cores = cf_executor_workers(pool);
    if (getenv("BENCH_CPU_UNEVEN_ONLY")) { /* for A/B runs of the uneven rows */
        double ipu = calibrate();
        uneven_rows(pool, cores, runs, ipu, 100, 8000);
        uneven_rows(pool, cores, runs, ipu, 10, 40000);
        cf_executor_release(pool);
        return 0;
    }
    double s[runs], o[runs], p[runs];
    for (int r = 0; r < runs; r++) {
        s[r] = timed_count(count_serial, 1);
        o[r] = timed_count(count_openmp, cores);
        p[r] = pool_map(pool);
    }
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
    double iters_per_us = calibrate();
    uneven_rows(pool, cores, runs, iters_per_us, 100, 8000);
    uneven_rows(pool, cores, runs, iters_per_us, 10, 40000);
    cf_executor_release(pool);
    return 0;
}
