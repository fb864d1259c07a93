/* CPython's test_concurrent_futures/test_deadlock.py matrix, ported to
 * cfutures: a crash (SIGKILL), an exit (_exit(77)) or an error at each
 * step a task takes — decoding it in the worker, running it (also tasks
 * that kill, abort, exit or segfault themselves), encoding its result in
 * the worker, decoding that result in the parent — and while a large
 * argument is in flight, and after shutdown. Where CPython expects
 * BrokenProcessPool for everything, cfutures fails exactly the one affected
 * future with a named error and the pool keeps working.
 *
 * Then death at the worst moments of the ring (holding its lock, half-way
 * through writing or reading a record, inside a counted signal) and in its
 * condition variable.
 *
 * Faults are armed through ipc/fault.h before the pool is created (its
 * processes inherit the armed state); "nth" counts hits across them.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc/fault.h"
#include "tests/support.h"

/* ------------------------------------------------------------ tasks */

/* [x, y] -> x * y: our own name, so messages can be checked for it. */
static int dl_mul(const msgpack_object *args, msgpack_packer *out)
{
    int64_t x, y;
    if (cf_arg_i64(args, 0, &x) < 0 || cf_arg_i64(args, 1, &y) < 0)
        return cf_task_fail("dl_mul: expected two integers");
    return msgpack_pack_int64(out, x * y);
}
CF_TASK(dl_mul);

static int dl_raise_sigkill(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    raise(SIGKILL);
    return msgpack_pack_nil(out);
}
CF_TASK(dl_raise_sigkill);

static int dl_abort(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    abort();
    return msgpack_pack_nil(out);
}
CF_TASK(dl_abort);

/* Under LeakSanitizer, exit() runs a leak check that turns a worker's
 * exit status into the sanitizer's own: this task's worker (and only it)
 * opts out through the runtime's __lsan_is_turned_off hook, so exit(3)
 * stays exit(3). */
static volatile int dl_lsan_off;
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void)
{
    return dl_lsan_off;
}

static int dl_exit3(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    dl_lsan_off = 1;
    exit(3);
    return msgpack_pack_nil(out);
}
CF_TASK(dl_exit3);

/* A segfault with the default disposition (a sanitizer's handler would
 * turn it into an exit). */
static int dl_segv(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    signal(SIGSEGV, SIG_DFL);
    raise(SIGSEGV);
    return msgpack_pack_nil(out);
}
CF_TASK(dl_segv);

/* [bin] -> [length, sum of the bytes]. */
static int dl_bin_sum(const msgpack_object *args, msgpack_packer *out)
{
    const void *p;
    size_t len;
    if (cf_arg_bin(args, 0, &p, &len) < 0)
        return cf_task_fail("dl_bin_sum: expected a binary");
    uint64_t sum = 0;
    for (size_t i = 0; i < len; i++)
        sum += ((const unsigned char *)p)[i];
    msgpack_pack_array(out, 2);
    msgpack_pack_uint64(out, len);
    return msgpack_pack_uint64(out, sum);
}
CF_TASK(dl_bin_sum);

/* [dir, k]: holds like support_gate, then SIGKILLs its own worker. */
static int dl_gate_then_kill(const msgpack_object *args, msgpack_packer *out)
{
    int rc = support_gate_hold(args, NULL);
    if (rc != 0)
        return rc;
    raise(SIGKILL);
    return msgpack_pack_nil(out);
}
CF_TASK(dl_gate_then_kill);

static int dl_getpid(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    return msgpack_pack_int64(out, getpid());
}
CF_TASK(dl_getpid);

/* ------------------------------------------------------------ helpers */

static cf_executor *new_pool(int workers)
{
    return support_new_pool(workers, 0);
}

static cf_future *submit_mul(cf_executor *ex, int64_t x, int64_t y)
{
    cf_future *f = NULL;
    int rc = cf_submit(ex, dl_mul, &f, "ii", x, y);
    cr_assert_eq(rc, 0, "submit dl_mul: %s", cf_strerror(rc));
    return f;
}

