/* Tests for ipc/pshared.c: the robust process-shared mutex and the futex
 * event-count condition variable, across real processes.
 *
 * Every child is forked through psync_spawn() (psync_support.c), dies with
 * the test process (PR_SET_PDEATHSIG) and is killed and reaped by the
 * suite's .fini even when an assertion aborts the test. Children report
 * through their exit status only (Criterion's asserts belong to the test
 * process). Waits are bounded liveness checks, never timing assertions.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ipc/clock.h"
#include "ipc/pshared.h"
#include "psync_support.h"

struct shared {
    cf__pmutex mx;
    cf__pcond cv;
    int go;               /* protected by mx */
    _Atomic int locked;   /* child → parent: "I hold mx" */
    _Atomic uint32_t woken; /* cv's count for cf__pcond_signal_counted */
    int tokens;           /* counted stress: produced, not yet taken (mx) */
    int taken;            /* counted stress: taken so far (mx) */
};

static struct shared *sh;

static void setup(void)
{
    sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(sh, MAP_FAILED);
    cr_assert_eq(cf__pmutex_init(&sh->mx), 0);
    cf__pcond_init(&sh->cv);
}

static void teardown(void)
{
    psync_kill_all();
    if (sh && sh != MAP_FAILED)
        munmap(sh, sizeof(*sh));
    sh = NULL;
}

static bool child_holds_lock(void)
{
    return atomic_load(&sh->locked) != 0;
}

/* ---- children ----------------------------------------------------------- */

static int lock_and_exit(int unused)
{
    (void)unused;
    if (cf__pmutex_lock(&sh->mx) < 0) /* 1 (previous owner died) is fine */
        _exit(1);
    _exit(0); /* dies holding the mutex */
}

static int lock_and_hang(int unused)
{
    (void)unused;
    if (cf__pmutex_lock(&sh->mx) != 0)
        _exit(1);
    atomic_store(&sh->locked, 1);
    for (;;)
        pause();
}

/* Waits for sh->go with the given spin; exit 0 when it saw go. */
static _Noreturn void wait_go(unsigned spin)
{
    if (cf__pmutex_lock(&sh->mx) < 0)
        _exit(2);
    while (!sh->go)
        if (cf__pcond_wait(&sh->cv, &sh->mx, CF__NO_DEADLINE, spin, NULL) < 0)
            _exit(3);
    cf__pmutex_unlock(&sh->mx);
    _exit(0);
}

static int wait_go_nospin(int unused)
{
    (void)unused;
    wait_go(0);
}

static int wait_go_spin(int unused)
{
    (void)unused;
    wait_go(1000);
}

/* wait_go for counted signals (with `spin` pauses first). */
static int wait_go_counted(int spin)
{
    if (cf__pmutex_lock(&sh->mx) < 0)
        _exit(2);
    while (!sh->go)
        if (cf__pcond_wait_counted(&sh->cv, &sh->woken, &sh->mx, CF__NO_DEADLINE, (unsigned)spin,
                                   NULL) < 0)
            _exit(3);
    cf__pmutex_unlock(&sh->mx);
    _exit(0);
}

/* Counted stress consumer: takes one token at a time until `go` says the
 * run is over, passing the signal on when it leaves tokens behind (the
 * contract of a counted signal: whoever is woken acts for all). */
static int take_tokens(int spin)
{
    if (cf__pmutex_lock(&sh->mx) < 0)
        _exit(2);
    for (;;) {
        while (sh->tokens == 0 && !sh->go)
            if (cf__pcond_wait_counted(&sh->cv, &sh->woken, &sh->mx, CF__NO_DEADLINE,
                                       (unsigned)spin, NULL) < 0)
                _exit(3);
        if (sh->tokens == 0)
            break;
        sh->tokens--;
        sh->taken++;
        bool more = sh->tokens > 0;
        cf__pmutex_unlock(&sh->mx);
        if (more)
            cf__pcond_signal_counted(&sh->cv, &sh->woken);
        if (cf__pmutex_lock(&sh->mx) < 0)
            _exit(2);
    }
    cf__pmutex_unlock(&sh->mx);
    _exit(0);
}

/* ---- mutex -------------------------------------------------------------- */

