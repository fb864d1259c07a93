/* tests/test_future.c — cf_future, after CPython's FutureTests in
 * Lib/test/test_concurrent_futures: the state machine on stand-alone
 * futures (pending, running, cancelled, finished with a result or an
 * error), result/error with every kind of timeout, completion from another
 * thread, done-callbacks, set_* on done futures, reference counting; then
 * the same states on futures of a real process pool.
 *
 * "Not yet done" is made deterministic with a gate task that blocks in the
 * worker until the test creates a file; nothing asserts on elapsed time.
 */
#include <cfutures.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "support.h"

/* ---------------------------------------------------------------- tasks */

static int fut_fail(const msgpack_object *args, msgpack_packer *out)
{
    int64_t n;
    (void)out;
    if (cf_arg_i64(args, 0, &n) < 0)
        return cf_task_fail("fut_fail: expected an integer");
    return cf_task_fail("fut_fail: bad n %lld", (long long)n);
}
CF_TASK(fut_fail);

/* ------------------------------------------------------------- fixture */

/* Bounded poll (a liveness bound, not a timing assertion). */
static void await_running(cf_future *f)
{
    for (int i = 0; i < 10000 && !cf_future_running(f) && !cf_future_done(f); i++)
        support_sleep_ms(1);
    cr_assert(cf_future_running(f), "the gate task never started");
}

/* ------------------------------------------------------------- helpers */

static void assert_state(cf_future *f, bool done, bool running, bool cancelled)
{
    cr_assert_eq(cf_future_done(f), done, "done: expected %d", done);
    cr_assert_eq(cf_future_running(f), running, "running: expected %d", running);
    cr_assert_eq(cf_future_cancelled(f), cancelled, "cancelled: expected %d", cancelled);
}

/* A thread that completes a future after a short delay. */
enum action { DO_RESULT, DO_ERROR, DO_CANCEL };
struct later {
    pthread_t th;
    cf_future *f;
    enum action action;
    int64_t value;
    int rc;
    pthread_t completer;
};

static void *later_main(void *arg)
{
    struct later *l = arg;
    support_sleep_ms(50);
    l->completer = pthread_self();
    switch (l->action) {
    case DO_RESULT: l->rc = support_set_i64(l->f, l->value); break;
    case DO_ERROR: l->rc = cf_future_set_error(l->f, CF_ETASK, "late failure"); break;
    case DO_CANCEL: l->rc = cf_future_cancel(l->f) ? 0 : -1; break;
    }
    return NULL;
}

static void later_start(struct later *l, cf_future *f, enum action a, int64_t v)
{
    *l = (struct later){.f = f, .action = a, .value = v, .rc = 99};
    cr_assert_eq(pthread_create(&l->th, NULL, later_main, l), 0);
}

static void later_join(struct later *l)
{
    pthread_join(l->th, NULL);
    cr_assert_eq(l->rc, 0, "the completing thread failed: %d", l->rc);
}

/* Callback log: each callback appends its tag. */
struct cb_log {
    atomic_int n;
    atomic_int done; /* entries fully written: read these from another thread */
    int tags[16];
    int seen_state[16]; /* 1 cancelled, 2 finished ok, 3 finished failed */
    int64_t value[16];
    pthread_t thread[16];
};

static int record(struct cb_log *log, cf_future *f, int tag)
{
    int i = atomic_fetch_add(&log->n, 1);
    if (i >= 16)
        return 0;
    log->tags[i] = tag;
    log->thread[i] = pthread_self();
    int64_t v = 0;
    int rc = cf_future_result_i64(f, 0, &v);
    log->seen_state[i] = cf_future_cancelled(f) ? 1 : rc == 0 ? 2 : 3;
    log->value[i] = rc == 0 ? v : rc;
    atomic_fetch_add(&log->done, 1);
    return 0;
}

static int cb_tag1(cf_future *f, void *arg) { return record(arg, f, 1); }
static int cb_tag2(cf_future *f, void *arg) { return record(arg, f, 2); }
static int cb_tag3(cf_future *f, void *arg) { return record(arg, f, 3); }
static int cb_fails(cf_future *f, void *arg)
{
    record(arg, f, 9);
    return CF_ETASK;
}

/* ------------------------------------------------- states (stand-alone) */

Test(future, create_pending, .timeout = 20)
{
    cf_future *f = support_pending();
    assert_state(f, false, false, false);
    cr_assert_str_eq(cf_future_error_message(f), "");
    int64_t v = -1;
    cr_assert_eq(cf_future_result_i64(f, 0, &v), -ETIMEDOUT);
    cr_assert_eq(v, -1, "a timed-out result must not store");
    cr_assert_eq(cf_future_error(f, 0), -ETIMEDOUT);
    cr_assert_eq(cf_future_result(f, 0.05, NULL), -ETIMEDOUT);
    cr_assert_eq(cf_future_error(f, 0.05), -ETIMEDOUT);
    cf_future_release(f);
}

