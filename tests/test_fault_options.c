/* The fault-tolerance options of the process pool: per-task timeouts,
 * cancelling a running task, max_tasks_per_child (CPython gh-115634),
 * max_retries (per pool and per submission), the stats that count all of
 * it, and the argument checks of the new entry points. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/support.h"

/* ------------------------------------------------------------ tasks */

static int fo_sleep60(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    support_sleep_ms(60000);
    return msgpack_pack_nil(out);
}
CF_TASK(fo_sleep60);

static int fo_getpid(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    return msgpack_pack_int64(out, getpid());
}
CF_TASK(fo_getpid);

static int fo_fail(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    (void)out;
    return cf_task_fail("fo_fail: as asked");
}
CF_TASK(fo_fail);

static int fo_die(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    raise(SIGKILL);
    return msgpack_pack_nil(out);
}
CF_TASK(fo_die);

/* [dir]: the first run (no dir/ran-once yet) creates the marker and
 * SIGKILLs its worker; a later run returns 42. */
static int fo_die_once(const msgpack_object *args, msgpack_packer *out)
{
    const char *dir;
    size_t len;
    char path[512];
    if (cf_arg_str(args, 0, &dir, &len) < 0)
        return cf_task_fail("fo_die_once: expected a directory");
    snprintf(path, sizeof(path), "%.*s/ran-once", (int)len, dir);
    if (!support_file_exists(path)) {
        if (!support_touch(path))
            return cf_task_fail("fo_die_once: cannot create %s", path);
        raise(SIGKILL);
    }
    return msgpack_pack_int64(out, 42);
}
CF_TASK(fo_die_once);

/* ------------------------------------------------------------ helpers */

static cf_executor *pool_with(int workers, int max_retries, int max_tasks_per_child)
{
    cf_executor *ex = NULL;
    cf_process_pool_options o = {.max_workers = workers,
                                 .max_retries = max_retries,
                                 .max_tasks_per_child = max_tasks_per_child};
    int rc = cf_process_pool_create(&ex, &o);
    cr_assert_eq(rc, 0, "pool create: %s", cf_strerror(rc));
    return ex;
}

static void assert_mul_works(cf_executor *ex, int n)
{
    for (int i = 0; i < n; i++) {
        cf_future *f;
        int64_t r;
        cr_assert_eq(cf_submit(ex, support_mul, &f, "ii", (int64_t)i, (int64_t)4), 0);
        int rc = cf_future_result_i64(f, CF_FOREVER, &r);
        cr_assert_eq(rc, 0, "%s (%s)", cf_strerror(rc), cf_future_error_message(f));
        cr_assert_eq(r, i * 4);
        cf_future_release(f);
    }
}

static cf_stats stats_of(cf_executor *ex)
{
    cf_stats st;
    cr_assert_eq(cf_executor_stats(ex, &st), 0);
    return st;
}

/* Bounded wait for a counter the collector updates after it completed the
 * future concerned (worker exits are handled in the same step). */
#define WAIT_STAT(ex, field, want)                                                      \
    do {                                                                                \
        cf_stats st_;                                                                   \
        for (int t_ = 0; t_ < SUPPORT_LIVENESS_MS; t_++) {                              \
            st_ = stats_of(ex);                                                         \
            if (st_.field >= (want))                                                    \
                break;                                                                  \
            support_sleep_ms(1);                                                        \
        }                                                                               \
        cr_assert_geq(st_.field, (want), #field " reached %llu, want %llu",             \
                      (unsigned long long)st_.field, (unsigned long long)(want));       \
    } while (0)

/* ------------------------------------------------------------ task_timeout */

Test(fault_options, task_timeout_kills_the_overrunning_worker, .timeout = 30)
{
    cf_executor *ex = pool_with(2, 0, 0);
    cf_submit_options o = CF_SUBMIT_OPTIONS_INIT;
    o.task_timeout = 0.3;
    cf_future *f;
    cr_assert_eq(cf_submit_with(ex, &o, "fo_sleep60", &f, ""), 0);
    int rc = cf_future_error(f, CF_FOREVER);
    cr_assert_eq(rc, -ETIMEDOUT, "%s (%s)", cf_strerror(rc), cf_future_error_message(f));
    cr_assert(strstr(cf_future_error_message(f), "fo_sleep60"), "%s",
              cf_future_error_message(f));
    cr_assert(!cf_future_cancelled(f));
    assert_mul_works(ex, 20);
    WAIT_STAT(ex, worker_deaths, 1);
    WAIT_STAT(ex, respawns, 1);
    cf_stats st = stats_of(ex);
    cr_assert_eq(st.failed_timeout, 1);
    cr_assert_eq(st.failed, 1);
    cr_assert_eq(st.completed, 20);
    cr_assert_geq(st.deaths_by_signal, 1);
    cf_future_release(f);
    cf_executor_release(ex);
}

