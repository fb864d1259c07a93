/* The process-shared primitives used from tasks of a real process pool.
 *
 * The objects are placed with cf_pshared_alloc and the global pointers set
 * before cf_process_pool_create, so every worker inherits them through the
 * fork. Results are checked against values computed in the test.
 */
#include <criterion/criterion.h>
#include <errno.h>

#include <cfutures.h>

#define TASKS 16
#define PER_TASK 2000
#define ITEM_MAX 16

struct pool_shared {
    cf_plock lock;
    long counter; /* protected by lock */
    cf_pevent go;
};

static struct pool_shared *sh;
static cf_pqueue *queue;
static size_t queue_bytes;
static cf_executor *pool;

/* Increments the shared counter `n` times under the lock; returns n. */
static int psync_locked_increment(const msgpack_object *args, msgpack_packer *out)
{
    int64_t n;

    if (cf_arg_i64(args, 0, &n) < 0)
        return cf_task_fail("psync_locked_increment: expected an integer");
    for (int64_t i = 0; i < n; i++) {
        if (cf_plock_acquire(&sh->lock) != 0)
            return cf_task_fail("psync_locked_increment: acquire failed");
        long v = *(volatile long *)&sh->counter;
        *(volatile long *)&sh->counter = v + 1;
        cf_plock_release(&sh->lock);
    }
    return msgpack_pack_int64(out, n);
}
CF_TASK(psync_locked_increment);

/* Waits for the `go` event, then puts its argument on the queue. */
static int psync_put_after_go(const msgpack_object *args, msgpack_packer *out)
{
    int64_t v;

    if (cf_arg_i64(args, 0, &v) < 0)
        return cf_task_fail("psync_put_after_go: expected an integer");
    if (!cf_pevent_wait(&sh->go, 10))
        return cf_task_fail("psync_put_after_go: go never came");
    if (cf_pqueue_put(queue, &v, sizeof v) != 0)
        return cf_task_fail("psync_put_after_go: put failed");
    return msgpack_pack_true(out);
}
CF_TASK(psync_put_after_go);

static void setup(void)
{
    cf_process_pool_options opts = {.max_workers = 2};

    sh = cf_pshared_alloc(sizeof *sh);
    cr_assert_not_null(sh);
    cr_assert_eq(cf_plock_init(&sh->lock), 0);
    cr_assert_eq(cf_pevent_init(&sh->go), 0);
    queue_bytes = cf_pqueue_footprint(TASKS, ITEM_MAX);
    queue = cf_pshared_alloc(queue_bytes);
    cr_assert_not_null(queue);
    cr_assert_eq(cf_pqueue_init(queue, TASKS, ITEM_MAX), 0);
    /* Only now: the workers inherit what was placed above. */
    cr_assert_eq(cf_process_pool_create(&pool, &opts), 0);
}

static void teardown(void)
{
    if (pool)
        cf_executor_release(pool);
    pool = NULL;
    if (queue) {
        cf_pqueue_destroy(queue);
        cf_pshared_free(queue, queue_bytes);
    }
    queue = NULL;
    if (sh) {
        cf_pevent_destroy(&sh->go);
        cf_plock_destroy(&sh->lock);
        cf_pshared_free(sh, sizeof *sh);
    }
    sh = NULL;
}

Test(psync_pool, tasks_increment_under_plock, .init = setup, .fini = teardown,
     .timeout = 20)
{
    cf_future *fs[TASKS];
    int64_t sum = 0, got;

    for (int i = 0; i < TASKS; i++)
        cr_assert_eq(cf_submit(pool, psync_locked_increment, &fs[i], "i",
                               (int64_t)PER_TASK + i), 0);
    for (int i = 0; i < TASKS; i++) {
        cr_assert_eq(cf_future_result_i64(fs[i], CF_FOREVER, &got), 0,
                     "%s", cf_future_error_message(fs[i]));
        cr_assert_eq(got, PER_TASK + i);
        sum += got;
        cf_future_release(fs[i]);
    }
    /* PER_TASK * TASKS + (0 + 1 + ... + TASKS-1), computed independently. */
    cr_assert_eq(sum, (int64_t)PER_TASK * TASKS + TASKS * (TASKS - 1) / 2);
    cr_assert_eq(cf_plock_acquire(&sh->lock), 0, "the lock is free and clean");
    cr_assert_eq(sh->counter, sum);
    cr_assert_eq(cf_plock_release(&sh->lock), 0);
}

Test(psync_pool, event_releases_tasks_that_fill_a_queue, .init = setup, .fini = teardown,
     .timeout = 20)
{
    cf_future *fs[TASKS];
    int64_t v, total = 0, expect = 0;
    size_t len;
    bool ok;

    for (int i = 0; i < TASKS; i++) {
        cr_assert_eq(cf_submit(pool, psync_put_after_go, &fs[i], "i", (int64_t)i * 10), 0);
        expect += (int64_t)i * 10;
    }
    cr_assert_eq(cf_pqueue_try_get(queue, &v, sizeof v, &len), CF_EEMPTY,
                 "nothing before the event");
    cr_assert_eq(cf_pevent_set(&sh->go), 0);
    for (int i = 0; i < TASKS; i++) {
        cr_assert_eq(cf_pqueue_get_timed(queue, &v, sizeof v, &len, 10), 0);
        cr_assert_eq(len, sizeof v);
        total += v;
    }
    cr_assert_eq(total, expect);
    for (int i = 0; i < TASKS; i++) {
        cr_assert_eq(cf_future_result_bool(fs[i], CF_FOREVER, &ok), 0,
                     "%s", cf_future_error_message(fs[i]));
        cr_assert(ok);
        cf_future_release(fs[i]);
    }
}
