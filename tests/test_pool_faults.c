/* Regression tests for faults the process pool must survive without
 * hanging or losing work: a registry lock held at fork time, a dead fork
 * server, done-callbacks that submit while the task ring is full, a worker
 * dying while the task ring is full, and re-queued large arguments. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "tests/support.h"

static int faults_inc(const msgpack_object *args, msgpack_packer *out)
{
    int64_t n;
    if (cf_arg_i64(args, 0, &n) < 0)
        return cf_task_fail("faults_inc: expected an integer");
    return msgpack_pack_int64(out, n + 1);
}
CF_TASK(faults_inc);

/* [kill, ...]: SIGKILLs its own worker when kill is true; else sleeps 1 ms
 * (so that the task ring stays full) and returns the size of any binary
 * second argument. */
static int faults_maybe_die(const msgpack_object *args, msgpack_packer *out)
{
    bool die = false;
    const void *bin;
    size_t len = 0;
    cf_arg_bool(args, 0, &die);
    if (die)
        raise(SIGKILL);
    cf_arg_bin(args, 1, &bin, &len);
    support_sleep_ms(1);
    return msgpack_pack_uint64(out, len);
}
CF_TASK(faults_maybe_die);

static atomic_bool hammering;

static void *hammer_registry(void *arg)
{
    (void)arg;
    while (atomic_load(&hammering))
        (void)cf_task_name(faults_inc);
    return NULL;
}

/* A user thread inside the registry while the fork server is forked must
 * not leave the workers a locked copy of it. */
Test(pool_faults, registry_busy_while_forking, .timeout = 60)
{
    pthread_t t;
    atomic_store(&hammering, true);
    cr_assert_eq(pthread_create(&t, NULL, hammer_registry, NULL), 0);
    for (int i = 0; i < 8; i++) {
        cf_executor *pool = support_new_pool(1, 0);
        cf_future *f;
        int64_t r;
        cr_assert_eq(cf_submit(pool, faults_inc, &f, "i", (int64_t)i), 0);
        cr_assert_eq(cf_future_result_i64(f, CF_FOREVER, &r), 0, "pool %d", i);
        cr_assert_eq(r, i + 1);
        cf_future_release(f);
        cf_executor_release(pool);
    }
    atomic_store(&hammering, false);
    pthread_join(t, NULL);
}

Test(pool_faults, dead_forkserver_breaks_the_pool, .timeout = 30)
{
    char dir[64];
    cf_executor *pool = support_new_pool(1, 0);
    support_make_dir(dir, sizeof(dir));
    cf_future *held = support_block_worker(pool, dir, 1);
    support_kill_forkserver();
    cr_assert_eq(cf_future_error(held, CF_FOREVER), CF_EBROKEN);
    cr_assert(strstr(cf_future_error_message(held), "fork server"), "%s",
              cf_future_error_message(held));
    cf_future *f;
    cr_assert_eq(cf_submit(pool, faults_inc, &f, "i", (int64_t)1), CF_EBROKEN);
    cr_assert_eq(cf_executor_shutdown(pool, CF_WAIT, false), 0, "must not hang");
    cf_future_release(held);
    cf_executor_release(pool);
    support_remove_dir(dir);
}

static cf_executor *chain_pool;
static atomic_int chained;

static int chain_again(cf_future *f, void *arg)
{
    cf_future *g;
    (void)f;
    (void)arg;
    int rc = cf_submit(chain_pool, faults_inc, &g, "i", (int64_t)1);
    if (rc == 0) {
        atomic_fetch_add(&chained, 1);
        cf_future_release(g);
    }
    return rc;
}

/* Callbacks run on the collector, the one thread that drains results: a
 * submit from there must not wait for room in a full task ring. */
Test(pool_faults, callbacks_submit_into_a_full_ring, .timeout = 60)
{
    enum { N = 1500 };
    chain_pool = support_new_pool(1, 4096);
    for (int i = 0; i < N; i++) {
        cf_future *f;
        cr_assert_eq(cf_submit(chain_pool, faults_inc, &f, "i", (int64_t)i), 0, "submit %d", i);
        cr_assert_eq(cf_future_add_done_callback(f, chain_again, NULL), 0);
        cf_future_release(f);
    }
    /* Shutting down now would refuse the callbacks still to come: wait
     * (bounded by the liveness limit) until every one has submitted. */
    for (int i = 0; i < SUPPORT_LIVENESS_MS && atomic_load(&chained) < N; i++)
        support_sleep_ms(1);
    cr_assert_eq(atomic_load(&chained), N, "every callback's submission was accepted");
    cr_assert_eq(cf_executor_shutdown(chain_pool, CF_WAIT, false), 0);
    cf_executor_release(chain_pool);
}

/* A worker dies while the task ring is full: the tasks it had taken but
 * not started are queued again, so exactly one future fails. */
Test(pool_faults, death_with_a_full_ring_costs_one_task, .timeout = 60)
{
    enum { N = 600 };
    static cf_future *fs[N];
    cf_executor *pool = support_new_pool(2, 4096);
    for (int i = 0; i < N; i++)
        cr_assert_eq(cf_submit(pool, faults_maybe_die, &fs[i], "?", i == 300), 0);
    int failed = 0;
    for (int i = 0; i < N; i++) {
        int rc = cf_future_error(fs[i], CF_FOREVER);
        cr_assert(rc == 0 || rc == CF_EWORKER, "future %d: %s", i, cf_strerror(rc));
        failed += rc == CF_EWORKER;
        if (rc == CF_EWORKER)
            cr_assert_eq(i, 300, "future %d failed: %s", i, cf_future_error_message(fs[i]));
        cf_future_release(fs[i]);
    }
    cr_assert_eq(failed, 1);
    cf_executor_release(pool);
}

static int count_memfds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    for (struct dirent *e; d && (e = readdir(d));) {
        char path[300], target[256];
        snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
        ssize_t len = readlink(path, target, sizeof(target) - 1);
        if (len > 0) {
            target[len] = '\0';
            n += strncmp(target, "/memfd:", 7) == 0;
        }
    }
    if (d)
        closedir(d);
    return n;
}

/* Large arguments of tasks queued again reuse their sealed segment: no
 * descriptor outlives its future. */
Test(pool_faults, requeued_large_arguments_do_not_leak, .timeout = 60)
{
    enum { N = 12, SIZE = 200 * 1024 };
    static unsigned char payload[SIZE];
    cf_future *fs[N];
    int before = count_memfds();
    cf_executor *pool = support_new_pool(1, 0);
    memset(payload, 0x5a, sizeof(payload));
    for (int i = 0; i < N; i++)
        cr_assert_eq(cf_submit(pool, faults_maybe_die, &fs[i], "?b", i == 1, payload,
                               sizeof(payload)), 0);
    for (int i = 0; i < N; i++) {
        uint64_t len = 0;
        const msgpack_object *r;
        int rc = cf_future_result(fs[i], CF_FOREVER, &r);
        if (i == 1) {
            cr_assert_eq(rc, CF_EWORKER);
        } else {
            cr_assert_eq(rc, 0, "future %d: %s", i, cf_future_error_message(fs[i]));
            cr_assert_eq(cf_obj_u64(r, &len), 0);
            cr_assert_eq(len, SIZE);
        }
        cf_future_release(fs[i]);
    }
    cf_executor_release(pool);
    cr_assert_eq(count_memfds(), before);
}