/* A generous timeout on a quick task changes nothing. */
Test(fault_options, task_timeout_not_reached, .timeout = 30)
{
    cf_executor *ex = pool_with(1, 0, 0);
    cf_submit_options o = CF_SUBMIT_OPTIONS_INIT;
    o.task_timeout = 25;
    cf_future *f;
    int64_t r;
    cr_assert_eq(cf_submit_with(ex, &o, "support_mul", &f, "ii", (int64_t)6, (int64_t)7), 0);
    cr_assert_eq(cf_future_result_i64(f, CF_FOREVER, &r), 0);
    cr_assert_eq(r, 42);
    cf_stats st = stats_of(ex);
    cr_assert_eq(st.failed_timeout, 0);
    cr_assert_eq(st.worker_deaths, 0);
    cf_future_release(f);
    cf_executor_release(ex);
}

/* The deadline passes while the task waits behind a blocked worker: it
 * fails without ever running, and no worker is killed for it. */
Test(fault_options, task_timeout_while_queued, .timeout = 30)
{
    cf_executor *ex = pool_with(1, 0, 0);
    char dir[64];
    support_make_dir(dir, sizeof(dir));
    cf_future *held = support_block_worker(ex, dir, 1);
    cf_submit_options o = CF_SUBMIT_OPTIONS_INIT;
    o.task_timeout = 0.2;
    cf_future *f;
    cr_assert_eq(cf_submit_with(ex, &o, "support_mul", &f, "ii", (int64_t)2, (int64_t)3), 0);
    int rc = cf_future_error(f, CF_FOREVER);
    cr_assert_eq(rc, -ETIMEDOUT, "%s (%s)", cf_strerror(rc), cf_future_error_message(f));
    cr_assert(strstr(cf_future_error_message(f), "before it ran"), "%s",
              cf_future_error_message(f));
    support_gate_open(dir);
    int64_t k;
    cr_assert_eq(cf_future_result_i64(held, CF_FOREVER, &k), 0);
    cr_assert_eq(k, 1);
    assert_mul_works(ex, 10);
    cf_stats st = stats_of(ex);
    cr_assert_eq(st.failed_timeout, 1);
    cr_assert_eq(st.worker_deaths, 0);
    cr_assert_eq(st.respawns, 0);
    char ran[128];
    snprintf(ran, sizeof(ran), "%s/ran", dir);
    cr_assert_eq(support_file_size(ran), 1, "only the gate task ran");
    cf_future_release(f);
    cf_future_release(held);
    cf_executor_release(ex);
    support_remove_dir(dir);
}

/* ------------------------------------------------------------ cancel_running */

