/* tests/test_as_completed.c — cf_as_completed, after CPython's
 * AsCompletedTests in Lib/test/test_concurrent_futures: every future is
 * yielded once (already-done ones first, then in completion order),
 * duplicates once, the deadline counts from creation with the message
 * "N (of M) futures unfinished", an empty set ends at once, argument
 * checks, and mixes of process-pool and stand-alone futures.
 *
 * Pool tasks that must stay unfinished block on a gate file the test
 * creates; nothing asserts on elapsed time.
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

static int ac_fail(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    (void)out;
    return cf_task_fail("ac_fail: as requested");
}
CF_TASK(ac_fail);

/* ------------------------------------------------------------- helpers */

static int index_of(cf_future *const *fs, size_t n, const cf_future *f)
{
    for (size_t i = 0; i < n; i++)
        if (fs[i] == f)
            return (int)i;
    return -1;
}

/* Drains `it`; records which entries of fs were yielded (counting repeats)
 * in seen[], the order in order[]. Returns the final code. */
static int drain(cf_as_completed *it, cf_future *const *fs, size_t n, int *seen, int *order,
                 size_t *n_order)
{
    cf_future *f;
    int rc;
    *n_order = 0;
    while ((rc = cf_as_completed_next(it, &f)) == 0) {
        int i = index_of(fs, n, f);
        cr_assert_geq(i, 0, "yielded a future that was not given");
        cr_assert(cf_future_done(f), "yielded a future that is not done");
        seen[i]++;
        order[(*n_order)++] = i;
        cr_assert_leq(*n_order, n, "yielded too many");
    }
    return rc;
}

/* A thread completing stand-alone futures one after another, in order. */
struct later {
    pthread_t th;
    cf_future **fs;
    size_t n;
    const char *gate;
    int rc;
};

static void *later_main(void *arg)
{
    struct later *l = arg;
    l->rc = 0;
    for (size_t i = 0; i < l->n; i++) {
        support_sleep_ms(20);
        if (support_set_i64(l->fs[i], (int64_t)i) != 0)
            l->rc = -1;
    }
    if (l->gate) {
        support_sleep_ms(20);
        if (!support_gate_try_open(l->gate))
            l->rc = -2;
    }
    return NULL;
}

static void later_start(struct later *l, cf_future **fs, size_t n, const char *gate)
{
    *l = (struct later){.fs = fs, .n = n, .gate = gate, .rc = 99};
    cr_assert_eq(pthread_create(&l->th, NULL, later_main, l), 0);
}

static void later_join(struct later *l)
{
    pthread_join(l->th, NULL);
    cr_assert_eq(l->rc, 0, "the later thread failed: %d", l->rc);
}

/* ------------------------------------------------------------ arguments */

Test(as_completed, invalid_arguments, .timeout = 20)
{
    cf_as_completed *it = (cf_as_completed *)&it;
    cf_future *f = support_succeeded(1);
    cf_future *with_null[] = {f, NULL};
    cf_future *got;
    cr_assert_eq(cf_as_completed_create(NULL, &f, 1, CF_FOREVER), -EINVAL);
    cr_assert_eq(cf_as_completed_create(&it, NULL, 1, CF_FOREVER), -EINVAL);
    cr_assert_eq(cf_as_completed_create(&it, with_null, 2, CF_FOREVER), -EINVAL);
    cr_assert_eq(cf_as_completed_next(NULL, &got), -EINVAL);
    cr_assert_str_eq(cf_as_completed_message(NULL), "");
    cf_as_completed_release(NULL);
    cr_assert_eq(cf_as_completed_create(&it, &f, 1, CF_FOREVER), 0);
    cr_assert_eq(cf_as_completed_next(it, NULL), -EINVAL);
    cr_assert_eq(cf_as_completed_next(it, &got), 0);
    cr_assert_eq(got, f);
    cf_as_completed_release(it);
    cf_future_release(f);
}

Test(as_completed, empty_set, .timeout = 20)
{
    const double timeouts[] = {CF_FOREVER, 0, 1.0};
    for (int i = 0; i < 3; i++) {
        cf_as_completed *it = NULL;
        cf_future *got = NULL;
        cr_assert_eq(cf_as_completed_create(&it, NULL, 0, timeouts[i]), 0);
        cr_assert_not_null(it);
        cr_assert_eq(cf_as_completed_next(it, &got), CF_EEMPTY);
        cr_assert_eq(cf_as_completed_next(it, &got), CF_EEMPTY);
        cf_as_completed_release(it);
    }
}

/* ------------------------------------------------ stand-alone futures */

