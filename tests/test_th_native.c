/* Native submit (cf_submit_fn, cf_future_result_ptr/_intptr) and the
 * event-loop handle (cf_executor_loop_fd, cf_future_add_loop_callback,
 * cf_executor_run_loop_callbacks) on the thread pool: results, NULL
 * arguments, cancel of a queued task, shutdown with cancel_futures,
 * done-callbacks, cf_wait and cf_as_completed over native and msgpack
 * futures together; loop callbacks in a burst, on done futures, on a loop
 * that never runs (closed at release), and release while a thread polls
 * the descriptor. The process pool's side is in test_loop.c.
 *
 * Blocking tasks wait on a gate the test opens; no assertion on time,
 * except "returns within seconds instead of hanging".
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <cfutures.h>

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool open;
    int started;
} nv_gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0};

static void nv_gate_reset(void)
{
    pthread_mutex_lock(&nv_gate.mu);
    nv_gate.open = false;
    nv_gate.started = 0;
    pthread_mutex_unlock(&nv_gate.mu);
}

static void nv_gate_open(void)
{
    pthread_mutex_lock(&nv_gate.mu);
    nv_gate.open = true;
    pthread_cond_broadcast(&nv_gate.cv);
    pthread_mutex_unlock(&nv_gate.mu);
}

static void nv_gate_wait_started(int n)
{
    pthread_mutex_lock(&nv_gate.mu);
    while (nv_gate.started < n)
        pthread_cond_wait(&nv_gate.cv, &nv_gate.mu);
    pthread_mutex_unlock(&nv_gate.mu);
}

static void *nv_blocker(void *arg)
{
    pthread_mutex_lock(&nv_gate.mu);
    nv_gate.started++;
    pthread_cond_broadcast(&nv_gate.cv);
    while (!nv_gate.open)
        pthread_cond_wait(&nv_gate.cv, &nv_gate.mu);
    pthread_mutex_unlock(&nv_gate.mu);
    return arg;
}

static void *nv_plus_one(void *arg)
{
    return (void *)((intptr_t)arg + 1);
}

static void *nv_count(void *arg)
{
    atomic_fetch_add((atomic_int *)arg, 1);
    return arg;
}

static void *nv_identity(void *arg)
{
    return arg;
}

static int nv_square(const msgpack_object *args, msgpack_packer *out)
{
    int64_t x;
    if (cf_arg_i64(args, 0, &x) < 0)
        return cf_task_fail("nv_square: expected an integer");
    return msgpack_pack_int64(out, x * x);
}
CF_TASK(nv_square);

static int nv_text(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    msgpack_pack_str(out, 2);
    return msgpack_pack_str_body(out, "hi", 2);
}
CF_TASK(nv_text);

static cf_executor *nv_pool(int workers)
{
    cf_thread_pool_options o = {.max_workers = workers};
    cf_executor *ex;
    cr_assert_eq(cf_thread_pool_create(&ex, &o), 0);
    return ex;
}

/* ------------------------------------------------------------ submit */

Test(th_native, results_as_pointer_and_integer, .timeout = 20)
{
    cf_executor *ex = nv_pool(2);
    int x = 0;
    cf_future *a, *b, *c, *d;
    cr_assert_eq(cf_submit_fn(ex, nv_identity, &x, &a), 0);
    cr_assert_eq(cf_submit_fn(ex, nv_plus_one, (void *)(intptr_t)41, &b), 0);
    cr_assert_eq(cf_submit_fn(ex, nv_plus_one, (void *)(intptr_t)-8, &c), 0);
    cr_assert_eq(cf_submit_fn(ex, nv_identity, NULL, &d), 0); /* NULL arg is fine */
    void *p = NULL;
    cr_assert_eq(cf_future_result_ptr(a, CF_FOREVER, &p), 0);
    cr_assert_eq(p, &x);
    intptr_t v = 0;
    cr_assert_eq(cf_future_result_intptr(b, CF_FOREVER, &v), 0);
    cr_assert_eq(v, 42);
    cr_assert_eq(cf_future_result_intptr(c, CF_FOREVER, &v), 0);
    cr_assert_eq(v, -7);
    p = &x;
    cr_assert_eq(cf_future_result_ptr(d, CF_FOREVER, &p), 0);
    cr_assert_null(p);
    /* The msgpack readers see the same result as an int64. */
    int64_t i;
    cr_assert_eq(cf_future_result_i64(b, 0, &i), 0);
    cr_assert_eq(i, 42);
    cr_assert_eq(cf_future_result_i64(c, 0, &i), 0);
    cr_assert_eq(i, -7);
    cf_stats st;
    cr_assert_eq(cf_executor_stats(ex, &st), 0);
    cr_assert_eq(st.submitted, 4);
    cr_assert_eq(st.completed, 4);
    cf_future *all[] = {a, b, c, d};
    for (int k = 0; k < 4; k++)
        cf_future_release(all[k]);
    cf_executor_release(ex);
}