Test(fault_options, cancel_running_kills_and_replaces, .timeout = 30)
{
    enum { N = 30 };
    cf_executor *ex = pool_with(1, 0, 0);
    char d1[64], d2[64];
    support_make_dir(d1, sizeof(d1));
    support_make_dir(d2, sizeof(d2));
    cf_future *first = support_block_worker(ex, d1, 1);
    /* Queue the victim and tasks behind it, then let the worker take them
     * all as one batch when the first gate opens. */
    cf_future *victim = support_submit_gate(ex, d2, 2);
    cf_future *behind[N];
    for (int i = 0; i < N; i++)
        cr_assert_eq(cf_submit(ex, support_mul, &behind[i], "ii", (int64_t)i, (int64_t)5), 0);
    support_gate_open(d1);
    char started[128];
    snprintf(started, sizeof(started), "%s/started-2", d2);
    cr_assert(support_wait_file(started));
    /* Tasks taken into the worker's batch behind the victim have not
     * started: they are not running (running means started). */
    int running = 0;
    for (int i = 0; i < N; i++)
        running += cf_future_running(behind[i]);
    cr_assert_eq(running, 0, "%d tasks behind the victim count as running", running);
    cr_assert(cf_future_running(victim));

    cr_assert(cf_future_cancel_running(victim));
    cr_assert(cf_future_cancelled(victim));
    cr_assert(cf_future_done(victim));
    cr_assert_eq(cf_future_error(victim, CF_FOREVER), CF_ECANCELLED);
    cr_assert(cf_future_cancel_running(victim), "already cancelled: still true");
    for (int i = 0; i < N; i++) {
        int64_t r;
        int rc = cf_future_result_i64(behind[i], CF_FOREVER, &r);
        cr_assert_eq(rc, 0, "task %d: %s (%s)", i, cf_strerror(rc),
                     cf_future_error_message(behind[i]));
        cr_assert_eq(r, i * 5);
    }
    int64_t k;
    cr_assert_eq(cf_future_result_i64(first, CF_FOREVER, &k), 0);
    cr_assert_eq(k, 1);
    assert_mul_works(ex, 10);
    WAIT_STAT(ex, respawns, 1);
    cf_stats st = stats_of(ex);
    cr_assert_eq(st.cancelled, 1);
    cr_assert_eq(st.failed, 0);
    cr_assert_eq(st.completed, 1 + N + 10);
    cr_assert_eq(st.worker_deaths, 1);
    cf_worker_stats ws;
    cr_assert_eq(cf_executor_worker_stats(ex, 0, &ws), 0);
    cr_assert_eq(ws.respawns, 1);
    support_release_all(behind, N);
    cf_future_release(victim);
    cf_future_release(first);
    cf_executor_release(ex);
    support_remove_dir(d1);
    support_remove_dir(d2);
}

Test(fault_options, cancel_running_on_finished_is_false, .timeout = 30)
{
    cf_executor *ex = pool_with(1, 0, 0);
    cf_future *ok, *bad;
    int64_t r;
    cr_assert_eq(cf_submit(ex, support_mul, &ok, "ii", (int64_t)3, (int64_t)3), 0);
    cr_assert_eq(cf_future_result_i64(ok, CF_FOREVER, &r), 0);
    cr_assert(!cf_future_cancel_running(ok));
    cr_assert(!cf_future_cancelled(ok));
    cr_assert_eq(cf_future_result_i64(ok, 0, &r), 0);
    cr_assert_eq(r, 9);
    cr_assert_eq(cf_submit(ex, fo_fail, &bad, ""), 0);
    cr_assert_eq(cf_future_error(bad, CF_FOREVER), CF_ETASK);
    cr_assert(!cf_future_cancel_running(bad));
    cr_assert_eq(cf_future_error(bad, 0), CF_ETASK);
    cr_assert(!cf_future_cancel_running(NULL));
    cf_stats st = stats_of(ex);
    cr_assert_eq(st.cancelled, 0);
    cr_assert_eq(st.worker_deaths, 0);
    cf_future_release(ok);
    cf_future_release(bad);
    cf_executor_release(ex);
}

/* A task no worker has taken yet is simply cancelled: no worker dies. */
Test(fault_options, cancel_running_on_queued, .timeout = 30)
{
    cf_executor *ex = pool_with(1, 0, 0);
    char dir[64];
    support_make_dir(dir, sizeof(dir));
    cf_future *held = support_block_worker(ex, dir, 1);
    cf_future *f;
    cr_assert_eq(cf_submit(ex, support_mul, &f, "ii", (int64_t)2, (int64_t)2), 0);
    cr_assert(!cf_future_running(f));
    cr_assert(cf_future_cancel_running(f));
    cr_assert_eq(cf_future_error(f, 0), CF_ECANCELLED);
    support_gate_open(dir);
    cr_assert_eq(cf_future_error(held, CF_FOREVER), 0);
    cf_stats st = stats_of(ex);
    cr_assert_eq(st.worker_deaths, 0);
    cr_assert_eq(st.cancelled, 1);
    cf_future_release(f);
    cf_future_release(held);
    cf_executor_release(ex);
    support_remove_dir(dir);
}

/* ------------------------------------------------------------ max_tasks_per_child */

