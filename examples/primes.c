/* The prime check from Python's concurrent.futures documentation, with
 * cf_map over a process pool: results print in input order. */
#include <math.h>
#include <stdio.h>

#include <cfutures.h>

static const int64_t PRIMES[] = {112272535095293, 112582705942171, 112272535095293,
                                 115280095190773, 115797848077099, 1099726899285419};
#define N_PRIMES (sizeof(PRIMES) / sizeof(PRIMES[0]))

static int is_prime(const msgpack_object *args, msgpack_packer *out)
{
    int64_t n;
    if (cf_arg_i64(args, 0, &n) < 0)
        return cf_task_fail("is_prime: expected one integer");
    bool prime = n >= 2 && (n == 2 || n % 2 != 0);
    for (int64_t i = 3, limit = (int64_t)sqrt((double)n); prime && i <= limit; i += 2)
        prime = n % i != 0;
    return prime ? msgpack_pack_true(out) : msgpack_pack_false(out);
}
CF_TASK(is_prime);

/* The lazy input: packs argument array number `index`. */
static int next_number(void *arg, size_t index, msgpack_packer *pk)
{
    (void)arg;
    if (index >= N_PRIMES)
        return 0;
    return cf_pack_args(pk, "i", PRIMES[index]) < 0 ? -1 : 1;
}

int main(void)
{
    cf_executor *pool;
    cf_map *map;
    int rc = cf_process_pool_create(&pool, NULL);
    if (rc < 0) {
        fprintf(stderr, "pool: %s\n", cf_strerror(rc));
        return 1;
    }
    rc = cf_map_create(&map, pool, "is_prime", next_number, NULL, NULL);
    for (size_t i; rc == 0;) {
        const msgpack_object *result;
        bool prime;
        rc = cf_map_next(map, &i, &result);
        if (rc == 0 && cf_obj_bool(result, &prime) == 0)
            printf("%lld is prime: %s\n", (long long)PRIMES[i], prime ? "true" : "false");
        else if (rc != CF_EEMPTY)
            fprintf(stderr, "%s\n", rc < 0 ? cf_map_error_message(map) : "bad result");
    }
    cf_map_release(map);
    cf_executor_release(pool);
    return rc == CF_EEMPTY ? 0 : 1;
}