Test(th_native, invalid_arguments, .timeout = 20)
{
    cf_executor *ex = nv_pool(1);
    cf_future *f = NULL;
    cr_assert_eq(cf_submit_fn(NULL, nv_identity, NULL, &f), -EINVAL);
    cr_assert_eq(cf_submit_fn(ex, NULL, NULL, &f), -EINVAL);
    cr_assert_eq(cf_submit_fn(ex, nv_identity, NULL, NULL), -EINVAL);
    cr_assert_null(f);
    void *p;
    intptr_t v;
    cr_assert_eq(cf_future_result_ptr(NULL, 0, &p), -EINVAL);
    cr_assert_eq(cf_future_result_intptr(NULL, 0, &v), -EINVAL);
    cr_assert_eq(cf_submit_fn(ex, nv_identity, NULL, &f), 0);
    cr_assert_eq(cf_future_result_ptr(f, CF_FOREVER, NULL), -EINVAL);
    cr_assert_eq(cf_future_result_intptr(f, CF_FOREVER, NULL), -EINVAL);
    cf_future_release(f);
    cr_assert_eq(cf_executor_shutdown(ex, true, false), 0);
    cr_assert_eq(cf_submit_fn(ex, nv_identity, NULL, &f), CF_ESHUTDOWN);
    cf_executor_release(ex);
}

Test(th_native, msgpack_results_through_ptr_readers, .timeout = 20)
{
    cf_executor *ex = nv_pool(1);
    cf_future *sq, *txt;
    cr_assert_eq(cf_submit(ex, nv_square, &sq, "i", (int64_t)-12), 0);
    cr_assert_eq(cf_submit(ex, nv_text, &txt, ""), 0);
    intptr_t v;
    cr_assert_eq(cf_future_result_intptr(sq, CF_FOREVER, &v), 0);
    cr_assert_eq(v, 144);
    void *p;
    cr_assert_eq(cf_future_result_ptr(txt, CF_FOREVER, &p), CF_ETYPE);
    cf_future_release(sq);
    cf_future_release(txt);
    cf_executor_release(ex);
}

Test(th_native, cancel_queued_and_timeout, .timeout = 20)
{
    nv_gate_reset();
    cf_executor *ex = nv_pool(1);
    atomic_int ran = 0;
    cf_future *busy, *queued;
    cr_assert_eq(cf_submit_fn(ex, nv_blocker, NULL, &busy), 0);
    nv_gate_wait_started(1);
    cr_assert_eq(cf_submit_fn(ex, nv_count, &ran, &queued), 0);
    void *p;
    cr_assert_eq(cf_future_result_ptr(queued, 0, &p), -ETIMEDOUT);
    cr_assert(cf_future_running(busy));
    cr_assert_not(cf_future_cancel(busy)); /* taken: running */
    cr_assert(cf_future_cancel(queued));
    nv_gate_open();
    cr_assert_eq(cf_future_result_ptr(busy, CF_FOREVER, &p), 0);
    cr_assert_eq(cf_future_result_ptr(queued, CF_FOREVER, &p), CF_ECANCELLED);
    cf_executor_release(ex);
    cr_assert_eq(atomic_load(&ran), 0, "a cancelled native task ran");
    cf_future_release(busy);
    cf_future_release(queued);
}