/* CPython gh-115634: one worker, a limit of 2, 10 tasks, no hang. */
Test(fault_options, max_tasks_per_child_gh115634, .timeout = 30)
{
    enum { N = 10 };
    cf_executor *ex = pool_with(1, 0, 2);
    cf_future *fs[N];
    int64_t pids[N];
    for (int i = 0; i < N; i++)
        cr_assert_eq(cf_submit(ex, fo_getpid, &fs[i], ""), 0);
    int distinct = 0;
    for (int i = 0; i < N; i++) {
        int rc = cf_future_result_i64(fs[i], CF_FOREVER, &pids[i]);
        cr_assert_eq(rc, 0, "task %d: %s (%s)", i, cf_strerror(rc),
                     cf_future_error_message(fs[i]));
        bool seen = false;
        for (int j = 0; j < i; j++)
            seen |= pids[j] == pids[i];
        distinct += !seen;
    }
    cr_assert_geq(distinct, N / 2, "%d distinct workers", distinct);
    cf_stats st = stats_of(ex);
    cr_assert_geq(st.retirements, 4);
    cr_assert_eq(st.worker_deaths, 0, "a retirement is not a death");
    cr_assert_eq(st.failed, 0);
    /* No worker ran more than two. */
    for (int i = 0; i < N; i++) {
        int same = 0;
        for (int j = 0; j < N; j++)
            same += pids[j] == pids[i];
        cr_assert_leq(same, 2, "pid %lld ran %d tasks", (long long)pids[i], same);
    }
    support_release_all(fs, N);
    assert_mul_works(ex, 5);
    cf_executor_release(ex);
}

/* Issue 18 (4): the limit exactly. With limit N, every worker runs
 * exactly N tasks and retires; only the last incarnation of each position
 * may run fewer (it is still there at shutdown). Tasks return getpid(). */
static void check_exact_limit(int workers, int limit, int tasks)
{
    cf_executor *ex = pool_with(workers, 0, limit);
    cf_future *fs[64];
    int64_t pids[64];
    cr_assert_leq(tasks, 64);
    for (int i = 0; i < tasks; i++)
        cr_assert_eq(cf_submit(ex, fo_getpid, &fs[i], ""), 0);
    for (int i = 0; i < tasks; i++) {
        int rc = cf_future_result_i64(fs[i], CF_FOREVER, &pids[i]);
        cr_assert_eq(rc, 0, "task %d: %s (%s)", i, cf_strerror(rc),
                     cf_future_error_message(fs[i]));
    }
    int short_lived = 0, distinct = 0;
    for (int i = 0; i < tasks; i++) {
        bool first = true;
        int same = 0;
        for (int j = 0; j < tasks; j++) {
            same += pids[j] == pids[i];
            first &= !(j < i && pids[j] == pids[i]);
        }
        if (!first)
            continue;
        distinct++;
        cr_assert_leq(same, limit, "limit %d: pid %lld ran %d tasks", limit, (long long)pids[i],
                      same);
        short_lived += same < limit;
    }
    cr_assert_leq(short_lived, workers,
                  "limit %d: %d workers ran fewer than %d tasks (only the last %d may)", limit,
                  short_lived, limit, workers);
    cr_assert_geq(distinct, (tasks + limit - 1) / limit);
    cf_stats st = stats_of(ex);
    cr_assert_eq(st.worker_deaths, 0, "a retirement is not a death");
    cr_assert_eq(st.failed, 0);
    support_release_all(fs, tasks);
    cf_executor_release(ex);
}

Test(fault_options, max_tasks_per_child_is_exact, .timeout = 60)
{
    check_exact_limit(1, 1, 7);
    check_exact_limit(1, 3, 20);
    check_exact_limit(2, 2, 21);
    check_exact_limit(2, 5, 32);
}

/* A map chunk counts as one record. */
static int fo_map_input(void *arg, size_t index, msgpack_packer *pk)
{
    (void)arg;
    if (index >= 40)
        return 0;
    msgpack_pack_array(pk, 0);
    return 1;
}

