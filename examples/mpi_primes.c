/* The prime check of examples/primes.c on the ranks of an MPI job:
 *
 *   mpiexec -n 3 ./mpi_primes          rank 0 submits, ranks 1 and 2 run tasks
 *   mpiexec -n 3 ./mpi_primes --node   each serving rank runs a local
 *                                      process pool of one worker per CPU
 *
 * Every rank runs main and calls cf_mpi_pool_create; the serving ranks
 * return CF_MPI_SERVED once rank 0 releases the pool, and end. The program
 * never calls MPI itself: cf_mpi_pool_create initialises MPI and
 * finalises it. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cfutures.h>
#include <cfutures/mpi.h>

static const int64_t PRIMES[] = {112272535095293, 112582705942171, 112272535095293,
                                 115280095190773, 115797848077099, 1099726899285419};
#define N_PRIMES (sizeof(PRIMES) / sizeof(PRIMES[0]))
#define COUNT_BELOW 300000

static bool prime(int64_t n)
{
    bool p = n >= 2 && (n == 2 || n % 2 != 0);
    for (int64_t i = 3, limit = (int64_t)sqrt((double)n); p && i <= limit; i += 2)
        p = n % i != 0;
    return p;
}

/* [n] -> [is n prime, the pid that checked it] */
static int is_prime(const msgpack_object *args, msgpack_packer *out)
{
    int64_t n;
    if (cf_arg_i64(args, 0, &n) < 0)
        return cf_task_fail("is_prime: expected one integer");
    msgpack_pack_array(out, 2);
    prime(n) ? msgpack_pack_true(out) : msgpack_pack_false(out);
    return msgpack_pack_int64(out, getpid());
}
CF_TASK(is_prime);

static int is_prime_bool(const msgpack_object *args, msgpack_packer *out)
{
    int64_t n;
    if (cf_arg_i64(args, 0, &n) < 0)
        return cf_task_fail("is_prime_bool: expected one integer");
    return prime(n) ? msgpack_pack_true(out) : msgpack_pack_false(out);
}
CF_TASK(is_prime_bool);

static int next_number(void *arg, size_t index, msgpack_packer *pk)
{
    (void)arg;
    if (index >= COUNT_BELOW)
        return 0;
    return cf_pack_args(pk, "i", (int64_t)index) < 0 ? -1 : 1;
}

int main(int argc, char **argv)
{
    cf_mpi_pool_options o = {0};
    if (argc > 1 && strcmp(argv[1], "--node") == 0)
        o.workers_per_rank = CF_MPI_AUTO;
    cf_executor *pool;
    int rc = cf_mpi_pool_create(&pool, &o);
    if (rc == CF_MPI_SERVED)
        return 0; /* a serving rank: its work is done */
    if (rc < 0) {
        fprintf(stderr, "cf_mpi_pool_create: %s\n", cf_strerror(rc));
        return 1;
    }
    printf("root pid %d, %d workers over the serving ranks\n", (int)getpid(),
           cf_executor_workers(pool));

    /* The Python example, one future per number. */
    cf_future *fs[N_PRIMES];
    for (size_t i = 0; i < N_PRIMES; i++)
        if ((rc = cf_submit(pool, is_prime, &fs[i], "i", PRIMES[i])) < 0)
            return fprintf(stderr, "submit: %s\n", cf_strerror(rc)), 1;
    for (size_t i = 0; i < N_PRIMES; i++) {
        const msgpack_object *r;
        rc = cf_future_result(fs[i], CF_FOREVER, &r);
        if (rc < 0 || r->type != MSGPACK_OBJECT_ARRAY || r->via.array.size != 2) {
            fprintf(stderr, "%s\n", rc < 0 ? cf_future_error_message(fs[i]) : "bad result");
            return 1;
        }
        printf("%lld is prime: %s (pid %lld)\n", (long long)PRIMES[i],
               r->via.array.ptr[0].via.boolean ? "true" : "false",
               (long long)r->via.array.ptr[1].via.i64);
        cf_future_release(fs[i]);
    }

    /* A lazy map of many small tasks: chunks spread over the ranks. */
    cf_map *map;
    size_t count = 0;
    rc = cf_map_create(&map, pool, "is_prime_bool", next_number, NULL, NULL);
    for (size_t i; rc == 0;) {
        const msgpack_object *r;
        bool p;
        rc = cf_map_next(map, &i, &r);
        if (rc == 0 && cf_obj_bool(r, &p) == 0)
            count += p;
    }
    cf_map_release(map);
    printf("%zu primes below %d\n", count, COUNT_BELOW);
    cf_stats st;
    cf_executor_stats(pool, &st);
    for (int k = 0; k < cf_executor_workers(pool); k++) {
        cf_worker_stats ws;
        if (cf_executor_worker_stats(pool, k, &ws) == 0)
            printf("serving rank %d (pid %d): %llu records\n", k + 1, ws.pid,
                   (unsigned long long)ws.tasks);
    }
    cf_executor_release(pool); /* stops the serving ranks, finalises MPI */
    return rc == CF_EEMPTY && count == 25997 ? 0 : 1;
}
