/* Tests for cf_pbarrier: Python's Barrier across forked processes. */
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

#define PARTIES 4
#define ROUNDS 5

struct barrier_shared {
    cf_pbarrier bar;
    int index[ROUNDS][PARTIES]; /* [round][child]: written by that child only */
    _Atomic int ready;
};

static struct barrier_shared *sh;

static void setup_with(long long parties)
{
    sh = cf_pshared_alloc(sizeof *sh);
    cr_assert_not_null(sh);
    cr_assert_eq(cf_pbarrier_init(&sh->bar, parties), 0);
}

static void setup4(void)
{
    setup_with(PARTIES);
}

static void setup3(void)
{
    setup_with(3);
}

static void teardown(void)
{
    kill_all_kids();
    if (sh) {
        cf_pbarrier_destroy(&sh->bar);
        cf_pshared_free(sh, sizeof *sh);
    }
    sh = NULL;
}

static int barrier_rounds(int child)
{
    for (int r = 0; r < ROUNDS; r++) {
        int idx = cf_pbarrier_wait(&sh->bar, CF_FOREVER);

        if (idx < 0)
            return 1;
        sh->index[r][child] = idx;
    }
    return 0;
}

/* One wait; exits 0 with an index, 10 with CF_EBROKEN, 20 otherwise. */
static int barrier_wait_once(int unused)
{
    int rc;

    (void)unused;
    atomic_fetch_add(&sh->ready, 1);
    rc = cf_pbarrier_wait(&sh->bar, CF_FOREVER);
    if (rc >= 0 && rc < cf_pbarrier_parties(&sh->bar))
        return 0;
    return rc == CF_EBROKEN ? 10 : 20;
}

static bool n_waiting_reaches(int want)
{
    for (int i = 0; i < 10000; i++) {
        if (cf_pbarrier_n_waiting(&sh->bar) == want)
            return true;
        sleep_ms(1);
    }
    return false;
}

Test(psync_barrier, unique_indices_every_round, .init = setup4, .fini = teardown,
     .timeout = 20)
{
    pid_t pids[PARTIES];

    for (int i = 0; i < PARTIES; i++)
        pids[i] = spawn(barrier_rounds, i);
    for (int i = 0; i < PARTIES; i++)
        cr_assert_eq(reap(pids[i]), 0, "child %d failed", i);
    for (int r = 0; r < ROUNDS; r++) {
        int seen = 0;

        for (int i = 0; i < PARTIES; i++) {
            int idx = sh->index[r][i];

            cr_assert(idx >= 0 && idx < PARTIES);
            seen |= 1 << idx;
        }
        cr_assert_eq(seen, (1 << PARTIES) - 1, "round %d: indices not a permutation", r);
    }
    cr_assert_not(cf_pbarrier_broken(&sh->bar));
}

