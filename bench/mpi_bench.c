/* bench/mpi_bench.c — the MPI pool's rows (make bench-mpi), one MPI job:
 *
 *   mpiexec -n 3 mpi_bench      rank 0 the root, ranks 1 and 2 serve
 *
 * Anchors measured in the same job:
 *   - a hand-written C master/worker farm: one MPI message per task each
 *     way, 16 tasks in flight per worker (what MPI messaging itself can
 *     do here);
 *   - mpi4py.futures in comm mode (bench/mpi4py_anchor.py, run by
 *     bench/mpi_run.sh before this job; its figure arrives through the
 *     file named by BENCH_MPI4PY).
 * Rows: cf_map of trivial tasks with the automatic chunk size against the
 * farm; unchunked submit of trivial tasks, then wait, against mpi4py.
 * Medians of BENCH_RUNS runs (default 3). Never fails on time; the exit
 * status reports wrong results only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cfutures.h>
#include <cfutures/mpi.h>

#include "bench/bench.h"

#define FARM_TASKS 1000000
#define FARM_WINDOW 16
#define MAP_ITEMS 1000000
#define SUBMIT_TASKS 100000

enum { TAG_TASK = 1, TAG_RESULT = 2, TAG_STOP = 3 };

static int rank, size;
static int errors;

static int b_square(const msgpack_object *args, msgpack_packer *out)
{
    int64_t n;
    if (cf_arg_i64(args, 0, &n) < 0)
        return cf_task_fail("b_square wants [n]");
    return msgpack_pack_int64(out, n * n);
}

/* --------------------------------------------------------------- farm */

/* The hand-written farm; returns tasks per second on the root (0 on the
 * workers). */
static double farm(void)
{
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank != 0) {
        for (;;) {
            int64_t n;
            MPI_Status st;
            MPI_Recv(&n, 1, MPI_INT64_T, 0, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
            if (st.MPI_TAG == TAG_STOP)
                return 0;
            int64_t r[2] = {n, n * n};
            MPI_Send(r, 2, MPI_INT64_T, 0, TAG_RESULT, MPI_COMM_WORLD);
        }
    }
    double t0 = bench_now();
    int64_t next = 0, done = 0;
    for (int w = 1; w < size; w++)
        for (int k = 0; k < FARM_WINDOW && next < FARM_TASKS; k++, next++)
            MPI_Send(&next, 1, MPI_INT64_T, w, TAG_TASK, MPI_COMM_WORLD);
    long long sum = 0;
    while (done < FARM_TASKS) {
        int64_t r[2];
        MPI_Status st;
        MPI_Recv(r, 2, MPI_INT64_T, MPI_ANY_SOURCE, TAG_RESULT, MPI_COMM_WORLD, &st);
        done++;
        sum += r[1] == r[0] * r[0];
        if (next < FARM_TASKS) {
            MPI_Send(&next, 1, MPI_INT64_T, st.MPI_SOURCE, TAG_TASK, MPI_COMM_WORLD);
            next++;
        }
    }
    double t = bench_now() - t0;
    for (int w = 1; w < size; w++)
        MPI_Send(&next, 1, MPI_INT64_T, w, TAG_STOP, MPI_COMM_WORLD);
    if (sum != FARM_TASKS) {
        fprintf(stderr, "farm: wrong results\n");
        errors++;
    }
    return FARM_TASKS / t;
}

/* ---------------------------------------------------------- cfutures */

static int range_input(void *arg, size_t index, msgpack_packer *pk)
{
    (void)arg;
    if (index >= MAP_ITEMS)
        return 0;
    msgpack_pack_array(pk, 1);
    msgpack_pack_uint64(pk, index);
    return 1;
}

/* cf_map of MAP_ITEMS trivial tasks; tasks per second (0 on serving ranks). */
static double cf_map_rate(void)
{
    cf_executor *ex;
    int rc = cf_mpi_pool_create(&ex, NULL);
    if (rc == CF_MPI_SERVED)
        return 0;
    if (rc < 0) {
        fprintf(stderr, "cf_mpi_pool_create: %s\n", cf_strerror(rc));
        errors++;
        return 0;
    }
    double t0 = bench_now();
    cf_map *m;
    size_t n = 0, idx;
    const msgpack_object *res;
    rc = cf_map_create(&m, ex, "b_square", range_input, NULL, NULL);
    while (rc == 0 && (rc = cf_map_next(m, &idx, &res)) == 0)
        n += res->via.u64 == (uint64_t)idx * idx;
    cf_map_release(m);
    double t = bench_now() - t0;
    cf_executor_release(ex);
    if (rc != CF_EEMPTY || n != MAP_ITEMS) {
        fprintf(stderr, "cf_map: %s, %zu right\n", cf_strerror(rc), n);
        errors++;
    }
    return MAP_ITEMS / t;
}