Test(th_native, shutdown_cancel_futures, .timeout = 20)
{
    nv_gate_reset();
    cf_executor *ex = nv_pool(1);
    atomic_int ran = 0;
    cf_future *busy, *q[5];
    cr_assert_eq(cf_submit_fn(ex, nv_blocker, NULL, &busy), 0);
    nv_gate_wait_started(1);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(cf_submit_fn(ex, nv_count, &ran, &q[i]), 0);
    cr_assert_eq(cf_executor_shutdown(ex, false, true), 0);
    for (int i = 0; i < 5; i++)
        cr_assert(cf_future_cancelled(q[i]));
    nv_gate_open();
    cf_executor_release(ex);
    cr_assert_eq(atomic_load(&ran), 0);
    cr_assert_eq(cf_future_error(busy, 0), 0);
    cf_future_release(busy);
    for (int i = 0; i < 5; i++)
        cf_future_release(q[i]);
}

Test(th_native, shutdown_runs_queued_work, .timeout = 20)
{
    cf_executor *ex = nv_pool(2);
    atomic_int ran = 0;
    cf_future *f[200];
    for (int i = 0; i < 200; i++)
        cr_assert_eq(cf_submit_fn(ex, nv_count, &ran, &f[i]), 0);
    cr_assert_eq(cf_executor_shutdown(ex, true, false), 0);
    cr_assert_eq(atomic_load(&ran), 200);
    for (int i = 0; i < 200; i++)
        cf_future_release(f[i]);
    cf_executor_release(ex);
}

static int nv_done_cb(cf_future *f, void *arg)
{
    void *p;
    if (cf_future_result_ptr(f, 0, &p) == 0 && p == arg)
        atomic_fetch_add((atomic_int *)arg, 100);
    return 0;
}

Test(th_native, done_callbacks, .timeout = 20)
{
    nv_gate_reset();
    cf_executor *ex = nv_pool(1);
    atomic_int n = 0;
    cf_future *busy, *f;
    cr_assert_eq(cf_submit_fn(ex, nv_blocker, NULL, &busy), 0);
    nv_gate_wait_started(1);
    cr_assert_eq(cf_submit_fn(ex, nv_count, &n, &f), 0);
    cr_assert_eq(cf_future_add_done_callback(f, nv_done_cb, &n), 0); /* pending */
    nv_gate_open();
    cr_assert_eq(cf_future_error(f, CF_FOREVER), 0);
    cr_assert_eq(cf_future_add_done_callback(f, nv_done_cb, &n), 0); /* done: runs here */
    cf_executor_release(ex); /* joins: the first callback has returned */
    cr_assert_eq(atomic_load(&n), 201);
    cf_future_release(busy);
    cf_future_release(f);
}

Test(th_native, wait_and_as_completed_mix_kinds, .timeout = 20)
{
    cf_executor *ex = nv_pool(2);
    enum { N = 40 };
    cf_future *f[N];
    for (int i = 0; i < N; i++) {
        if (i % 2)
            cr_assert_eq(cf_submit(ex, nv_square, &f[i], "i", (int64_t)i), 0);
        else
            cr_assert_eq(cf_submit_fn(ex, nv_plus_one, (void *)(intptr_t)i, &f[i]), 0);
    }
    cr_assert_eq(cf_wait(f, N, CF_ALL_COMPLETED, 10, NULL), N);
    for (int i = 0; i < N; i++) {
        intptr_t v;
        cr_assert_eq(cf_future_result_intptr(f[i], 0, &v), 0);
        cr_assert_eq(v, i % 2 ? i * i : i + 1);
    }
    for (int i = 0; i < N; i++)
        cf_future_release(f[i]);
    for (int i = 0; i < N; i++) {
        if (i % 2)
            cr_assert_eq(cf_submit(ex, nv_square, &f[i], "i", (int64_t)i), 0);
        else
            cr_assert_eq(cf_submit_fn(ex, nv_plus_one, (void *)(intptr_t)i, &f[i]), 0);
    }
    cf_as_completed *it;
    cr_assert_eq(cf_as_completed_create(&it, f, N, 10), 0);
    int seen = 0;
    cf_future *g;
    while (cf_as_completed_next(it, &g) == 0) {
        cr_assert(cf_future_done(g));
        seen++;
    }
    cr_assert_eq(seen, N);
    cf_as_completed_release(it);
    for (int i = 0; i < N; i++)
        cf_future_release(f[i]);
    cf_executor_release(ex);
}