Test(future, invalid_arguments, .timeout = 20)
{
    cf_future *f = support_pending();
    int64_t i;
    const char *s;
    size_t len;

    cr_assert_eq(cf_future_create(NULL), -EINVAL);
    cr_assert_not(cf_future_done(NULL));
    cr_assert_not(cf_future_running(NULL));
    cr_assert_not(cf_future_cancelled(NULL));
    cr_assert_not(cf_future_cancel(NULL));
    cr_assert_eq(cf_future_result(NULL, 0, NULL), -EINVAL);
    cr_assert_eq(cf_future_error(NULL, 0), -EINVAL);
    cr_assert_str_eq(cf_future_error_message(NULL), "");
    cr_assert_eq(cf_future_result_i64(NULL, 0, &i), -EINVAL);
    cr_assert_eq(cf_future_result_i64(f, 0, NULL), -EINVAL);
    cr_assert_eq(cf_future_result_f64(f, 0, NULL), -EINVAL);
    cr_assert_eq(cf_future_result_bool(f, 0, NULL), -EINVAL);
    cr_assert_eq(cf_future_result_str(f, 0, NULL, &len), -EINVAL);
    cr_assert_eq(cf_future_result_str(f, 0, &s, NULL), -EINVAL);
    cr_assert_eq(cf_future_add_done_callback(NULL, cb_tag1, NULL), -EINVAL);
    cr_assert_eq(cf_future_add_done_callback(f, NULL, NULL), -EINVAL);
    cr_assert_eq(cf_future_set_running(NULL), -EINVAL);
    cr_assert_eq(cf_future_set_result(NULL, "\x01", 1), -EINVAL);
    cr_assert_eq(cf_future_set_error(NULL, CF_ETASK, "x"), -EINVAL);
    /* None of that touched f. */
    assert_state(f, false, false, false);
    cf_future_release(f);
}

Test(future, running_state, .timeout = 20)
{
    cf_future *f = support_pending();
    cr_assert_eq(cf_future_set_running(f), 0);
    assert_state(f, false, true, false);
    cr_assert_eq(cf_future_set_running(f), -EINVAL, "running twice");
    cr_assert_not(cf_future_cancel(f), "a running future cannot be cancelled");
    assert_state(f, false, true, false);
    cr_assert_eq(cf_future_result(f, 0, NULL), -ETIMEDOUT);
    /* A running future completes normally. */
    cr_assert_eq(support_set_i64(f, 7), 0);
    assert_state(f, true, false, false);
    int64_t v = 0;
    cr_assert_eq(cf_future_result_i64(f, 0, &v), 0);
    cr_assert_eq(v, 7);
    cf_future_release(f);
}

Test(future, cancel_pending, .timeout = 20)
{
    cf_future *f = support_pending();
    cr_assert(cf_future_cancel(f));
    assert_state(f, true, false, true);
    cr_assert(cf_future_cancel(f), "cancelling twice still reports cancelled");
    assert_state(f, true, false, true);
    cr_assert_eq(cf_future_result(f, 0, NULL), CF_ECANCELLED);
    cr_assert_eq(cf_future_result(f, 0.05, NULL), CF_ECANCELLED);
    cr_assert_eq(cf_future_result(f, CF_FOREVER, NULL), CF_ECANCELLED);
    cr_assert_eq(cf_future_error(f, 0), CF_ECANCELLED);
    cr_assert_eq(cf_future_error(f, CF_FOREVER), CF_ECANCELLED);
    cr_assert_str_eq(cf_future_error_message(f), "");
    /* Python's set_running_or_notify_cancel returns False here. */
    cr_assert_eq(cf_future_set_running(f), CF_ECANCELLED);
    cr_assert_eq(support_set_i64(f, 1), -EINVAL);
    cr_assert_eq(cf_future_set_error(f, CF_ETASK, "x"), -EINVAL);
    assert_state(f, true, false, true);
    cf_future_release(f);
}

Test(future, cancel_finished_fails, .timeout = 20)
{
    cf_future *ok = support_pending(), *bad = support_pending();
    cr_assert_eq(support_set_i64(ok, 42), 0);
    cr_assert_eq(cf_future_set_error(bad, CF_ETASK, "nope"), 0);
    cr_assert_not(cf_future_cancel(ok));
    cr_assert_not(cf_future_cancel(bad));
    assert_state(ok, true, false, false);
    assert_state(bad, true, false, false);
    int64_t v = 0;
    cr_assert_eq(cf_future_result_i64(ok, 0, &v), 0);
    cr_assert_eq(v, 42);
    cr_assert_eq(cf_future_error(bad, 0), CF_ETASK);
    cf_future_release(ok);
    cf_future_release(bad);
}

