/* tests/test_wait.c — cf_wait, after CPython's WaitTests in
 * Lib/test/test_concurrent_futures: FIRST_COMPLETED, FIRST_EXCEPTION and
 * ALL_COMPLETED over mixes of stand-alone futures in fixed states and
 * futures of a real process pool, already-completed sets, duplicates,
 * timeouts (partial counts), done_mask and argument checks.
 *
 * A pool task that must stay unfinished blocks on a gate file that the
 * test creates when it is time; no assertion depends on elapsed time.
 */
#include <cfutures.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "support.h"

/* ---------------------------------------------------------------- tasks */

/* Python's divmod(x, 0): fails at once. */
static int wait_div(const msgpack_object *args, msgpack_packer *out)
{
    int64_t x, y;
    if (cf_arg_i64(args, 0, &x) < 0 || cf_arg_i64(args, 1, &y) < 0)
        return cf_task_fail("wait_div: expected two integers");
    if (y == 0)
        return cf_task_fail("wait_div: division by zero");
    return msgpack_pack_int64(out, x / y);
}
CF_TASK(wait_div);

/* Holds like support_gate until its gate opens, then fails (sleep_and_raise). */
static int wait_gate_fail(const msgpack_object *args, msgpack_packer *out)
{
    (void)out;
    int rc = support_gate_hold(args, NULL);
    if (rc != 0)
        return rc;
    return cf_task_fail("wait_gate_fail: this is an error");
}
CF_TASK(wait_gate_fail);

/* --------------------------------------------- stand-alone fixtures */

static cf_future *submit_div(int64_t x, int64_t y)
{
    cf_future *f = NULL;
    cr_assert_eq(cf_submit(support_pool, wait_div, &f, "ii", x, y), 0);
    return f;
}

static cf_future *submit_gate(cf_task_fn fn, const char *g)
{
    cf_future *f = NULL;
    cr_assert_eq(cf_submit(support_pool, fn, &f, "si", g, (int64_t)1), 0);
    return f;
}

static void assert_mask(const bool *got, const bool *want, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(got[i], want[i], "done_mask[%zu]: got %d, want %d", i, got[i], want[i]);
}

/* The number of distinct done entries, computed from the predicates. */
static int count_done(cf_future *const *fs, size_t n)
{
    int c = 0;
    for (size_t i = 0; i < n; i++) {
        bool seen = false;
        for (size_t j = 0; j < i; j++)
            seen |= fs[j] == fs[i];
        if (!seen && cf_future_done(fs[i]))
            c++;
    }
    return c;
}

/* A thread completing stand-alone futures, or opening a gate, later. */
enum action { DO_RESULT, DO_ERROR, DO_CANCEL, DO_GATE };
struct later {
    pthread_t th;
    cf_future *f;
    const char *gate;
    enum action action;
    int rc;
};

static void *later_main(void *arg)
{
    struct later *l = arg;
    support_sleep_ms(50);
    switch (l->action) {
    case DO_RESULT: l->rc = support_set_i64(l->f, 1); break;
    case DO_ERROR: l->rc = cf_future_set_error(l->f, CF_ETASK, "late"); break;
    case DO_CANCEL: l->rc = cf_future_cancel(l->f) ? 0 : -1; break;
    case DO_GATE: {
        l->rc = support_gate_try_open(l->gate) ? 0 : -errno;
        break;
    }
    }
    return NULL;
}

static void later_start(struct later *l, cf_future *f, const char *gate, enum action a)
{
    *l = (struct later){.f = f, .gate = gate, .action = a, .rc = 99};
    cr_assert_eq(pthread_create(&l->th, NULL, later_main, l), 0);
}

static void later_join(struct later *l)
{
    pthread_join(l->th, NULL);
    cr_assert_eq(l->rc, 0, "the later thread failed: %d", l->rc);
}

/* ------------------------------------------------------------ arguments */