Test(pshared, mutex_owner_exits, .init = setup, .fini = teardown, .timeout = 20)
{
    pid_t pid = psync_spawn(lock_and_exit, 0);
    int st = psync_reap_status(pid);

    cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child failed");
    cr_assert_eq(cf__pmutex_lock(&sh->mx), 1, "EOWNERDEAD must be reported as 1");
    cf__pmutex_unlock(&sh->mx);
    cr_assert_eq(cf__pmutex_lock(&sh->mx), 0, "mutex consistent afterwards");
    cf__pmutex_unlock(&sh->mx);
    cr_assert_eq(cf__pmutex_trylock(&sh->mx), 0);
    cf__pmutex_unlock(&sh->mx);
}

Test(pshared, mutex_owner_sigkilled, .init = setup, .fini = teardown, .timeout = 20)
{
    pid_t pid = psync_spawn(lock_and_hang, 0);

    cr_assert(psync_eventually(child_holds_lock), "child never locked");
    cr_assert_eq(cf__pmutex_trylock(&sh->mx), -EBUSY);
    psync_kill(pid);
    cr_assert_eq(cf__pmutex_trylock(&sh->mx), 1, "trylock reports the dead owner");
    cf__pmutex_unlock(&sh->mx);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(cf__pmutex_lock(&sh->mx), 0);
        cf__pmutex_unlock(&sh->mx);
    }
    cf__pmutex_destroy(&sh->mx);
}

/* A process blocked in lock() is handed the mutex when the owner dies. */
Test(pshared, mutex_blocked_locker_recovers, .init = setup, .fini = teardown, .timeout = 20)
{
    pid_t owner = psync_spawn(lock_and_hang, 0), waiter;
    int st;

    cr_assert(psync_eventually(child_holds_lock));
    waiter = psync_spawn(lock_and_exit, 0); /* blocks in lock, then dies holding it */
    psync_kill(owner);
    st = psync_reap_status(waiter);
    cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    cr_assert_eq(cf__pmutex_lock(&sh->mx), 1);
    cf__pmutex_unlock(&sh->mx);
}

/* ---- condition variable ------------------------------------------------- */

static unsigned expected_sleepers;

static bool sleepers_reached(void)
{
    return atomic_load(&sh->cv.sleepers) >= expected_sleepers;
}

/* State letter from /proc/<pid>/stat ('S': interruptible sleep), or 0. */
static char proc_state(pid_t pid)
{
    char path[64], buf[512];
    FILE *f;
    char *paren;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    f = fopen(path, "r");
    if (!f)
        return 0;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    paren = strrchr(buf, ')');
    return paren && paren[1] == ' ' ? paren[2] : 0;
}

/* Waits until `n` waiters are registered and every pid is asleep. After
 * registering, the only place a waiter (spin 0) can sleep is FUTEX_WAIT. */
static void wait_asleep(const pid_t *pids, int npids, unsigned n)
{
    expected_sleepers = n;
    cr_assert(psync_eventually(sleepers_reached), "waiters never registered");
    for (int i = 0; i < npids; i++) {
        uint64_t limit = cf__now_ns() + PSYNC_LIVENESS_NS;
        while (proc_state(pids[i]) != 'S') {
            cr_assert_lt(cf__now_ns(), limit, "waiter %d never slept", (int)pids[i]);
            psync_sleep_ms(1);
        }
    }
}

static void set_go(int go)
{
    cr_assert_geq(cf__pmutex_lock(&sh->mx), 0);
    sh->go = go;
    cf__pmutex_unlock(&sh->mx);
}

static void assert_exit0(pid_t pid)
{
    int st = psync_reap_status(pid);

    cr_assert(st >= 0, "child %d still blocked", (int)pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d failed (status %d)", (int)pid,
              st);
}

Test(pshared, cond_signal_wakes_other_process, .init = setup, .fini = teardown, .timeout = 20)
{
    pid_t pid = psync_spawn(wait_go_nospin, 0);

    wait_asleep(&pid, 1, 1);
    set_go(1);
    cf__pcond_signal(&sh->cv);
    assert_exit0(pid);
    cr_assert_eq(atomic_load(&sh->cv.sleepers), 0);
}

Test(pshared, cond_signal_wakes_spinning_waiter, .init = setup, .fini = teardown, .timeout = 20)
{
    pid_t pid = psync_spawn(wait_go_spin, 0);

    expected_sleepers = 1;
    cr_assert(psync_eventually(sleepers_reached));
    set_go(1);
    cf__pcond_signal(&sh->cv);
    assert_exit0(pid);
}