/* n more tasks, every result correct. */
static void assert_pool_works(cf_executor *ex, int n)
{
    cf_future **fs = calloc((size_t)n, sizeof(*fs));
    cr_assert_not_null(fs);
    for (int i = 0; i < n; i++)
        fs[i] = submit_mul(ex, i, 3);
    for (int i = 0; i < n; i++) {
        int64_t r = -1;
        int rc = cf_future_result_i64(fs[i], CF_FOREVER, &r);
        cr_assert_eq(rc, 0, "follow-up task %d: %s (%s)", i, cf_strerror(rc),
                     cf_future_error_message(fs[i]));
        cr_assert_eq(r, (int64_t)i * 3);
    }
    support_release_all(fs, (size_t)n);
    free(fs);
}

/* The message of a dead worker's future: "worker <pid> <how> while
 * running <task>". */
static void assert_death_message(const cf_future *f, const char *how, const char *task)
{
    const char *msg = cf_future_error_message(f);
    int pid = 0;
    char want[128];
    cr_assert(sscanf(msg, "worker %d ", &pid) == 1 && pid > 0, "message: %s", msg);
    cr_assert(strstr(msg, how), "message lacks '%s': %s", how, msg);
    snprintf(want, sizeof(want), "while running %s", task);
    cr_assert(strstr(msg, want), "message lacks '%s': %s", want, msg);
}

/* Submits n dl_mul tasks at once; expects exactly one to fail with `err`
 * and a message holding every non-NULL substring, every other one correct. */
static void run_batch_expect_one(cf_executor *ex, int n, int err, const char *s1,
                                 const char *s2)
{
    cf_future **fs = calloc((size_t)n, sizeof(*fs));
    cr_assert_not_null(fs);
    for (int i = 0; i < n; i++)
        fs[i] = submit_mul(ex, i, 7);
    int failed = 0;
    for (int i = 0; i < n; i++) {
        int64_t r = -1;
        int rc = cf_future_result_i64(fs[i], CF_FOREVER, &r);
        if (rc == 0) {
            cr_assert_eq(r, (int64_t)i * 7, "task %d", i);
            continue;
        }
        failed++;
        const char *msg = cf_future_error_message(fs[i]);
        cr_assert_eq(rc, err, "task %d: got %s (%s), want %s", i, cf_strerror(rc), msg,
                     cf_strerror(err));
        if (err == CF_EWORKER)
            assert_death_message(fs[i], s1, "dl_mul");
        else if (s1)
            cr_assert(strstr(msg, s1), "task %d message lacks '%s': %s", i, s1, msg);
        if (s2)
            cr_assert(strstr(msg, s2), "task %d message lacks '%s': %s", i, s2, msg);
    }
    cr_assert_eq(failed, 1, "exactly one future is affected (%d failed)", failed);
    support_release_all(fs, (size_t)n);
    free(fs);
}

/* Arms a worker-side fault, runs a batch on a 2-worker pool, then checks
 * the pool still works. */
static void worker_fault_case(enum cf__fault_point point, enum cf__fault_action action,
                              int err, const char *s1, const char *s2)
{
    cr_assert_eq(cf__fault_arm(point, action, 1, CF__ROLE_WORKER), 0);
    cf_executor *ex = new_pool(2);
    run_batch_expect_one(ex, 20, err, s1, s2);
    assert_pool_works(ex, 20);
    cf__fault_disarm();
    assert_pool_works(ex, 5);
    cf_executor_release(ex);
}

/* ------------------------------------------------ task decode (worker) */

Test(deadlock, crash_at_task_decode, .timeout = 30)
{
    worker_fault_case(CF__FAULT_WORKER_DECODE, CF__FAULT_CRASH, CF_EWORKER, "killed by SIGKILL",
                      NULL);
}

Test(deadlock, exit_at_task_decode, .timeout = 30)
{
    worker_fault_case(CF__FAULT_WORKER_DECODE, CF__FAULT_EXIT, CF_EWORKER,
                      "exited with status 77", NULL);
}