Test(future, result_timeouts_when_finished, .timeout = 20)
{
    cf_future *f = support_pending();
    cr_assert_eq(support_set_i64(f, -123456789012LL), 0);
    assert_state(f, true, false, false);
    const double timeouts[] = {0, 0.05, 10, CF_FOREVER, -5};
    for (size_t i = 0; i < sizeof(timeouts) / sizeof(timeouts[0]); i++) {
        int64_t v = 0;
        cr_assert_eq(cf_future_result_i64(f, timeouts[i], &v), 0, "timeout %g", timeouts[i]);
        cr_assert_eq(v, -123456789012LL);
        cr_assert_eq(cf_future_error(f, timeouts[i]), 0);
    }
    const msgpack_object *o = NULL;
    cr_assert_eq(cf_future_result(f, 0, &o), 0);
    cr_assert_not_null(o);
    cr_assert_eq(o->type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
    cr_assert_eq(o->via.i64, -123456789012LL);
    cr_assert_eq(cf_future_result(f, 0, NULL), 0, "NULL result pointer is allowed");
    cr_assert_str_eq(cf_future_error_message(f), "");
    cf_future_release(f);
}

Test(future, error_states_and_message, .timeout = 20)
{
    cf_future *f = support_pending();
    cr_assert_eq(cf_future_set_error(f, CF_ETASK, "division by zero at 21/0"), 0);
    assert_state(f, true, false, false);
    const double timeouts[] = {0, 0.05, CF_FOREVER};
    for (size_t i = 0; i < 3; i++) {
        const msgpack_object *o = (const msgpack_object *)&o;
        cr_assert_eq(cf_future_result(f, timeouts[i], &o), CF_ETASK);
        cr_assert_eq(cf_future_error(f, timeouts[i]), CF_ETASK);
    }
    int64_t v;
    cr_assert_eq(cf_future_result_i64(f, 0, &v), CF_ETASK);
    cr_assert_str_eq(cf_future_error_message(f), "division by zero at 21/0");

    /* Other codes travel as they are; NULL message gives the code's text. */
    cf_future *g = support_pending();
    cr_assert_eq(cf_future_set_error(g, CF_EWORKER, NULL), 0);
    cr_assert_eq(cf_future_error(g, 0), CF_EWORKER);
    cr_assert_str_eq(cf_future_error_message(g), cf_strerror(CF_EWORKER));
    cr_assert_str_neq(cf_future_error_message(g), "");
    cf_future *h = support_pending();
    cr_assert_eq(cf_future_set_error(h, -EIO, "disk"), 0);
    cr_assert_eq(cf_future_result(h, 0, NULL), -EIO);
    cr_assert_str_eq(cf_future_error_message(h), "disk");
    cf_future_release(f);
    cf_future_release(g);
    cf_future_release(h);
}

Test(future, set_error_rejects_non_errors, .timeout = 20)
{
    cf_future *f = support_pending();
    cr_assert_eq(cf_future_set_error(f, 0, "zero is no error"), -EINVAL);
    cr_assert_eq(cf_future_set_error(f, 5, "positive"), -EINVAL);
    assert_state(f, false, false, false);
    cf_future_release(f);
}

Test(future, set_result_validates_bytes, .timeout = 20)
{
    cf_future *f = support_pending();
    const unsigned char two[] = {0x01, 0x02};       /* two fixints */
    const unsigned char cut[] = {0xcd, 0x01};       /* uint16 missing a byte */
    const unsigned char arr[] = {0x92, 0x01, 0xa1, 'x'}; /* [1, "x"] */
    cr_assert_eq(cf_future_set_result(f, NULL, 3), -EINVAL);
    cr_assert_eq(cf_future_set_result(f, two, sizeof(two)), CF_EPROTO);
    cr_assert_eq(cf_future_set_result(f, cut, sizeof(cut)), CF_EPROTO);
    cr_assert_neq(cf_future_set_result(f, NULL, 0), 0, "no object is not one object");
    assert_state(f, false, false, false);
    cr_assert_eq(cf_future_set_result(f, arr, sizeof(arr)), 0);
    const msgpack_object *o;
    cr_assert_eq(cf_future_result(f, 0, &o), 0);
    cr_assert_eq(o->type, MSGPACK_OBJECT_ARRAY);
    cr_assert_eq(o->via.array.size, 2);
    cr_assert_eq(o->via.array.ptr[0].via.u64, 1);
    cr_assert_eq(o->via.array.ptr[1].via.str.size, 1);
    cr_assert_eq(o->via.array.ptr[1].via.str.ptr[0], 'x');
    cf_future_release(f);
}

Test(future, multiple_set_result_and_error, .timeout = 20)
{
    cf_future *f = support_pending();
    cr_assert_eq(support_set_i64(f, 42), 0);
    cr_assert_eq(support_set_i64(f, 43), -EINVAL);
    cr_assert_eq(cf_future_set_error(f, CF_ETASK, "late"), -EINVAL);
    cr_assert_eq(cf_future_set_running(f), -EINVAL);
    int64_t v = 0;
    cr_assert_eq(cf_future_result_i64(f, 0, &v), 0);
    cr_assert_eq(v, 42, "the first result stays");
    cr_assert_str_eq(cf_future_error_message(f), "");

    cf_future *g = support_pending();
    cr_assert_eq(cf_future_set_error(g, CF_ETASK, "first"), 0);
    cr_assert_eq(cf_future_set_error(g, CF_EWORKER, "second"), -EINVAL);
    cr_assert_eq(support_set_i64(g, 1), -EINVAL);
    cr_assert_eq(cf_future_error(g, 0), CF_ETASK);
    cr_assert_str_eq(cf_future_error_message(g), "first");
    cf_future_release(f);
    cf_future_release(g);
}

Test(future, typed_results, .timeout = 20)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    cf_future *fs[4];
    for (int i = 0; i < 4; i++)
        fs[i] = support_pending();
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_double(&pk, 2.5);
    cr_assert_eq(cf_future_set_result(fs[0], sb.data, sb.size), 0);
    sb.size = 0;
    msgpack_pack_true(&pk);
    cr_assert_eq(cf_future_set_result(fs[1], sb.data, sb.size), 0);
    sb.size = 0;
    msgpack_pack_str_with_body(&pk, "hello", 5);
    cr_assert_eq(cf_future_set_result(fs[2], sb.data, sb.size), 0);
    sb.size = 0;
    msgpack_pack_nil(&pk);
    cr_assert_eq(cf_future_set_result(fs[3], sb.data, sb.size), 0);
    msgpack_sbuffer_destroy(&sb);

    double d = 0;
    bool b = false;
    const char *s = NULL;
    size_t len = 0;
    int64_t i;
    cr_assert_eq(cf_future_result_f64(fs[0], 0, &d), 0);
    cr_assert_float_eq(d, 2.5, 1e-12);
    cr_assert_eq(cf_future_result_bool(fs[1], 0, &b), 0);
    cr_assert(b);
    cr_assert_eq(cf_future_result_str(fs[2], 0, &s, &len), 0);
    cr_assert_eq(len, 5);
    cr_assert_eq(memcmp(s, "hello", 5), 0);
    cr_assert_eq(cf_future_result_i64(fs[2], 0, &i), CF_ETYPE);
    cr_assert_eq(cf_future_result_bool(fs[0], 0, &b), CF_ETYPE);
    cr_assert_eq(cf_future_result_str(fs[1], 0, &s, &len), CF_ETYPE);
    const msgpack_object *o;
    cr_assert_eq(cf_future_result(fs[3], 0, &o), 0);
    cr_assert_eq(o->type, MSGPACK_OBJECT_NIL);
    for (int k = 0; k < 4; k++)
        cf_future_release(fs[k]);
}