/* ---------------------------------------------------------- the loop */

struct nv_loop_count {
    pthread_t thread; /* where every callback must run */
    int ran;          /* written by the loop thread only: no lock */
    int wrong_thread;
    int sum;
};

static int nv_loop_cb(cf_future *f, void *arg)
{
    struct nv_loop_count *c = arg;
    if (!pthread_equal(pthread_self(), c->thread))
        c->wrong_thread++;
    intptr_t v = 0;
    if (cf_future_result_intptr(f, 0, &v) == 0)
        c->sum += (int)v;
    c->ran++;
    return 0;
}

static bool nv_readable(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

Test(th_native_loop, burst_runs_on_loop_thread, .timeout = 60)
{
    cf_executor *ex = nv_pool(2);
    int fd = cf_executor_loop_fd(ex);
    cr_assert_geq(fd, 0);
    cr_assert_eq(cf_executor_loop_fd(ex), fd, "the descriptor changes");
    cr_assert_not(nv_readable(fd, 0));
    enum { N = 2000 };
    struct nv_loop_count c = {.thread = pthread_self()};
    for (int i = 0; i < N; i++) {
        cf_future *f;
        cr_assert_eq(cf_submit_fn(ex, nv_plus_one, (void *)(intptr_t)i, &f), 0);
        cr_assert_eq(cf_future_add_loop_callback(f, ex, nv_loop_cb, &c), 0);
        cf_future_release(f); /* the loop callback holds it */
    }
    int rounds = 0;
    while (c.ran < N) {
        cr_assert(nv_readable(fd, 10000), "no readiness with %d of %d run", c.ran, N);
        cr_assert_geq(cf_executor_run_loop_callbacks(ex), 0);
        rounds++;
    }
    cr_assert_eq(c.ran, N);
    cr_assert_eq(c.wrong_thread, 0);
    cr_assert_eq(c.sum, N * (N + 1) / 2);
    cr_assert_not(nv_readable(fd, 0), "readable with nothing queued");
    cr_assert_eq(cf_executor_run_loop_callbacks(ex), 0);
    cr_log_info("%d loop rounds for %d completions", rounds, N);
    cf_executor_release(ex);
}

Test(th_native_loop, done_future_is_queued_not_run_inline, .timeout = 20)
{
    cf_executor *ex = nv_pool(1);
    cf_future *f;
    cr_assert_eq(cf_submit_fn(ex, nv_plus_one, (void *)(intptr_t)1, &f), 0);
    cr_assert_eq(cf_future_error(f, CF_FOREVER), 0);
    struct nv_loop_count c = {.thread = pthread_self()};
    cr_assert_eq(cf_future_add_loop_callback(f, ex, nv_loop_cb, &c), 0);
    cr_assert_eq(c.ran, 0);
    int fd = cf_executor_loop_fd(ex);
    cr_assert(nv_readable(fd, 0));
    cr_assert_eq(cf_executor_run_loop_callbacks(ex), 1);
    cr_assert_eq(c.ran, 1);
    cr_assert_eq(c.sum, 2);
    cr_assert_not(nv_readable(fd, 0));
    cf_future_release(f);
    cf_executor_release(ex);
}

Test(th_native_loop, cancelled_and_standalone_futures, .timeout = 20)
{
    nv_gate_reset();
    cf_executor *ex = nv_pool(1);
    cf_future *busy, *queued, *alone;
    cr_assert_eq(cf_submit_fn(ex, nv_blocker, NULL, &busy), 0);
    nv_gate_wait_started(1);
    cr_assert_eq(cf_submit_fn(ex, nv_plus_one, NULL, &queued), 0);
    cr_assert_eq(cf_future_create(&alone), 0);
    struct nv_loop_count c = {.thread = pthread_self()};
    cr_assert_eq(cf_future_add_loop_callback(queued, ex, nv_loop_cb, &c), 0);
    cr_assert_eq(cf_future_add_loop_callback(alone, ex, nv_loop_cb, &c), 0);
    cr_assert(cf_future_cancel(queued));
    cr_assert_eq(cf_future_set_result(alone, "\x05", 1), 0);
    cr_assert_eq(cf_executor_run_loop_callbacks(ex), 2);
    cr_assert_eq(c.ran, 2);
    cr_assert_eq(c.sum, 5); /* the cancelled one adds nothing */
    nv_gate_open();
    cf_future_release(busy);
    cf_future_release(queued);
    cf_future_release(alone);
    cf_executor_release(ex);
}

Test(th_native_loop, invalid_arguments, .timeout = 20)
{
    cf_executor *ex = nv_pool(1);
    cf_future *f;
    cr_assert_eq(cf_future_create(&f), 0);
    cr_assert_eq(cf_executor_loop_fd(NULL), -EINVAL);
    cr_assert_eq(cf_executor_run_loop_callbacks(NULL), -EINVAL);
    cr_assert_eq(cf_future_add_loop_callback(NULL, ex, nv_loop_cb, NULL), -EINVAL);
    cr_assert_eq(cf_future_add_loop_callback(f, NULL, nv_loop_cb, NULL), -EINVAL);
    cr_assert_eq(cf_future_add_loop_callback(f, ex, NULL, NULL), -EINVAL);
    cr_assert_eq(cf_executor_run_loop_callbacks(ex), 0); /* no loop yet */
    cf_future_release(f);
    cf_executor_release(ex);
}

/* Frees its argument: with ASan, a loop callback that never runs leaks. */
struct nv_owned {
    int *counter;
    cf_executor *ex;
    int add_rc;
};

static int nv_free_cb(cf_future *f, void *arg)
{
    struct nv_owned *o = arg;
    (*o->counter)++;
    /* At release the loop is closing: adding more is refused. */
    if (o->ex)
        o->add_rc = cf_future_add_loop_callback(f, o->ex, nv_free_cb, o);
    if (o->add_rc == 0 || !o->ex)
        free(o);
    return 0;
}

Test(th_native_loop, loop_never_run_release_runs_queue, .timeout = 20)
{
    cf_executor *ex = nv_pool(2);
    int ran = 0;
    enum { N = 300 };
    for (int i = 0; i < N; i++) {
        cf_future *f;
        cr_assert_eq(cf_submit_fn(ex, nv_plus_one, NULL, &f), 0);
        struct nv_owned *o = malloc(sizeof(*o));
        *o = (struct nv_owned){&ran, NULL, 0};
        cr_assert_eq(cf_future_add_loop_callback(f, ex, nv_free_cb, o), 0);
        cf_future_release(f);
    }
    /* One that tries to add during release. */
    cf_future *f;
    cr_assert_eq(cf_submit_fn(ex, nv_plus_one, NULL, &f), 0);
    struct nv_owned *o = malloc(sizeof(*o));
    *o = (struct nv_owned){&ran, ex, 0};
    cr_assert_eq(cf_future_add_loop_callback(f, ex, nv_free_cb, o), 0);
    /* A future of no executor, still pending at release: its loop callback
     * is dropped when it completes (its node and reference freed). */
    cf_future *alone;
    cr_assert_eq(cf_future_create(&alone), 0);
    int late = 0;
    struct nv_owned *lo = malloc(sizeof(*lo));
    *lo = (struct nv_owned){&late, NULL, 0};
    cr_assert_eq(cf_future_add_loop_callback(alone, ex, nv_free_cb, lo), 0);
    cf_executor_release(ex);
    cr_assert_eq(ran, N + 1);
    cr_assert_eq(o->add_rc, CF_ESHUTDOWN);
    free(o);
    cf_future_release(f);
    cr_assert(cf_future_cancel(alone));
    cr_assert_eq(late, 0);
    free(lo);
    cf_future_release(alone);
}

static void *nv_poller(void *arg)
{
    int fd = *(int *)arg;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    *(int *)arg = poll(&p, 1, 10000);
    return NULL;
}

Test(th_native_loop, release_while_descriptor_watched, .timeout = 30)
{
    cf_executor *ex = nv_pool(1);
    int fd = cf_executor_loop_fd(ex);
    cr_assert_geq(fd, 0);
    int arg = fd;
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, nv_poller, &arg), 0);
    struct nv_loop_count c = {.thread = pthread_self()};
    cf_future *f;
    cr_assert_eq(cf_submit_fn(ex, nv_plus_one, NULL, &f), 0);
    cr_assert_eq(cf_future_add_loop_callback(f, ex, nv_loop_cb, &c), 0);
    cf_future_release(f);
    cf_executor_release(ex); /* runs the queued callback, wakes the poller */
    pthread_join(t, NULL);
    cr_assert_eq(arg, 1, "the poller did not wake (poll gave %d)", arg);
    cr_assert_eq(c.ran, 1);
}

