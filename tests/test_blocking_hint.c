/* The blocking hint (executor/executor.h, ops.blocking): every wait that
 * is about to sleep on pending futures tells their executors, once each,
 * and only then. The thread pool uses it to stop holding its threads back
 * when its submitter waits for results (executor/thread_pool.c, hold).
 * Checked with a stand-in executor that only counts the calls: futures it
 * "owns" stay pending until the test cancels them. The waits below time
 * out on purpose (10 ms): the assertions count calls, never time. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include <cfutures.h>

#include "executor/executor.h"
#include "executor/future_internal.h"

struct counting_executor {
    cf_executor base;
    atomic_int blocking_calls;
};

static bool fake_cancel(cf_executor *ex, cf_future *f)
{
    (void)ex;
    return cf__future_mark_cancelled(f);
}

static int fake_shutdown(cf_executor *ex, bool wait, bool cancel_futures)
{
    (void)ex;
    (void)wait;
    (void)cancel_futures;
    return 0;
}

static void fake_destroy(cf_executor *ex)
{
    free(ex);
}

static int fake_workers(const cf_executor *ex)
{
    (void)ex;
    return 1;
}

static void fake_blocking(cf_executor *ex)
{
    atomic_fetch_add(&((struct counting_executor *)ex)->blocking_calls, 1);
}

static const struct cf__executor_ops fake_ops = {
    .cancel = fake_cancel,
    .shutdown = fake_shutdown,
    .destroy = fake_destroy,
    .workers = fake_workers,
    .blocking = fake_blocking,
};

static struct counting_executor *fake_new(void)
{
    struct counting_executor *c = cf__executor_alloc(sizeof(*c));
    cr_assert_not_null(c);
    c->base.ops = &fake_ops;
    return c;
}

static int calls(struct counting_executor *c)
{
    return atomic_load(&c->blocking_calls);
}

static cf_future *pending_of(struct counting_executor *c)
{
    cf_future *f = cf__future_new(false, false, 0);
    cr_assert_not_null(f);
    f->owner = &c->base;
    return f;
}

static cf_future *done_future(void)
{
    cf_future *f;
    cr_assert_eq(cf_future_create(&f), 0);
    cr_assert_eq(cf_future_set_result(f, "\x01", 1), 0); /* msgpack 1 */
    return f;
}

/* Cancels what is still pending, releases all, frees the executors. */
static void finish(cf_future **fs, size_t n, struct counting_executor **cs, size_t nc)
{
    for (size_t i = 0; i < n; i++) {
        cf__future_mark_cancelled(fs[i]);
        cf_future_release(fs[i]);
    }
    for (size_t i = 0; i < nc; i++) {
        cr_assert_eq(atomic_load(&cs[i]->base.calls), 0, "a call count was left raised");
        free(cs[i]);
    }
}

Test(blocking_hint, wait_tells_each_owner_once, .timeout = 10)
{
    struct counting_executor *a = fake_new(), *b = fake_new();
    cf_future *fs[5] = {pending_of(a), done_future(), pending_of(b), pending_of(a),
                        pending_of(b)};
    cr_assert_eq(cf_wait(fs, 5, CF_ALL_COMPLETED, 0.01, NULL), 1);
    cr_assert_eq(calls(a), 1);
    cr_assert_eq(calls(b), 1);
    struct counting_executor *cs[] = {a, b};
    finish(fs, 5, cs, 2);
}

Test(blocking_hint, no_hint_when_the_wait_does_not_sleep, .timeout = 10)
{
    struct counting_executor *a = fake_new();
    cf_future *fs[3] = {pending_of(a), done_future(), pending_of(a)};
    /* A poll never sleeps. */
    cr_assert_eq(cf_wait(fs, 3, CF_ALL_COMPLETED, 0, NULL), 1);
    /* Satisfied at once: FIRST_COMPLETED with one done. */
    cr_assert_eq(cf_wait(fs, 3, CF_FIRST_COMPLETED, 0.01, NULL), 1);
    cr_assert_eq(calls(a), 0);
    int64_t v;
    cr_assert_eq(cf_future_result_i64(fs[0], 0, &v), -ETIMEDOUT);
    cr_assert_eq(calls(a), 0);
    struct counting_executor *cs[] = {a};
    finish(fs, 3, cs, 1);
}

Test(blocking_hint, result_and_as_completed_tell_the_owner, .timeout = 10)
{
    struct counting_executor *a = fake_new();
    cf_future *fs[2] = {pending_of(a), pending_of(a)};
    int64_t v;
    cr_assert_eq(cf_future_result_i64(fs[0], 0.01, &v), -ETIMEDOUT);
    cr_assert_eq(calls(a), 1);
    cf_as_completed *it;
    cr_assert_eq(cf_as_completed_create(&it, fs, 2, 0.01), 0);
    cf_future *got;
    cr_assert_eq(cf_as_completed_next(it, &got), -ETIMEDOUT);
    cr_assert_eq(calls(a), 2);
    cf_as_completed_release(it);
    struct counting_executor *cs[] = {a};
    finish(fs, 2, cs, 1);
}

/* A wait on many futures pays for the hint a bounded number of looks: an
 * owner first seen far past them is not told. Futures already done do not
 * use up the looks at pending ones (results come back mostly in order). */
Test(blocking_hint, looks_at_a_bounded_number_of_futures, .timeout = 10)
{
    enum { N = 200 };
    struct counting_executor *near = fake_new(), *after_done = fake_new(), *far = fake_new();
    cf_future *fs[N];
    for (int i = 0; i < N; i++)
        fs[i] = i < 2       ? pending_of(near)
                : i == 40   ? pending_of(after_done)
                : i < N - 1 ? done_future()
                            : pending_of(far);
    cr_assert_eq(cf_wait(fs, N, CF_ALL_COMPLETED, 0.01, NULL), N - 4);
    cr_assert_eq(calls(near), 1);
    cr_assert_eq(calls(after_done), 1, "37 done futures used up the looks");
    cr_assert_eq(calls(far), 0);
    struct counting_executor *cs[] = {near, after_done, far};
    finish(fs, N, cs, 3);
}

Test(blocking_hint, as_completed_poll_sends_no_hint, .timeout = 10)
{
    struct counting_executor *a = fake_new();
    cf_future *fs[1] = {pending_of(a)};
    cf_as_completed *it;
    cr_assert_eq(cf_as_completed_create(&it, fs, 1, 0), 0);
    cf_future *got;
    cr_assert_eq(cf_as_completed_next(it, &got), -ETIMEDOUT);
    cr_assert_eq(calls(a), 0);
    cf_as_completed_release(it);
    struct counting_executor *cs[] = {a};
    finish(fs, 1, cs, 1);
}