/* ---------------------------------------------- completion from threads */

Test(future, result_set_by_other_thread, .timeout = 20)
{
    cf_future *f = support_pending(), *g = support_pending();
    struct later l1, l2;
    later_start(&l1, f, DO_RESULT, 42);
    int64_t v = 0;
    cr_assert_eq(cf_future_result_i64(f, CF_FOREVER, &v), 0);
    cr_assert_eq(v, 42);
    later_join(&l1);
    later_start(&l2, g, DO_RESULT, -8);
    v = 0;
    cr_assert_eq(cf_future_result_i64(g, 15.0, &v), 0);
    cr_assert_eq(v, -8);
    later_join(&l2);
    cf_future_release(f);
    cf_future_release(g);
}

Test(future, result_cancelled_by_other_thread, .timeout = 20)
{
    cf_future *f = support_pending();
    struct later l;
    later_start(&l, f, DO_CANCEL, 0);
    cr_assert_eq(cf_future_result(f, 15.0, NULL), CF_ECANCELLED);
    later_join(&l);
    assert_state(f, true, false, true);
    cf_future_release(f);
}

Test(future, error_set_by_other_thread, .timeout = 20)
{
    cf_future *f = support_pending(), *g = support_pending();
    struct later l1, l2;
    later_start(&l1, f, DO_ERROR, 0);
    cr_assert_eq(cf_future_error(f, CF_FOREVER), CF_ETASK);
    cr_assert_str_eq(cf_future_error_message(f), "late failure");
    later_join(&l1);
    /* exception() of a future that later succeeds is 0. */
    later_start(&l2, g, DO_RESULT, 5);
    cr_assert_eq(cf_future_error(g, 15.0), 0);
    later_join(&l2);
    cf_future_release(f);
    cf_future_release(g);
}

/* --------------------------------------------------------- callbacks */

Test(future, callbacks_run_in_order_with_result, .timeout = 20)
{
    cf_future *f = support_pending();
    struct cb_log log = {0};
    cr_assert_eq(cf_future_add_done_callback(f, cb_tag2, &log), 0);
    cr_assert_eq(cf_future_add_done_callback(f, cb_tag1, &log), 0);
    cr_assert_eq(cf_future_add_done_callback(f, cb_tag3, &log), 0);
    cr_assert_eq(atomic_load(&log.n), 0, "no callback before completion");
    cr_assert_eq(support_set_i64(f, 5), 0);
    cr_assert_eq(atomic_load(&log.n), 3);
    const int order[] = {2, 1, 3};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(log.tags[i], order[i], "callback %d", i);
        cr_assert_eq(log.seen_state[i], 2, "the callback sees the future finished");
        cr_assert_eq(log.value[i], 5);
        cr_assert(pthread_equal(log.thread[i], pthread_self()), "runs on the completer");
    }
    cf_future_release(f);
}