Test(wait, invalid_arguments, .timeout = 20)
{
    cf_future *f = support_succeeded(42), *p = support_pending();
    cf_future *with_null[] = {f, NULL};
    bool mask[2];
    cr_assert_eq(cf_wait(NULL, 1, CF_ALL_COMPLETED, 0, NULL), -EINVAL);
    cr_assert_eq(cf_wait(with_null, 2, CF_ALL_COMPLETED, 0, mask), -EINVAL);
    cr_assert_eq(cf_wait(&f, 1, (enum cf_return_when)7, 0, NULL), -EINVAL);
    cr_assert_eq(cf_wait(&f, 1, (enum cf_return_when)-1, 0, NULL), -EINVAL);
    /* A bad call must not leave a waiter linked: completing p is safe. */
    cf_future *pp[] = {p, NULL};
    cr_assert_eq(cf_wait(pp, 2, CF_FIRST_COMPLETED, CF_FOREVER, NULL), -EINVAL);
    cr_assert_eq(support_set_i64(p, 1), 0);
    cf_future_release(f);
    cf_future_release(p);
}

Test(wait, empty_set, .timeout = 20)
{
    const enum cf_return_when modes[] = {CF_FIRST_COMPLETED, CF_FIRST_EXCEPTION,
                                         CF_ALL_COMPLETED};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(cf_wait(NULL, 0, modes[i], CF_FOREVER, NULL), 0, "mode %d", i);
        cr_assert_eq(cf_wait(NULL, 0, modes[i], 0, NULL), 0);
    }
}

/* ------------------------------------------------ stand-alone futures */

Test(wait, states_count_only_done, .timeout = 20)
{
    cf_future *fs[] = {support_pending(), support_running(), support_cancelled(), support_failed(),
                       support_succeeded(42)};
    const bool want[] = {false, false, true, true, true};
    bool mask[5];
    memset(mask, 0xff, sizeof(mask));
    cr_assert_eq(cf_wait(fs, 5, CF_ALL_COMPLETED, 0, mask), 3);
    assert_mask(mask, want, 5);
    memset(mask, 0, sizeof(mask));
    cr_assert_eq(cf_wait(fs, 5, CF_FIRST_COMPLETED, 0.05, mask), 3);
    assert_mask(mask, want, 5);
    cr_assert_eq(cf_wait(fs, 5, CF_FIRST_EXCEPTION, 0, NULL), 3);
    /* Only the pending and the running ones: nothing done. */
    memset(mask, 0xff, sizeof(mask));
    cr_assert_eq(cf_wait(fs, 2, CF_FIRST_COMPLETED, 0.05, mask), 0);
    assert_mask(mask, want, 2);
    support_release_all(fs, 5);
}

Test(wait, first_exception_ignores_cancelled, .timeout = 20)
{
    cf_future *fs[] = {support_cancelled(), support_succeeded(42), support_pending()};
    bool mask[3];
    const bool want[] = {true, true, false};
    /* Neither a cancellation nor a success is an exception: times out. */
    cr_assert_eq(cf_wait(fs, 3, CF_FIRST_EXCEPTION, 0.05, mask), 2);
    assert_mask(mask, want, 3);
    /* Once the last finishes, FIRST_EXCEPTION returns as all are done. */
    cr_assert_eq(support_set_i64(fs[2], 5), 0);
    cr_assert_eq(cf_wait(fs, 3, CF_FIRST_EXCEPTION, CF_FOREVER, mask), 3);
    support_release_all(fs, 3);
}

Test(wait, wakes_on_completion_from_thread, .timeout = 20)
{
    cf_future *fs[] = {support_pending(), support_pending(), support_pending()};
    struct later l;
    bool mask[3];
    later_start(&l, fs[1], NULL, DO_RESULT);
    cr_assert_eq(cf_wait(fs, 3, CF_FIRST_COMPLETED, CF_FOREVER, mask), 1);
    later_join(&l);
    const bool want1[] = {false, true, false};
    assert_mask(mask, want1, 3);

    later_start(&l, fs[2], NULL, DO_ERROR);
    cr_assert_eq(cf_wait(fs, 3, CF_FIRST_EXCEPTION, CF_FOREVER, mask), 2);
    later_join(&l);
    const bool want2[] = {false, true, true};
    assert_mask(mask, want2, 3);

    /* A cancellation from another thread also wakes ALL_COMPLETED. */
    later_start(&l, fs[0], NULL, DO_CANCEL);
    cr_assert_eq(cf_wait(fs, 3, CF_ALL_COMPLETED, 15.0, mask), 3);
    later_join(&l);
    const bool want3[] = {true, true, true};
    assert_mask(mask, want3, 3);
    cr_assert(cf_future_cancelled(fs[0]));
    support_release_all(fs, 3);
}

