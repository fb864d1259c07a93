/* Echo of a large byte argument (64 MiB and 1 GiB): submit, the worker
 * packs the same bytes as its result, the caller holds the result. The
 * figure is bytes / round-trip time, against memcpy bandwidth of the same
 * size into an already faulted-in destination, in the same run.
 *
 * Like the memcpy anchor, the measured echoes run on memory already
 * touched: large records travel in kept segments (ipc/segcache.h), so the
 * first echo through each worker pays for fresh pages and later ones do
 * not. That first echo is its own row (report only), then WARMUP echoes
 * (a few per worker: which worker takes a task is not ours to choose) run
 * before the measured ones. (1 GiB needs about 6 GiB of RAM.) */
#include <errno.h>

#include <cfutures.h>

#include "bench/bench.h"

static int bench_echo(const msgpack_object *args, msgpack_packer *out)
{
    const void *b;
    size_t n;
    int rc = cf_arg_bin(args, 0, &b, &n);
    if (rc < 0)
        return rc;
    if (msgpack_pack_bin(out, n) || msgpack_pack_bin_body(out, b, n))
        return -ENOMEM;
    return 0;
}
CF_TASK(bench_echo);

/* Waits for f's result (timed by the caller); exits unless it holds the
 * len bytes of buf. */
static void wait_echo(cf_future *f, const unsigned char *buf, size_t len, double *t, double t0)
{
    const msgpack_object *o;
    const void *b;
    size_t got;
    if (cf_future_result(f, CF_FOREVER, &o) < 0 || cf_obj_bin(o, &b, &got) < 0 || got != len)
        exit(1);
    *t += bench_now() - t0;
    const unsigned char *e = b;
    for (size_t i = 0; i < len; i += 4093)
        if (e[i] != buf[i])
            exit(1);
    cf_future_release(f);
}

static double echo(cf_executor *pool, const unsigned char *buf, size_t len)
{
    cf_future *f;
    double t = 0, t0 = bench_now();
    if (cf_submit(pool, bench_echo, &f, "b", buf, len) < 0)
        exit(1);
    wait_echo(f, buf, len, &t, t0);
    return t;
}

/* The same echo with the argument written in place (cf_buffer): the
 * producer writes its bytes straight into the buffer, as it wrote `buf`
 * for echo() before the timing (here: a memcpy from buf, not timed).
 * Timed: getting the buffer, then submit to result, as in echo(). */
static double echo_in_place(cf_executor *pool, const unsigned char *buf, size_t len)
{
    cf_buffer *in;
    cf_future *f;
    double t0 = bench_now();
    if (cf_buffer_create(pool, "bench_echo", len, &in) < 0)
        exit(1);
    double t = bench_now() - t0;
    memcpy(cf_buffer_data(in), buf, len); /* producing the data: not timed */
    t0 = bench_now();
    if (cf_buffer_submit(in, NULL, &f) < 0)
        exit(1);
    wait_echo(f, buf, len, &t, t0);
    return t;
}

static double copy(unsigned char *dst, const unsigned char *src, size_t len)
{
    double t0 = bench_now();
    memcpy(dst, src, len);
    double t = bench_now() - t0;
    __asm__ volatile("" ::"r"(dst) : "memory");
    return t;
}

static void row(cf_executor *pool, size_t len, int runs, int warmup)
{
    unsigned char *buf = malloc(len), *dst = malloc(len);
    if (!buf || !dst)
        exit(1);
    for (size_t i = 0; i < len; i++)
        buf[i] = (unsigned char)(i * 2654435761u >> 13);
    memset(dst, 0, len);
    double e[runs], p[runs], c[runs];
    double first = echo(pool, buf, len);
    for (int w = 1; w < warmup; w++) {
        (void)echo(pool, buf, len);
        (void)echo_in_place(pool, buf, len);
    }
    for (int r = 0; r < runs; r++) {
        c[r] = copy(dst, buf, len);
        e[r] = echo(pool, buf, len);
        p[r] = echo_in_place(pool, buf, len);
    }
    free(dst);
    free(buf);
    double te = bench_median(e, (size_t)runs), tc = bench_median(c, (size_t)runs);
    double mib = (double)len / (1 << 20);
    char w[128], o[64], a[64];
    snprintf(w, sizeof w, "echo of a %.0f MiB byte argument, first one (fresh segments)", mib);
    snprintf(o, sizeof o, "%.2f GB/s (%s)", (double)len / first / 1e9,
             bench_time(a, sizeof a, first));
    snprintf(a, sizeof a, "memcpy %.2f GB/s", (double)len / tc / 1e9);
    bench_row(w, o, a, tc / first, "report", -1);
    snprintf(w, sizeof w, "echo of a %.0f MiB byte argument (%d runs after %d warm-up)", mib,
             runs, warmup);
    snprintf(o, sizeof o, "%.2f GB/s (%s)", (double)len / te / 1e9,
             bench_time(a, sizeof a, te));
    snprintf(a, sizeof a, "memcpy %.2f GB/s", (double)len / tc / 1e9);
    bench_row(w, o, a, tc / te, ">= 0.50x", tc / te >= 0.5);
    double tp = bench_median(p, (size_t)runs);
    snprintf(w, sizeof w, "echo of a %.0f MiB argument written in place (cf_buffer, %d runs)",
             mib, runs);
    snprintf(o, sizeof o, "%.2f GB/s (%s)", (double)len / tp / 1e9,
             bench_time(a, sizeof a, tp));
    snprintf(a, sizeof a, "memcpy %.2f GB/s", (double)len / tc / 1e9);
    bench_row(w, o, a, tc / tp, ">= 0.50x", tc / tp >= 0.5);
}

int main(void)
{
    cf_executor *pool;
    if (cf_process_pool_create(&pool, NULL) < 0)
        return 1;
    int warmup = 2 * cf_executor_workers(pool);
    row(pool, (size_t)64 << 20, bench_runs(5), warmup);
    row(pool, (size_t)1 << 30, bench_runs(3) < 3 ? bench_runs(3) : 3, warmup);
    cf_executor_release(pool);
    return 0;
}
