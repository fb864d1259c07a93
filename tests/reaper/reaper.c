/* tests/reaper/reaper.c — runs one test binary and checks that it left nothing
 * behind, counting only what that run created.
 *
 *   cf-test-reaper [--grace SECONDS] [--hang-slack SECONDS] [--deadline SECONDS]
 *                  [--shm-prefix PREFIX] [--] COMMAND [ARGS...]
 *
 * Why a program and not `ps | grep`: a machine may run another cfutures
 * program, or a second copy of the suite, at the same time; counting every
 * cf-worker on the machine then blames this run for that one's workers.
 * This runner makes itself a child subreaper (PR_SET_CHILD_SUBREAPER), so
 * every process the suite starts and abandons is re-parented to it, not to
 * init: after the suite's main process has exited, whatever is still
 * alive below the reaper came from this run, and from nothing else.
 *
 * Shared-memory objects carry the pid of the process that created them
 * ("/dev/shm/cfutures-<pid>-<random>", ipc/shm.c). A name that appeared
 * during the run counts as ours unless its creator is alive and is not
 * below the reaper (another program's pool, which unlinks its region a
 * moment after creating it). The one case this cannot tell apart is a
 * foreign process that died in that moment; it would be blamed on us.
 *
 * After the suite exits, the reaper waits up to the grace period (default
 * 2 s) for the last workers to finish dying, then reports each leftover
 * process and object, kills and unlinks them (so that a failed run does
 * not poison the next one, and so that a stray holding the output pipe
 * cannot keep the caller's `| tee` waiting for ever), and exits with the
 * suite's status, or 3 when the suite passed but left something.
 * The last line it prints on stderr is "reaper: N process(es), M
 * segment(s) left" (tests/run.sh reads it).
 *
 * Hangs. Criterion enforces a test's .timeout with a timer inside the
 * test's own process: a test that blocks every signal, or is stopped,
 * never times out, and the whole run used to sit until an outer timeout
 * without saying which test hung. So the reaper watches too: it hands the
 * suite a pipe (its descriptor in CF_TEST_WATCH_FD), on which the suite's
 * runner writes "start\t<timeout>\t<suite::test>" as each test starts and
 * "end\t<suite::test>" as it ends (tests/hang_report.c). A test still
 * running --hang-slack seconds (default 5) past its own timeout is
 * reported by name ("reaper: HUNG: ...") and its worker process (the
 * runner's child that started last before the test did) is SIGKILLed:
 * Criterion then reports the test as crashed, and the run goes on.
 * --deadline SECONDS bounds the whole run: past it, the tests still
 * running are named and every process of the run is killed (status 124).
 * When the runner ends abnormally, the tests it left running and the last
 * one to end are named.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc_stat.h"

#define MAX_NAMES 4096
/* Names of the library's shared-memory objects; --shm-prefix changes it
 * (the reaper's own tests use a prefix of their own, so that the objects
 * they leave on purpose are never seen by the reaper running the suite). */
static const char *shm_prefix = "cfutures-";

static char *before[MAX_NAMES];
static size_t n_before;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Whether `pid` is alive and below this process. */
static bool is_descendant(pid_t pid)
{
    pid_t self = getpid(), cur = pid;
    for (int depth = 0; depth < 64 && cur > 1; depth++) {
        pid_t ppid;
        if (!proc_info(cur, &ppid, NULL, 0))
            return false;
        if (ppid == self)
            return true;
        cur = ppid;
    }
    return false;
}

/* Lists the live processes below us into pids[] (up to max); returns how
 * many there are. Reaps the zombies among our children on the way. */
static size_t descendants(pid_t *pids, size_t max)
{
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    size_t n = 0;
    DIR *d = opendir("/proc");
    for (struct dirent *e; d && (e = readdir(d));) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        pid_t pid = (pid_t)atoi(e->d_name);
        if (pid != getpid() && is_descendant(pid)) {
            if (n < max)
                pids[n] = pid;
            n++;
        }
    }
    if (d)
        closedir(d);
    return n;
}