Test(fault_options, max_tasks_per_child_counts_map_chunks, .timeout = 30)
{
    cf_executor *ex = pool_with(1, 0, 2);
    cf_map *m;
    cf_map_options mo = {.timeout = CF_FOREVER, .chunksize = 10};
    cr_assert_eq(cf_map_create(&m, ex, "fo_getpid", fo_map_input, NULL, &mo), 0);
    size_t idx, n = 0;
    const msgpack_object *r;
    int64_t pids[40];
    int rc;
    while ((rc = cf_map_next(m, &idx, &r)) == 0) {
        cr_assert_eq(idx, n);
        cr_assert_eq(cf_obj_i64(r, &pids[n]), 0);
        n++;
    }
    cr_assert_eq(rc, CF_EEMPTY, "%s: %s", cf_strerror(rc), cf_map_error_message(m));
    cr_assert_eq(n, 40);
    cf_map_release(m);
    /* 4 chunks of 10, two chunks per worker: each chunk ran in one process. */
    for (size_t c = 0; c < 4; c++)
        for (size_t i = 1; i < 10; i++)
            cr_assert_eq(pids[c * 10 + i], pids[c * 10]);
    cr_assert_neq(pids[0], pids[20]);
    cf_stats st = stats_of(ex);
    cr_assert_geq(st.retirements, 1);
    cf_executor_release(ex);
}

/* ------------------------------------------------------------ max_retries */

static void die_once_case(int pool_retries, int submit_retries, bool expect_ok)
{
    char dir[64];
    support_make_dir(dir, sizeof(dir));
    cf_executor *ex = pool_with(1, pool_retries, 0);
    cf_submit_options o = CF_SUBMIT_OPTIONS_INIT;
    o.max_retries = submit_retries;
    cf_future *f;
    cr_assert_eq(cf_submit_with(ex, &o, "fo_die_once", &f, "s", dir), 0);
    int64_t r = 0;
    int rc = cf_future_result_i64(f, CF_FOREVER, &r);
    if (expect_ok) {
        cr_assert_eq(rc, 0, "%s (%s)", cf_strerror(rc), cf_future_error_message(f));
        cr_assert_eq(r, 42);
    } else {
        cr_assert_eq(rc, CF_EWORKER, "%s (%s)", cf_strerror(rc), cf_future_error_message(f));
        const char *msg = cf_future_error_message(f);
        cr_assert(strstr(msg, "killed by SIGKILL") && strstr(msg, "fo_die_once"), "%s", msg);
    }
    WAIT_STAT(ex, respawns, 1);
    cf_stats st = stats_of(ex);
    cr_assert_eq(st.retried, expect_ok ? 1 : 0);
    cr_assert_eq(st.worker_deaths, 1);
    cr_assert_eq(st.failed_worker, expect_ok ? 0 : 1);
    assert_mul_works(ex, 5);
    cf_future_release(f);
    cf_executor_release(ex);
    support_remove_dir(dir);
}

Test(fault_options, max_retries_pool_option, .timeout = 30)
{
    die_once_case(1, CF_POOL_RETRIES, true);
}

Test(fault_options, max_retries_submit_option, .timeout = 30)
{
    die_once_case(0, 1, true);
}

Test(fault_options, max_retries_zero_fails, .timeout = 30)
{
    die_once_case(0, CF_POOL_RETRIES, false);
}

/* A zeroed cf_submit_options means the pool's max_retries. */
Test(fault_options, max_retries_submit_zero_is_the_pools, .timeout = 30)
{
    die_once_case(1, 0, true);
}

Test(fault_options, max_retries_submit_none_overrides_pool, .timeout = 30)
{
    die_once_case(3, CF_NO_RETRIES, false);
}

/* A task that dies every time uses up its retries, then fails. */
Test(fault_options, max_retries_exhausted, .timeout = 30)
{
    cf_executor *ex = pool_with(1, 2, 0);
    cf_future *f;
    cr_assert_eq(cf_submit(ex, fo_die, &f, ""), 0);
    cr_assert_eq(cf_future_error(f, CF_FOREVER), CF_EWORKER);
    WAIT_STAT(ex, respawns, 3);
    cf_stats st = stats_of(ex);
    cr_assert_eq(st.retried, 2);
    cr_assert_eq(st.worker_deaths, 3);
    cr_assert_eq(st.failed_worker, 1);
    assert_mul_works(ex, 5);
    cf_future_release(f);
    cf_executor_release(ex);
}

/* ------------------------------------------------------------ stats */

