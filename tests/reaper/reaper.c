/* tests/reaper/reaper.c — runs one test binary and checks that it left nothing
 * behind, counting only what that run created.
 *
 *   cf-test-reaper [--grace SECONDS] [--] COMMAND [ARGS...]
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
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_NAMES 4096
#define SHM_PREFIX "cfutures-"

static char *before[MAX_NAMES];
static size_t n_before;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* The parent pid and command name of `pid`, from /proc; false if gone. */
static bool proc_info(pid_t pid, pid_t *ppid, char *comm, size_t comm_len)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* "pid (comm) state ppid ...": comm may hold spaces and parentheses,
     * so it ends at the last ')'. */
    char *open = strchr(buf, '('), *close = strrchr(buf, ')');
    if (!open || !close || close < open)
        return false;
    if (comm) {
        size_t len = (size_t)(close - open - 1);
        if (len >= comm_len)
            len = comm_len - 1;
        memcpy(comm, open + 1, len);
        comm[len] = '\0';
    }
    char state;
    int pp;
    if (sscanf(close + 1, " %c %d", &state, &pp) != 2)
        return false;
    if (ppid)
        *ppid = pp;
    return state != 'Z' && state != 'X';
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
        if (strncmp(e->d_name, SHM_PREFIX, strlen(SHM_PREFIX)) == 0)
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
        if (strncmp(e->d_name, SHM_PREFIX, strlen(SHM_PREFIX)) != 0 || was_there(e->d_name))
            continue;
        pid_t creator = (pid_t)atoi(e->d_name + strlen(SHM_PREFIX));
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

int main(int argc, char **argv)
{
    long grace_ms = 2000;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        if (strcmp(argv[i], "--grace") == 0 && i + 1 < argc)
            grace_ms = (long)(atof(argv[++i]) * 1000);
        else
            break;
    }
    if (i >= argc) {
        fprintf(stderr, "usage: cf-test-reaper [--grace SECONDS] [--] COMMAND [ARGS...]\n");
        return 2;
    }
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
        perror("reaper: PR_SET_CHILD_SUBREAPER");
        return 2;
    }
    snapshot_shm();
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
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR)
        ;
    int procs = sweep_processes(grace_ms);
    int segs = sweep_shm();
    fprintf(stderr, "reaper: %d process(es), %d segment(s) left\n", procs, segs);
    int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return rc != 0 ? rc : (procs || segs) ? 3 : 0;
}
