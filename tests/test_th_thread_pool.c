/* The thread pool executor: submit, map, wait, as_completed, callbacks,
 * cancellation, shutdown variants, initializer, thread names, lazy and
 * reused threads, back-pressure and every error path.
 *
 * Scenarios ported from CPython's Lib/test/test_concurrent_futures
 * (test_thread_pool.py, executor.py, test_shutdown.py, test_wait.py,
 * test_as_completed.py, test_init.py), rewritten for the C API. Tasks run
 * in this process, so they share the gate below with the test. No test
 * asserts on timing: blocking tasks wait on the gate, and tests wait for
 * "n tasks started" rather than for time to pass.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cfutures.h>

/* ------------------------------------------------------------- the gate */

/* Tasks that block wait here until the test opens the gate; `started`
 * counts the tasks that reached it, so a test can wait until n threads
 * are busy. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool open;
    int started;
} tp_gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0};

static void tp_gate_open(void)
{
    pthread_mutex_lock(&tp_gate.mu);
    tp_gate.open = true;
    pthread_cond_broadcast(&tp_gate.cv);
    pthread_mutex_unlock(&tp_gate.mu);
}

static void tp_gate_wait_started(int n)
{
    pthread_mutex_lock(&tp_gate.mu);
    while (tp_gate.started < n)
        pthread_cond_wait(&tp_gate.cv, &tp_gate.mu);
    pthread_mutex_unlock(&tp_gate.mu);
}

static int tp_gate_started(void)
{
    pthread_mutex_lock(&tp_gate.mu);
    int n = tp_gate.started;
    pthread_mutex_unlock(&tp_gate.mu);
    return n;
}

/* ------------------------------------------------------------- tasks */

static int tp_square(const msgpack_object *args, msgpack_packer *out)
{
    int64_t n;
    if (cf_arg_i64(args, 0, &n) < 0)
        return cf_task_fail("tp_square: expected an integer");
    return msgpack_pack_int64(out, n * n);
}
CF_TASK(tp_square);

/* Sum of squares over [lo, hi). */
static int tp_sum_squares(const msgpack_object *args, msgpack_packer *out)
{
    int64_t lo, hi, sum = 0;
    if (cf_arg_i64(args, 0, &lo) < 0 || cf_arg_i64(args, 1, &hi) < 0)
        return cf_task_fail("tp_sum_squares: expected two integers");
    for (int64_t i = lo; i < hi; i++)
        sum += i * i;
    return msgpack_pack_int64(out, sum);
}
CF_TASK(tp_sum_squares);

/* Blocks on the gate, then returns its argument. */
static int tp_blocker(const msgpack_object *args, msgpack_packer *out)
{
    int64_t n = 0;
    (void)cf_arg_i64(args, 0, &n);
    pthread_mutex_lock(&tp_gate.mu);
    tp_gate.started++;
    pthread_cond_broadcast(&tp_gate.cv);
    while (!tp_gate.open)
        pthread_cond_wait(&tp_gate.cv, &tp_gate.mu);
    pthread_mutex_unlock(&tp_gate.mu);
    return msgpack_pack_int64(out, n);
}
CF_TASK(tp_blocker);

static int tp_tid(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    return msgpack_pack_int64(out, (int64_t)gettid());
}
CF_TASK(tp_tid);

/* Blocks on the gate, then returns its thread id. */
static int tp_tid_blocker(const msgpack_object *args, msgpack_packer *out)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    tp_blocker(args, &pk); /* its value is not ours */
    msgpack_sbuffer_destroy(&sb);
    return msgpack_pack_int64(out, (int64_t)gettid());
}
CF_TASK(tp_tid_blocker);

static int tp_thread_name(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    char name[16] = "";
    if (pthread_getname_np(pthread_self(), name, sizeof(name)) != 0)
        return cf_task_fail("pthread_getname_np failed");
    return msgpack_pack_str_with_body(out, name, strlen(name));
}
CF_TASK(tp_thread_name);

static int tp_fail(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    (void)out;
    return cf_task_fail("tp_fail says no: %d", 7);
}
CF_TASK(tp_fail);

static int tp_negative(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    (void)out;
    return -ERANGE;
}
CF_TASK(tp_negative);

/* Registered at run time by a test, after its pool exists. */
static int tp_late(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    return msgpack_pack_nil(out);
}

static int tp_two_values(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    msgpack_pack_int(out, 1);
    return msgpack_pack_int(out, 2);
}
CF_TASK(tp_two_values);

static int tp_echo(const msgpack_object *args, msgpack_packer *out)
{
    const msgpack_object *o;
    if (cf_arg(args, 0, &o) < 0)
        return cf_task_fail("tp_echo: expected one argument");
    return msgpack_pack_object(out, *o);
}
CF_TASK(tp_echo);

static _Atomic int tp_counter;

static int tp_count(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    return msgpack_pack_int(out, atomic_fetch_add(&tp_counter, 1) + 1);
}
CF_TASK(tp_count);

/* The initializer stores its argument where the thread's tasks see it. */
static _Thread_local int64_t tp_init_value = -1;
static _Atomic int tp_init_calls;

static int tp_init(const msgpack_object *args, msgpack_packer *out)
{
    if (cf_arg_i64(args, 0, &tp_init_value) < 0)
        return cf_task_fail("tp_init: expected an integer");
    atomic_fetch_add(&tp_init_calls, 1);
    return msgpack_pack_nil(out);
}
CF_TASK(tp_init);