Test(as_completed, correct_timeout_message, .timeout = 20)
{
    cf_future *fs[] = {support_cancelled(), support_pending(), support_running(),
                       support_succeeded(42)};
    cf_as_completed *it;
    int seen[4] = {0}, order[4];
    size_t n_order;
    cr_assert_eq(cf_as_completed_create(&it, fs, 4, 0), 0);
    cr_assert_eq(drain(it, fs, 4, seen, order, &n_order), -ETIMEDOUT);
    cr_assert_eq(n_order, 2);
    cr_assert_eq(order[0], 0, "already-done ones come first, in the given order");
    cr_assert_eq(order[1], 3);
    cr_assert_str_eq(cf_as_completed_message(it), "2 (of 4) futures unfinished");
    /* The deadline has passed: still a timeout. */
    cf_future *got;
    cr_assert_eq(cf_as_completed_next(it, &got), -ETIMEDOUT);
    cr_assert_str_eq(cf_as_completed_message(it), "2 (of 4) futures unfinished");
    cf_as_completed_release(it);
    support_release_all(fs, 4);
}

Test(as_completed, positive_timeout, .timeout = 20)
{
    cf_future *fs[] = {support_pending(), support_failed(), support_pending()};
    cf_as_completed *it;
    cf_future *got = NULL;
    cr_assert_eq(cf_as_completed_create(&it, fs, 3, 0.1), 0);
    cr_assert_eq(cf_as_completed_next(it, &got), 0);
    cr_assert_eq(got, fs[1]);
    cr_assert_eq(cf_as_completed_next(it, &got), -ETIMEDOUT);
    cr_assert_str_eq(cf_as_completed_message(it), "2 (of 3) futures unfinished");
    cf_as_completed_release(it);
    /* Completing them after the iterator is gone is safe (unlinked). */
    cr_assert_eq(support_set_i64(fs[0], 1), 0);
    cr_assert(cf_future_cancel(fs[2]));
    support_release_all(fs, 3);
}

Test(as_completed, duplicates_once, .timeout = 20)
{
    cf_future *p = support_pending(), *s = support_succeeded(3);
    cf_future *fs[] = {p, s, p, s, p};
    cf_as_completed *it;
    cf_future *got = NULL;
    cr_assert_eq(cf_as_completed_create(&it, fs, 5, 0), 0);
    cr_assert_eq(cf_as_completed_next(it, &got), 0);
    cr_assert_eq(got, s);
    cr_assert_eq(cf_as_completed_next(it, &got), -ETIMEDOUT);
    cr_assert_str_eq(cf_as_completed_message(it), "1 (of 2) futures unfinished");
    cf_as_completed_release(it);

    /* The same pending future three times, completed later: once. */
    cf_future *same[] = {p, p, p};
    struct later l;
    int seen[3] = {0}, order[3];
    size_t n_order;
    cr_assert_eq(cf_as_completed_create(&it, same, 3, CF_FOREVER), 0);
    later_start(&l, &p, 1, NULL);
    cr_assert_eq(drain(it, same, 3, seen, order, &n_order), CF_EEMPTY);
    later_join(&l);
    cr_assert_eq(n_order, 1);
    cr_assert_eq(seen[0], 1);
    cf_as_completed_release(it);
    cf_future_release(p);
    cf_future_release(s);
}

Test(as_completed, completion_order, .timeout = 20)
{
    cf_future *fs[] = {support_pending(), support_pending(), support_pending(), support_pending()};
    /* Completed by one thread in the order 2, 0, 3, 1. */
    cf_future *by[] = {fs[2], fs[0], fs[3], fs[1]};
    const int want[] = {2, 0, 3, 1};
    cf_as_completed *it;
    int seen[4] = {0}, order[4];
    size_t n_order;
    struct later l;
    cr_assert_eq(cf_as_completed_create(&it, fs, 4, CF_FOREVER), 0);
    later_start(&l, by, 4, NULL);
    cr_assert_eq(drain(it, fs, 4, seen, order, &n_order), CF_EEMPTY);
    later_join(&l);
    cr_assert_eq(n_order, 4);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(order[i], want[i], "position %d", i);
    /* Each yielded future carries what the thread set: its position in by[]. */
    for (int i = 0; i < 4; i++) {
        int64_t v = -1;
        cr_assert_eq(cf_future_result_i64(by[i], 0, &v), 0);
        cr_assert_eq(v, i);
    }
    cf_as_completed_release(it);
    support_release_all(fs, 4);
}

