/* cf_map's progress callback: done rises to the total, the final call has
 * done == total, calls come from the iterating thread, failed items count,
 * and an unknown total becomes known when the input ends. No test asserts
 * on timing (how many intermediate calls the 100 ms throttle lets
 * through is not checked).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include <cfutures.h>

#include "support.h"

/* [n] -> n; fails when n % 7 == 3 (when asked to); sleeps 1 ms so that a
 * run spans a few progress periods. */
static int progress_echo(const msgpack_object *args, msgpack_packer *out)
{
    int64_t n;
    bool picky;
    if (cf_arg_i64(args, 0, &n) < 0 || cf_arg_bool(args, 1, &picky) < 0)
        return cf_task_fail("progress_echo: expected [n, picky]");
    nanosleep(&(struct timespec){0, 1000000}, NULL);
    if (picky && n % 7 == 3)
        return cf_task_fail("progress_echo rejects %lld", (long long)n);
    return msgpack_pack_int64(out, n);
}
CF_TASK(progress_echo);

struct progress_input {
    size_t n;
    bool picky;
};

static int progress_ints(void *arg, size_t index, msgpack_packer *pk)
{
    struct progress_input *in = arg;
    if (index >= in->n)
        return 0;
    return cf_pack_args(pk, "i?", (int64_t)index, in->picky) == 0 ? 1 : -ENOMEM;
}

#define PROGRESS_MAX_CALLS 4096

struct progress_log {
    size_t calls;
    cf_map_progress seen[PROGRESS_MAX_CALLS];
    pthread_t thread;
    bool other_thread;  /* a call came from another thread */
    size_t yielded;     /* items the test got from cf_map_next so far */
    bool ahead;         /* a call reported more than was yielded */
};

static void progress_record(const cf_map_progress *p, void *arg)
{
    struct progress_log *log = arg;
    if (!pthread_equal(pthread_self(), log->thread))
        log->other_thread = true;
    /* Called inside cf_map_next, just before it returns the item counted. */
    if (p->done > log->yielded + 1)
        log->ahead = true;
    if (log->calls < PROGRESS_MAX_CALLS)
        log->seen[log->calls] = *p;
    log->calls++;
}

/* Runs a whole map with progress and returns how many items it yielded
 * (failures included); checks every item came back in order. */
static size_t progress_run(cf_executor *ex, struct progress_input *in, size_t total,
                           struct progress_log *log, size_t *failures)
{
    cf_map *m;
    cf_map_options o = {.timeout = CF_FOREVER, .total = total, .progress = progress_record,
                        .progress_arg = log};
    log->thread = pthread_self();
    cr_assert_eq(cf_map_create(&m, ex, "progress_echo", progress_ints, in, &o), 0);
    size_t index;
    const msgpack_object *r;
    int rc;
    *failures = 0;
    while ((rc = cf_map_next(m, &index, &r)) != CF_EEMPTY) {
        cr_assert_eq(index, log->yielded, "item %zu out of order", index);
        if (rc == CF_ETASK)
            (*failures)++;
        else
            cr_assert_eq(rc, 0, "%s", cf_map_error_message(m));
        log->yielded++;
    }
    size_t calls = log->calls;
    /* Past the end: no further call. */
    cr_assert_eq(cf_map_next(m, &index, &r), CF_EEMPTY);
    cr_assert_eq(log->calls, calls, "a progress call after the final one");
    cf_map_release(m);
    return log->yielded;
}

static void progress_check_monotonic(const struct progress_log *log)
{
    size_t n = log->calls < PROGRESS_MAX_CALLS ? log->calls : PROGRESS_MAX_CALLS;
    for (size_t i = 0; i < n; i++) {
        const cf_map_progress *p = &log->seen[i];
        cr_assert_geq(p->elapsed, 0.0);
        cr_assert_geq(p->rate, 0.0);
        if (p->total)
            cr_assert_leq(p->done, p->total, "call %zu: done %zu > total %zu", i, p->done,
                          p->total);
        if (i > 0) {
            cr_assert_gt(p->done, log->seen[i - 1].done, "call %zu: done did not increase", i);
            cr_assert_geq(p->elapsed, log->seen[i - 1].elapsed);
        }
    }
    cr_assert_not(log->other_thread, "a progress call came from another thread");
    cr_assert_not(log->ahead, "progress counted an item not yet returned");
}