Test(future, callback_with_error, .timeout = 20)
{
    cf_future *f = support_pending();
    struct cb_log log = {0};
    cr_assert_eq(cf_future_add_done_callback(f, cb_tag1, &log), 0);
    cr_assert_eq(cf_future_set_error(f, CF_ETASK, "bad"), 0);
    cr_assert_eq(atomic_load(&log.n), 1);
    cr_assert_eq(log.seen_state[0], 3);
    cr_assert_eq(log.value[0], CF_ETASK);
    cf_future_release(f);
}

Test(future, callback_with_cancel, .timeout = 20)
{
    cf_future *f = support_pending();
    struct cb_log log = {0};
    cr_assert_eq(cf_future_add_done_callback(f, cb_tag1, &log), 0);
    cr_assert_eq(cf_future_add_done_callback(f, cb_tag2, &log), 0);
    cr_assert(cf_future_cancel(f));
    cr_assert_eq(atomic_load(&log.n), 2, "cancel runs the callbacks in the caller");
    cr_assert_eq(log.seen_state[0], 1);
    cr_assert_eq(log.seen_state[1], 1);
    cr_assert_eq(log.value[0], CF_ECANCELLED);
    /* Cancel again, set_*: nothing runs twice. */
    cr_assert(cf_future_cancel(f));
    cr_assert_eq(support_set_i64(f, 1), -EINVAL);
    cr_assert_eq(cf_future_set_error(f, CF_ETASK, "x"), -EINVAL);
    cr_assert_eq(atomic_load(&log.n), 2);
    cf_future_release(f);
}

Test(future, callbacks_run_once, .timeout = 20)
{
    cf_future *f = support_pending();
    struct cb_log log = {0};
    cr_assert_eq(cf_future_add_done_callback(f, cb_tag1, &log), 0);
    cr_assert_eq(cf_future_set_running(f), 0);
    cr_assert_eq(atomic_load(&log.n), 0, "set_running is no completion");
    cr_assert_eq(support_set_i64(f, 3), 0);
    cr_assert_eq(support_set_i64(f, 4), -EINVAL);
    cr_assert_eq(cf_future_set_error(f, CF_ETASK, "x"), -EINVAL);
    cr_assert_not(cf_future_cancel(f));
    cr_assert_eq(atomic_load(&log.n), 1);
    /* Adding one later runs only the new one. */
    cr_assert_eq(cf_future_add_done_callback(f, cb_tag2, &log), 0);
    cr_assert_eq(atomic_load(&log.n), 2);
    cr_assert_eq(log.tags[1], 2);
    cf_future_release(f);
}

Test(future, callback_added_after_completion_runs_now, .timeout = 20)
{
    cf_future *ok = support_pending(), *bad = support_pending(), *cc = support_pending();
    struct cb_log log = {0};
    cr_assert_eq(support_set_i64(ok, 11), 0);
    cr_assert_eq(cf_future_set_error(bad, CF_ETASK, "test"), 0);
    cr_assert(cf_future_cancel(cc));
    cr_assert_eq(cf_future_add_done_callback(ok, cb_tag1, &log), 0);
    cr_assert_eq(atomic_load(&log.n), 1, "ran before add returned");
    cr_assert_eq(cf_future_add_done_callback(bad, cb_tag2, &log), 0);
    cr_assert_eq(atomic_load(&log.n), 2);
    cr_assert_eq(cf_future_add_done_callback(cc, cb_tag3, &log), 0);
    cr_assert_eq(atomic_load(&log.n), 3);
    cr_assert_eq(log.tags[0], 1);
    cr_assert_eq(log.value[0], 11);
    cr_assert_eq(log.seen_state[0], 2);
    cr_assert_eq(log.tags[1], 2);
    cr_assert_eq(log.value[1], CF_ETASK);
    cr_assert_eq(log.seen_state[1], 3);
    cr_assert_eq(log.tags[2], 3);
    cr_assert_eq(log.seen_state[2], 1);
    for (int i = 0; i < 3; i++)
        cr_assert(pthread_equal(log.thread[i], pthread_self()));
    cf_future_release(ok);
    cf_future_release(bad);
    cf_future_release(cc);
}

/* A failing callback is reported on stderr (captured here, so that a
 * passing run prints nothing), named so that it can be found: a static
 * function has no dynamic symbol, so by its file and offset, which
 * addr2line turns into the name. */