Test(as_completed, completion_order_without_waiting, .timeout = 20)
{
    /* Completed between next() calls, all before the second one: the
     * order is still the order of completion, not of the array. */
    cf_future *fs[] = {support_pending(), support_pending(), support_pending()};
    cf_as_completed *it;
    cf_future *got;
    cr_assert_eq(cf_as_completed_create(&it, fs, 3, CF_FOREVER), 0);
    cr_assert_eq(support_set_i64(fs[2], 20), 0);
    cr_assert_eq(cf_as_completed_next(it, &got), 0);
    cr_assert_eq(got, fs[2]);
    cr_assert_eq(support_set_i64(fs[1], 10), 0);
    cr_assert_eq(support_set_i64(fs[0], 0), 0);
    cr_assert_eq(cf_as_completed_next(it, &got), 0);
    cr_assert_eq(got, fs[1]);
    cr_assert_eq(cf_as_completed_next(it, &got), 0);
    cr_assert_eq(got, fs[0]);
    cr_assert_eq(cf_as_completed_next(it, &got), CF_EEMPTY);
    cf_as_completed_release(it);
    support_release_all(fs, 3);
}

Test(as_completed, cancel_is_yielded, .timeout = 20)
{
    cf_future *fs[] = {support_pending(), support_pending()};
    cf_as_completed *it;
    cf_future *got = NULL;
    cr_assert_eq(cf_as_completed_create(&it, fs, 2, 5.0), 0);
    cr_assert(cf_future_cancel(fs[1]));
    cr_assert_eq(cf_as_completed_next(it, &got), 0);
    cr_assert_eq(got, fs[1]);
    cr_assert(cf_future_cancelled(got));
    cr_assert_eq(cf_future_set_error(fs[0], CF_ETASK, "late"), 0);
    cr_assert_eq(cf_as_completed_next(it, &got), 0);
    cr_assert_eq(got, fs[0]);
    cr_assert_eq(cf_future_error(got, 0), CF_ETASK);
    cr_assert_eq(cf_as_completed_next(it, &got), CF_EEMPTY);
    cf_as_completed_release(it);
    support_release_all(fs, 2);
}

Test(as_completed, iterator_holds_references, .timeout = 20)
{
    /* Python's test_free_reference_yielded_future, turned around: the
     * iterator keeps its own references, so the caller may drop theirs
     * (ASan reports a use after free otherwise, LSan a leak if the
     * iterator kept them past release). */
    cf_future *fs[] = {support_succeeded(10), support_cancelled(), support_succeeded(30)};
    cf_as_completed *it;
    cr_assert_eq(cf_as_completed_create(&it, fs, 3, CF_FOREVER), 0);
    support_release_all(fs, 3);
    cf_future *got;
    int64_t sum = 0;
    int n = 0, cancelled = 0;
    while (cf_as_completed_next(it, &got) == 0) {
        int64_t v;
        if (cf_future_cancelled(got))
            cancelled++;
        else if (cf_future_result_i64(got, 0, &v) == 0)
            sum += v;
        n++;
    }
    cr_assert_eq(n, 3);
    cr_assert_eq(cancelled, 1);
    cr_assert_eq(sum, 10 + 30);
    cf_as_completed_release(it);
}

/* ---------------------------------------------------- with a process pool */

Test(as_completed, no_timeout, .init = support_setup, .fini = support_teardown, .timeout = 20)
{
    cf_future *fs[] = {support_cancelled(), support_failed(), support_succeeded(42),
                       support_submit_mul(2, 21), support_submit_mul(7, 6)};
    cf_as_completed *it;
    int seen[5] = {0}, order[5];
    size_t n_order;
    cr_assert_eq(cf_as_completed_create(&it, fs, 5, CF_FOREVER), 0);
    cr_assert_eq(drain(it, fs, 5, seen, order, &n_order), CF_EEMPTY);
    cr_assert_eq(n_order, 5);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(seen[i], 1, "entry %d yielded %d times", i, seen[i]);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(order[i], i, "already-done entries first");
    cf_future *got;
    cr_assert_eq(cf_as_completed_next(it, &got), CF_EEMPTY);
    for (int i = 3; i < 5; i++) {
        int64_t v = 0;
        cr_assert_eq(cf_future_result_i64(fs[i], 0, &v), 0);
        cr_assert_eq(v, 42);
    }
    cf_as_completed_release(it);
    support_release_all(fs, 5);
}