/* ------------------------------------------------------------ batch */

Test(th_native, batch_submit, .timeout = 20)
{
    cf_executor *ex = nv_pool(2);
    enum { N = 1000 };
    static void *args[N];
    static cf_future *f[N];
    for (int i = 0; i < N; i++)
        args[i] = (void *)(intptr_t)i;
    cr_assert_eq(cf_submit_fn_batch(ex, nv_plus_one, args, N, f), N);
    cr_assert_eq(cf_wait(f, N, CF_ALL_COMPLETED, 10, NULL), N);
    for (int i = 0; i < N; i++) {
        intptr_t v;
        cr_assert_eq(cf_future_result_intptr(f[i], 0, &v), 0);
        cr_assert_eq(v, i + 1);
        cf_future_release(f[i]);
    }
    /* args NULL: every call gets NULL. */
    cr_assert_eq(cf_submit_fn_batch(ex, nv_identity, NULL, 3, f), 3);
    for (int i = 0; i < 3; i++) {
        void *p = &p;
        cr_assert_eq(cf_future_result_ptr(f[i], CF_FOREVER, &p), 0);
        cr_assert_null(p);
        cf_future_release(f[i]);
    }
    cr_assert_eq(cf_submit_fn_batch(ex, nv_identity, NULL, 0, f), 0);
    cf_stats st;
    cr_assert_eq(cf_executor_stats(ex, &st), 0);
    cr_assert_eq(st.submitted, N + 3);
    cf_executor_release(ex);
}

