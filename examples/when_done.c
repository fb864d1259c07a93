/* Submit and a done-callback, as in the cookbook's add_done_callback
 * recipe: the callback runs on the pool's collector thread when the
 * result arrives and prints it. */
#include <stdio.h>

#include <cfutures.h>

static int work(const msgpack_object *args, msgpack_packer *out)
{
    int64_t x, y;
    if (cf_arg_i64(args, 0, &x) < 0 || cf_arg_i64(args, 1, &y) < 0)
        return cf_task_fail("work: expected two integers");
    return msgpack_pack_int64(out, x + y);
}
CF_TASK(work);

static int when_done(cf_future *f, void *arg)
{
    int64_t sum;
    (void)arg;
    int rc = cf_future_result_i64(f, 0, &sum);
    if (rc < 0)
        return rc;
    printf("Got: %lld\n", (long long)sum);
    return 0;
}

int main(void)
{
    cf_executor *pool;
    cf_future *f;
    if (cf_process_pool_create(&pool, NULL) < 0)
        return 1;
    int rc = cf_submit(pool, work, &f, "ii", (int64_t)2, (int64_t)3);
    if (rc == 0) {
        cf_future_add_done_callback(f, when_done, NULL);
        cf_future_error(f, CF_FOREVER); /* wait, so the output is there */
        cf_future_release(f);
    }
    cf_executor_release(pool); /* waits for the callback's thread too */
    return rc == 0 ? 0 : 1;
}