Test(fault_options, stats_after_a_known_sequence, .timeout = 30)
{
    cf_executor *ex = pool_with(1, 0, 0);
    cf_stats st = stats_of(ex);
    cr_assert_eq(st.workers, 1);
    cr_assert_eq(st.submitted + st.completed + st.failed + st.cancelled + st.worker_deaths +
                     st.respawns + st.retried + st.retirements,
                 0);
    /* 5 results. */
    assert_mul_works(ex, 5);
    /* 1 task failure. */
    cf_future *bad;
    cr_assert_eq(cf_submit(ex, fo_fail, &bad, ""), 0);
    cr_assert_eq(cf_future_error(bad, CF_FOREVER), CF_ETASK);
    /* 1 cancelled behind a held worker (the gate task is 1 more result). */
    char dir[64];
    support_make_dir(dir, sizeof(dir));
    cf_future *held = support_block_worker(ex, dir, 1);
    cf_future *c;
    cr_assert_eq(cf_submit(ex, support_mul, &c, "ii", (int64_t)1, (int64_t)1), 0);
    st = stats_of(ex);
    cr_assert_eq(st.in_flight, 2);
    cr_assert_eq(st.queued, 1);
    cr_assert(cf_future_cancel(c));
    support_gate_open(dir);
    cr_assert_eq(cf_future_error(held, CF_FOREVER), 0);
    /* 1 worker death. */
    cf_future *dead;
    cr_assert_eq(cf_submit(ex, fo_die, &dead, ""), 0);
    cr_assert_eq(cf_future_error(dead, CF_FOREVER), CF_EWORKER);
    WAIT_STAT(ex, respawns, 1);
    assert_mul_works(ex, 3); /* on the replacement */

    st = stats_of(ex);
    cr_assert_eq(st.submitted, 5 + 1 + 1 + 1 + 1 + 3);
    cr_assert_eq(st.completed, 5 + 1 + 3);
    cr_assert_eq(st.failed, 2);
    cr_assert_eq(st.failed_task, 1);
    cr_assert_eq(st.failed_worker, 1);
    cr_assert_eq(st.failed_timeout, 0);
    cr_assert_eq(st.cancelled, 1);
    cr_assert_eq(st.retried, 0);
    cr_assert_eq(st.worker_deaths, 1);
    cr_assert_eq(st.deaths_by_signal, 1);
    cr_assert_eq(st.retirements, 0);
    cr_assert_eq(st.respawns, 1);
    cr_assert_eq(st.queued, 0);
    cr_assert_eq(st.in_flight, 0);
    cr_assert_eq(st.workers, 1);

    /* Records run: 5 + 1 + 1 (gate) + 3; the killed one never finished
     * and the cancelled one never ran. The count may trail the results
     * by an instant (a worker counts after it pushed), never exceed. */
    const uint64_t records = 5 + 1 + 1 + 3;
    cf_worker_stats ws;
    for (int t = 0; t < SUPPORT_LIVENESS_MS; t++) {
        cr_assert_eq(cf_executor_worker_stats(ex, 0, &ws), 0);
        if (ws.tasks >= records)
            break;
        support_sleep_ms(1);
    }
    cr_assert_eq(ws.tasks, records);
    cr_assert_gt(ws.pid, 0);
    cr_assert_neq(ws.pid, getpid());
    cr_assert_gt(ws.busy_ns, 0);
    cr_assert_eq(ws.respawns, 1);
    /* The pid reported is the worker that runs tasks. */
    cf_future *who;
    int64_t pid;
    cr_assert_eq(cf_submit(ex, fo_getpid, &who, ""), 0);
    cr_assert_eq(cf_future_result_i64(who, CF_FOREVER, &pid), 0);
    cr_assert_eq(pid, ws.pid);

    cf_future_release(who);
    cf_future_release(bad);
    cf_future_release(held);
    cf_future_release(c);
    cf_future_release(dead);
    cf_executor_release(ex);
    support_remove_dir(dir);
}

Test(fault_options, worker_stats_sum_over_workers, .timeout = 30)
{
    enum { N = 200, W = 3 };
    cf_executor *ex = pool_with(W, 0, 0);
    static cf_future *fs[N];
    for (int i = 0; i < N; i++)
        cr_assert_eq(cf_submit(ex, support_square, &fs[i], "i", (int64_t)i), 0);
    for (int i = 0; i < N; i++)
        cr_assert_eq(cf_future_error(fs[i], CF_FOREVER), 0);
    support_release_all(fs, N);
    uint64_t sum = 0;
    int started = 0;
    for (int t = 0; t < SUPPORT_LIVENESS_MS; t++) {
        sum = 0;
        started = 0;
        for (int i = 0; i < W; i++) {
            cf_worker_stats ws;
            cr_assert_eq(cf_executor_worker_stats(ex, i, &ws), 0);
            cr_assert_eq(ws.respawns, 0);
            started += ws.pid > 0; /* a worker may start after the work is done */
            sum += ws.tasks;
        }
        if (sum >= N && started == W)
            break;
        support_sleep_ms(1);
    }
    cr_assert_eq(sum, N);
    cr_assert_eq(started, W, "every worker reports its pid once up");
    cf_stats st = stats_of(ex);
    cr_assert_eq(st.completed, N);
    cr_assert_eq(st.workers, W);
    cf_executor_release(ex);
}

