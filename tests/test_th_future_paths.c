/* The per-task fast paths of the generic layer, through the thread pool
 * and stand-alone futures: records packed on the stack and kept inside the
 * future up to a size (larger ones allocated apart and dropped when
 * taken), small results kept inside the future, the futex word a waiting
 * thread sleeps on, the lock-free done/cancelled reads, and cf_wait's
 * duplicate removal over many futures.
 *
 * Sizes are swept across the inline limits (executor/future_internal.h)
 * so that both sides of each are run. In the threading binary, so that
 * ThreadSanitizer sees them too. No assertion depends on timing.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cfutures.h>

/* [s] -> s, as packed. */
static int fp_echo(const msgpack_object *args, msgpack_packer *out)
{
    const msgpack_object *o;
    int rc = cf_arg(args, 0, &o);
    return rc < 0 ? rc : msgpack_pack_object(out, *o);
}
CF_TASK(fp_echo);

/* [n] -> a string of n bytes, 'a' + i % 26. */
static int fp_make(const msgpack_object *args, msgpack_packer *out)
{
    int64_t n;
    if (cf_arg_i64(args, 0, &n) < 0 || n < 0 || n > 1 << 20)
        return cf_task_fail("fp_make: bad length");
    char *s = malloc((size_t)n + 1);
    if (!s)
        return -ENOMEM;
    for (int64_t i = 0; i < n; i++)
        s[i] = (char)('a' + i % 26);
    int rc = msgpack_pack_str_with_body(out, s, (size_t)n);
    free(s);
    return rc;
}
CF_TASK(fp_make);

static void fill(char *s, size_t n, char base)
{
    for (size_t i = 0; i < n; i++)
        s[i] = (char)(base + i % 26);
}

static cf_executor *new_pool(int workers)
{
    cf_thread_pool_options o = {.max_workers = workers};
    cf_executor *ex;
    cr_assert_eq(cf_thread_pool_create(&ex, &o), 0);
    return ex;
}

Test(th_future_paths, results_across_inline_limit, .timeout = 30)
{
    cf_executor *ex = new_pool(2);
    enum { MAX = 64 };
    cf_future *fs[MAX + 1];
    for (int64_t n = 0; n <= MAX; n++)
        cr_assert_eq(cf_submit(ex, fp_make, &fs[n], "i", n), 0);
    char want[MAX];
    fill(want, MAX, 'a');
    for (int n = 0; n <= MAX; n++) {
        const char *s;
        size_t len;
        cr_assert_eq(cf_future_result_str(fs[n], CF_FOREVER, &s, &len), 0, "n %d", n);
        cr_assert_eq(len, (size_t)n);
        cr_assert(n == 0 || memcmp(s, want, (size_t)n) == 0, "n %d", n);
        /* A second read returns the same unpacked value. */
        const char *again;
        cr_assert_eq(cf_future_result_str(fs[n], 0, &again, &len), 0);
        cr_assert_eq(again, s);
        cf_future_release(fs[n]);
    }
    cf_executor_release(ex);
}

Test(th_future_paths, records_across_inline_limit, .timeout = 60)
{
    cf_executor *ex = new_pool(2);
    /* Arguments from a few bytes to well past the inline record size,
     * and one far larger (allocated apart, dropped when taken). */
    static char arg[200000];
    fill(arg, sizeof(arg), 'A');
    size_t sizes[400];
    size_t k = 0;
    for (size_t n = 0; n < 320; n++)
        sizes[k++] = n;
    sizes[k++] = 4096;
    sizes[k++] = sizeof(arg);
    cf_future *fs[400];
    for (size_t i = 0; i < k; i++)
        cr_assert_eq(cf_submit(ex, fp_echo, &fs[i], "S", arg, sizes[i]), 0, "size %zu",
                     sizes[i]);
    for (size_t i = 0; i < k; i++) {
        const char *s;
        size_t len;
        cr_assert_eq(cf_future_result_str(fs[i], CF_FOREVER, &s, &len), 0, "size %zu",
                     sizes[i]);
        cr_assert_eq(len, sizes[i]);
        cr_assert(len == 0 || memcmp(s, arg, len) == 0, "size %zu", sizes[i]);
        cf_future_release(fs[i]);
    }
    cf_executor_release(ex);
}