Test(pshared, cond_timed_wait_times_out, .init = setup, .fini = teardown, .timeout = 20)
{
    uint64_t deadline;
    int died = 0;

    cr_assert_eq(cf__pmutex_lock(&sh->mx), 0);
    deadline = cf__now_ns() + 20 * 1000000ull;
    cr_assert_eq(cf__pcond_wait(&sh->cv, &sh->mx, deadline, 0, &died), -ETIMEDOUT);
    cr_assert_geq(cf__now_ns(), deadline, "returned before the deadline");
    cr_assert_eq(died, 0);
    cr_assert_eq(cf__pmutex_trylock(&sh->mx), -EBUSY, "mutex held again on return");
    /* Spinning first changes nothing about the outcome. */
    cr_assert_eq(cf__pcond_wait(&sh->cv, &sh->mx, cf__now_ns() + 1000000ull, 500, NULL),
                 -ETIMEDOUT);
    /* A deadline already past returns at once. */
    cr_assert_eq(cf__pcond_wait(&sh->cv, &sh->mx, 1, 0, NULL), -ETIMEDOUT);
    cf__pmutex_unlock(&sh->mx);
    cr_assert_eq(atomic_load(&sh->cv.sleepers), 0);
}

Test(pshared, cond_broadcast_wakes_all, .init = setup, .fini = teardown, .timeout = 20)
{
    pid_t pids[4];

    for (int i = 0; i < 4; i++)
        pids[i] = psync_spawn(i % 2 ? wait_go_spin : wait_go_nospin, 0);
    expected_sleepers = 4;
    cr_assert(psync_eventually(sleepers_reached));
    set_go(1);
    cf__pcond_broadcast(&sh->cv);
    for (int i = 0; i < 4; i++)
        assert_exit0(pids[i]);
}

/* A waiter that re-locks after the mutex owner died is told so: the child
 * can only lock while we wait, then notifies and dies holding the mutex. */
static int lock_signal_exit(int unused)
{
    (void)unused;
    if (cf__pmutex_lock(&sh->mx) < 0)
        _exit(1);
    cf__pcond_signal(&sh->cv);
    _exit(0);
}

Test(pshared, cond_wait_reports_dead_owner, .init = setup, .fini = teardown, .timeout = 20)
{
    uint64_t limit = cf__now_ns() + PSYNC_LIVENESS_NS;
    pid_t pid;
    int died = 0, rc = 0;

    cr_assert_eq(cf__pmutex_lock(&sh->mx), 0);
    pid = psync_spawn(lock_signal_exit, 0);
    while (!died && rc == 0)
        rc = cf__pcond_wait(&sh->cv, &sh->mx, limit, 0, &died);
    cr_assert_eq(rc, 0);
    cr_assert_eq(died, 1, "re-lock must report the dead owner");
    cf__pmutex_unlock(&sh->mx);
    assert_exit0(pid);
    cr_assert_eq(cf__pmutex_lock(&sh->mx), 0, "consistent again");
    cf__pmutex_unlock(&sh->mx);
}

/* The glibc bug 21422 scenario: waiters SIGKILLed while asleep inside the
 * wait. Round after round, 3 of 4 sleeping waiters die; a single signal
 * must still wake the live one, and neither notify nor destroy may block.
 * The dead leave only their stale sleeper count behind. */
Test(pshared, cond_survives_killed_waiters, .init = setup, .fini = teardown, .timeout = 20)
{
    enum { ROUNDS = 5, WAITERS = 4 };
    unsigned stale = 0;

    for (int round = 0; round < ROUNDS; round++) {
        pid_t pids[WAITERS];

        set_go(0);
        for (int i = 0; i < WAITERS; i++)
            pids[i] = psync_spawn(wait_go_nospin, 0);
        wait_asleep(pids, WAITERS, stale + WAITERS);
        for (int i = 1; i < WAITERS; i++)
            psync_kill(pids[i]);
        stale += WAITERS - 1;
        /* Notifications with nobody to wake must return. */
        cf__pcond_broadcast(&sh->cv);
        cf__pcond_signal(&sh->cv);
        /* The broadcast may have woken the survivor; it must go back to
         * sleep (go is 0) and a single later signal must reach it. */
        wait_asleep(pids, 1, stale + 1);
        set_go(1);
        cf__pcond_signal(&sh->cv);
        assert_exit0(pids[0]);
        cr_assert_eq(atomic_load(&sh->cv.sleepers), stale, "round %d", round);
    }
    cf__pcond_signal(&sh->cv);
    cf__pcond_broadcast(&sh->cv);
    cf__pmutex_destroy(&sh->mx);
}

/* ---- counted signals ---------------------------------------------------- */

/* A counted signal skips its FUTEX_WAKE while every sleeper has one on its
 * way. A notifier killed between counting and sending leaves the count
 * standing: the sleeper is skipped until cf__pcond_reset_woken. */