/* ------------------------------------------------------------ bad arguments */

Test(fault_options, invalid_arguments, .timeout = 30)
{
    cf_executor *ex = NULL;
    cf_process_pool_options o = {.max_workers = 1, .max_retries = -1};
    cr_assert_eq(cf_process_pool_create(&ex, &o), -EINVAL);
    o = (cf_process_pool_options){.max_workers = 1, .max_tasks_per_child = -1};
    cr_assert_eq(cf_process_pool_create(&ex, &o), -EINVAL);
    cr_assert_null(ex);

    ex = pool_with(2, 0, 0);
    cf_stats st;
    cf_worker_stats ws;
    cr_assert_eq(cf_executor_stats(NULL, &st), -EINVAL);
    cr_assert_eq(cf_executor_stats(ex, NULL), -EINVAL);
    cr_assert_eq(cf_executor_worker_stats(NULL, 0, &ws), -EINVAL);
    cr_assert_eq(cf_executor_worker_stats(ex, 0, NULL), -EINVAL);
    cr_assert_eq(cf_executor_worker_stats(ex, -1, &ws), -EINVAL);
    cr_assert_eq(cf_executor_worker_stats(ex, 2, &ws), -EINVAL);
    cr_assert_eq(cf_executor_worker_stats(ex, 1 << 30, &ws), -EINVAL);
    cr_assert_eq(cf_executor_worker_stats(ex, 1, &ws), 0);

    cf_future *f = NULL;
    cf_submit_options so = CF_SUBMIT_OPTIONS_INIT;
    so.timeout = NAN;
    cr_assert_eq(cf_submit_with(ex, &so, "support_square", &f, "i", (int64_t)1), -EINVAL);
    so = (cf_submit_options)CF_SUBMIT_OPTIONS_INIT;
    so.task_timeout = NAN;
    cr_assert_eq(cf_submit_with(ex, &so, "support_square", &f, "i", (int64_t)1), -EINVAL);
    so = (cf_submit_options)CF_SUBMIT_OPTIONS_INIT;
    cr_assert_eq(cf_submit_with(NULL, &so, "support_square", &f, "i", (int64_t)1), -EINVAL);
    cr_assert_eq(cf_submit_with(ex, &so, NULL, &f, "i", (int64_t)1), -EINVAL);
    cr_assert_eq(cf_submit_with(ex, &so, "support_square", NULL, "i", (int64_t)1), -EINVAL);
    cr_assert_eq(cf_submit_with(ex, &so, "support_square", &f, NULL), -EINVAL);
    cr_assert_null(f);
    cr_assert(!cf_future_cancel_running(NULL));
    cr_assert_eq(cf_executor_stats(ex, &st), 0);
    cr_assert_eq(st.submitted, 0, "nothing refused was counted");

    /* NULL options are the defaults. */
    int64_t r;
    cr_assert_eq(cf_submit_with(ex, NULL, "support_square", &f, "i", (int64_t)9), 0);
    cr_assert_eq(cf_future_result_i64(f, CF_FOREVER, &r), 0);
    cr_assert_eq(r, 81);
    cf_future_release(f);
    cf_executor_release(ex);
}

/* A thread pool has no worker processes: -ENOTSUP; cancel_running cannot
 * interrupt one of its running tasks. */
Test(fault_options, thread_pool_worker_stats_unsupported, .timeout = 30)
{
    cf_executor *ex;
    cf_thread_pool_options o = {.max_workers = 1};
    cr_assert_eq(cf_thread_pool_create(&ex, &o), 0);
    cf_worker_stats ws;
    cr_assert_eq(cf_executor_worker_stats(ex, 0, &ws), -ENOTSUP);
    cf_stats st;
    cr_assert_eq(cf_executor_stats(ex, &st), 0);
    cf_executor_release(ex);
}