Test(psync_barrier, abort_with_waiters_in_flight, .init = setup3, .fini = teardown,
     .timeout = 20)
{
    pid_t a = spawn(barrier_wait_once, 0), b = spawn(barrier_wait_once, 0), p[3];

    cr_assert(eventually_at_least(&sh->ready, 2));
    cr_assert(n_waiting_reaches(2));
    cr_assert_eq(cf_pbarrier_abort(&sh->bar), 0);
    cr_assert_eq(reap(a), 10);
    cr_assert_eq(reap(b), 10);
    cr_assert(cf_pbarrier_broken(&sh->bar));
    cr_assert_eq(cf_pbarrier_n_waiting(&sh->bar), 0);
    cr_assert_eq(cf_pbarrier_wait(&sh->bar, CF_FOREVER), CF_EBROKEN);
    cr_assert_eq(cf_pbarrier_reset(&sh->bar), 0);
    cr_assert_not(cf_pbarrier_broken(&sh->bar));
    for (int i = 0; i < 3; i++)
        p[i] = spawn(barrier_wait_once, 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(reap(p[i]), 0, "usable again after reset");
}

Test(psync_barrier, reset_with_waiters_in_flight, .init = setup3, .fini = teardown,
     .timeout = 20)
{
    pid_t a = spawn(barrier_wait_once, 0), b = spawn(barrier_wait_once, 0), p[3];

    cr_assert(n_waiting_reaches(2));
    cr_assert_eq(cf_pbarrier_reset(&sh->bar), 0);
    cr_assert_eq(reap(a), 10);
    cr_assert_eq(reap(b), 10);
    cr_assert_not(cf_pbarrier_broken(&sh->bar));
    cr_assert_eq(cf_pbarrier_n_waiting(&sh->bar), 0);
    for (int i = 0; i < 3; i++)
        p[i] = spawn(barrier_wait_once, 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(reap(p[i]), 0);
}

Test(psync_barrier, timeout_breaks_it, .init = setup3, .fini = teardown, .timeout = 20)
{
    pid_t a = spawn(barrier_wait_once, 0);

    cr_assert(n_waiting_reaches(1));
    cr_assert_eq(cf_pbarrier_wait(&sh->bar, 0.02), CF_EBROKEN);
    cr_assert_eq(reap(a), 10, "the other waiter sees the break");
    cr_assert(cf_pbarrier_broken(&sh->bar));
    cr_assert_eq(cf_pbarrier_wait(&sh->bar, 0), CF_EBROKEN);
    cr_assert_eq(cf_pbarrier_reset(&sh->bar), 0);
    cr_assert_not(cf_pbarrier_broken(&sh->bar));
}

Test(psync_barrier, waiter_killed_does_not_stop_the_round, .init = setup3,
     .fini = teardown, .timeout = 20)
{
    pid_t dead = spawn(barrier_wait_once, 0), p[3];

    cr_assert(n_waiting_reaches(1));
    kill_kid(dead);
    /* The dead process arrived: two more complete the round. */
    p[0] = spawn(barrier_wait_once, 0);
    p[1] = spawn(barrier_wait_once, 0);
    cr_assert_eq(reap(p[0]), 0);
    cr_assert_eq(reap(p[1]), 0);
    cr_assert_not(cf_pbarrier_broken(&sh->bar));
    cr_assert_eq(cf_pbarrier_n_waiting(&sh->bar), 0);
    for (int i = 0; i < 3; i++)
        p[i] = spawn(barrier_wait_once, 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(reap(p[i]), 0, "next round unaffected");
}

Test(psync_barrier, single_party_and_errors, .init = setup3, .fini = teardown,
     .timeout = 20)
{
    cf_pbarrier *b = &sh->bar;

    cr_assert_eq(cf_pbarrier_parties(b), 3);
    cr_assert_eq(cf_pbarrier_init(b, 1), 0);
    cr_assert_eq(cf_pbarrier_wait(b, CF_FOREVER), 0);
    cr_assert_eq(cf_pbarrier_wait(b, 0), 0);
    cr_assert_eq(cf_pbarrier_init(NULL, 2), -EINVAL);
    cr_assert_eq(cf_pbarrier_init(b, 0), -EINVAL);
    cr_assert_eq(cf_pbarrier_init(b, -3), -EINVAL);
    cr_assert_eq(cf_pbarrier_init(b, (long long)INT32_MAX + 1), -EINVAL);
    cr_assert_eq(cf_pbarrier_wait(NULL, 1), -EINVAL);
    cr_assert_eq(cf_pbarrier_abort(NULL), -EINVAL);
    cr_assert_eq(cf_pbarrier_reset(NULL), -EINVAL);
    cr_assert_eq(cf_pbarrier_n_waiting(NULL), -EINVAL);
    cr_assert_eq(cf_pbarrier_parties(NULL), -EINVAL);
    cr_assert_not(cf_pbarrier_broken(NULL));
    cf_pbarrier_destroy(NULL);
}
