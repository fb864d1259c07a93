/* Thread-pool fan-out: the sum of squares of 0 .. N-1, split into ranges
 * that a pool of threads sums in parallel, once with cf_submit and a
 * done-callback per range, once with cf_map over the same ranges.
 *
 * Tasks run in this process, so the callback may add to a local total (with
 * its own lock: callbacks run on the pool's threads). Prints only
 * deterministic figures.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>

#include <cfutures.h>

#define N 1000000
#define RANGES 16

static int sum_squares(const msgpack_object *args, msgpack_packer *out)
{
    int64_t lo, hi;
    if (cf_arg_i64(args, 0, &lo) < 0 || cf_arg_i64(args, 1, &hi) < 0)
        return cf_task_fail("sum_squares: expected [lo, hi]");
    int64_t sum = 0;
    for (int64_t i = lo; i < hi; i++)
        sum += i * i;
    return msgpack_pack_int64(out, sum);
}
CF_TASK(sum_squares);

struct total {
    pthread_mutex_t mu;
    int64_t sum;
    int parts;
};

static int add_part(cf_future *f, void *arg)
{
    struct total *t = arg;
    int64_t v;
    int rc = cf_future_result_i64(f, 0, &v);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&t->mu);
    t->sum += v;
    t->parts++;
    pthread_mutex_unlock(&t->mu);
    return 0;
}

static int pack_range(void *arg, size_t index, msgpack_packer *pk)
{
    (void)arg;
    if (index >= RANGES)
        return 0;
    int64_t lo = (int64_t)index * N / RANGES, hi = (int64_t)(index + 1) * N / RANGES;
    return cf_pack_args(pk, "ii", lo, hi) == 0 ? 1 : -ENOMEM;
}

int main(void)
{
    cf_thread_pool_options opts = {.max_workers = 4, .thread_name_prefix = "squares"};
    cf_executor *pool;
    int rc = cf_thread_pool_create(&pool, &opts);
    if (rc < 0) {
        fprintf(stderr, "thread pool: %s\n", cf_strerror(rc));
        return 1;
    }

    /* 1. submit each range; a done-callback adds it to the total. */
    struct total t = {.mu = PTHREAD_MUTEX_INITIALIZER};
    cf_future *parts[RANGES];
    for (int i = 0; i < RANGES; i++) {
        int64_t lo = (int64_t)i * N / RANGES, hi = (int64_t)(i + 1) * N / RANGES;
        if ((rc = cf_submit(pool, sum_squares, &parts[i], "ii", lo, hi)) < 0) {
            fprintf(stderr, "submit: %s\n", cf_strerror(rc));
            return 1;
        }
        cf_future_add_done_callback(parts[i], add_part, &t);
    }
    cf_wait(parts, RANGES, CF_ALL_COMPLETED, CF_FOREVER, NULL);
    for (int i = 0; i < RANGES; i++)
        cf_future_release(parts[i]);
    /* A callback runs just after its future completes: shutting down with
     * wait joins the threads, so every callback has run. */
    cf_executor_shutdown(pool, CF_WAIT, false);
    cf_executor_release(pool);
    printf("submit: %d ranges, sum of squares below %d = %" PRId64 "\n", t.parts, N, t.sum);

    /* 2. the same fan-out with cf_map, results in input order. */
    if ((rc = cf_thread_pool_create(&pool, &opts)) < 0)
        return 1;
    cf_map *m;
    if ((rc = cf_map_create(&m, pool, "sum_squares", pack_range, NULL, NULL)) < 0) {
        fprintf(stderr, "map: %s\n", cf_strerror(rc));
        return 1;
    }
    int64_t sum = 0;
    size_t index;
    const msgpack_object *r;
    while ((rc = cf_map_next(m, &index, &r)) == 0) {
        int64_t v = 0;
        if (cf_obj_i64(r, &v) == 0)
            sum += v;
        if (index == 0)
            printf("map: range 0 gives %" PRId64 "\n", v);
    }
    cf_map_release(m);
    cf_executor_release(pool);
    if (rc != CF_EEMPTY) {
        fprintf(stderr, "map: %s\n", cf_strerror(rc));
        return 1;
    }

    /* The closed form (N-1) N (2N-1) / 6 checks both. */
    int64_t n = N, expect = (n - 1) * n * (2 * n - 1) / 6;
    printf("map: sum = %" PRId64 " (%s)\n", sum,
           sum == expect && t.sum == expect ? "matches the closed form" : "WRONG");
    return sum == expect && t.sum == expect ? 0 : 1;
}