static void expect_callback_reports(int n)
{
    char text[4096];
    support_stderr_end(text, sizeof(text));
    int lines = 0;
    for (const char *p = text; (p = strstr(p, "cfutures: done-callback ")); p++)
        lines++;
    cr_assert_eq(lines, n, "stderr: %s", text);
    cr_assert(strstr(text, "failed: task failed") && !strstr(text, "done-callback 0x"), "%s",
              text);
    char cmd[1024];
    const char *how = strstr(text, "addr2line -f -e ");
    cr_assert_not_null(how, "%s", text);
    int k = snprintf(cmd, sizeof(cmd), "%.*s", (int)strcspn(how, ")"), how);
    cr_assert(k > 0 && (size_t)k < sizeof(cmd));
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    char out[256] = "";
    size_t got = fread(out, 1, sizeof(out) - 1, p);
    out[got] = '\0';
    pclose(p);
    cr_assert(strstr(out, "cb_fails"), "%s gave: %s", cmd, out);
}

Test(future, failing_callback_does_not_stop_others, .timeout = 20)
{
    support_stderr_begin();
    cf_future *f = support_pending(), *g = support_pending();
    struct cb_log log = {0};
    cr_assert_eq(cf_future_add_done_callback(f, cb_tag1, &log), 0);
    cr_assert_eq(cf_future_add_done_callback(f, cb_fails, &log), 0);
    cr_assert_eq(cf_future_add_done_callback(f, cb_tag2, &log), 0);
    cr_assert_eq(support_set_i64(f, 1), 0, "a failing callback does not fail set_result");
    cr_assert_eq(atomic_load(&log.n), 3);
    cr_assert_eq(log.tags[0], 1);
    cr_assert_eq(log.tags[1], 9);
    cr_assert_eq(log.tags[2], 2);
    /* Added after completion: the error is reported, not returned. */
    cr_assert_eq(support_set_i64(g, 2), 0);
    cr_assert_eq(cf_future_add_done_callback(g, cb_fails, &log), 0);
    cr_assert_eq(atomic_load(&log.n), 4);
    cf_future_release(f);
    cf_future_release(g);
    expect_callback_reports(2);
}

Test(future, callback_runs_on_completing_thread, .timeout = 20)
{
    cf_future *f = support_pending();
    struct cb_log log = {0};
    struct later l;
    cr_assert_eq(cf_future_add_done_callback(f, cb_tag1, &log), 0);
    later_start(&l, f, DO_RESULT, 9);
    cr_assert_eq(cf_future_error(f, CF_FOREVER), 0);
    later_join(&l);
    cr_assert_eq(atomic_load(&log.n), 1);
    cr_assert(pthread_equal(log.thread[0], l.completer));
    cr_assert_not(pthread_equal(log.thread[0], pthread_self()));
    cr_assert_eq(log.value[0], 9);
    cf_future_release(f);
}

/* Adding callbacks while another thread completes: each runs exactly once,
 * either on the completer or (added late) in the adder. */
struct race {
    cf_future *f;
    atomic_int go;
};

static int cb_count(cf_future *f, void *arg)
{
    (void)f;
    atomic_fetch_add((atomic_int *)arg, 1);
    return 0;
}

static void *race_complete(void *arg)
{
    struct race *r = arg;
    while (!atomic_load(&r->go))
        ;
    support_set_i64(r->f, 1);
    return NULL;
}

Test(future, callbacks_race_with_completion, .timeout = 20)
{
    for (int round = 0; round < 200; round++) {
        struct race r = {.f = support_pending()};
        atomic_int count = 0;
        pthread_t th;
        cr_assert_eq(pthread_create(&th, NULL, race_complete, &r), 0);
        atomic_store(&r.go, 1);
        for (int i = 0; i < 50; i++)
            cr_assert_eq(cf_future_add_done_callback(r.f, cb_count, &count), 0);
        pthread_join(th, NULL);
        cr_assert_eq(atomic_load(&count), 50, "round %d", round);
        cf_future_release(r.f);
    }
}

/* ------------------------------------------------------- refcounting */

static int cb_release(cf_future *f, void *arg)
{
    (void)arg;
    cf_future_release(f); /* drops the reference the test handed over */
    return 0;
}

Test(future, refcounting, .timeout = 20)
{
    cf_future *f = support_pending();
    cr_assert_eq(cf_future_retain(f), f);
    cr_assert_null(cf_future_retain(NULL));
    cf_future_release(NULL);
    cf_future_release(f); /* one reference left */
    cr_assert_eq(support_set_i64(f, 77), 0);
    int64_t v = 0;
    cr_assert_eq(cf_future_result_i64(f, 0, &v), 0);
    cr_assert_eq(v, 77);
    /* Many holders: the result stays readable until the last release. */
    for (int i = 0; i < 10; i++)
        cf_future_retain(f);
    for (int i = 0; i < 10; i++)
        cf_future_release(f);
    v = 0;
    cr_assert_eq(cf_future_result_i64(f, 0, &v), 0);
    cr_assert_eq(v, 77);
    /* A callback may drop a reference it was given. */
    cf_future *g = support_pending();
    cr_assert_eq(cf_future_add_done_callback(g, cb_release, NULL), 0);
    cf_future_retain(g);
    cr_assert_eq(support_set_i64(g, 1), 0);
    cr_assert_eq(cf_future_result_i64(g, 0, &v), 0);
    cr_assert_eq(v, 1);
    cf_future_release(g);
    cf_future_release(f);
}