Test(progress, known_total_reaches_it, .init = support_setup, .fini = support_teardown,
     .timeout = 60)
{
    static struct progress_log log;
    struct progress_input in = {.n = 300};
    size_t failures;
    cr_assert_eq(progress_run(support_pool, &in, 300, &log, &failures), 300);
    cr_assert_eq(failures, 0);
    cr_assert_geq(log.calls, 1, "the final call is always made");
    cr_assert_leq(log.calls, PROGRESS_MAX_CALLS);
    progress_check_monotonic(&log);
    for (size_t i = 0; i < log.calls; i++)
        cr_assert_eq(log.seen[i].total, 300, "call %zu: total %zu", i, log.seen[i].total);
    const cf_map_progress *last = &log.seen[log.calls - 1];
    cr_assert_eq(last->done, 300);
    cr_assert_eq(last->total, 300);
}

Test(progress, unknown_total_known_at_the_end, .init = support_setup,
     .fini = support_teardown, .timeout = 60)
{
    static struct progress_log log;
    struct progress_input in = {.n = 250};
    size_t failures;
    cr_assert_eq(progress_run(support_pool, &in, 0, &log, &failures), 250);
    cr_assert_geq(log.calls, 1);
    progress_check_monotonic(&log);
    for (size_t i = 0; i < log.calls; i++)
        cr_assert(log.seen[i].total == 0 || log.seen[i].total == 250,
                  "call %zu: total %zu is neither unknown nor the count", i,
                  log.seen[i].total);
    const cf_map_progress *last = &log.seen[log.calls - 1];
    cr_assert_eq(last->done, 250);
    cr_assert_eq(last->total, 250);
}

Test(progress, failed_items_count_as_done, .init = support_setup, .fini = support_teardown,
     .timeout = 60)
{
    static struct progress_log log;
    struct progress_input in = {.n = 100, .picky = true};
    size_t failures;
    cr_assert_eq(progress_run(support_pool, &in, 100, &log, &failures), 100);
    cr_assert_eq(failures, 14, "3, 10, ..., 94 fail");
    progress_check_monotonic(&log);
    cr_assert_eq(log.seen[log.calls - 1].done, 100);
    cr_assert_eq(log.seen[log.calls - 1].total, 100);
}

Test(progress, wrong_hint_corrected_at_the_end, .init = support_setup,
     .fini = support_teardown, .timeout = 60)
{
    static struct progress_log log;
    struct progress_input in = {.n = 40};
    size_t failures;
    cr_assert_eq(progress_run(support_pool, &in, 1000, &log, &failures), 40);
    progress_check_monotonic(&log);
    cr_assert_eq(log.seen[log.calls - 1].done, 40);
    cr_assert_eq(log.seen[log.calls - 1].total, 40);
}

Test(progress, empty_input_one_final_call, .init = support_setup, .fini = support_teardown,
     .timeout = 30)
{
    static struct progress_log log;
    struct progress_input in = {.n = 0};
    size_t failures;
    cr_assert_eq(progress_run(support_pool, &in, 0, &log, &failures), 0);
    cr_assert_eq(log.calls, 1);
    cr_assert_eq(log.seen[0].done, 0);
    cr_assert_eq(log.seen[0].total, 0);
}

Test(progress, no_callback_is_fine, .init = support_setup, .fini = support_teardown,
     .timeout = 30)
{
    cf_map *m;
    struct progress_input in = {.n = 10};
    cf_map_options o = {.timeout = CF_FOREVER, .total = 10};
    cr_assert_eq(cf_map_create(&m, support_pool, "progress_echo", progress_ints, &in, &o), 0);
    size_t index, n = 0;
    const msgpack_object *r;
    while (cf_map_next(m, &index, &r) == 0)
        n++;
    cr_assert_eq(n, 10);
    cf_map_release(m);
}