Test(wait, running_future_is_not_done, .timeout = 20)
{
    cf_future *f = support_running();
    struct later l;
    bool mask[1] = {true};
    cr_assert_eq(cf_wait(&f, 1, CF_FIRST_COMPLETED, 0, mask), 0);
    cr_assert_not(mask[0]);
    later_start(&l, f, NULL, DO_RESULT);
    cr_assert_eq(cf_wait(&f, 1, CF_FIRST_COMPLETED, CF_FOREVER, mask), 1);
    later_join(&l);
    cr_assert(mask[0]);
    cf_future_release(f);
}

Test(wait, duplicates_count_once, .timeout = 20)
{
    cf_future *d = support_succeeded(42), *p = support_pending();
    cf_future *fs[] = {d, d, p, d, p};
    bool mask[5];
    const bool want[] = {true, true, false, true, false};
    cr_assert_eq(cf_wait(fs, 5, CF_ALL_COMPLETED, 0, mask), 1);
    assert_mask(mask, want, 5);
    cr_assert_eq(cf_wait(fs, 5, CF_FIRST_COMPLETED, CF_FOREVER, mask), 1);
    /* The same done future three times: everything is complete. */
    cf_future *same[] = {d, d, d};
    cr_assert_eq(cf_wait(same, 3, CF_ALL_COMPLETED, CF_FOREVER, mask), 1);
    /* A pending one given twice: one completion satisfies ALL_COMPLETED. */
    cf_future *pp[] = {p, p};
    struct later l;
    later_start(&l, p, NULL, DO_RESULT);
    cr_assert_eq(cf_wait(pp, 2, CF_ALL_COMPLETED, CF_FOREVER, mask), 1);
    later_join(&l);
    cr_assert(mask[0] && mask[1]);
    cr_assert_eq(cf_wait(fs, 5, CF_ALL_COMPLETED, 0, mask), 2);
    cf_future_release(d);
    cf_future_release(p);
}

static int by_address(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)*(cf_future *const *)a, y = (uintptr_t)*(cf_future *const *)b;
    return x < y ? -1 : x > y;
}

/* Many futures with duplicates, in the two orders cf_wait tells apart:
 * a few increasing runs (futures made in a loop; found by merging the
 * runs), and shuffled (by a hash set). Every copy after the first is
 * skipped, wherever it stands. */