Test(th_native, batch_larger_than_queue, .timeout = 20)
{
    /* More tasks than max_pending: the batch waits for room in between. */
    cf_thread_pool_options o = {.max_workers = 2, .max_pending = 8};
    cf_executor *ex;
    cr_assert_eq(cf_thread_pool_create(&ex, &o), 0);
    atomic_int n = 0;
    enum { N = 100 };
    void *args[N];
    cf_future *f[N];
    for (int i = 0; i < N; i++)
        args[i] = &n;
    cr_assert_eq(cf_submit_fn_batch(ex, nv_count, args, N, f), N);
    cr_assert_eq(cf_wait(f, N, CF_ALL_COMPLETED, 10, NULL), N);
    cr_assert_eq(atomic_load(&n), N);
    for (int i = 0; i < N; i++)
        cf_future_release(f[i]);
    cf_executor_release(ex);
}

Test(th_native, batch_errors, .timeout = 20)
{
    cf_executor *ex = nv_pool(1);
    cf_future *f[4] = {0};
    cr_assert_eq(cf_submit_fn_batch(NULL, nv_identity, NULL, 4, f), -EINVAL);
    cr_assert_eq(cf_submit_fn_batch(ex, NULL, NULL, 4, f), -EINVAL);
    cr_assert_eq(cf_submit_fn_batch(ex, nv_identity, NULL, 4, NULL), -EINVAL);
    cr_assert_eq(cf_submit_fn_batch(ex, nv_identity, NULL, (size_t)INT32_MAX + 1, f), -EINVAL);
    cr_assert_eq(cf_executor_shutdown(ex, true, false), 0);
    cr_assert_eq(cf_submit_fn_batch(ex, nv_identity, NULL, 4, f), CF_ESHUTDOWN);
    for (int i = 0; i < 4; i++)
        cr_assert_null(f[i]);
    cf_stats st;
    cr_assert_eq(cf_executor_stats(ex, &st), 0);
    cr_assert_eq(st.submitted, 0);
    cf_executor_release(ex);
}