Test(deadlock, error_at_task_decode, .timeout = 30)
{
    worker_fault_case(CF__FAULT_WORKER_DECODE, CF__FAULT_ERROR, CF_EPROTO,
                      "could not read the task record", NULL);
}

/* ------------------------------------------------ task execution */

Test(deadlock, crash_at_execute, .timeout = 30)
{
    worker_fault_case(CF__FAULT_WORKER_EXECUTE, CF__FAULT_CRASH, CF_EWORKER,
                      "killed by SIGKILL", NULL);
}

Test(deadlock, exit_at_execute, .timeout = 30)
{
    worker_fault_case(CF__FAULT_WORKER_EXECUTE, CF__FAULT_EXIT, CF_EWORKER,
                      "exited with status 77", NULL);
}

Test(deadlock, error_at_execute, .timeout = 30)
{
    worker_fault_case(CF__FAULT_WORKER_EXECUTE, CF__FAULT_ERROR, CF_ETASK, "injected fault",
                      NULL);
}

/* A task that ends its own worker: that future fails naming the task and
 * how its worker ended; the tasks around it complete. */
static void self_death_case(cf_task_fn fn, const char *task, const char *how)
{
    enum { N = 10 };
    cf_future *before[N], *after[N], *victim;
    cf_executor *ex = new_pool(2);
    for (int i = 0; i < N; i++)
        before[i] = submit_mul(ex, i, 5);
    cr_assert_eq(cf_submit(ex, fn, &victim, ""), 0);
    for (int i = 0; i < N; i++)
        after[i] = submit_mul(ex, i, 11);
    cr_assert_eq(cf_future_error(victim, CF_FOREVER), CF_EWORKER, "%s: %s", task,
                 cf_future_error_message(victim));
    assert_death_message(victim, how, task);
    for (int i = 0; i < N; i++) {
        int64_t r;
        cr_assert_eq(cf_future_result_i64(before[i], CF_FOREVER, &r), 0, "%s",
                     cf_future_error_message(before[i]));
        cr_assert_eq(r, i * 5);
        cr_assert_eq(cf_future_result_i64(after[i], CF_FOREVER, &r), 0, "%s",
                     cf_future_error_message(after[i]));
        cr_assert_eq(r, i * 11);
    }
    assert_pool_works(ex, 20);
    support_release_all(before, N);
    support_release_all(after, N);
    cf_future_release(victim);
    cf_executor_release(ex);
}

Test(deadlock, task_raises_sigkill, .timeout = 30)
{
    self_death_case(dl_raise_sigkill, "dl_raise_sigkill", "killed by SIGKILL");
}

Test(deadlock, task_aborts, .timeout = 30)
{
    self_death_case(dl_abort, "dl_abort", "killed by SIGABRT");
}

Test(deadlock, task_calls_exit, .timeout = 30)
{
    self_death_case(dl_exit3, "dl_exit3", "exited with status 3");
}

Test(deadlock, task_segfaults, .timeout = 30)
{
    self_death_case(dl_segv, "dl_segv", "killed by SIGSEGV");
}

/* ------------------------------------------------ result encode (worker) */

Test(deadlock, crash_at_result_encode, .timeout = 30)
{
    worker_fault_case(CF__FAULT_WORKER_ENCODE, CF__FAULT_CRASH, CF_EWORKER,
                      "killed by SIGKILL", NULL);
}

Test(deadlock, exit_at_result_encode, .timeout = 30)
{
    worker_fault_case(CF__FAULT_WORKER_ENCODE, CF__FAULT_EXIT, CF_EWORKER,
                      "exited with status 77", NULL);
}

/* A truncated result record: the parent cannot decode it. */
Test(deadlock, error_at_result_encode, .timeout = 30)
{
    worker_fault_case(CF__FAULT_WORKER_ENCODE, CF__FAULT_ERROR, CF_EPROTO,
                      "malformed result record", NULL);
}

/* ------------------------------------------------ result decode (parent) */