Test(th_future_paths, long_task_name_record, .timeout = 30)
{
    /* A registered name of the longest allowed length takes the record
     * past the inline size on its own. */
    char name[256];
    memset(name, 'n', 255);
    name[255] = '\0';
    cr_assert_eq(cf_task_register(name, fp_echo), 0);
    cf_executor *ex = new_pool(1);
    cf_future *f;
    cr_assert_eq(cf_submit_named(ex, name, CF_FOREVER, &f, "i", (int64_t)41), 0);
    int64_t v;
    cr_assert_eq(cf_future_result_i64(f, CF_FOREVER, &v), 0);
    cr_assert_eq(v, 41);
    cf_future_release(f);
    cf_executor_release(ex);
}

/* ---------------------------------------------- waiting on one future */

struct sleeper {
    cf_future *f;
    int rc;
    int64_t v;
};

static void *sleep_on(void *arg)
{
    struct sleeper *s = arg;
    s->rc = cf_future_result_i64(s->f, CF_FOREVER, &s->v);
    return NULL;
}

static void *sleep_on_error(void *arg)
{
    struct sleeper *s = arg;
    s->rc = cf_future_error(s->f, CF_FOREVER);
    return NULL;
}

Test(th_future_paths, many_sleepers_all_woken, .timeout = 30)
{
    enum { N = 8 };
    cf_future *f;
    cr_assert_eq(cf_future_create(&f), 0);
    pthread_t t[N];
    struct sleeper s[N];
    for (int i = 0; i < N; i++) {
        s[i] = (struct sleeper){.f = f, .rc = 1};
        cr_assert_eq(pthread_create(&t[i], NULL, i % 2 ? sleep_on : sleep_on_error, &s[i]), 0);
    }
    /* Whether each thread sleeps yet or not, completion must reach it. */
    cr_assert_eq(cf_future_set_result(f, "\x07", 1), 0);
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(s[i].rc, 0);
        if (i % 2)
            cr_assert_eq(s[i].v, 7);
    }
    cf_future_release(f);
}

Test(th_future_paths, sleeper_woken_by_cancel, .timeout = 30)
{
    cf_future *f;
    cr_assert_eq(cf_future_create(&f), 0);
    struct sleeper s = {.f = f, .rc = 1};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, sleep_on_error, &s), 0);
    cr_assert(cf_future_cancel(f));
    pthread_join(t, NULL);
    cr_assert_eq(s.rc, CF_ECANCELLED);
    cr_assert(cf_future_done(f));
    cr_assert(cf_future_cancelled(f));
    cf_future_release(f);
}

Test(th_future_paths, timeouts_on_pending, .timeout = 30)
{
    cf_future *f;
    cr_assert_eq(cf_future_create(&f), 0);
    int64_t v;
    cr_assert_eq(cf_future_result_i64(f, 0, &v), -ETIMEDOUT);
    cr_assert_eq(cf_future_error(f, 0.01), -ETIMEDOUT);
    cr_assert_not(cf_future_done(f));
    cr_assert_not(cf_future_cancelled(f));
    /* Still usable after timing out. */
    cr_assert_eq(cf_future_set_error(f, CF_ETASK, "late"), 0);
    cr_assert_eq(cf_future_error(f, 0), CF_ETASK);
    cr_assert_str_eq(cf_future_error_message(f), "late");
    cr_assert(cf_future_done(f));
    cr_assert_not(cf_future_cancelled(f));
    cf_future_release(f);
}

/* A thread that polls cf_future_done sees the outcome as soon as it sees
 * the future done: no lock is taken on that path. */
struct poller {
    cf_future *f;
    atomic_bool go;
    bool ok;
};

static void *poll_done(void *arg)
{
    struct poller *p = arg;
    while (!atomic_load(&p->go))
        ;
    while (!cf_future_done(p->f))
        ;
    int64_t v = 0;
    p->ok = cf_future_result_i64(p->f, 0, &v) == 0 && v == 5 && !cf_future_cancelled(p->f);
    return NULL;
}

Test(th_future_paths, done_poller_sees_result, .timeout = 30)
{
    for (int round = 0; round < 50; round++) {
        struct poller p = {.ok = false};
        cr_assert_eq(cf_future_create(&p.f), 0);
        atomic_init(&p.go, false);
        pthread_t t;
        cr_assert_eq(pthread_create(&t, NULL, poll_done, &p), 0);
        atomic_store(&p.go, true);
        cr_assert_eq(cf_future_set_result(p.f, "\x05", 1), 0);
        pthread_join(t, NULL);
        cr_assert(p.ok, "round %d", round);
        cf_future_release(p.f);
    }
}