Test(wait, many_duplicates_in_runs_and_shuffled, .timeout = 20)
{
    enum { DISTINCT = 200, COPIES = 120, N = DISTINCT + COPIES };
    static cf_future *distinct[DISTINCT], *fs[N];
    static bool mask[N];
    for (int i = 0; i < DISTINCT; i++)
        distinct[i] = i % 3 ? support_succeeded(i) : support_pending();
    size_t pending = (DISTINCT + 2) / 3;
    /* Three increasing runs: all of them, then two sorted sets of copies
     * (a copy may repeat a copy). */
    qsort(distinct, DISTINCT, sizeof(distinct[0]), by_address);
    memcpy(fs, distinct, sizeof(distinct));
    unsigned seed = 12345;
    for (int i = DISTINCT; i < N; i++) {
        seed = seed * 1103515245u + 12345u;
        fs[i] = distinct[(seed >> 8) % DISTINCT];
    }
    qsort(fs + DISTINCT, COPIES / 2, sizeof(fs[0]), by_address);
    qsort(fs + DISTINCT + COPIES / 2, COPIES - COPIES / 2, sizeof(fs[0]), by_address);
    cr_assert_eq(cf_wait(fs, N, CF_ALL_COMPLETED, 0, mask), (int)(DISTINCT - pending));
    for (int i = 0; i < N; i++)
        cr_assert_eq(mask[i], cf_future_done(fs[i]), "mask[%d]", i);
    /* Ten interleaved increasing runs of 40 sharing futures (below the
     * merge's limit of 64 runs, so the heap does the work): run r holds
     * every future whose index is r or r + 3 mod 10, in address order. */
    {
        static cf_future *many[2 * DISTINCT];
        size_t m = 0;
        for (int r = 0; r < 10; r++)
            for (int i = 0; i < DISTINCT; i++)
                if (i % 10 == r || i % 10 == (r + 3) % 10)
                    many[m++] = distinct[i];
        static bool many_mask[2 * DISTINCT];
        size_t runs = 1;
        for (size_t i = 1; i < m; i++)
            runs += (uintptr_t)many[i] <= (uintptr_t)many[i - 1];
        cr_assert(runs > 3 && runs <= 64, "%zu runs", runs);
        size_t distinct_seen = 0;
        for (int i = 0; i < DISTINCT; i++)
            for (size_t j = 0; j < m; j++)
                if (many[j] == distinct[i]) {
                    distinct_seen += cf_future_done(distinct[i]);
                    break;
                }
        cr_assert_eq(cf_wait(many, m, CF_ALL_COMPLETED, 0, many_mask), (int)distinct_seen);
        for (size_t j = 0; j < m; j++)
            cr_assert_eq(many_mask[j], cf_future_done(many[j]));
    }
    /* Shuffled: far more runs than are merged. */
    for (int i = N - 1; i > 0; i--) {
        seed = seed * 1103515245u + 12345u;
        int j = (int)((seed >> 8) % (unsigned)(i + 1));
        cf_future *t = fs[i];
        fs[i] = fs[j];
        fs[j] = t;
    }
    cr_assert_eq(cf_wait(fs, N, CF_ALL_COMPLETED, 0, mask), (int)(DISTINCT - pending));
    /* Decreasing order: every future is a run of its own. */
    qsort(fs, N, sizeof(fs[0]), by_address);
    for (int i = 0; i < N / 2; i++) {
        cf_future *t = fs[i];
        fs[i] = fs[N - 1 - i];
        fs[N - 1 - i] = t;
    }
    cr_assert_eq(cf_wait(fs, N, CF_ALL_COMPLETED, 0, mask), (int)(DISTINCT - pending));
    /* Sorted with every copy next to its original: one run broken at each
     * copy (equal is not increasing), fewer than the merge's limit only
     * if copies are few; either way the count is the same. */
    qsort(fs, N, sizeof(fs[0]), by_address);
    cr_assert_eq(cf_wait(fs, N, CF_ALL_COMPLETED, 0, mask), (int)(DISTINCT - pending));
    for (int i = 0; i < DISTINCT; i++)
        cf_future_release(distinct[i]);
}

Test(wait, timeout_then_completion_is_safe, .timeout = 20)
{
    /* A wait that timed out must have unlinked its (stack) waiter: a later
     * completion must not touch it (ASan sees a use after return). */
    for (int round = 0; round < 20; round++) {
        cf_future *fs[] = {support_pending(), support_pending()};
        cr_assert_eq(cf_wait(fs, 2, CF_ALL_COMPLETED, 0, NULL), 0);
        cr_assert_eq(cf_wait(fs, 2, CF_FIRST_COMPLETED, 0.001, NULL), 0);
        cr_assert_eq(support_set_i64(fs[0], 1), 0);
        cr_assert_eq(cf_wait(fs, 2, CF_FIRST_COMPLETED, 0, NULL), 1);
        cr_assert(cf_future_cancel(fs[1]));
        support_release_all(fs, 2);
    }
}

/* Many threads waiting on the same futures at once. */
struct waiter_arg {
    cf_future **fs;
    size_t n;
    int rc;
};

static void *wait_all_thread(void *arg)
{
    struct waiter_arg *w = arg;
    w->rc = cf_wait(w->fs, w->n, CF_ALL_COMPLETED, CF_FOREVER, NULL);
    return NULL;
}