Test(pshared, counted_signal_skips_until_reset, .init = setup, .fini = teardown, .timeout = 20)
{
    pid_t pid = psync_spawn(wait_go_counted, 0);

    wait_asleep(&pid, 1, 1);
    cf__pcond_signal_counted(&sh->cv, &sh->woken); /* go is 0: back to sleep */
    wait_asleep(&pid, 1, 1);
    cr_assert_eq(atomic_load(&sh->woken), 0, "the woken waiter took its count back");
    /* As a notifier SIGKILLed after counting would leave it. */
    atomic_store(&sh->woken, 1);
    set_go(1);
    cf__pcond_signal_counted(&sh->cv, &sh->woken);
    psync_sleep_ms(50);
    cr_assert_eq(proc_state(pid), 'S', "skipped: a wake-up looked on its way");
    cf__pcond_reset_woken(&sh->woken);
    cf__pcond_signal_counted(&sh->cv, &sh->woken);
    assert_exit0(pid);
    cr_assert_eq(atomic_load(&sh->woken), 0);
    cr_assert_eq(atomic_load(&sh->cv.sleepers), 0);
}

/* Tokens taken so far (read under the mutex). */
static int tokens_taken(void)
{
    cr_assert_geq(cf__pmutex_lock(&sh->mx), 0);
    int taken = sh->taken;
    cf__pmutex_unlock(&sh->mx);
    return taken;
}

/* Bounded wait until `want` tokens have been taken: a lost wake-up leaves
 * tokens behind with every waiter asleep, and nobody signals any more. */
static void wait_taken(int want, int round)
{
    uint64_t limit = cf__now_ns() + PSYNC_LIVENESS_NS;
    struct timespec nap = {.tv_sec = 0, .tv_nsec = 20000};
    int taken;

    while ((taken = tokens_taken()) != want) {
        cr_assert_lt(cf__now_ns(), limit,
                     "round %d: %d of %d tokens taken, the rest left with every waiter "
                     "asleep: a wake-up was lost",
                     round, taken, want);
        nanosleep(&nap, NULL);
    }
}

/* Tokens, each announced by one counted signal, taken by waiters that pass
 * the signal on, in rounds of a few tokens; between rounds the producer
 * stops until every token is taken. No later signal can then make up for
 * a lost one: a wake-up lost in a round strands its token (fails with the
 * notifier's re-send removed, or with a signal skipped wrongly now and
 * then). Once everyone is asleep again, no count may be left standing (the
 * waiters a wake-up reached took theirs back, the notifiers whose wake-up
 * reached nobody too). Spinning and sleeping waiters both. */
Test(pshared, counted_signals_lose_no_wakeup, .init = setup, .fini = teardown, .timeout = 60)
{
    enum { WAITERS = 4, ROUNDS = 3000 };
    pid_t pids[WAITERS];
    unsigned seed = 12345;
    int produced = 0;

    for (int i = 0; i < WAITERS; i++)
        pids[i] = psync_spawn(take_tokens, i % 2 ? 200 : 0);
    for (int round = 0; round < ROUNDS; round++) {
        /* Half the rounds one token: one signal, which nothing can rescue. */
        int n = rand_r(&seed) % 2 ? 1 : 2 + (int)(rand_r(&seed) % (2 * WAITERS - 1));
        for (int t = 0; t < n; t++) {
            cr_assert_geq(cf__pmutex_lock(&sh->mx), 0);
            sh->tokens++;
            cf__pmutex_unlock(&sh->mx);
            cf__pcond_signal_counted(&sh->cv, &sh->woken);
        }
        produced += n;
        wait_taken(produced, round);
    }
    /* All asleep again, no signal under way: no count may be left. */
    wait_asleep(pids, WAITERS, WAITERS);
    cr_assert_eq(atomic_load(&sh->woken), 0, "a count was never taken back");
    set_go(1);
    cf__pcond_broadcast(&sh->cv);
    for (int i = 0; i < WAITERS; i++)
        assert_exit0(pids[i]);
    cr_assert_eq(atomic_load(&sh->cv.sleepers), 0);
}

/* Traced child: one token announced by one counted signal (see below). */
static int signal_one_traced(int unused)
{
    (void)unused;
    if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0)
        _exit(5);
    raise(SIGSTOP);
    if (cf__pmutex_lock(&sh->mx) < 0)
        _exit(2);
    sh->tokens++;
    cf__pmutex_unlock(&sh->mx);
    cf__pcond_signal_counted(&sh->cv, &sh->woken);
    _exit(0);
}