static bool was_there(const char *name)
{
    for (size_t i = 0; i < n_before; i++)
        if (strcmp(before[i], name) == 0)
            return true;
    return false;
}

static void snapshot_shm(void)
{
    DIR *d = opendir("/dev/shm");
    for (struct dirent *e; d && (e = readdir(d)) && n_before < MAX_NAMES;)
        if (strncmp(e->d_name, shm_prefix, strlen(shm_prefix)) == 0)
            before[n_before++] = strdup(e->d_name);
    if (d)
        closedir(d);
}

/* Reports and unlinks the objects this run left; returns how many. */
static int sweep_shm(void)
{
    int leaked = 0;
    DIR *d = opendir("/dev/shm");
    for (struct dirent *e; d && (e = readdir(d));) {
        if (strncmp(e->d_name, shm_prefix, strlen(shm_prefix)) != 0 || was_there(e->d_name))
            continue;
        pid_t creator = (pid_t)atoi(e->d_name + strlen(shm_prefix));
        if (creator > 0 && proc_info(creator, NULL, NULL, 0) && !is_descendant(creator))
            continue; /* another program's, alive and not ours */
        fprintf(stderr, "leak: /dev/shm/%s left by this run\n", e->d_name);
        char path[512];
        snprintf(path, sizeof(path), "/dev/shm/%s", e->d_name);
        unlink(path);
        leaked++;
    }
    if (d)
        closedir(d);
    return leaked;
}

/* Waits up to grace_ms for our descendants to go; reports, kills and
 * reaps what is left. Returns how many were left. */
static int sweep_processes(long grace_ms)
{
    pid_t pids[256];
    size_t n = 0;
    for (long waited = 0; (n = descendants(pids, 256)) > 0 && waited < grace_ms; waited += 10)
        sleep_ms(10);
    if (n == 0)
        return 0;
    size_t left = n;
    fprintf(stderr, "leak: %zu process(es) of this run still running after %.1f s:\n", n,
            grace_ms / 1000.0);
    for (size_t i = 0; i < n && i < 256; i++) {
        char comm[64] = "?";
        pid_t ppid = 0;
        proc_info(pids[i], &ppid, comm, sizeof(comm));
        fprintf(stderr, "  pid %d (%s), parent %d\n", (int)pids[i], comm, (int)ppid);
    }
    /* Kill until none is left: a stray fork server may still fork. */
    for (int round = 0; round < 100 && (n = descendants(pids, 256)) > 0; round++) {
        for (size_t i = 0; i < n && i < 256; i++)
            kill(pids[i], SIGKILL);
        sleep_ms(10);
    }
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    return (int)left;
}

/* ---- the hang watch ---------------------------------------------------- */

#define MAX_RUNNING 64
#define NAME_MAX_LEN 256

struct running {
    char name[NAME_MAX_LEN];
    double timeout;    /* seconds; <= 0: none */
    double started;    /* monotonic seconds */
    double boot_start; /* CLOCK_BOOTTIME seconds, as /proc start times */
    bool killed;
};

static struct running running[MAX_RUNNING];
static char last_ended[NAME_MAX_LEN];
static char line_buf[4096];
static size_t line_len;

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void watch_line(char *line)
{
    char *tab = strchr(line, '\t');
    if (!tab)
        return;
    *tab = '\0';
    if (strcmp(line, "start") == 0) {
        char *name = strchr(tab + 1, '\t');
        if (!name)
            return;
        *name++ = '\0';
        for (int i = 0; i < MAX_RUNNING; i++) {
            if (running[i].name[0] == '\0') {
                snprintf(running[i].name, NAME_MAX_LEN, "%s", name);
                running[i].timeout = atof(tab + 1);
                running[i].started = clock_s(CLOCK_MONOTONIC);
                running[i].boot_start = clock_s(CLOCK_BOOTTIME);
                running[i].killed = false;
                return;
            }
        }
    } else if (strcmp(line, "end") == 0) {
        for (int i = 0; i < MAX_RUNNING; i++) {
            if (running[i].name[0] && strcmp(running[i].name, tab + 1) == 0) {
                running[i].name[0] = '\0';
                snprintf(last_ended, sizeof(last_ended), "%s", tab + 1);
                return;
            }
        }
    }
}