static int tp_init_value_task(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    return msgpack_pack_int64(out, tp_init_value);
}
CF_TASK(tp_init_value_task);

static int tp_init_fail(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    (void)out;
    atomic_fetch_add(&tp_init_calls, 1);
    return cf_task_fail("tp_init_fail refuses");
}
CF_TASK(tp_init_fail);

/* Shuts down the pool it runs on: the pool is in tp_self. */
static cf_executor *_Atomic tp_self;

static int tp_shutdown_self(const msgpack_object *args, msgpack_packer *out)
{
    bool wait = true;
    (void)cf_arg_bool(args, 0, &wait);
    return msgpack_pack_int(out, cf_executor_shutdown(atomic_load(&tp_self), wait, false));
}
CF_TASK(tp_shutdown_self);

/* ---------------------------------------------------------- helpers */

static cf_executor *tp_pool(int workers)
{
    cf_executor *ex = NULL;
    cf_thread_pool_options o = {.max_workers = workers};
    cr_assert_eq(cf_thread_pool_create(&ex, &o), 0);
    return ex;
}

static int64_t tp_result(cf_future *f)
{
    int64_t v = 0;
    int rc = cf_future_result_i64(f, CF_FOREVER, &v);
    cr_assert_eq(rc, 0, "result: %s", cf_strerror(rc));
    return v;
}

static size_t tp_distinct(const int64_t *v, size_t n)
{
    size_t d = 0;
    for (size_t i = 0; i < n; i++) {
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = v[j] == v[i];
        d += !seen;
    }
    return d;
}

static void tp_release_all(cf_future **fs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cf_future_release(fs[i]);
}

/* --------------------------------------------------------- creation */

Test(th_thread_pool_create, invalid_options, .timeout = 20)
{
    cf_executor *ex = NULL;
    cr_assert_eq(cf_thread_pool_create(NULL, NULL), -EINVAL);
    cf_thread_pool_options o = {.max_workers = -1}; /* 0 is the default */
    cr_assert_eq(cf_thread_pool_create(&ex, &o), -EINVAL);
    o.max_workers = 4097;
    cr_assert_eq(cf_thread_pool_create(&ex, &o), -EINVAL);
    o = (cf_thread_pool_options){.max_workers = 2, .initializer = "tp_no_such_task"};
    cr_assert_eq(cf_thread_pool_create(&ex, &o), CF_ENOTASK);
    o.initializer = "";
    cr_assert_eq(cf_thread_pool_create(&ex, &o), -EINVAL);
    static const unsigned char truncated[] = {0x92, 0x01}; /* array of 2, one item */
    o = (cf_thread_pool_options){.max_workers = 2,
                                 .initializer = "tp_init",
                                 .initargs = truncated,
                                 .initargs_len = sizeof(truncated)};
    cr_assert_eq(cf_thread_pool_create(&ex, &o), -EINVAL);
    o.initargs = NULL;
    cr_assert_eq(cf_thread_pool_create(&ex, &o), -EINVAL);
    cr_assert_null(ex);
}

Test(th_thread_pool_create, default_workers, .timeout = 20)
{
    cpu_set_t set;
    cr_assert_eq(sched_getaffinity(0, sizeof(set), &set), 0);
    int expect = CPU_COUNT(&set) + 4;
    if (expect > 32)
        expect = 32;
    cr_assert_eq(cf_thread_pool_default_workers(), expect);
    cf_executor *ex;
    cr_assert_eq(cf_thread_pool_create(&ex, NULL), 0);
    cr_assert_eq(cf_executor_workers(ex), expect);
    cf_executor_release(ex);

    ex = tp_pool(3);
    cr_assert_eq(cf_executor_workers(ex), 3);
    cf_executor_release(ex);
}

Test(th_thread_pool_create, release_unused_pool, .timeout = 20)
{
    cf_executor *ex = tp_pool(4); /* no thread ever started */
    cr_assert_eq(cf_executor_shutdown(ex, CF_WAIT, false), 0);
    cf_executor_release(ex);
}

/* ----------------------------------------------------------- submit */

Test(th_thread_pool_submit, submit_forms, .timeout = 20)
{
    cf_executor *ex = tp_pool(2);
    cf_future *f1, *f2, *f3;
    cr_assert_eq(cf_submit(ex, tp_square, &f1, "i", (int64_t)7), 0);
    cr_assert_eq(cf_submit_named(ex, "tp_sum_squares", 1.0, &f2, "ii", (int64_t)1, (int64_t)4), 0);
    static const unsigned char raw[] = {0x91, 0xcd, 0x01, 0x00}; /* [256] */
    cr_assert_eq(cf_submit_raw(ex, "tp_square", CF_FOREVER, &f3, raw, sizeof(raw)), 0);
    cr_assert_eq(tp_result(f1), 49);
    cr_assert_eq(tp_result(f2), 1 + 4 + 9);
    cr_assert_eq(tp_result(f3), 65536);
    cr_assert(cf_future_done(f1));
    cr_assert_not(cf_future_running(f1));
    cr_assert_not(cf_future_cancelled(f1));
    tp_release_all((cf_future *[]){f1, f2, f3}, 3);
    cf_executor_release(ex);
}

