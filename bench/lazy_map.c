/* Lazy map over 100 M generated items: the input callback produces each
 * item on demand and each result is dropped once yielded, so memory must
 * stay bounded by the in-flight window, not by the item count. The map runs
 * in a child process; the parent reads the child's peak RSS from wait4
 * (which covers the child and the workers it reaped). One run: it takes
 * ~10-30 s. BENCH_LAZY_ITEMS overrides the count. */
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cfutures.h>

#include "bench/bench.h"

static int bench_noop(const msgpack_object *args, msgpack_packer *out)
{
    int64_t x = 0;
    cf_arg_i64(args, 0, &x);
    return msgpack_pack_int64(out, x + 1);
}
CF_TASK(bench_noop);

static int count_input(void *arg, size_t index, msgpack_packer *pk)
{
    return index >= *(size_t *)arg ? 0 : cf_pack_args(pk, "i", (int64_t)index) < 0 ? -1 : 1;
}

int main(void)
{
    const char *env = getenv("BENCH_LAZY_ITEMS");
    size_t n = env ? strtoull(env, NULL, 10) : 100000000;
    int fds[2];
    if (pipe(fds) < 0)
        return 1;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        cf_executor *pool;
        cf_map *m;
        const msgpack_object *r;
        size_t i, got = 0;
        if (cf_process_pool_create(&pool, NULL) < 0)
            _exit(1);
        double t0 = bench_now();
        if (cf_map_create(&m, pool, "bench_noop", count_input, &n, NULL) < 0)
            _exit(1);
        while (cf_map_next(m, &i, &r) == 0) {
            if (i != got || r->via.u64 != i + 1)
                _exit(1);
            got++;
        }
        double t = bench_now() - t0;
        cf_map_release(m);
        cf_executor_release(pool);
        if (got != n || write(fds[1], &t, sizeof t) != sizeof t)
            _exit(1);
        _exit(0);
    }
    close(fds[1]);
    double t = 0;
    int st;
    struct rusage ru;
    ssize_t got = read(fds[0], &t, sizeof t);
    if (wait4(pid, &st, 0, &ru) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0 ||
        got != sizeof t)
        return 1;
    double mib = (double)ru.ru_maxrss / 1024;
    char w[128], o[96], rate[32];
    snprintf(w, sizeof w, "lazy map over %zu M generated items, peak RSS (1 run)", n / 1000000);
    snprintf(o, sizeof o, "%.1f MiB (%.1f s, %s)", mib, t,
             bench_rate(rate, sizeof rate, (double)n / t));
    bench_row(w, o, "64 MiB", mib / 64, "< 64 MiB", mib < 64);
    return 0;
}
