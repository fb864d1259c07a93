/* An ordered cf_map keeps the workers fed while the chunk at its head is
 * slow: the chunks behind the head that finish are replaced at once (issue
 * 15, part 3). Before, the window froze behind its head, so one slow item
 * left every other worker idle once the few chunks already submitted were
 * done. Runs on a thread pool, where the test can see which items ran. */
#include <cfutures.h>
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool open;
} mw_gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};
static atomic_int mw_ran; /* items other than the slow head that ran */

static int mw_item(const msgpack_object *args, msgpack_packer *out)
{
    int64_t i;
    if (cf_arg_i64(args, 0, &i) < 0)
        return cf_task_fail("mw_item: expected an integer");
    if (i == 0) {
        pthread_mutex_lock(&mw_gate.mu);
        while (!mw_gate.open)
            pthread_cond_wait(&mw_gate.cv, &mw_gate.mu);
        pthread_mutex_unlock(&mw_gate.mu);
    } else {
        atomic_fetch_add(&mw_ran, 1);
    }
    return msgpack_pack_int64(out, i);
}
CF_TASK(mw_item);

#define MW_ITEMS 200

static int mw_input(void *arg, size_t index, msgpack_packer *pk)
{
    (void)arg;
    return index >= MW_ITEMS ? 0 : cf_pack_args(pk, "i", (int64_t)index) < 0 ? -1 : 1;
}

static void *mw_iterate(void *arg)
{
    cf_map *m = arg;
    size_t index, n = 0;
    const msgpack_object *r;
    while (cf_map_next(m, &index, &r) == 0) {
        if (index != n || r->via.i64 != (int64_t)n)
            return (void *)1; /* out of order */
        n++;
    }
    return n == MW_ITEMS ? NULL : (void *)2;
}

Test(map_window, ordered_map_feeds_workers_behind_slow_head, .timeout = 30)
{
    cf_thread_pool_options po = {.max_workers = 2};
    cf_executor *ex;
    cr_assert_eq(cf_thread_pool_create(&ex, &po), 0);
    /* One item per chunk, so the window is 2 * 2 + 2 = 6 chunks pending. */
    cf_map_options mo = {.timeout = CF_FOREVER, .chunksize = 1};
    cf_map *m;
    cr_assert_eq(cf_map_create(&m, ex, "mw_item", mw_input, NULL, &mo), 0);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, mw_iterate, m), 0);
    /* With the head blocked, a frozen window runs at most 5 other items. */
    for (int k = 0; k < 1000 && atomic_load(&mw_ran) < 12; k++)
        usleep(5000);
    int ran = atomic_load(&mw_ran);
    pthread_mutex_lock(&mw_gate.mu);
    mw_gate.open = true;
    pthread_cond_broadcast(&mw_gate.cv);
    pthread_mutex_unlock(&mw_gate.mu);
    void *res;
    pthread_join(t, &res);
    cr_assert_null(res, "the map failed (%p)", res);
    cr_assert_geq(ran, 12, "only %d items ran while the head was slow", ran);
    cf_map_release(m);
    cf_executor_release(ex);
}