Test(th_thread_pool_submit, strings_and_large_values, .timeout = 20)
{
    cf_executor *ex = tp_pool(2);
    size_t n = 1u << 20;
    char *big = malloc(n);
    cr_assert_not_null(big);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)('a' + i % 26);
    cf_future *f, *g;
    cr_assert_eq(cf_submit(ex, tp_echo, &f, "S", big, n), 0);
    cr_assert_eq(cf_submit(ex, tp_echo, &g, "s", "héllo"), 0);
    const char *s;
    size_t len;
    cr_assert_eq(cf_future_result_str(f, CF_FOREVER, &s, &len), 0);
    cr_assert_eq(len, n);
    cr_assert_eq(memcmp(s, big, n), 0);
    cr_assert_eq(cf_future_result_str(g, CF_FOREVER, &s, &len), 0);
    cr_assert_eq(len, strlen("héllo"));
    cr_assert_eq(memcmp(s, "héllo", len), 0);
    free(big);
    tp_release_all((cf_future *[]){f, g}, 2);
    cf_executor_release(ex);
}

Test(th_thread_pool_submit, task_failures, .timeout = 20)
{
    cf_executor *ex = tp_pool(2);
    cf_future *f[4];
    cr_assert_eq(cf_submit(ex, tp_fail, &f[0], ""), 0);
    cr_assert_eq(cf_submit(ex, tp_negative, &f[1], ""), 0);
    cr_assert_eq(cf_submit(ex, tp_two_values, &f[2], ""), 0);
    cr_assert_eq(cf_submit_named(ex, "tp_not_registered", CF_FOREVER, &f[3], ""), CF_ENOTASK);
    cr_assert_eq(cf_task_register("tp_late", tp_late), 0);
    cr_assert_eq(cf_submit_named(ex, "tp_late", CF_FOREVER, &f[3], ""), 0);
    cr_assert_eq(cf_future_result(f[0], CF_FOREVER, NULL), CF_ETASK);
    cr_assert_str_eq(cf_future_error_message(f[0]), "tp_fail says no: 7");
    cr_assert_eq(cf_future_error(f[1], CF_FOREVER), CF_ETASK);
    cr_assert_str_eq(cf_future_error_message(f[1]), "task tp_negative returned -34");
    cr_assert_eq(cf_future_error(f[2], CF_FOREVER), CF_ETASK);
    cr_assert_not_null(strstr(cf_future_error_message(f[2]), "exactly one"));
    /* A thread pool runs in this process: what the parent knows, it runs. */
    cr_assert_eq(cf_future_error(f[3], CF_FOREVER), 0, "%s", cf_future_error_message(f[3]));
    tp_release_all(f, 4);
    cf_executor_release(ex);
}

Test(th_thread_pool_submit, invalid_arguments, .timeout = 20)
{
    cf_executor *ex = tp_pool(1);
    cf_future *f = NULL;
    cr_assert_eq(cf_submit(NULL, tp_square, &f, "i", (int64_t)1), -EINVAL);
    cr_assert_eq(cf_submit(ex, NULL, &f, "i", (int64_t)1), -EINVAL);
    cr_assert_eq(cf_submit(ex, tp_square, NULL, "i", (int64_t)1), -EINVAL);
    cr_assert_eq(cf_submit(ex, tp_square, &f, "q"), CF_EFORMAT);
    static const unsigned char bad[] = {0x92, 0x01};
    cr_assert_eq(cf_submit_raw(ex, "tp_square", 0, &f, bad, sizeof(bad)), CF_EPROTO);
    cr_assert_eq(cf_submit_named(ex, "", 0, &f, ""), -EINVAL);
    cr_assert_null(f);
    cr_assert_eq(cf_executor_shutdown(NULL, CF_WAIT, false), -EINVAL);
    cr_assert_eq(cf_executor_workers(NULL), -EINVAL);
    cf_executor_release(ex);
}

/* 4 threads submit at once: every result arrives, exactly once. */
struct tp_submitter {
    cf_executor *ex;
    int64_t base;
    int64_t sum;
    int rc;
};

static void *tp_submit_many(void *arg)
{
    struct tp_submitter *s = arg;
    cf_future *f[100];
    for (int i = 0; i < 100; i++)
        if ((s->rc = cf_submit(s->ex, tp_square, &f[i], "i", s->base + i)) < 0)
            return NULL;
    for (int i = 0; i < 100; i++) {
        int64_t v = 0;
        if ((s->rc = cf_future_result_i64(f[i], CF_FOREVER, &v)) == 0)
            s->sum += v;
        cf_future_release(f[i]);
    }
    return NULL;
}