Test(as_completed, zero_timeout, .init = support_setup, .fini = support_teardown, .timeout = 20)
{
    const char *g = support_gate_new();
    cf_future *fs[] = {support_cancelled(), support_failed(), support_succeeded(42),
                       support_submit_gate(support_pool, g, 1)};
    cf_as_completed *it;
    int seen[4] = {0}, order[4];
    size_t n_order;
    cr_assert_eq(cf_as_completed_create(&it, fs, 4, 0), 0);
    cr_assert_eq(drain(it, fs, 4, seen, order, &n_order), -ETIMEDOUT);
    cr_assert_eq(n_order, 3);
    cr_assert_eq(seen[0] + seen[1] + seen[2], 3);
    cr_assert_eq(seen[3], 0);
    cr_assert_str_eq(cf_as_completed_message(it), "1 (of 4) futures unfinished");
    cf_as_completed_release(it);
    support_release_all(fs, 4);
}

Test(as_completed, duplicate_pool_futures, .init = support_setup, .fini = support_teardown,
     .timeout = 20)
{
    const char *g = support_gate_new();
    cf_future *f = support_submit_gate(support_pool, g, 1);
    cf_future *fs[] = {f, f, f};
    cf_as_completed *it;
    int seen[3] = {0}, order[3];
    size_t n_order;
    struct later l;
    cr_assert_eq(cf_as_completed_create(&it, fs, 3, CF_FOREVER), 0);
    later_start(&l, NULL, 0, g);
    cr_assert_eq(drain(it, fs, 3, seen, order, &n_order), CF_EEMPTY);
    later_join(&l);
    cr_assert_eq(n_order, 1);
    cr_assert_eq(seen[0], 1);
    cf_as_completed_release(it);
    cf_future_release(f);
}

Test(as_completed, already_done_first_then_completion, .init = support_setup,
     .fini = support_teardown, .timeout = 20)
{
    const char *g = support_gate_new();
    cf_future *fs[] = {support_pending(), support_succeeded(5),
                       support_submit_gate(support_pool, g, 1), support_cancelled()};
    cf_as_completed *it;
    cf_future *got = NULL;
    cr_assert_eq(cf_as_completed_create(&it, fs, 4, 15.0), 0);
    cr_assert_eq(cf_as_completed_next(it, &got), 0);
    cr_assert_eq(got, fs[1]);
    cr_assert_eq(cf_as_completed_next(it, &got), 0);
    cr_assert_eq(got, fs[3]);
    /* Now only fs[0] can complete (the gate is shut): it comes next. */
    struct later l;
    later_start(&l, &fs[0], 1, NULL);
    cr_assert_eq(cf_as_completed_next(it, &got), 0);
    later_join(&l);
    cr_assert_eq(got, fs[0]);
    support_gate_open(g);
    cr_assert_eq(cf_as_completed_next(it, &got), 0);
    cr_assert_eq(got, fs[2]);
    int64_t v = 0;
    cr_assert_eq(cf_future_result_i64(got, 0, &v), 0);
    cr_assert_eq(v, 1);
    cr_assert_eq(cf_as_completed_next(it, &got), CF_EEMPTY);
    cf_as_completed_release(it);
    support_release_all(fs, 4);
}

Test(as_completed, mixed_many, .init = support_setup, .fini = support_teardown, .timeout = 20)
{
    enum { NP = 30, NS = 5, N = NP + NS + 1 };
    cf_future *fs[N], *standalone[NS];
    int64_t want = 0;
    for (int i = 0; i < NP; i++) {
        fs[i] = support_submit_mul(i, 3);
        want += (int64_t)i * 3;
    }
    for (int i = 0; i < NS; i++) {
        standalone[i] = fs[NP + i] = support_pending();
        want += i; /* later_main sets position i */
    }
    cr_assert_eq(cf_submit(support_pool, ac_fail, &fs[N - 1], ""), 0);
    cf_as_completed *it;
    int seen[N] = {0}, order[N];
    size_t n_order;
    struct later l;
    cr_assert_eq(cf_as_completed_create(&it, fs, N, CF_FOREVER), 0);
    later_start(&l, standalone, NS, NULL);
    cr_assert_eq(drain(it, fs, N, seen, order, &n_order), CF_EEMPTY);
    later_join(&l);
    cr_assert_eq(n_order, N);
    int64_t sum = 0;
    for (int i = 0; i < N; i++) {
        cr_assert_eq(seen[i], 1, "entry %d", i);
        int64_t v;
        if (i == N - 1) {
            cr_assert_eq(cf_future_result_i64(fs[i], 0, &v), CF_ETASK);
            cr_assert_str_eq(cf_future_error_message(fs[i]), "ac_fail: as requested");
        } else {
            cr_assert_eq(cf_future_result_i64(fs[i], 0, &v), 0);
            sum += v;
        }
    }
    cr_assert_eq(sum, want);
    cf_as_completed_release(it);
    support_release_all(fs, N);
}