Test(wait, concurrent_waiters, .timeout = 20)
{
    enum { N = 8, T = 4 };
    cf_future *fs[N];
    for (int i = 0; i < N; i++)
        fs[i] = support_pending();
    pthread_t th[T];
    struct waiter_arg wa[T];
    for (int t = 0; t < T; t++) {
        wa[t] = (struct waiter_arg){fs, N, -99};
        cr_assert_eq(pthread_create(&th[t], NULL, wait_all_thread, &wa[t]), 0);
    }
    support_sleep_ms(20);
    for (int i = 0; i < N; i++) {
        if (i % 3 == 0)
            cr_assert(cf_future_cancel(fs[i]));
        else if (i % 3 == 1)
            cr_assert_eq(support_set_i64(fs[i], i), 0);
        else
            cr_assert_eq(cf_future_set_error(fs[i], CF_ETASK, "x"), 0);
    }
    for (int t = 0; t < T; t++) {
        pthread_join(th[t], NULL);
        cr_assert_eq(wa[t].rc, N, "waiter %d", t);
    }
    support_release_all(fs, N);
}

/* ---------------------------------------------------- with a process pool */

Test(wait, first_completed, .init = support_setup, .fini = support_teardown, .timeout = 20)
{
    const char *g = support_gate_new();
    cf_future *fs[] = {support_pending(), support_submit_mul(21, 2), submit_gate(support_gate, g)};
    bool mask[3];
    const bool want[] = {false, true, false};
    cr_assert_eq(cf_wait(fs, 3, CF_FIRST_COMPLETED, CF_FOREVER, mask), 1);
    assert_mask(mask, want, 3);
    int64_t v = 0;
    cr_assert_eq(cf_future_result_i64(fs[1], 0, &v), 0);
    cr_assert_eq(v, 42);
    support_gate_open(g);
    cr_assert(cf_future_cancel(fs[0]));
    cr_assert_eq(cf_wait(fs, 3, CF_ALL_COMPLETED, CF_FOREVER, mask), 3);
    support_release_all(fs, 3);
}

Test(wait, first_completed_some_already_completed, .init = support_setup, .fini = support_teardown,
     .timeout = 20)
{
    const char *g = support_gate_new();
    cf_future *fs[] = {support_cancelled(), support_succeeded(42), submit_gate(support_gate, g)};
    bool mask[3];
    const bool want[] = {true, true, false};
    cr_assert_eq(cf_wait(fs, 3, CF_FIRST_COMPLETED, CF_FOREVER, mask), 2);
    assert_mask(mask, want, 3);
    cr_assert_not(cf_future_done(fs[2]));
    support_release_all(fs, 3);
}

Test(wait, first_exception, .init = support_setup, .fini = support_teardown, .timeout = 20)
{
    const char *gfail = support_gate_new(), *gslow = support_gate_new();
    cf_future *f1 = support_submit_mul(2, 21);
    int64_t v = 0;
    cr_assert_eq(cf_future_result_i64(f1, CF_FOREVER, &v), 0); /* done first */
    cr_assert_eq(v, 42);
    cf_future *fs[] = {f1, submit_gate(wait_gate_fail, gfail), submit_gate(support_gate, gslow)};
    bool mask[3];
    const bool want[] = {true, true, false};
    struct later l;
    later_start(&l, NULL, gfail, DO_GATE); /* the second fails later */
    cr_assert_eq(cf_wait(fs, 3, CF_FIRST_EXCEPTION, CF_FOREVER, mask), 2);
    later_join(&l);
    assert_mask(mask, want, 3);
    cr_assert_eq(cf_future_error(fs[1], 0), CF_ETASK);
    cr_assert_str_eq(cf_future_error_message(fs[1]), "wait_gate_fail: this is an error");
    cr_assert_not(cf_future_done(fs[2]));
    support_release_all(fs, 3);
}

Test(wait, first_exception_some_already_complete, .init = support_setup, .fini = support_teardown,
     .timeout = 20)
{
    const char *g = support_gate_new();
    cf_future *fs[] = {support_succeeded(42), support_pending(), support_cancelled(),
                       submit_div(21, 0), submit_gate(support_gate, g)};
    bool mask[5];
    const bool want[] = {true, false, true, true, false};
    cr_assert_eq(cf_wait(fs, 5, CF_FIRST_EXCEPTION, CF_FOREVER, mask), 3);
    assert_mask(mask, want, 5);
    cr_assert_eq(cf_future_error(fs[3], 0), CF_ETASK);
    cr_assert_str_eq(cf_future_error_message(fs[3]), "wait_div: division by zero");
    support_release_all(fs, 5);
}

