/* "Running" means started: a task a worker has taken into its batch but
 * not started is still pending (cf_future_running false), a cancel or a
 * task_timeout settles it without a kill and the worker skips it; and a
 * kill for a timeout or a hard cancel that races with the task's own end
 * never hits the next, innocent task. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/support.h"

/* [dir, k]: creates dir/ran-k (the task ran), returns k. */
static int rn_mark(const msgpack_object *args, msgpack_packer *out)
{
    const char *dir;
    size_t len;
    int64_t k;
    char path[256];
    if (cf_arg_str(args, 0, &dir, &len) < 0 || cf_arg_i64(args, 1, &k) < 0)
        return cf_task_fail("rn_mark: expected dir, k");
    snprintf(path, sizeof(path), "%.*s/ran-%lld", (int)len, dir, (long long)k);
    support_touch(path);
    return msgpack_pack_int64(out, k);
}
CF_TASK(rn_mark);

/* [us, k]: works for us microseconds, returns k. */
static int rn_work(const msgpack_object *args, msgpack_packer *out)
{
    int64_t us, k;
    if (cf_arg_i64(args, 0, &us) < 0 || cf_arg_i64(args, 1, &k) < 0)
        return cf_task_fail("rn_work: expected us, k");
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do
        clock_gettime(CLOCK_MONOTONIC, &t);
    while ((t.tv_sec - t0.tv_sec) * 1000000 + (t.tv_nsec - t0.tv_nsec) / 1000 < us);
    return msgpack_pack_int64(out, k);
}
CF_TASK(rn_work);

enum { BEHIND = 30 };

struct batch_setup {
    cf_executor *ex;
    char d1[64], d2[64], marks[64];
    cf_future *first, *victim, *behind[BEHIND];
};

/* One worker: a first gate holds it while a second gate task (the victim)
 * and BEHIND marking tasks are queued; opening the first lets the worker
 * take the victim and the tasks behind it in one batch, and the victim
 * holds it there. `timeout`: the tasks behind get that task_timeout. */
static void take_batch(struct batch_setup *s, double timeout)
{
    cf_process_pool_options o = {.max_workers = 1};
    cr_assert_eq(cf_process_pool_create(&s->ex, &o), 0);
    support_make_dir(s->d1, sizeof(s->d1));
    support_make_dir(s->d2, sizeof(s->d2));
    support_make_dir(s->marks, sizeof(s->marks));
    s->first = support_block_worker(s->ex, s->d1, 1);
    s->victim = support_submit_gate(s->ex, s->d2, 2);
    cf_submit_options so = CF_SUBMIT_OPTIONS_INIT;
    so.task_timeout = timeout;
    for (int i = 0; i < BEHIND; i++)
        cr_assert_eq(cf_submit_with(s->ex, &so, "rn_mark", &s->behind[i], "si", s->marks,
                                    (int64_t)i),
                     0);
    support_gate_open(s->d1);
    char started[128];
    snprintf(started, sizeof(started), "%s/started-2", s->d2);
    cr_assert(support_wait_file(started));
    cr_assert(cf_future_running(s->victim));
}

/* Opens the victim's gate, waits for one more task (the worker has gone
 * through its whole batch by then) and checks that none of the tasks
 * behind ran. */
static void finish_batch(struct batch_setup *s)
{
    support_gate_open(s->d2);
    int64_t k;
    cr_assert_eq(cf_future_result_i64(s->victim, CF_FOREVER, &k), 0);
    cf_future *last;
    cr_assert_eq(cf_submit(s->ex, rn_mark, &last, "si", s->marks, (int64_t)1000), 0);
    cr_assert_eq(cf_future_result_i64(last, CF_FOREVER, &k), 0);
    cf_future_release(last);
    for (int i = 0; i < BEHIND; i++) {
        char path[128];
        snprintf(path, sizeof(path), "%s/ran-%d", s->marks, i);
        cr_assert(!support_file_exists(path), "task %d ran after it was settled", i);
    }
    cf_stats st;
    cr_assert_eq(cf_executor_stats(s->ex, &st), 0);
    cr_assert_eq(st.worker_deaths, 0, "nothing was killed");
    support_release_all(s->behind, BEHIND);
    cf_future_release(s->victim);
    cf_future_release(s->first);
    cf_executor_release(s->ex);
    support_remove_dir(s->d1);
    support_remove_dir(s->d2);
    support_remove_dir(s->marks);
}