/* Reads what the runner wrote on the watch pipe (non-blocking); false at
 * its end (every writer gone). */
static bool watch_read(int fd)
{
    for (;;) {
        ssize_t n = read(fd, line_buf + line_len, sizeof(line_buf) - 1 - line_len);
        if (n == 0)
            return false;
        if (n < 0)
            return true;
        line_len += (size_t)n;
        char *start = line_buf, *nl;
        while ((nl = memchr(start, '\n', line_len - (size_t)(start - line_buf)))) {
            *nl = '\0';
            watch_line(start);
            start = nl + 1;
        }
        line_len -= (size_t)(start - line_buf);
        memmove(line_buf, start, line_len);
        if (line_len == sizeof(line_buf) - 1)
            line_len = 0; /* an over-long line: drop it */
    }
}

/* The start time of `pid` in seconds since boot (/proc/PID/stat field 22),
 * or -1. */
static double start_time(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    /* After the comm: field 3 (state) onwards; start time is field 22. */
    unsigned long long ticks = 0;
    int field = 2;
    for (char *tok = strtok(p + 1, " "); tok; tok = strtok(NULL, " ")) {
        if (++field == 22) {
            ticks = strtoull(tok, NULL, 10);
            break;
        }
    }
    return field == 22 ? (double)ticks / (double)sysconf(_SC_CLK_TCK) : -1;
}

/* The worker running a test that started at boot time `t`: the runner's
 * child that started last, no later than that (a tick of tolerance). */
static pid_t worker_of(pid_t runner, double t)
{
    pid_t best = 0;
    double best_start = -1;
    DIR *d = opendir("/proc");
    for (struct dirent *e; d && (e = readdir(d));) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        pid_t pid = (pid_t)atoi(e->d_name), ppid;
        if (!proc_info(pid, &ppid, NULL, 0) || ppid != runner)
            continue;
        double st = start_time(pid);
        if (st >= 0 && st <= t + 0.02 && st > best_start) {
            best = pid;
            best_start = st;
        }
    }
    if (d)
        closedir(d);
    return best;
}

/* Kills the worker of every test past its timeout by more than slack. */
static void watch_check(pid_t runner, double slack)
{
    double now = clock_s(CLOCK_MONOTONIC);
    for (int i = 0; i < MAX_RUNNING; i++) {
        struct running *r = &running[i];
        if (!r->name[0] || r->killed || r->timeout <= 0 || now - r->started < r->timeout + slack)
            continue;
        r->killed = true;
        pid_t w = worker_of(runner, r->boot_start);
        fprintf(stderr,
                "reaper: HUNG: %s still running %.1f s after it started (its timeout: %g s); "
                "the runner did not stop it: %s\n",
                r->name, now - r->started, r->timeout,
                w > 0 ? "killing its worker" : "no worker process found to kill");
        if (w > 0) {
            fprintf(stderr, "reaper:   worker pid %d\n", (int)w);
            kill(w, SIGKILL);
        }
    }
}

static void watch_report_running(const char *why)
{
    double now = clock_s(CLOCK_MONOTONIC);
    bool any = false;
    for (int i = 0; i < MAX_RUNNING; i++) {
        if (!running[i].name[0])
            continue;
        if (!any)
            fprintf(stderr, "reaper: %s; tests still running:\n", why);
        any = true;
        fprintf(stderr, "reaper:   %s (for %.1f s, timeout %g s)\n", running[i].name,
                now - running[i].started, running[i].timeout);
    }
    if (!any)
        fprintf(stderr, "reaper: %s; no test was running\n", why);
    if (last_ended[0])
        fprintf(stderr, "reaper:   the last test to end was %s\n", last_ended);
}

/* Waits for the runner while watching its tests. Returns its wait status,
 * or -1 when the deadline passed (everything of the run is killed then). */