/* Runs the traced `pid` (stopped) until it returns from the FUTEX_WAKE of
 * the event count; returns that call's result. */
static long run_until_wake_returns(pid_t pid)
{
    bool in_wake = false;
    int sig = 0, st;

    cr_assert_eq(ptrace(PTRACE_SETOPTIONS, pid, NULL,
                        (void *)(long)(PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL)),
                 0);
    for (int stops = 0; stops < 10000; stops++) {
        cr_assert_eq(ptrace(PTRACE_SYSCALL, pid, NULL, (void *)(long)sig), 0);
        cr_assert_eq(waitpid(pid, &st, 0), pid);
        cr_assert(WIFSTOPPED(st), "the signaller ended (status %d)", st);
        sig = 0;
        if (WSTOPSIG(st) != (SIGTRAP | 0x80)) {
            sig = WSTOPSIG(st) == SIGSTOP ? 0 : WSTOPSIG(st); /* pass signals on */
            continue;
        }
        struct __ptrace_syscall_info info;
        cr_assert_gt(ptrace(PTRACE_GET_SYSCALL_INFO, pid, (void *)sizeof(info), &info), 0);
        if (info.op == PTRACE_SYSCALL_INFO_ENTRY)
            in_wake = info.entry.nr == SYS_futex &&
                      info.entry.args[0] == (uint64_t)(uintptr_t)&sh->cv.seq &&
                      (info.entry.args[1] & FUTEX_CMD_MASK) == FUTEX_WAKE;
        else if (info.op == PTRACE_SYSCALL_INFO_EXIT && in_wake)
            return (long)info.exit.rval;
    }
    cr_assert_fail("the signaller never sent its FUTEX_WAKE");
    return -1;
}

/* The notifier's re-send, made deterministic by holding it (ptrace) just
 * after a FUTEX_WAKE that found nobody, before it takes its count back:
 *  - a waiter registered, not yet in FUTEX_WAIT (faked: sleepers + 1), so
 *    the traced notifier counts a wake-up and its FUTEX_WAKE finds nobody;
 *    that waiter then takes the token and goes (as one that saw seq move);
 *  - a consumer goes to sleep for good; another token, and its counted
 *    signal skips it: the held count looks like a wake-up on its way;
 *  - the notifier goes on: it takes its count back, sees seq moved, and
 *    must send the skipped wake-up (fails with the re-send removed). */
Test(pshared, counted_signal_resent_when_its_wake_up_found_nobody, .init = setup, .fini = teardown,
     .timeout = 30)
{
    atomic_fetch_add(&sh->cv.sleepers, 1); /* the waiter on its way */
    pid_t notifier = psync_spawn(signal_one_traced, 0);
    int st;

    cr_assert_eq(waitpid(notifier, &st, WUNTRACED), notifier);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 5)
        cr_skip_test("ptrace is not allowed here");
    cr_assert(WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP, "status %d", st);
    cr_assert_eq(run_until_wake_returns(notifier), 0, "the FUTEX_WAKE found nobody");
    cr_assert_eq(atomic_load(&sh->woken), 1, "the wake-up was counted");
    /* The waiter on its way saw seq move: it takes the token and goes. */
    cr_assert_geq(cf__pmutex_lock(&sh->mx), 0);
    cr_assert_eq(sh->tokens, 1);
    sh->tokens = 0;
    cf__pmutex_unlock(&sh->mx);
    atomic_fetch_sub(&sh->cv.sleepers, 1);
    /* A consumer falls asleep; a token for it, whose signal skips. */
    pid_t consumer = psync_spawn(take_tokens, 0);
    wait_asleep(&consumer, 1, 1);
    cr_assert_geq(cf__pmutex_lock(&sh->mx), 0);
    sh->tokens++;
    cf__pmutex_unlock(&sh->mx);
    cf__pcond_signal_counted(&sh->cv, &sh->woken);
    cr_assert_eq(atomic_load(&sh->woken), 1, "skipped: a wake-up looked on its way");
    /* The notifier goes on. */
    cr_assert_eq(ptrace(PTRACE_DETACH, notifier, NULL, NULL), 0);
    assert_exit0(notifier);
    wait_taken(1, 0);
    wait_asleep(&consumer, 1, 1);
    cr_assert_eq(atomic_load(&sh->woken), 0);
    set_go(1);
    cf__pcond_broadcast(&sh->cv);
    assert_exit0(consumer);
    cr_assert_eq(atomic_load(&sh->cv.sleepers), 0);
}