Test(running, taken_but_not_started_is_pending, .timeout = 60)
{
    struct batch_setup s;
    take_batch(&s, 0);
    for (int i = 0; i < BEHIND; i++) {
        cr_assert(!cf_future_running(s.behind[i]), "task %d counts as running", i);
        cr_assert(cf_future_cancel(s.behind[i]), "task %d: cancel refused", i);
        cr_assert(cf_future_cancelled(s.behind[i]));
        cr_assert_eq(cf_future_error(s.behind[i], 0), CF_ECANCELLED);
    }
    finish_batch(&s);
}

Test(running, cancel_running_before_start_kills_nothing, .timeout = 60)
{
    struct batch_setup s;
    take_batch(&s, 0);
    for (int i = 0; i < BEHIND; i++)
        cr_assert(cf_future_cancel_running(s.behind[i]), "task %d", i);
    finish_batch(&s);
}

Test(running, timeout_before_start_kills_nothing, .timeout = 60)
{
    struct batch_setup s;
    take_batch(&s, 0.3);
    for (int i = 0; i < BEHIND; i++) {
        int rc = cf_future_error(s.behind[i], CF_FOREVER);
        cr_assert_eq(rc, -ETIMEDOUT, "task %d: %s", i, cf_strerror(rc));
        cr_assert(strstr(cf_future_error_message(s.behind[i]), "before it ran"), "%s",
                  cf_future_error_message(s.behind[i]));
    }
    finish_batch(&s);
}

/* Kills racing completion: every third task is a target, settled by a hard
 * cancel or a task_timeout at about the moment it ends. Targets end with
 * their result, cancelled or -ETIMEDOUT; every other task with its result,
 * never CF_EWORKER (before the fix: 1-12 per 3,000). */
Test(running, kills_hit_only_their_task, .timeout = 180)
{
    enum { ROUNDS = 500, PER = 6, WORK_US = 300 };
    cf_process_pool_options o = {.max_workers = 2};
    cf_executor *ex = NULL;
    cr_assert_eq(cf_process_pool_create(&ex, &o), 0);
    unsigned seed = 12345;
    int innocent_failures = 0, targets_killed = 0, targets_done = 0;
    char first_failure[512] = "";
    for (int round = 0; round < ROUNDS; round++) {
        cf_future *f[PER];
        for (int i = 0; i < PER; i++) {
            cf_submit_options so = CF_SUBMIT_OPTIONS_INIT;
            if (i % 3 == 0 && (round & 1))
                so.task_timeout = (WORK_US + (int)(rand_r(&seed) % 200) - 100) / 1e6;
            cr_assert_eq(cf_submit_with(ex, &so, "rn_work", &f[i], "ii", (int64_t)WORK_US,
                                        (int64_t)i),
                         0);
        }
        for (int i = 0; i < PER; i += 3) {
            if (round & 1)
                continue; /* the timeout does it */
            while (!cf_future_running(f[i]) && !cf_future_done(f[i]))
                ;
            struct timespec d = {0, (long)(WORK_US - 50 + (int)(rand_r(&seed) % 100)) * 1000};
            nanosleep(&d, NULL);
            cf_future_cancel_running(f[i]);
        }
        for (int i = 0; i < PER; i++) {
            int64_t k;
            int rc = cf_future_result_i64(f[i], CF_FOREVER, &k);
            if (i % 3 == 0) {
                cr_assert(rc == 0 || rc == CF_ECANCELLED || rc == -ETIMEDOUT,
                          "target: %s (%s)", cf_strerror(rc), cf_future_error_message(f[i]));
                targets_killed += rc != 0;
                targets_done += rc == 0;
            } else if (rc != 0) {
                if (!innocent_failures)
                    snprintf(first_failure, sizeof(first_failure), "%s (%s)", cf_strerror(rc),
                             cf_future_error_message(f[i]) ? cf_future_error_message(f[i]) : "-");
                innocent_failures++;
            } else {
                cr_assert_eq(k, i);
            }
            cf_future_release(f[i]);
        }
    }
    cr_log_info("targets settled early %d, finished %d", targets_killed, targets_done);
    cr_assert_eq(innocent_failures, 0, "%d tasks not targeted failed; first: %s",
                 innocent_failures, first_failure);
    cr_assert_gt(targets_killed, 0, "no race was run");
    cf_executor_release(ex);
}