/* ------------------------------------------- room for a blocked submitter */

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool submitted;
} nv_room = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};

/* Waits (10 s at most) until the blocked submitter got its place; returns
 * 1 if it did, 0 if the wait ran out. */
static void *nv_waits_for_submitter(void *arg)
{
    (void)arg;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&nv_room.mu);
    int rc = 0;
    while (!nv_room.submitted && rc == 0)
        rc = pthread_cond_timedwait(&nv_room.cv, &nv_room.mu, &until);
    bool got = nv_room.submitted;
    pthread_mutex_unlock(&nv_room.mu);
    return (void *)(intptr_t)got;
}

static void *nv_nop(void *arg)
{
    return arg;
}

static void *nv_blocked_submitter(void *arg)
{
    cf_future *f;
    int rc = cf_submit_fn(arg, nv_nop, NULL, &f);
    pthread_mutex_lock(&nv_room.mu);
    nv_room.submitted = rc == 0;
    pthread_cond_broadcast(&nv_room.cv);
    pthread_mutex_unlock(&nv_room.mu);
    if (rc == 0)
        cf_future_release(f);
    return NULL;
}

/* One thread, a full queue, a submitter blocked on it, and the task the
 * thread takes next waits for that submitter: the take frees a place and
 * nobody else will take another, so the submitter must get it although
 * the queue never gets half empty (waking it only then deadlocked here:
 * the task waited for the submitter, the submitter for the queue; it now
 * looks again every millisecond, executor/thread_pool.c). */
Test(th_native, a_take_wakes_a_blocked_submitter_when_no_other_thread_will, .timeout = 30)
{
    cf_executor *ex;
    cf_thread_pool_options o = {.max_workers = 1, .max_pending = 4};
    cf_future *a, *b, *n[3];
    pthread_t submitter;
    nv_gate_reset();
    cr_assert_eq(cf_thread_pool_create(&ex, &o), 0);
    cr_assert_eq(cf_submit_fn(ex, nv_blocker, NULL, &a), 0);
    nv_gate_wait_started(1); /* the one thread is busy, the queue empty */
    cr_assert_eq(cf_submit_fn(ex, nv_waits_for_submitter, NULL, &b), 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(cf_submit_fn(ex, nv_nop, NULL, &n[i]), 0);
    /* The queue is full (b and three more): this submit blocks. */
    cr_assert_eq(pthread_create(&submitter, NULL, nv_blocked_submitter, ex), 0);
    nv_gate_open();
    intptr_t got = 0;
    cr_assert_eq(cf_future_result_intptr(b, CF_FOREVER, &got), 0);
    cr_assert_eq(got, 1, "the blocked submitter was never woken for the freed place");
    pthread_join(submitter, NULL);
    cf_future_release(a);
    cf_future_release(b);
    for (int i = 0; i < 3; i++)
        cf_future_release(n[i]);
    cf_executor_release(ex);
}
