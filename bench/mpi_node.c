/* bench/mpi_node.c — node mode against the process pool on the same cores
 * (make bench-mpi runs it as a job of 2 ranks: the root and one serving
 * rank with a local pool of 2 workers):
 *
 *   mpiexec -n 2 mpi_node
 *
 * The CPU-bound map of bench/cpu.c (trial division of primes near 10^12,
 * about 1 ms each, automatic chunk size) through cf_mpi_pool_create in node
 * mode, against a process pool of 2 workers on the root run in the same
 * job, alternately. Medians of BENCH_RUNS runs (default 3). Never fails on
 * time.
 */
#include <stdio.h>

#include <cfutures.h>
#include <cfutures/mpi.h>

#include "bench/bench.h"
#include "bench/prime_kernel.h"

#define ITEMS 500
#define WORKERS 2
static uint64_t numbers[ITEMS];
static int errors;

CF_TASK(bench_prime);

static int input(void *arg, size_t index, msgpack_packer *pk)
{
    (void)arg;
    return index >= ITEMS ? 0 : cf_pack_args(pk, "u", numbers[index]) < 0 ? -1 : 1;
}

/* Seconds one map over ex took. */
static double run_map(cf_executor *ex)
{
    double t0 = bench_now();
    cf_map *m;
    int found = 0, rc = cf_map_create(&m, ex, "bench_prime", input, NULL, NULL);
    size_t idx;
    const msgpack_object *res;
    while (rc == 0 && (rc = cf_map_next(m, &idx, &res)) == 0)
        found += res->type == MSGPACK_OBJECT_BOOLEAN && res->via.boolean;
    cf_map_release(m);
    if (rc != CF_EEMPTY || found != ITEMS)
        errors++;
    return bench_now() - t0;
}

int main(int argc, char **argv)
{
    int provided, rank, size;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    for (uint64_t n = BENCH_PRIME_BASE + 1, k = 0; k < ITEMS; n += 2)
        if (is_prime(n))
            numbers[k++] = n;
    int runs = bench_runs(3);
    if (runs > 16)
        runs = 16;
    double mpi_t[16], pool_t[16];
    for (int r = 0; r < runs; r++) {
        cf_executor *ex;
        cf_mpi_pool_options o = {.workers_per_rank = WORKERS};
        int rc = cf_mpi_pool_create(&ex, &o);
        if (rc == 0) {
            mpi_t[r] = run_map(ex);
            cf_executor_release(ex);
            cf_process_pool_options po = {.max_workers = WORKERS};
            if (cf_process_pool_create(&ex, &po) == 0) {
                pool_t[r] = run_map(ex);
                cf_executor_release(ex);
            } else {
                errors++;
            }
        } else if (rc != CF_MPI_SERVED) {
            errors++;
        }
        /* The root's process pool runs while the serving rank waits for a
         * word from it, asleep: MPI_Barrier would spin on a core the pool
         * needs. */
        if (rank == 0) {
            for (int k = 1; k < size; k++)
                MPI_Send(NULL, 0, MPI_BYTE, k, 7, MPI_COMM_WORLD);
        } else {
            int flag = 0;
            while (MPI_Iprobe(0, 7, MPI_COMM_WORLD, &flag, MPI_STATUS_IGNORE) == MPI_SUCCESS &&
                   !flag) {
                struct timespec ts = {0, 1000000};
                nanosleep(&ts, NULL);
            }
            MPI_Recv(NULL, 0, MPI_BYTE, 0, 7, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        }
    }
    if (rank == 0) {
        double mt = bench_median(mpi_t, (size_t)runs), pt = bench_median(pool_t, (size_t)runs);
        char w[200], o[64], a[64];
        bench_row(bench_fmt(w, sizeof w,
                            "MPI node mode, %d ranks (1 serving x %d workers): CPU-bound map "
                            "of %d x ~1 ms, automatic chunk size (median of %d)",
                            size, WORKERS, ITEMS, runs),
                  bench_time(o, sizeof o, mt),
                  bench_fmt(a, sizeof a, "process pool %s", bench_time(w, sizeof w, pt)),
                  mt / pt, "<= 1.05x", mt / pt <= 1.05);
    }
    MPI_Finalize();
    return errors ? 1 : 0;
}