Test(deadlock, error_at_result_decode, .timeout = 30)
{
    cf_executor *ex = new_pool(1);
    /* Warm up, so the worker's start record has been decoded: the next
     * record the parent decodes is a result. The parent's own state needs
     * no inheritance, so arming after create is fine. */
    assert_pool_works(ex, 3);
    cr_assert_eq(cf__fault_arm(CF__FAULT_PARENT_DECODE, CF__FAULT_ERROR, 1, CF__ROLE_PARENT), 0);
    run_batch_expect_one(ex, 20, CF_EPROTO, "malformed result record", NULL);
    cf__fault_disarm();
    assert_pool_works(ex, 20);
    cf_stats st;
    cr_assert_eq(cf_executor_stats(ex, &st), 0);
    cr_assert_eq(st.worker_deaths, 0, "a bad result record kills no worker");
    cf_executor_release(ex);
}

/* ------------------------------------------------ large payload in flight */

enum { BIG = 8 << 20 };

static unsigned char *big_payload(void)
{
    unsigned char *p = malloc(BIG);
    cr_assert_not_null(p);
    for (size_t i = 0; i < BIG; i++)
        p[i] = (unsigned char)(i * 31 + 7);
    return p;
}

static uint64_t big_sum(const unsigned char *p)
{
    uint64_t s = 0;
    for (size_t i = 0; i < BIG; i++)
        s += p[i];
    return s;
}

