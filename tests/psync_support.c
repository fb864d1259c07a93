/* tests/psync_support.c — the forked children of the process-shared tests,
 * so that each helper exists once: the table of live children, spawning
 * (PR_SET_PDEATHSIG, so they die with the test process), bounded reaping,
 * killing them all from a .fini, and bounded polling of shared flags.
 * Children report through their exit status only (Criterion's asserts
 * belong to the test process). Used by test_pshared.c and
 * test_psync_{lock,semaphore,event,barrier,queue}.c. No Test() here.
 */
#include "psync_support.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ipc/clock.h"

static pid_t kids[PSYNC_MAX_KIDS];

void psync_sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

pid_t psync_spawn(int (*fn)(int), int arg)
{
    pid_t parent = getpid(), pid;
    int slot = 0;

    while (slot < PSYNC_MAX_KIDS && kids[slot] > 0)
        slot++;
    cr_assert_lt(slot, PSYNC_MAX_KIDS, "too many children");
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
    for (int i = 0; i < PSYNC_MAX_KIDS; i++)
        if (kids[i] == pid)
            kids[i] = 0;
}

int psync_reap_status(pid_t pid)
{
    uint64_t limit = cf__now_ns() + PSYNC_LIVENESS_NS;
    int status;

    while (cf__now_ns() < limit) {
        pid_t got = waitpid(pid, &status, WNOHANG);

        if (got == pid) {
            forget(pid);
            return status;
        }
        if (got < 0)
            return -1;
        psync_sleep_ms(1);
    }
    return -1;
}

int psync_reap(pid_t pid)
{
    int status = psync_reap_status(pid);

    return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void psync_kill(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    forget(pid);
}

void psync_kill_all(void)
{
    for (int i = 0; i < PSYNC_MAX_KIDS; i++)
        if (kids[i] > 0)
            psync_kill(kids[i]);
}

bool psync_eventually_at_least(_Atomic int *flag, int want)
{
    uint64_t limit = cf__now_ns() + PSYNC_LIVENESS_NS;

    while (atomic_load(flag) < want) {
        if (cf__now_ns() >= limit)
            return false;
        psync_sleep_ms(1);
    }
    return true;
}

bool psync_eventually(bool (*cond)(void))
{
    uint64_t limit = cf__now_ns() + PSYNC_LIVENESS_NS;

    while (!cond()) {
        if (cf__now_ns() >= limit)
            return false;
        psync_sleep_ms(1);
    }
    return true;
}

char psync_state(pid_t pid)
{
    char path[64], buf[512], *close;
    FILE *f;
    size_t n;

    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return '?';
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    close = strrchr(buf, ')');
    return close && close[1] == ' ' ? close[2] : '?';
}

static bool wait_state(pid_t pid, char want)
{
    uint64_t limit = cf__now_ns() + PSYNC_LIVENESS_NS;

    while (psync_state(pid) != want) {
        if (cf__now_ns() >= limit)
            return false;
        psync_sleep_ms(1);
    }
    return true;
}

bool psync_asleep(pid_t pid)
{
    return wait_state(pid, 'S');
}

bool psync_exited(pid_t pid)
{
    return wait_state(pid, 'Z');
}

long psync_switches(pid_t pid)
{
    char path[64], line[256];
    long n = -1;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "voluntary_ctxt_switches: %ld", &n) == 1)
            break;
    fclose(f);
    return n;
}

void psync_stop(pid_t pid)
{
    int status;

    cr_assert_eq(kill(pid, SIGSTOP), 0);
    cr_assert_eq(waitpid(pid, &status, WUNTRACED), pid);
    cr_assert(WIFSTOPPED(status));
}

void psync_cont(pid_t pid)
{
    cr_assert_eq(kill(pid, SIGCONT), 0);
}

pid_t psync_spawn_two_kill_one(int (*fn)(int), _Atomic int *ready)
{
    pid_t a = psync_spawn(fn, 0), b = psync_spawn(fn, 0);

    cr_assert(psync_eventually_at_least(ready, 2));
    psync_sleep_ms(20); /* let them block; the tests hold either way */
    psync_kill(a);
    return b;
}

/* Waits until one of a and b has exited; returns it (the other in *other). */
static pid_t first_to_exit(pid_t a, pid_t b, pid_t *other)
{
    for (int i = 0; i < 10000; i++) {
        if (psync_state(a) == 'Z') {
            *other = b;
            return a;
        }
        if (psync_state(b) == 'Z') {
            *other = a;
            return b;
        }
        psync_sleep_ms(1);
    }
    cr_assert_fail("no waiter got through");
    return -1;
}

pid_t psync_wake_one_wakes_both(int (*fn)(int), _Atomic int *ready, void (*wake)(void))
{
    pid_t a = psync_spawn(fn, 0), b = psync_spawn(fn, 0);
    pid_t other, done;
    long before_a, before_b, before;

    cr_assert(psync_eventually_at_least(ready, 2));
    cr_assert(psync_asleep(a));
    cr_assert(psync_asleep(b));
    before_a = psync_switches(a);
    before_b = psync_switches(b);
    cr_assert_geq(before_a, 0);
    wake();
    done = first_to_exit(a, b, &other);
    before = other == a ? before_a : before_b;
    for (int i = 0; i < 10000 && psync_switches(other) <= before; i++)
        psync_sleep_ms(1);
    cr_assert_gt(psync_switches(other), before, "the other waiter was never woken");
    cr_assert_eq(psync_reap(done), 0);
    return other;
}