/* ------------------------------------------------ cf_wait, many futures */

struct completer {
    cf_future **fs;
    size_t from, to;
    int failures;
};

static void *complete_range(void *arg)
{
    struct completer *c = arg;
    for (size_t i = c->from; i < c->to; i++)
        c->failures += cf_future_set_result(c->fs[i], "\x01", 1) != 0;
    return NULL;
}

Test(th_future_paths, wait_many_with_duplicates, .timeout = 60)
{
    enum { N = 3000 };
    static cf_future *fs[N];
    static cf_future *in[3 * N];
    static bool mask[3 * N];
    for (size_t i = 0; i < N; i++)
        cr_assert_eq(cf_future_create(&fs[i]), 0);
    /* A third done before the wait, one failed among them. */
    for (size_t i = 0; i < N / 3; i++)
        cr_assert_eq(cf_future_set_result(fs[i], "\x01", 1), 0);
    /* Each future three times, the copies far apart and close together. */
    for (size_t i = 0; i < N; i++) {
        in[i] = fs[i];
        in[N + i] = fs[N - 1 - i];
        in[2 * N + i] = fs[i];
    }
    /* Nothing more will complete: a poll counts the done third once. */
    cr_assert_eq(cf_wait(in, 3 * N, CF_ALL_COMPLETED, 0, mask), N / 3);
    for (size_t i = 0; i < 3 * N; i++) {
        cf_future *f = in[i];
        size_t k = (size_t)-1;
        for (size_t j = 0; j < N && k == (size_t)-1; j++)
            if (fs[j] == f)
                k = j;
        cr_assert_eq(mask[i], k < N / 3, "entry %zu", i);
    }
    cr_assert_eq(cf_wait(in, 3 * N, CF_FIRST_COMPLETED, CF_FOREVER, NULL), N / 3);
    /* The rest complete on another thread while this one waits. */
    struct completer c = {fs, N / 3, N, 0};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, complete_range, &c), 0);
    cr_assert_eq(cf_wait(in, 3 * N, CF_ALL_COMPLETED, CF_FOREVER, mask), N);
    pthread_join(t, NULL);
    cr_assert_eq(c.failures, 0);
    for (size_t i = 0; i < 3 * N; i++)
        cr_assert(mask[i]);
    for (size_t i = 0; i < N; i++)
        cf_future_release(fs[i]);
}

Test(th_future_paths, wait_first_exception_many, .timeout = 60)
{
    enum { N = 500 };
    static cf_future *fs[N];
    static cf_future *in[2 * N];
    for (size_t i = 0; i < N; i++) {
        cr_assert_eq(cf_future_create(&fs[i]), 0);
        in[2 * i] = in[2 * i + 1] = fs[i];
    }
    for (size_t i = 0; i < N / 2; i++)
        cr_assert_eq(cf_future_set_result(fs[i], "\x01", 1), 0);
    /* None failed: a poll reports the done half, counted once. */
    cr_assert_eq(cf_wait(in, 2 * N, CF_FIRST_EXCEPTION, 0, NULL), N / 2);
    cr_assert_eq(cf_future_set_error(fs[N - 1], CF_ETASK, "boom"), 0);
    cr_assert_eq(cf_wait(in, 2 * N, CF_FIRST_EXCEPTION, CF_FOREVER, NULL), N / 2 + 1);
    for (size_t i = 0; i < N; i++)
        cf_future_release(fs[i]);
}

Test(th_future_paths, wait_pool_futures_many, .timeout = 60)
{
    enum { N = 2000 };
    cf_executor *ex = new_pool(3);
    static cf_future *fs[N];
    for (int64_t i = 0; i < N; i++)
        cr_assert_eq(cf_submit(ex, fp_echo, &fs[i], "i", i), 0);
    cr_assert_eq(cf_wait(fs, N, CF_ALL_COMPLETED, CF_FOREVER, NULL), N);
    for (int64_t i = 0; i < N; i++) {
        int64_t v;
        cr_assert_eq(cf_future_result_i64(fs[i], 0, &v), 0);
        cr_assert_eq(v, i);
        cf_future_release(fs[i]);
    }
    cf_stats st;
    cr_assert_eq(cf_executor_stats(ex, &st), 0);
    cr_assert_eq(st.submitted, N);
    cr_assert_eq(st.completed, N);
    cf_executor_release(ex);
}