struct retainer {
    cf_future *f;
};

static void *retain_release_many(void *arg)
{
    struct retainer *r = arg;
    for (int i = 0; i < 10000; i++) {
        cf_future_retain(r->f);
        cf_future_release(r->f);
    }
    return NULL;
}

Test(future, refcounting_threads, .timeout = 20)
{
    struct retainer r = {support_pending()};
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, retain_release_many, &r), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    /* Still alive with exactly one reference (ASan would see a use after
     * free or a leak otherwise). */
    cr_assert_eq(support_set_i64(r.f, 3), 0);
    cf_future_release(r.f);
}

/* ---------------------------------------------------- process pool */

Test(future, pool_result_and_error, .fini = support_teardown, .timeout = 20)
{
    support_start_pool(2);
    cf_future *ok = NULL, *bad = NULL;
    cr_assert_eq(cf_submit(support_pool, support_mul, &ok, "ii", (int64_t)6, (int64_t)7), 0);
    cr_assert_eq(cf_submit(support_pool, fut_fail, &bad, "i", (int64_t)13), 0);
    int64_t v = 0;
    cr_assert_eq(cf_future_result_i64(ok, CF_FOREVER, &v), 0);
    cr_assert_eq(v, 6 * 7);
    assert_state(ok, true, false, false);
    cr_assert_eq(cf_future_error(bad, CF_FOREVER), CF_ETASK);
    cr_assert_eq(cf_future_result(bad, 0, NULL), CF_ETASK);
    cr_assert_str_eq(cf_future_error_message(bad), "fut_fail: bad n 13");
    assert_state(bad, true, false, false);
    cr_assert_not(cf_future_cancel(ok));
    cr_assert_not(cf_future_cancel(bad));
    cr_assert_eq(support_set_i64(ok, 1), -EINVAL, "a pool future that is done rejects set_*");
    cf_future_release(ok);
    cf_future_release(bad);
}

Test(future, pool_running_pending_and_cancel, .fini = support_teardown, .timeout = 20)
{
    support_start_pool(1);
    const char *g = support_gate_new();
    cf_future *busy = NULL, *queued = NULL, *after = NULL;
    struct cb_log log = {0};
    busy = support_submit_gate(support_pool, g, 1);
    await_running(busy);
    assert_state(busy, false, true, false);
    /* The single worker is inside the gate: these wait in the ring. */
    cr_assert_eq(cf_submit(support_pool, support_mul, &queued, "ii", (int64_t)3, (int64_t)4), 0);
    cr_assert_eq(cf_submit(support_pool, support_mul, &after, "ii", (int64_t)5, (int64_t)6), 0);
    assert_state(queued, false, false, false);
    cr_assert_eq(cf_future_result(busy, 0, NULL), -ETIMEDOUT);
    cr_assert_eq(cf_future_result(queued, 0.05, NULL), -ETIMEDOUT);
    cr_assert_eq(cf_future_add_done_callback(queued, cb_tag1, &log), 0);

    cr_assert_not(cf_future_cancel(busy), "a running task cannot be cancelled");
    cr_assert(cf_future_cancel(queued));
    cr_assert_eq(atomic_load(&log.n), 1, "cancel ran the callback");
    cr_assert_eq(log.seen_state[0], 1);
    assert_state(queued, true, false, true);
    cr_assert_eq(cf_future_result(queued, CF_FOREVER, NULL), CF_ECANCELLED);
    cr_assert(cf_future_cancel(queued));

    support_gate_open(g);
    int64_t v = 0;
    cr_assert_eq(cf_future_result_i64(busy, CF_FOREVER, &v), 0);
    cr_assert_eq(v, 1);
    cr_assert_eq(cf_future_result_i64(after, CF_FOREVER, &v), 0);
    cr_assert_eq(v, 30, "the task after the cancelled one still runs");
    cr_assert_eq(atomic_load(&log.n), 1);
    cf_future_release(busy);
    cf_future_release(queued);
    cf_future_release(after);
}