static int watch_runner(pid_t child, int fd, double slack, double deadline_s)
{
    double end = deadline_s > 0 ? clock_s(CLOCK_MONOTONIC) + deadline_s : 0;
    for (;;) {
        int status;
        pid_t got = waitpid(child, &status, WNOHANG);
        if (got == child) {
            if (fd >= 0)
                watch_read(fd);
            return status;
        }
        if (got < 0 && errno != EINTR)
            return 0;
        if (fd >= 0) {
            struct pollfd pfd = {fd, POLLIN, 0};
            if (poll(&pfd, 1, 200) > 0 && !watch_read(fd)) {
                close(fd);
                fd = -1;
            }
            watch_check(child, slack);
        } else {
            sleep_ms(200);
        }
        if (end > 0 && clock_s(CLOCK_MONOTONIC) >= end) {
            char why[96];
            snprintf(why, sizeof(why), "the run passed its deadline of %g s", deadline_s);
            watch_report_running(why);
            pid_t pids[256];
            for (int round = 0; round < 100 && descendants(pids, 256) > 0; round++) {
                size_t n = descendants(pids, 256);
                for (size_t i = 0; i < n && i < 256; i++)
                    kill(pids[i], SIGKILL);
                sleep_ms(10);
            }
            while (waitpid(child, &status, 0) < 0 && errno == EINTR)
                ;
            return -1;
        }
    }
}

int main(int argc, char **argv)
{
    long grace_ms = 2000;
    double slack = 5, deadline = 0;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        if (strcmp(argv[i], "--grace") == 0 && i + 1 < argc)
            grace_ms = (long)(atof(argv[++i]) * 1000);
        else if (strcmp(argv[i], "--hang-slack") == 0 && i + 1 < argc)
            slack = atof(argv[++i]);
        else if (strcmp(argv[i], "--shm-prefix") == 0 && i + 1 < argc)
            shm_prefix = argv[++i];
        else if (strcmp(argv[i], "--deadline") == 0 && i + 1 < argc)
            deadline = atof(argv[++i]);
        else
            break;
    }
    if (i >= argc) {
        fprintf(stderr, "usage: cf-test-reaper [--grace SECONDS] [--hang-slack SECONDS] "
                        "[--deadline SECONDS] [--shm-prefix PREFIX] [--] COMMAND [ARGS...]\n");
        return 2;
    }
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
        perror("reaper: PR_SET_CHILD_SUBREAPER");
        return 2;
    }
    snapshot_shm();
    /* The watch pipe: its write end goes to the run (CF_TEST_WATCH_FD);
     * without it the run is only waited for. */
    int watch[2] = {-1, -1};
    if (pipe(watch) == 0) {
        char fdnum[16];
        snprintf(fdnum, sizeof(fdnum), "%d", watch[1]);
        setenv("CF_TEST_WATCH_FD", fdnum, 1);
        fcntl(watch[0], F_SETFD, FD_CLOEXEC);
        fcntl(watch[0], F_SETFL, O_NONBLOCK);
    }
    pid_t child = fork();
    if (child < 0) {
        perror("reaper: fork");
        return 2;
    }
    if (child == 0) {
        execvp(argv[i], argv + i);
        fprintf(stderr, "reaper: cannot run %s: %s\n", argv[i], strerror(errno));
        _exit(127);
    }
    if (watch[1] >= 0)
        close(watch[1]);
    int status = watch_runner(child, watch[0], slack, deadline);
    bool timed_out = status == -1;
    if (!timed_out && !(WIFEXITED(status) && WEXITSTATUS(status) <= 1)) {
        char why[64];
        if (WIFSIGNALED(status))
            snprintf(why, sizeof(why), "the runner was killed by signal %d", WTERMSIG(status));
        else
            snprintf(why, sizeof(why), "the runner exited with status %d", WEXITSTATUS(status));
        watch_report_running(why);
    }
    int procs = sweep_processes(grace_ms);
    int segs = sweep_shm();
    fprintf(stderr, "reaper: %d process(es), %d segment(s) left\n", procs, segs);
    if (timed_out)
        return 124;
    int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return rc != 0 ? rc : (procs || segs) ? 3 : 0;
}