/* SUBMIT_TASKS submits of a trivial task, then a wait for all; with
 * batch_records (0: the default), 1 measures what a batch costs. */
static double cf_submit_rate(int batch_records)
{
    cf_executor *ex;
    cf_mpi_pool_options o = {.batch_records = batch_records};
    int rc = cf_mpi_pool_create(&ex, &o);
    if (rc == CF_MPI_SERVED)
        return 0;
    if (rc < 0) {
        errors++;
        return 0;
    }
    cf_future **fs = malloc(SUBMIT_TASKS * sizeof(*fs));
    double t0 = bench_now();
    for (int i = 0; i < SUBMIT_TASKS; i++)
        if (cf_submit(ex, b_square, &fs[i], "i", (int64_t)i) < 0) {
            errors++;
            fs[i] = NULL;
        }
    int done = cf_wait(fs, SUBMIT_TASKS, CF_ALL_COMPLETED, CF_FOREVER, NULL);
    double t = bench_now() - t0;
    for (int i = 0; i < SUBMIT_TASKS; i++) {
        int64_t v;
        if (!fs[i] || cf_future_result_i64(fs[i], 0, &v) < 0 || v != (int64_t)i * i)
            errors += errors < 1000;
        cf_future_release(fs[i]);
    }
    free(fs);
    cf_executor_release(ex);
    if (done != SUBMIT_TASKS)
        errors++;
    return SUBMIT_TASKS / t;
}

/* The mpi4py.futures figure (tasks per second), or < 0. */
static double mpi4py_rate(void)
{
    const char *path = getenv("BENCH_MPI4PY");
    FILE *f = path ? fopen(path, "r") : NULL;
    double v = -1;
    if (f) {
        if (fscanf(f, "submit_rate %lf", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

int main(int argc, char **argv)
{
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    cf_task_register("b_square", b_square);
    int runs = bench_runs(3);
    double farm_v[16], map_v[16], sub_v[16], one_v[16];
    if (runs > 16)
        runs = 16;
    for (int r = 0; r < runs; r++) {
        /* Interleaved, so that load on the machine hits both alike. */
        farm_v[r] = farm();
        map_v[r] = cf_map_rate();
        sub_v[r] = cf_submit_rate(0);
        one_v[r] = cf_submit_rate(1);
    }
    if (rank == 0) {
        char w[160], o[64], a[64];
        double fm = bench_median(farm_v, (size_t)runs), mm = bench_median(map_v, (size_t)runs);
        double sm = bench_median(sub_v, (size_t)runs);
        bench_row(bench_fmt(w, sizeof w,
                            "MPI, %d ranks: cf_map of %d M trivial tasks, automatic chunk size "
                            "(median of %d)", size, MAP_ITEMS / 1000000, runs),
                  bench_rate(o, sizeof o, mm),
                  bench_fmt(a, sizeof a, "C farm %s", bench_rate(w, sizeof w, fm)), mm / fm,
                  ">= 0.9x", mm / fm >= 0.9);
        double py = mpi4py_rate();
        char wl[160];
        bench_fmt(wl, sizeof wl,
                  "MPI, %d ranks: unchunked submit of %d k trivial tasks, then wait "
                  "(median of %d)", size, SUBMIT_TASKS / 1000, runs);
        if (py > 0)
            bench_row(wl, bench_rate(o, sizeof o, sm),
                      bench_fmt(a, sizeof a, "mpi4py.futures %s", bench_rate(w, sizeof w, py)),
                      sm / py, ">= 50x", sm / py >= 50);
        else
            bench_row(wl, bench_rate(o, sizeof o, sm), "mpi4py.futures: not run", -1, ">= 50x",
                      -1);
        /* The root's cost per record and per batch (docs/architecture.md):
         * with batches of one record each record pays a batch. */
        double om = bench_median(one_v, (size_t)runs);
        bench_row(bench_fmt(w, sizeof w,
                            "MPI, %d ranks: the same, one record per batch (median of %d)", size,
                            runs),
                  bench_rate(o, sizeof o, om), "-", -1, "report", -1);
        printf("# farm %.0f tasks/s, cf_map %.0f tasks/s, submit %.0f tasks/s, "
               "submit with 1-record batches %.0f tasks/s: %.2f us per record, "
               "%.2f us more per batch\n",
               fm, mm, sm, om, 1e6 / sm, 1e6 / om - 1e6 / sm);
    }
    MPI_Finalize();
    return errors ? 1 : 0;
}