Test(future, pool_callbacks_on_collector, .fini = support_teardown, .timeout = 20)
{
    support_start_pool(2);
    const char *g = support_gate_new();
    cf_future *f = NULL;
    struct cb_log log = {0};
    f = support_submit_gate(support_pool, g, 1);
    cr_assert_eq(cf_future_add_done_callback(f, cb_tag1, &log), 0);
    cr_assert_eq(cf_future_add_done_callback(f, cb_tag2, &log), 0);
    cr_assert_eq(cf_future_result(f, 0, NULL), -ETIMEDOUT);
    cr_assert_eq(atomic_load(&log.n), 0);
    support_gate_open(g);
    cr_assert_eq(cf_future_error(f, CF_FOREVER), 0);
    /* The callbacks run after waiters are woken: bounded poll for them. */
    for (int i = 0; i < 10000 && atomic_load(&log.done) < 2; i++)
        support_sleep_ms(1);
    cr_assert_eq(atomic_load(&log.done), 2);
    cr_assert_eq(log.tags[0], 1);
    cr_assert_eq(log.tags[1], 2);
    cr_assert_eq(log.value[0], 1);
    cr_assert_not(pthread_equal(log.thread[0], pthread_self()),
                  "a callback added before completion runs on the collector");
    /* Added after completion: runs here, now. */
    cr_assert_eq(cf_future_add_done_callback(f, cb_tag3, &log), 0);
    cr_assert_eq(atomic_load(&log.n), 3);
    cr_assert(pthread_equal(log.thread[2], pthread_self()));
    cf_future_release(f);
}

Test(future, pool_result_timeout_then_success, .fini = support_teardown, .timeout = 20)
{
    support_start_pool(2);
    const char *g = support_gate_new();
    cf_future *f = NULL;
    f = support_submit_gate(support_pool, g, 1);
    int64_t v = -1;
    cr_assert_eq(cf_future_result_i64(f, 0, &v), -ETIMEDOUT);
    cr_assert_eq(cf_future_result_i64(f, 0.1, &v), -ETIMEDOUT);
    cr_assert_eq(cf_future_error(f, 0.05), -ETIMEDOUT);
    cr_assert_eq(v, -1);
    cr_assert_not(cf_future_done(f));
    support_gate_open(g);
    cr_assert_eq(cf_future_result_i64(f, 15.0, &v), 0);
    cr_assert_eq(v, 1);
    cf_future_release(f);
}

Test(future, pool_future_outlives_executor, .fini = support_teardown, .timeout = 20)
{
    support_start_pool(2);
    cf_future *f = NULL;
    cr_assert_eq(cf_submit(support_pool, support_mul, &f, "ii", (int64_t)-9, (int64_t)9), 0);
    cf_executor_release(support_pool); /* waits for the task */
    support_pool = NULL;
    assert_state(f, true, false, false);
    int64_t v = 0;
    cr_assert_eq(cf_future_result_i64(f, 0, &v), 0);
    cr_assert_eq(v, -81);
    cf_future_release(f);
}

/* Fire and forget: the only user reference is dropped by the callback,
 * on the collector thread; the pool must hold its own while completing. */
static int cb_release_and_flag(cf_future *f, void *arg)
{
    int64_t v = 0;
    int rc = cf_future_result_i64(f, 0, &v);
    cf_future_release(f);
    atomic_store((atomic_long *)arg, rc == 0 ? (long)v : -1);
    return 0;
}

Test(future, pool_callback_drops_last_reference, .fini = support_teardown, .timeout = 20)
{
    support_start_pool(2);
    atomic_long flags[8];
    for (int i = 0; i < 8; i++) {
        cf_future *f = NULL;
        atomic_init(&flags[i], 0);
        cr_assert_eq(cf_submit(support_pool, support_mul, &f, "ii", (int64_t)i + 1, (int64_t)100),
                     0);
        cr_assert_eq(cf_future_add_done_callback(f, cb_release_and_flag, &flags[i]), 0);
        /* f may be gone from here on: not touched again. */
    }
    cr_assert_eq(cf_executor_shutdown(support_pool, CF_WAIT, false), 0);
    for (int i = 0; i < 8; i++) {
        for (int k = 0; k < 10000 && atomic_load(&flags[i]) == 0; k++)
            support_sleep_ms(1);
        cr_assert_eq(atomic_load(&flags[i]), (long)(i + 1) * 100, "future %d", i);
    }
}

/* msgpack-c cannot unpack arbitrarily deep values: set_result refuses
 * them up front rather than failing later in result(). */
static size_t nest_arrays(unsigned char *b, size_t depth)
{
    for (size_t i = 0; i < depth; i++)
        b[i] = 0x91; /* fixarray of one */
    b[depth] = 0x07;
    return depth + 1;
}

Test(future, set_result_depth, .timeout = 20)
{
    unsigned char b[256];
    cf_future *deep = support_pending(), *shallow = support_pending();
    cr_assert_eq(cf_future_set_result(deep, b, nest_arrays(b, 200)), CF_EPROTO);
    assert_state(deep, false, false, false);
    cr_assert_eq(cf_future_set_result(shallow, b, nest_arrays(b, 8)), 0);
    const msgpack_object *o;
    for (int k = 0; k < 2; k++) { /* unpacked once, read twice */
        cr_assert_eq(cf_future_result(shallow, 0, &o), 0);
        for (int i = 0; i < 8; i++) {
            cr_assert_eq(o->type, MSGPACK_OBJECT_ARRAY);
            cr_assert_eq(o->via.array.size, 1);
            o = &o->via.array.ptr[0];
        }
        cr_assert_eq(o->via.u64, 7);
    }
    cf_future_release(deep);
    cf_future_release(shallow);
}