Test(wait, first_exception_one_already_failed, .init = support_setup, .fini = support_teardown,
     .timeout = 20)
{
    const char *g = support_gate_new();
    cf_future *fs[] = {support_failed(), submit_gate(support_gate, g)};
    bool mask[2];
    const bool want[] = {true, false};
    cr_assert_eq(cf_wait(fs, 2, CF_FIRST_EXCEPTION, CF_FOREVER, mask), 1);
    assert_mask(mask, want, 2);
    support_release_all(fs, 2);
}

Test(wait, all_completed, .init = support_setup, .fini = support_teardown, .timeout = 20)
{
    cf_future *fs[] = {support_succeeded(42), support_cancelled(), support_failed(),
                       submit_div(2, 0), support_submit_mul(2, 21)};
    bool mask[5];
    const bool want[] = {true, true, true, true, true};
    cr_assert_eq(cf_wait(fs, 5, CF_ALL_COMPLETED, CF_FOREVER, mask), 5);
    assert_mask(mask, want, 5);
    cr_assert_eq(cf_future_error(fs[3], 0), CF_ETASK);
    int64_t v = 0;
    cr_assert_eq(cf_future_result_i64(fs[4], 0, &v), 0);
    cr_assert_eq(v, 42);
    support_release_all(fs, 5);
}

Test(wait, all_completed_many, .init = support_setup, .fini = support_teardown, .timeout = 20)
{
    enum { N = 40 };
    cf_future *fs[N];
    for (int i = 0; i < N; i++)
        fs[i] = support_submit_mul(i, i + 1);
    cr_assert_eq(cf_wait(fs, N, CF_ALL_COMPLETED, CF_FOREVER, NULL), N);
    for (int i = 0; i < N; i++) {
        int64_t v = -1;
        cr_assert(cf_future_done(fs[i]));
        cr_assert_eq(cf_future_result_i64(fs[i], 0, &v), 0);
        cr_assert_eq(v, (int64_t)i * (i + 1));
    }
    support_release_all(fs, N);
}

Test(wait, timeout_partial, .init = support_setup, .fini = support_teardown, .timeout = 20)
{
    const char *g = support_gate_new();
    cf_future *f1 = support_submit_mul(6, 7);
    cr_assert_eq(cf_future_error(f1, CF_FOREVER), 0);
    cf_future *fs[] = {support_cancelled(), support_failed(), support_succeeded(42), f1,
                       submit_gate(support_gate, g)};
    bool mask[5];
    const bool want[] = {true, true, true, true, false};
    cr_assert_eq(cf_wait(fs, 5, CF_ALL_COMPLETED, 0.2, mask), 4);
    assert_mask(mask, want, 5);
    cr_assert_eq(cf_wait(fs, 5, CF_ALL_COMPLETED, 0, mask), 4);
    assert_mask(mask, want, 5);
    cr_assert_eq(count_done(fs, 5), 4);
    support_gate_open(g);
    cr_assert_eq(cf_wait(fs, 5, CF_ALL_COMPLETED, 15.0, mask), 5);
    support_release_all(fs, 5);
}

Test(wait, mixed_pool_and_standalone, .init = support_setup, .fini = support_teardown,
     .timeout = 20)
{
    const char *g = support_gate_new();
    cf_future *sa = support_pending();
    cf_future *fs[] = {submit_gate(support_gate, g), sa, support_submit_mul(3, 3), sa};
    bool mask[4];
    struct later l1, l2;
    later_start(&l1, sa, NULL, DO_RESULT);
    later_start(&l2, NULL, g, DO_GATE);
    cr_assert_eq(cf_wait(fs, 4, CF_ALL_COMPLETED, CF_FOREVER, mask), 3);
    later_join(&l1);
    later_join(&l2);
    const bool want[] = {true, true, true, true};
    assert_mask(mask, want, 4);
    int64_t v = 0;
    cr_assert_eq(cf_future_result_i64(fs[0], 0, &v), 0);
    cr_assert_eq(v, 1);
    cr_assert_eq(cf_future_result_i64(fs[2], 0, &v), 0);
    cr_assert_eq(v, 9);
    cf_future_release(fs[0]);
    cf_future_release(sa);
    cf_future_release(fs[2]);
}