Test(th_thread_pool_submit, concurrent_submitters, .timeout = 20)
{
    cf_executor *ex = tp_pool(4);
    struct tp_submitter s[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        s[i] = (struct tp_submitter){.ex = ex, .base = 1000 * i};
        cr_assert_eq(pthread_create(&t[i], NULL, tp_submit_many, &s[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(s[i].rc, 0);
        int64_t expect = 0;
        for (int64_t k = 0; k < 100; k++)
            expect += (s[i].base + k) * (s[i].base + k);
        cr_assert_eq(s[i].sum, expect);
    }
    cf_executor_release(ex);
}

/* ---------------------------------------------------------- threads */

Test(th_thread_pool_threads, idle_thread_reused, .timeout = 20)
{
    cf_executor *ex = tp_pool(2);
    int64_t tids[30];
    for (int i = 0; i < 30; i++) {
        cf_future *f;
        cr_assert_eq(cf_submit(ex, tp_tid, &f, ""), 0);
        tids[i] = tp_result(f);
        cf_future_release(f);
    }
    /* Each submit found a thread free again, or started the second one:
     * the previous task's thread counts as free only once its callbacks
     * have run (thread_pool.h), which a submit may race; with room for 2,
     * 30 sequential tasks still share at most 2 threads. */
    cr_assert_leq(tp_distinct(tids, 30), 2);
    cr_assert_neq(tids[0], (int64_t)gettid());
    cf_executor_release(ex);
}

Test(th_thread_pool_threads, no_more_threads_than_asked, .timeout = 20)
{
    cf_executor *ex = tp_pool(3);
    cf_future *f[40];
    for (int i = 0; i < 40; i++)
        cr_assert_eq(cf_submit(ex, tp_tid_blocker, &f[i], "i", (int64_t)i), 0);
    tp_gate_wait_started(3); /* three threads, each holding one task */
    tp_gate_open();
    int64_t tids[40];
    for (int i = 0; i < 40; i++)
        tids[i] = tp_result(f[i]);
    cr_assert_eq(tp_distinct(tids, 40), 3);
    tp_release_all(f, 40);
    cf_executor_release(ex);
}

Test(th_thread_pool_threads, thread_name_prefix, .timeout = 20)
{
    cf_executor *ex;
    cf_thread_pool_options o = {.max_workers = 2, .thread_name_prefix = "tpname"};
    cr_assert_eq(cf_thread_pool_create(&ex, &o), 0);
    cf_future *b, *f;
    /* The first thread holds the blocker, so the second task starts a
     * second thread: names tpname_0 and tpname_1. */
    cr_assert_eq(cf_submit(ex, tp_blocker, &b, "i", (int64_t)0), 0);
    tp_gate_wait_started(1);
    cr_assert_eq(cf_submit(ex, tp_thread_name, &f, ""), 0);
    const char *s;
    size_t len;
    cr_assert_eq(cf_future_result_str(f, CF_FOREVER, &s, &len), 0);
    cr_assert_eq(len, strlen("tpname_1"));
    cr_assert_eq(memcmp(s, "tpname_1", len), 0);
    tp_gate_open();
    tp_result(b);
    tp_release_all((cf_future *[]){b, f}, 2);
    cf_executor_release(ex);
}

Test(th_thread_pool_threads, default_and_long_names, .timeout = 20)
{
    cf_executor *ex = tp_pool(1);
    cf_future *f;
    const char *s;
    size_t len;
    cr_assert_eq(cf_submit(ex, tp_thread_name, &f, ""), 0);
    cr_assert_eq(cf_future_result_str(f, CF_FOREVER, &s, &len), 0);
    cr_assert_eq(len, strlen("cf-thread_0"));
    cr_assert_eq(memcmp(s, "cf-thread_0", len), 0);
    cf_future_release(f);
    cf_executor_release(ex);

    cf_thread_pool_options o = {.max_workers = 1,
                                .thread_name_prefix = "a-very-long-thread-prefix"};
    cr_assert_eq(cf_thread_pool_create(&ex, &o), 0);
    cr_assert_eq(cf_submit(ex, tp_thread_name, &f, ""), 0);
    cr_assert_eq(cf_future_result_str(f, CF_FOREVER, &s, &len), 0);
    cr_assert_eq(len, 15); /* the kernel keeps 15 bytes */
    cr_assert_eq(memcmp(s, "a-very-long-thr", len), 0);
    cf_future_release(f);
    cf_executor_release(ex);
}

/* ------------------------------------------------------ initializer */

Test(th_thread_pool_init, runs_once_per_thread, .timeout = 20)
{
    unsigned char args[] = {0x91, 0x2a}; /* [42] */
    cf_thread_pool_options o = {
        .max_workers = 3, .initializer = "tp_init", .initargs = args, .initargs_len = sizeof(args)};
    cf_executor *ex;
    cr_assert_eq(cf_thread_pool_create(&ex, &o), 0);
    args[1] = 0x00;                               /* the pool copied them */
    cr_assert_eq(atomic_load(&tp_init_calls), 0); /* threads start lazily */
    cf_future *b[3], *f;
    for (int i = 0; i < 3; i++)
        cr_assert_eq(cf_submit(ex, tp_blocker, &b[i], "i", (int64_t)i), 0);
    tp_gate_wait_started(3);
    cr_assert_eq(atomic_load(&tp_init_calls), 3);
    tp_gate_open();
    for (int i = 0; i < 3; i++)
        cr_assert_eq(tp_result(b[i]), i);
    cr_assert_eq(cf_submit(ex, tp_init_value_task, &f, ""), 0);
    cr_assert_eq(tp_result(f), 42);
    cr_assert_eq(atomic_load(&tp_init_calls), 3);
    tp_release_all(b, 3);
    cf_future_release(f);
    cf_executor_release(ex);
}

Test(th_thread_pool_init, failure_breaks_pool, .timeout = 20)
{
    cf_thread_pool_options o = {.max_workers = 2, .initializer = "tp_init_fail"};
    cf_executor *ex;
    cr_assert_eq(cf_thread_pool_create(&ex, &o), 0);
    cf_future *f[5];
    int submitted = 0;
    for (int i = 0; i < 5; i++) {
        int rc = cf_submit(ex, tp_square, &f[i], "i", (int64_t)i);
        if (rc == CF_EBROKEN)
            break; /* the pool broke while we were still submitting */
        cr_assert_eq(rc, 0);
        submitted++;
    }
    cr_assert_geq(submitted, 1);
    for (int i = 0; i < submitted; i++) {
        cr_assert_eq(cf_future_error(f[i], CF_FOREVER), CF_EBROKEN);
        const char *m = cf_future_error_message(f[i]);
        cr_assert_not_null(strstr(m, "tp_init_fail"), "message: %s", m);
        cr_assert_not_null(strstr(m, "refuses"), "message: %s", m);
    }
    cf_future *g = NULL;
    cr_assert_eq(cf_submit(ex, tp_square, &g, "i", (int64_t)1), CF_EBROKEN);
    cr_assert_null(g);
    cr_assert_geq(atomic_load(&tp_init_calls), 1);
    tp_release_all(f, (size_t)submitted);
    cf_executor_release(ex);
}

/* --------------------------------------------------- map, wait, as_completed */

static int tp_map_input(void *arg, size_t index, msgpack_packer *pk)
{
    size_t n = *(size_t *)arg;
    if (index >= n)
        return 0;
    return cf_pack_args(pk, "i", (int64_t)index) == 0 ? 1 : -ENOMEM;
}

static void tp_map_check(size_t chunksize, bool unordered)
{
    cf_executor *ex = tp_pool(4);
    size_t n = 500;
    cf_map_options o = {.timeout = CF_FOREVER, .chunksize = chunksize, .unordered = unordered};
    cf_map *m;
    cr_assert_eq(cf_map_create(&m, ex, "tp_square", tp_map_input, &n, &o), 0);
    bool *seen = calloc(n, sizeof(*seen));
    cr_assert_not_null(seen);
    size_t index, count = 0;
    const msgpack_object *r;
    int rc;
    while ((rc = cf_map_next(m, &index, &r)) == 0) {
        if (!unordered)
            cr_assert_eq(index, count);
        cr_assert_lt(index, n);
        cr_assert_not(seen[index]);
        seen[index] = true;
        int64_t v;
        cr_assert_eq(cf_obj_i64(r, &v), 0);
        cr_assert_eq(v, (int64_t)(index * index));
        count++;
    }
    cr_assert_eq(rc, CF_EEMPTY);
    cr_assert_eq(count, n);
    free(seen);
    cf_map_release(m);
    cf_executor_release(ex);
}

Test(th_thread_pool_map, ordered, .timeout = 20)
{
    tp_map_check(1, false);
}
Test(th_thread_pool_map, ordered_chunked, .timeout = 20)
{
    tp_map_check(7, false);
}
Test(th_thread_pool_map, automatic_chunks, .timeout = 20)
{
    tp_map_check(0, false);
}
Test(th_thread_pool_map, unordered, .timeout = 20)
{
    tp_map_check(3, true);
}

Test(th_thread_pool_map, failing_items, .timeout = 20)
{
    cf_executor *ex = tp_pool(2);
    size_t n = 5;
    cf_map_options o = {.timeout = CF_FOREVER, .chunksize = 2};
    cf_map *m;
    cr_assert_eq(cf_map_create(&m, ex, "tp_fail", tp_map_input, &n, &o), 0);
    size_t index, count = 0;
    const msgpack_object *r;
    int rc;
    while ((rc = cf_map_next(m, &index, &r)) != CF_EEMPTY) {
        cr_assert_eq(rc, CF_ETASK);
        cr_assert_eq(index, count);
        cr_assert_not_null(strstr(cf_map_error_message(m), "tp_fail says no"));
        count++;
    }
    cr_assert_eq(count, n);
    cf_map_release(m);
    cf_executor_release(ex);
}

Test(th_thread_pool_wait, all_and_first_completed, .timeout = 20)
{
    cf_executor *ex = tp_pool(2);
    cf_future *f[3];
    cr_assert_eq(cf_submit(ex, tp_blocker, &f[0], "i", (int64_t)1), 0);
    cr_assert_eq(cf_submit(ex, tp_square, &f[1], "i", (int64_t)3), 0);
    cr_assert_eq(cf_submit(ex, tp_fail, &f[2], ""), 0);
    bool done[3] = {false};
    /* The blocker cannot finish: the first two complete. */
    cr_assert_geq(cf_wait(&f[1], 2, CF_ALL_COMPLETED, CF_FOREVER, NULL), 2);
    cr_assert_eq(cf_wait(f, 3, CF_FIRST_EXCEPTION, CF_FOREVER, done), 2);
    cr_assert_not(done[0]);
    cr_assert(done[2]);
    cr_assert_eq(cf_wait(f, 3, CF_ALL_COMPLETED, 0.05, done), 2); /* times out */
    cr_assert_not(done[0]);
    cr_assert_geq(cf_wait(f, 3, CF_FIRST_COMPLETED, CF_FOREVER, NULL), 1);
    tp_gate_open();
    cr_assert_eq(cf_wait(f, 3, CF_ALL_COMPLETED, CF_FOREVER, done), 3);
    cr_assert(done[0] && done[1] && done[2]);
    cr_assert_eq(tp_result(f[0]), 1);
    tp_release_all(f, 3);
    cf_executor_release(ex);
}

Test(th_thread_pool_wait, as_completed_yields_each_once, .timeout = 20)
{
    cf_executor *ex = tp_pool(4);
    cf_future *f[20];
    for (int i = 0; i < 20; i++)
        cr_assert_eq(cf_submit(ex, tp_square, &f[i], "i", (int64_t)i), 0);
    cf_as_completed *it;
    cr_assert_eq(cf_as_completed_create(&it, f, 20, CF_FOREVER), 0);
    bool seen[20] = {false};
    cf_future *g;
    int n = 0, rc;
    while ((rc = cf_as_completed_next(it, &g)) == 0) {
        int k = -1;
        for (int i = 0; i < 20; i++)
            if (f[i] == g)
                k = i;
        cr_assert_geq(k, 0);
        cr_assert_not(seen[k]);
        seen[k] = true;
        cr_assert_eq(tp_result(g), k * k);
        n++;
    }
    cr_assert_eq(rc, CF_EEMPTY);
    cr_assert_eq(n, 20);
    cf_as_completed_release(it);
    tp_release_all(f, 20);
    cf_executor_release(ex);
}

Test(th_thread_pool_wait, as_completed_times_out, .timeout = 20)
{
    cf_executor *ex = tp_pool(1);
    cf_future *f;
    cr_assert_eq(cf_submit(ex, tp_blocker, &f, "i", (int64_t)0), 0);
    cf_as_completed *it;
    cr_assert_eq(cf_as_completed_create(&it, &f, 1, 0.05), 0);
    cf_future *g;
    cr_assert_eq(cf_as_completed_next(it, &g), -ETIMEDOUT);
    cr_assert_not_null(strstr(cf_as_completed_message(it), "1 (of 1)"));
    cf_as_completed_release(it);
    tp_gate_open();
    cf_future_release(f);
    cf_executor_release(ex);
}

/* -------------------------------------------------------- callbacks */

struct tp_cb {
    pthread_mutex_t mu;
    int calls;
    int64_t value;
    int error;
    pid_t tid;
};

static int tp_record_cb(cf_future *f, void *arg)
{
    struct tp_cb *c = arg;
    int64_t v = 0;
    int rc = cf_future_result_i64(f, 0, &v);
    pthread_mutex_lock(&c->mu);
    c->calls++;
    c->value = v;
    c->error = rc;
    c->tid = gettid();
    pthread_mutex_unlock(&c->mu);
    return 0;
}

Test(th_thread_pool_callbacks, run_on_pool_thread_and_after_done, .timeout = 20)
{
    cf_executor *ex = tp_pool(1);
    struct tp_cb before = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct tp_cb after = {.mu = PTHREAD_MUTEX_INITIALIZER};
    cf_future *b, *f;
    cr_assert_eq(cf_submit(ex, tp_blocker, &b, "i", (int64_t)5), 0);
    cr_assert_eq(cf_future_add_done_callback(b, tp_record_cb, &before), 0);
    tp_gate_wait_started(1);
    cr_assert_eq(cf_submit(ex, tp_tid, &f, ""), 0); /* same, only thread */
    tp_gate_open();
    int64_t pool_tid = tp_result(f);
    tp_result(b);
    cr_assert_eq(cf_future_add_done_callback(b, tp_record_cb, &after), 0);
    /* cf_executor_release joins the thread: the callback has run. */
    cf_executor_release(ex);
    cr_assert_eq(before.calls, 1);
    cr_assert_eq(before.value, 5);
    cr_assert_eq(before.tid, (pid_t)pool_tid);
    cr_assert_eq(after.calls, 1);
    cr_assert_eq(after.value, 5);
    cr_assert_eq(after.tid, gettid());
    tp_release_all((cf_future *[]){b, f}, 2);
}

Test(th_thread_pool_callbacks, cancelled_future_runs_callback, .timeout = 20)
{
    cf_executor *ex = tp_pool(1);
    struct tp_cb c = {.mu = PTHREAD_MUTEX_INITIALIZER};
    cf_future *b, *f;
    cr_assert_eq(cf_submit(ex, tp_blocker, &b, "i", (int64_t)0), 0);
    tp_gate_wait_started(1);
    cr_assert_eq(cf_submit(ex, tp_square, &f, "i", (int64_t)2), 0);
    cr_assert_eq(cf_future_add_done_callback(f, tp_record_cb, &c), 0);
    cr_assert(cf_future_cancel(f));
    cr_assert_eq(c.calls, 1);
    cr_assert_eq(c.error, CF_ECANCELLED);
    tp_gate_open();
    cf_executor_release(ex);
    cr_assert_eq(c.calls, 1); /* the thread dropped it without a second call */
    tp_release_all((cf_future *[]){b, f}, 2);
}

static int tp_shutdown_cb(cf_future *f, void *arg)
{
    (void)f;
    int *rc = arg;
    *rc = cf_executor_shutdown(atomic_load(&tp_self), CF_WAIT, false);
    return 0;
}

Test(th_thread_pool_callbacks, waiting_shutdown_from_callback_deadlocks, .timeout = 20)
{
    cf_executor *ex = tp_pool(1);
    atomic_store(&tp_self, ex);
    int rc = 1;
    cf_future *b;
    cr_assert_eq(cf_submit(ex, tp_blocker, &b, "i", (int64_t)0), 0);
    cr_assert_eq(cf_future_add_done_callback(b, tp_shutdown_cb, &rc), 0);
    tp_gate_open();
    cr_assert_eq(cf_executor_shutdown(ex, CF_WAIT, false), 0);
    cr_assert_eq(rc, -EDEADLK);
    cf_future_release(b);
    cf_executor_release(ex);
}

/* ---------------------------------------------------------- cancel */

Test(th_thread_pool_cancel, pending_yes_running_no, .timeout = 20)
{
    cf_executor *ex = tp_pool(1);
    cf_future *b, *f, *g;
    cr_assert_eq(cf_submit(ex, tp_blocker, &b, "i", (int64_t)9), 0);
    tp_gate_wait_started(1);
    cr_assert_eq(cf_submit(ex, tp_square, &f, "i", (int64_t)3), 0);
    cr_assert_eq(cf_submit(ex, tp_square, &g, "i", (int64_t)4), 0);
    cr_assert(cf_future_running(b));
    cr_assert_not(cf_future_running(f));
    cr_assert_not(cf_future_cancel(b));
    cr_assert(cf_future_cancel(f));
    cr_assert(cf_future_cancel(f)); /* already cancelled: still true */
    cr_assert(cf_future_cancelled(f));
    cr_assert(cf_future_done(f));
    cr_assert_eq(cf_future_result(f, 0, NULL), CF_ECANCELLED);
    tp_gate_open();
    cr_assert_eq(tp_result(b), 9);
    cr_assert_eq(tp_result(g), 16);
    cr_assert_not(cf_future_cancel(g)); /* finished */
    cr_assert_not(cf_future_cancelled(b));
    tp_release_all((cf_future *[]){b, f, g}, 3);
    cf_executor_release(ex);
}

/* -------------------------------------------------------- shutdown */

Test(th_thread_pool_shutdown, submit_after_shutdown, .timeout = 20)
{
    cf_executor *ex = tp_pool(2);
    cf_future *f = NULL;
    cr_assert_eq(cf_executor_shutdown(ex, CF_WAIT, false), 0);
    cr_assert_eq(cf_executor_shutdown(ex, CF_WAIT, false), 0); /* idempotent */
    cr_assert_eq(cf_executor_shutdown(ex, CF_NOWAIT, true), 0);
    cr_assert_eq(cf_submit(ex, tp_square, &f, "i", (int64_t)2), CF_ESHUTDOWN);
    cr_assert_null(f);
    cf_executor_release(ex);
}

Test(th_thread_pool_shutdown, wait_runs_every_queued_task, .timeout = 20)
{
    cf_executor *ex = tp_pool(3);
    atomic_store(&tp_counter, 0);
    cf_future *f[50];
    for (int i = 0; i < 50; i++)
        cr_assert_eq(cf_submit(ex, tp_count, &f[i], ""), 0);
    cr_assert_eq(cf_executor_shutdown(ex, CF_WAIT, false), 0);
    cr_assert_eq(atomic_load(&tp_counter), 50);
    for (int i = 0; i < 50; i++)
        cr_assert(cf_future_done(f[i]));
    tp_release_all(f, 50);
    cf_executor_release(ex);
}

Test(th_thread_pool_shutdown, nowait_then_release, .timeout = 20)
{
    cf_executor *ex = tp_pool(1);
    cf_future *b, *f;
    cr_assert_eq(cf_submit(ex, tp_blocker, &b, "i", (int64_t)1), 0);
    cr_assert_eq(cf_submit(ex, tp_square, &f, "i", (int64_t)6), 0);
    cr_assert_eq(cf_executor_shutdown(ex, CF_NOWAIT, false), 0);
    cr_assert_not(cf_future_done(b)); /* still blocked on the gate */
    tp_gate_open();
    cf_executor_release(ex); /* joins */
    cr_assert_eq(tp_result(b), 1);
    cr_assert_eq(tp_result(f), 36); /* queued tasks still ran */
    tp_release_all((cf_future *[]){b, f}, 2);
}

Test(th_thread_pool_shutdown, cancel_futures, .timeout = 20)
{
    cf_executor *ex = tp_pool(1);
    cf_future *b, *f[10];
    cr_assert_eq(cf_submit(ex, tp_blocker, &b, "i", (int64_t)3), 0);
    tp_gate_wait_started(1);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(cf_submit(ex, tp_square, &f[i], "i", (int64_t)i), 0);
    cr_assert_eq(cf_executor_shutdown(ex, CF_NOWAIT, true), 0);
    for (int i = 0; i < 10; i++) {
        cr_assert(cf_future_cancelled(f[i]));
        cr_assert_eq(cf_future_error(f[i], 0), CF_ECANCELLED);
    }
    cr_assert_not(cf_future_cancelled(b));
    tp_gate_open();
    cr_assert_eq(cf_executor_shutdown(ex, CF_WAIT, true), 0);
    cr_assert_eq(tp_result(b), 3);
    tp_release_all(f, 10);
    cf_future_release(b);
    cf_executor_release(ex);
}

Test(th_thread_pool_shutdown, waiting_shutdown_from_task_deadlocks, .timeout = 20)
{
    cf_executor *ex = tp_pool(2);
    atomic_store(&tp_self, ex);
    cf_future *f, *g;
    cr_assert_eq(cf_submit(ex, tp_shutdown_self, &f, "?", true), 0);
    cr_assert_eq(tp_result(f), -EDEADLK);
    /* It still shut the pool down. */
    cr_assert_eq(cf_submit(ex, tp_square, &g, "i", (int64_t)1), CF_ESHUTDOWN);
    cf_future_release(f);
    cf_executor_release(ex);
}

Test(th_thread_pool_shutdown, nowait_shutdown_from_task, .timeout = 20)
{
    cf_executor *ex = tp_pool(2);
    atomic_store(&tp_self, ex);
    cf_future *f;
    cr_assert_eq(cf_submit(ex, tp_shutdown_self, &f, "?", false), 0);
    cr_assert_eq(tp_result(f), 0);
    cf_future_release(f);
    cf_executor_release(ex);
}

struct tp_blocked_submit {
    cf_executor *ex;
    int rc;
};

static void *tp_submit_forever(void *arg)
{
    struct tp_blocked_submit *s = arg;
    cf_future *f = NULL;
    s->rc = cf_submit_named(s->ex, "tp_square", CF_FOREVER, &f, "i", (int64_t)1);
    cf_future_release(f);
    return NULL;
}

Test(th_thread_pool_shutdown, back_pressure, .timeout = 20)
{
    cf_executor *ex;
    cf_thread_pool_options o = {.max_workers = 1, .max_pending = 2};
    cr_assert_eq(cf_thread_pool_create(&ex, &o), 0);
    cf_future *b, *q[2], *f = NULL;
    cr_assert_eq(cf_submit(ex, tp_blocker, &b, "i", (int64_t)0), 0);
    tp_gate_wait_started(1); /* the thread took it: the queue is empty */
    cr_assert_eq(cf_submit_named(ex, "tp_square", 0, &q[0], "i", (int64_t)2), 0);
    cr_assert_eq(cf_submit_named(ex, "tp_square", 0, &q[1], "i", (int64_t)3), 0);
    cr_assert_eq(cf_submit_named(ex, "tp_square", 0, &f, "i", (int64_t)4), CF_EFULL);
    cr_assert_eq(cf_submit_named(ex, "tp_square", 0.05, &f, "i", (int64_t)4), -ETIMEDOUT);
    cr_assert_null(f);
    /* A submitter blocked for room is woken by shutdown. */
    struct tp_blocked_submit s = {.ex = ex, .rc = 1};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, tp_submit_forever, &s), 0);
    cr_assert_eq(cf_executor_shutdown(ex, CF_NOWAIT, false), 0);
    pthread_join(t, NULL);
    cr_assert_eq(s.rc, CF_ESHUTDOWN);
    cr_assert_eq(tp_gate_started(), 1);
    tp_gate_open();
    cr_assert_eq(tp_result(q[0]), 4);
    cr_assert_eq(tp_result(q[1]), 9);
    tp_release_all((cf_future *[]){b, q[0], q[1]}, 3);
    cf_executor_release(ex);
}

Test(th_thread_pool_shutdown, room_frees_blocked_submit, .timeout = 20)
{
    cf_executor *ex;
    cf_thread_pool_options o = {.max_workers = 1, .max_pending = 1};
    cr_assert_eq(cf_thread_pool_create(&ex, &o), 0);
    cf_future *b, *q, *f;
    cr_assert_eq(cf_submit(ex, tp_blocker, &b, "i", (int64_t)0), 0);
    tp_gate_wait_started(1);
    cr_assert_eq(cf_submit(ex, tp_square, &q, "i", (int64_t)5), 0);
    tp_gate_open(); /* the thread drains the queue: this submit gets room */
    cr_assert_eq(cf_submit_named(ex, "tp_square", CF_FOREVER, &f, "i", (int64_t)6), 0);
    cr_assert_eq(tp_result(f), 36);
    cr_assert_eq(tp_result(q), 25);
    tp_release_all((cf_future *[]){b, q, f}, 3);
    cf_executor_release(ex);
}

/* ------------------------------------ a callback that submits and waits */

struct tp_chain {
    cf_executor *ex;
    _Atomic int64_t got; /* B's result, seen by A's callback */
    _Atomic int done;
};

static int tp_submit_and_wait_cb(cf_future *f, void *arg)
{
    struct tp_chain *c = arg;
    cf_future *b = NULL;
    int64_t v = -1;
    (void)f;
    if (cf_submit(c->ex, tp_square, &b, "i", (int64_t)7) == 0) {
        if (cf_future_result_i64(b, 10, &v) != 0)
            v = -2; /* B queued behind this very callback */
        cf_future_release(b);
    }
    atomic_store(&c->got, v);
    atomic_store(&c->done, 1);
    return 0;
}

/* As Python's ThreadPoolExecutor: the thread running A's callbacks is not
 * free, so B, submitted by one of them, gets a second thread. */
Test(th_thread_pool_threads, callback_submitting_gets_another_thread, .timeout = 30)
{
    struct tp_chain c = {.ex = tp_pool(2)};
    cf_future *a;
    cr_assert_eq(cf_submit(c.ex, tp_blocker, &a, "i", (int64_t)1), 0);
    tp_gate_wait_started(1);
    cr_assert_eq(cf_future_add_done_callback(a, tp_submit_and_wait_cb, &c), 0);
    tp_gate_open();
    while (!atomic_load(&c.done))
        sched_yield();
    cr_assert_eq(atomic_load(&c.got), 49, "B never ran: %lld", (long long)atomic_load(&c.got));
    cf_future_release(a);
    cf_executor_release(c.ex);
}