static void assert_big_result(cf_future *f, uint64_t sum)
{
    const msgpack_object *r, *items;
    size_t n;
    uint64_t len, got;
    int rc = cf_future_result(f, CF_FOREVER, &r);
    cr_assert_eq(rc, 0, "%s: %s", cf_strerror(rc), cf_future_error_message(f));
    cr_assert_eq(cf_obj_array(r, &items, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(cf_obj_u64(&items[0], &len), 0);
    cr_assert_eq(cf_obj_u64(&items[1], &got), 0);
    cr_assert_eq(len, BIG);
    cr_assert_eq(got, sum);
}

static void big_payload_case(enum cf__fault_action action, int err, const char *what)
{
    unsigned char *p = big_payload();
    uint64_t sum = big_sum(p);
    cf_future *victim, *small[10], *more[3];
    cr_assert_eq(cf__fault_arm(CF__FAULT_WORKER_SIDE, action, 1, CF__ROLE_WORKER), 0);
    cf_executor *ex = new_pool(2); /* 1 MiB rings: 8 MiB goes through a side segment */
    cr_assert_eq(cf_submit(ex, dl_bin_sum, &victim, "b", p, (size_t)BIG), 0);
    for (int i = 0; i < 10; i++)
        small[i] = submit_mul(ex, i, 2);
    int rc = cf_future_error(victim, CF_FOREVER);
    cr_assert_eq(rc, err, "got %s (%s)", cf_strerror(rc), cf_future_error_message(victim));
    if (err == CF_EWORKER)
        assert_death_message(victim, what, "dl_bin_sum");
    else
        cr_assert(strstr(cf_future_error_message(victim), what), "%s",
                  cf_future_error_message(victim));
    for (int i = 0; i < 10; i++) {
        int64_t r;
        cr_assert_eq(cf_future_result_i64(small[i], CF_FOREVER, &r), 0);
        cr_assert_eq(r, i * 2);
    }
    /* Large payloads still travel afterwards. */
    for (int i = 0; i < 3; i++)
        cr_assert_eq(cf_submit(ex, dl_bin_sum, &more[i], "b", p, (size_t)BIG), 0);
    for (int i = 0; i < 3; i++)
        assert_big_result(more[i], sum);
    assert_pool_works(ex, 10);
    cf__fault_disarm();
    cf_future_release(victim);
    support_release_all(small, 10);
    support_release_all(more, 3);
    cf_executor_release(ex);
    free(p);
}

Test(deadlock, crash_with_large_payload_in_flight, .timeout = 60)
{
    big_payload_case(CF__FAULT_CRASH, CF_EWORKER, "killed by SIGKILL");
}

Test(deadlock, exit_with_large_payload_in_flight, .timeout = 60)
{
    big_payload_case(CF__FAULT_EXIT, CF_EWORKER, "exited with status 77");
}

Test(deadlock, error_with_large_payload_in_flight, .timeout = 60)
{
    big_payload_case(CF__FAULT_ERROR, CF_EPROTO, "could not read the task record");
}

/* ------------------------------------------------ crash after shutdown */

/* CPython's test_shutdown_deadlock: the worker dies after
 * shutdown(wait=False). Only its task fails; the tasks queued behind it
 * still run (or are cancelled, with cancel_futures); nothing hangs. */
static void crash_after_shutdown_case(bool cancel_futures)
{
    enum { N = 5 };
    char dir[64];
    cf_future *victim, *queued[N];
    support_make_dir(dir, sizeof(dir));
    cf_executor *ex = new_pool(1);
    cr_assert_eq(cf_submit(ex, dl_gate_then_kill, &victim, "si", dir, (int64_t)1), 0);
    char started[128];
    snprintf(started, sizeof(started), "%s/started-1", dir);
    cr_assert(support_wait_file(started));
    for (int i = 0; i < N; i++)
        queued[i] = submit_mul(ex, i, 9);
    cr_assert_eq(cf_executor_shutdown(ex, CF_NOWAIT, cancel_futures), 0);
    cf_future *late;
    cr_assert_eq(cf_submit(ex, dl_mul, &late, "ii", (int64_t)1, (int64_t)1), CF_ESHUTDOWN);
    support_gate_open(dir);
    cr_assert_eq(cf_future_error(victim, CF_FOREVER), CF_EWORKER, "%s",
                 cf_future_error_message(victim));
    assert_death_message(victim, "killed by SIGKILL", "dl_gate_then_kill");
    for (int i = 0; i < N; i++) {
        int64_t r;
        int rc = cf_future_result_i64(queued[i], CF_FOREVER, &r);
        if (cancel_futures) {
            cr_assert_eq(rc, CF_ECANCELLED, "queued %d: %s", i, cf_strerror(rc));
        } else {
            cr_assert_eq(rc, 0, "queued %d: %s (%s)", i, cf_strerror(rc),
                         cf_future_error_message(queued[i]));
            cr_assert_eq(r, i * 9);
        }
    }
    cr_assert_eq(cf_executor_shutdown(ex, CF_WAIT, false), 0, "must not hang");
    cf_executor_release(ex);
    cf_future_release(victim);
    support_release_all(queued, N);
    support_remove_dir(dir);
    /* A new pool is not affected. */
    ex = new_pool(1);
    assert_pool_works(ex, 5);
    cf_executor_release(ex);
}

Test(deadlock, crash_after_shutdown_nowait, .timeout = 30)
{
    crash_after_shutdown_case(false);
}

Test(deadlock, crash_after_shutdown_nowait_cancel_futures, .timeout = 30)
{
    crash_after_shutdown_case(true);
}

/* ------------------------------------------------ the ring's worst moments */

/* One worker: its first push is its start record, the second carries the
 * first result. Dying there costs that one task; the robust ring lock is
 * recovered, the unpublished half record never read. */
static void ring_push_case(enum cf__fault_point point)
{
    cr_assert_eq(cf__fault_arm(point, CF__FAULT_CRASH, 2, CF__ROLE_WORKER), 0);
    cf_executor *ex = new_pool(1);
    run_batch_expect_one(ex, 40, CF_EWORKER, "killed by SIGKILL", NULL);
    assert_pool_works(ex, 40);
    cf__fault_disarm();
    cf_stats st;
    cr_assert_eq(cf_executor_stats(ex, &st), 0);
    cr_assert_eq(st.failed, 1);
    cr_assert_eq(st.failed_worker, 1);
    cf_executor_release(ex);
}

Test(deadlock, death_holding_the_ring_lock, .timeout = 30)
{
    ring_push_case(CF__FAULT_RING_PUSH_LOCKED);
}

Test(deadlock, death_half_way_through_writing_a_record, .timeout = 30)
{
    ring_push_case(CF__FAULT_RING_PUSH_PARTIAL);
}

/* A worker copied a batch of task records but died before moving the
 * tail: the records are still in the ring and also queued again; each
 * future completes once, with the right result; none fails. */
Test(deadlock, death_half_way_through_reading_records, .timeout = 30)
{
    enum { N = 40 };
    cf_future *fs[N];
    cr_assert_eq(cf__fault_arm(CF__FAULT_RING_POP_PARTIAL, CF__FAULT_CRASH, 1, CF__ROLE_WORKER),
                 0);
    cf_executor *ex = new_pool(1);
    for (int i = 0; i < N; i++)
        fs[i] = submit_mul(ex, i, 13);
    for (int i = 0; i < N; i++) {
        int64_t r;
        int rc = cf_future_result_i64(fs[i], CF_FOREVER, &r);
        cr_assert_eq(rc, 0, "task %d: %s (%s)", i, cf_strerror(rc),
                     cf_future_error_message(fs[i]));
        cr_assert_eq(r, i * 13);
    }
    support_release_all(fs, N);
    assert_pool_works(ex, 20);
    cf__fault_disarm();
    cf_stats st;
    cr_assert_eq(cf_executor_stats(ex, &st), 0);
    cr_assert_eq(st.failed, 0);
    cr_assert_eq(st.completed, N + 20);
    cf_executor_release(ex);
}

/* The same points with two workers and a busier ring: which task is hit
 * is up to the scheduler, but at most one fails, and only with
 * CF_EWORKER; the rest are correct and nothing hangs. */
static void ring_busy_case(enum cf__fault_point point, unsigned nth, int max_failed)
{
    enum { N = 400 };
    static cf_future *fs[N];
    cr_assert_eq(cf__fault_arm(point, CF__FAULT_CRASH, nth, CF__ROLE_WORKER), 0);
    cf_executor *ex = support_new_pool(2, 4096); /* small ring: pushes wait for room */
    for (int i = 0; i < N; i++)
        fs[i] = submit_mul(ex, i, 3);
    int failed = 0;
    for (int i = 0; i < N; i++) {
        int64_t r;
        int rc = cf_future_result_i64(fs[i], CF_FOREVER, &r);
        if (rc == 0) {
            cr_assert_eq(r, i * 3, "task %d", i);
        } else {
            cr_assert_eq(rc, CF_EWORKER, "task %d: %s (%s)", i, cf_strerror(rc),
                         cf_future_error_message(fs[i]));
            failed++;
        }
    }
    cr_assert_leq(failed, max_failed);
    support_release_all(fs, N);
    assert_pool_works(ex, 50);
    cf__fault_disarm();
    cf_executor_release(ex);
}

Test(deadlock, busy_death_holding_the_ring_lock, .timeout = 60)
{
    ring_busy_case(CF__FAULT_RING_PUSH_LOCKED, 20, 1);
}

Test(deadlock, busy_death_half_way_through_writing, .timeout = 60)
{
    ring_busy_case(CF__FAULT_RING_PUSH_PARTIAL, 20, 1);
}

Test(deadlock, busy_death_half_way_through_reading, .timeout = 60)
{
    ring_busy_case(CF__FAULT_RING_POP_PARTIAL, 5, 0);
}

/* A worker killed inside a counted signal (ipc/pshared.h) on either ring,
 * its wake-up counted and never sent: the pool forgets the count (the fork
 * server for the result ring, the collector for the task ring) and wakes
 * everyone, so nobody sleeps through work; its result was pushed before
 * the signal and its untouched tasks are queued again: none fails. Rounds
 * of a full pipeline (no waiter polls, so results wake the collector)
 * until the fault has fired. */
Test(deadlock, busy_death_inside_a_counted_signal, .timeout = 60)
{
    enum { N = 400 };
    static cf_future *fs[N];
    cr_assert_eq(cf__fault_arm(CF__FAULT_SIGNAL_COUNTED, CF__FAULT_CRASH, 3, CF__ROLE_WORKER), 0);
    cf_executor *ex = support_new_pool(2, 4096);
    cf_stats st = {0};
    for (int round = 0; round < 50 && st.worker_deaths == 0; round++) {
        for (int i = 0; i < N; i++)
            fs[i] = submit_mul(ex, i, 3);
        cr_assert_eq(cf_wait(fs, N, CF_ALL_COMPLETED, CF_FOREVER, NULL), N);
        for (int i = 0; i < N; i++) {
            int64_t r;
            int rc = cf_future_result_i64(fs[i], 0, &r);
            cr_assert_eq(rc, 0, "task %d: %s (%s)", i, cf_strerror(rc),
                         cf_future_error_message(fs[i]));
            cr_assert_eq(r, i * 3, "task %d", i);
        }
        support_release_all(fs, N);
        cr_assert_eq(cf_executor_stats(ex, &st), 0);
    }
    cr_assert_eq(st.worker_deaths, 1, "the fault never fired");
    assert_pool_works(ex, 50);
    cf__fault_disarm();
    cf_executor_release(ex);
}

/* ------------------------------------------------ death in the condvar */

/* The state letter of /proc/<pid>/stat ('?' if gone). */
static char proc_state(pid_t pid)
{
    char path[64], state = '?';
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return '?';
    if (fscanf(f, "%*d (%*[^)]) %c", &state) != 1)
        state = '?';
    fclose(f);
    return state;
}

/* Waits (bounded) until the pool is at rest and worker `i` sleeps. */
static pid_t idle_worker(cf_executor *ex, int i)
{
    for (int t = 0; t < SUPPORT_LIVENESS_MS; t++) {
        cf_stats st;
        cf_worker_stats ws;
        cr_assert_eq(cf_executor_stats(ex, &st), 0);
        cr_assert_eq(cf_executor_worker_stats(ex, i, &ws), 0);
        if (st.in_flight == 0 && ws.pid > 0 && proc_state(ws.pid) == 'S')
            return ws.pid;
        support_sleep_ms(1);
    }
    cr_assert_fail("worker %d never went idle", i);
    return 0;
}

static void wait_respawns(cf_executor *ex, uint64_t n)
{
    cf_stats st;
    for (int t = 0; t < SUPPORT_LIVENESS_MS; t++) {
        cr_assert_eq(cf_executor_stats(ex, &st), 0);
        if (st.respawns >= n)
            return;
        support_sleep_ms(1);
    }
    cr_assert_fail("only %llu of %llu respawns", (unsigned long long)st.respawns,
                   (unsigned long long)n);
}

/* The pid a task reports (getpid() in its worker). */
static pid_t task_pid(cf_executor *ex)
{
    cf_future *f;
    int64_t got = 0;
    cr_assert_eq(cf_submit(ex, dl_getpid, &f, ""), 0);
    cr_assert_eq(cf_future_result_i64(f, CF_FOREVER, &got), 0);
    cf_future_release(f);
    return (pid_t)got;
}

Test(deadlock, sigkill_while_sleeping_in_the_condvar, .timeout = 30)
{
    cf_executor *ex = new_pool(2);
    assert_pool_works(ex, 10);
    pid_t a = idle_worker(ex, 0);
    pid_t b = idle_worker(ex, 1);
    cr_assert_neq(a, b);
    pid_t seen = task_pid(ex);
    cr_assert(seen == a || seen == b, "task ran in %d, workers are %d and %d", (int)seen,
              (int)a, (int)b);
    a = idle_worker(ex, 0);
    cr_assert_eq(kill(a, SIGKILL), 0);
    wait_respawns(ex, 1);
    /* The survivor and the replacement run everything. */
    assert_pool_works(ex, 100);
    /* Both at once, while both sleep. */
    a = idle_worker(ex, 0);
    b = idle_worker(ex, 1);
    cr_assert_eq(kill(a, SIGKILL), 0);
    cr_assert_eq(kill(b, SIGKILL), 0);
    wait_respawns(ex, 3);
    assert_pool_works(ex, 100);
    cf_stats st;
    cr_assert_eq(cf_executor_stats(ex, &st), 0);
    cr_assert_eq(st.failed, 0, "idle deaths cost no task");
    cr_assert_eq(st.worker_deaths, 3);
    cr_assert_eq(st.deaths_by_signal, 3);
    cf_executor_release(ex);
}
