/* Tests for cf_pevent: Python's Event across forked processes. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cfutures.h>

/* ---- forked children ----------------------------------------------------
 * Children die with the test process (PR_SET_PDEATHSIG), report through
 * their exit status only, and are killed and reaped by the .fini. Waits
 * are bounded liveness checks, never timing assertions. */
#define MAX_KIDS 16
#define LIVENESS_NS (10ull * 1000000000ull)

static pid_t kids[MAX_KIDS];

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Forks a child running fn(arg) and exiting with its return value. */
static pid_t spawn(int (*fn)(int), int arg)
{
    pid_t parent = getpid(), pid;
    int slot = 0;

    while (slot < MAX_KIDS && kids[slot] > 0)
        slot++;
    cr_assert_lt(slot, MAX_KIDS, "too many children");
    pid = fork();
    cr_assert_geq(pid, 0, "fork failed");
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(90);
        _exit(fn(arg));
    }
    kids[slot] = pid;
    return pid;
}

static void forget(pid_t pid)
{
    for (int i = 0; i < MAX_KIDS; i++)
        if (kids[i] == pid)
            kids[i] = 0;
}

/* Waits (bounded) for `pid`; returns its exit code, or -1 when it was
 * killed by a signal or did not end in time. */
static int reap(pid_t pid)
{
    uint64_t limit = now_ns() + LIVENESS_NS;
    int status;

    while (now_ns() < limit) {
        pid_t got = waitpid(pid, &status, WNOHANG);

        if (got == pid) {
            forget(pid);
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        if (got < 0)
            return -1;
        sleep_ms(1);
    }
    return -1;
}

static void kill_kid(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    forget(pid);
}

static void kill_all_kids(void)
{
    for (int i = 0; i < MAX_KIDS; i++)
        if (kids[i] > 0)
            kill_kid(kids[i]);
}

/* Polls until *flag >= want or the liveness limit passes. */
static bool eventually_at_least(_Atomic int *flag, int want)
{
    uint64_t limit = now_ns() + LIVENESS_NS;

    while (atomic_load(flag) < want) {
        if (now_ns() >= limit)
            return false;
        sleep_ms(1);
    }
    return true;
}

struct event_shared {
    cf_pevent ev;
    _Atomic int ready;
};

static struct event_shared *sh;

static void setup(void)
{
    sh = cf_pshared_alloc(sizeof *sh);
    cr_assert_not_null(sh);
    cr_assert_eq(cf_pevent_init(&sh->ev), 0);
}

static void teardown(void)
{
    kill_all_kids();
    if (sh) {
        cf_pevent_destroy(&sh->ev);
        cf_pshared_free(sh, sizeof *sh);
    }
    sh = NULL;
}

static int event_wait_forever(int unused)
{
    (void)unused;
    atomic_fetch_add(&sh->ready, 1);
    return cf_pevent_wait(&sh->ev, CF_FOREVER) ? 0 : 1;
}

static int event_set_it(int unused)
{
    (void)unused;
    return cf_pevent_set(&sh->ev) == 0 ? 0 : 1;
}

Test(psync_event, set_wakes_waiters_in_other_processes, .init = setup, .fini = teardown,
     .timeout = 20)
{
    pid_t pids[3];

    for (int i = 0; i < 3; i++)
        pids[i] = spawn(event_wait_forever, 0);
    cr_assert(eventually_at_least(&sh->ready, 3));
    sleep_ms(20); /* let them block; the test holds either way */
    cr_assert_eq(cf_pevent_set(&sh->ev), 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(reap(pids[i]), 0, "waiter %d", i);
}

Test(psync_event, set_by_child_seen_by_parent, .init = setup, .fini = teardown,
     .timeout = 20)
{
    cr_assert_not(cf_pevent_is_set(&sh->ev));
    cr_assert_eq(reap(spawn(event_set_it, 0)), 0);
    cr_assert(cf_pevent_is_set(&sh->ev));
    cr_assert(cf_pevent_wait(&sh->ev, CF_FOREVER));
}

Test(psync_event, wait_timeout_returns_false, .init = setup, .fini = teardown,
     .timeout = 20)
{
    cr_assert_not(cf_pevent_wait(&sh->ev, 0));
    cr_assert_not(cf_pevent_wait(&sh->ev, 0.02));
    cr_assert_eq(cf_pevent_set(&sh->ev), 0);
    cr_assert(cf_pevent_wait(&sh->ev, 0));
    cr_assert(cf_pevent_wait(&sh->ev, 0.02));
    cr_assert_eq(cf_pevent_clear(&sh->ev), 0);
    cr_assert_not(cf_pevent_is_set(&sh->ev));
    cr_assert_not(cf_pevent_wait(&sh->ev, 0.02));
}

Test(psync_event, waiter_killed_while_blocked, .init = setup, .fini = teardown,
     .timeout = 20)
{
    pid_t a = spawn(event_wait_forever, 0), b = spawn(event_wait_forever, 0);

    cr_assert(eventually_at_least(&sh->ready, 2));
    sleep_ms(20);
    kill_kid(a);
    cr_assert_eq(cf_pevent_set(&sh->ev), 0);
    cr_assert_eq(reap(b), 0);
    /* Later rounds still work. */
    cr_assert_eq(cf_pevent_clear(&sh->ev), 0);
    b = spawn(event_wait_forever, 0);
    cr_assert(eventually_at_least(&sh->ready, 3));
    cr_assert_eq(cf_pevent_set(&sh->ev), 0);
    cr_assert_eq(reap(b), 0);
}

Test(psync_event, null_arguments, .timeout = 20)
{
    cr_assert_eq(cf_pevent_init(NULL), -EINVAL);
    cr_assert_eq(cf_pevent_set(NULL), -EINVAL);
    cr_assert_eq(cf_pevent_clear(NULL), -EINVAL);
    cr_assert_not(cf_pevent_is_set(NULL));
    cr_assert_not(cf_pevent_wait(NULL, 0));
    cf_pevent_destroy(NULL);
}
