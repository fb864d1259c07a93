/* A process pool whose tasks share one counter under a cf_plock.
 *
 * The lock and the counter are placed in shared memory (cf_pshared_alloc)
 * and the global pointer is set before the pool is created, so every
 * worker inherits them when it is forked. Each task adds 1 000 times under
 * the lock; the total is exact however the tasks interleave.
 */
#include <stdio.h>

#include <cfutures.h>

#define TASKS 8
#define PER_TASK 1000

struct counter {
    cf_plock lock;
    long value; /* protected by lock */
};

static struct counter *shared;

static int pshared_counter_add(const msgpack_object *args, msgpack_packer *out)
{
    int64_t n;

    if (cf_arg_i64(args, 0, &n) < 0)
        return cf_task_fail("pshared_counter_add: expected an integer");
    for (int64_t i = 0; i < n; i++) {
        if (cf_plock_acquire(&shared->lock) < 0)
            return cf_task_fail("pshared_counter_add: lock unusable");
        shared->value++;
        cf_plock_release(&shared->lock);
    }
    return msgpack_pack_int64(out, n);
}
CF_TASK(pshared_counter_add);

int main(void)
{
    cf_process_pool_options opts = {.max_workers = 4};
    cf_future *fs[TASKS];
    cf_executor *pool;
    int rc, failed = 0;

    shared = cf_pshared_alloc(sizeof *shared);
    if (!shared || cf_plock_init(&shared->lock) < 0)
        return 1;
    rc = cf_process_pool_create(&pool, &opts);
    if (rc < 0) {
        fprintf(stderr, "pool: %s\n", cf_strerror(rc));
        return 1;
    }
    for (int i = 0; i < TASKS; i++)
        if (cf_submit(pool, pshared_counter_add, &fs[i], "i", (int64_t)PER_TASK) < 0)
            return 1;
    for (int i = 0; i < TASKS; i++) {
        int64_t added;

        if (cf_future_result_i64(fs[i], CF_FOREVER, &added) < 0)
            failed++;
        cf_future_release(fs[i]);
    }
    cf_executor_shutdown(pool, CF_WAIT, false);
    cf_executor_release(pool);
    printf("%d tasks x %d increments under a process-shared lock: total %ld\n", TASKS,
           PER_TASK, shared->value);
    cf_plock_destroy(&shared->lock);
    cf_pshared_free(shared, sizeof *shared);
    return failed == 0 ? 0 : 1;
}
