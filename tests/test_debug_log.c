/* CF_DEBUG=1: the pool logs one line on stderr per worker start, death,
 * respawn and per shutdown; nothing without it; the variable is read once,
 * when the pool is created. Each scenario runs in a forked child whose
 * stderr is a file, which the test then reads.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cfutures.h>

#include "support.h"

/* What a child reports to the test through a pipe. */
struct debug_log_pids {
    int32_t first[2];    /* the workers first started */
    int32_t replacement; /* the worker forked after killing first[0] */
};

/* Polls the pool's stats until cond holds (bounded by the liveness limit). */
static bool debug_log_wait_worker(cf_executor *ex, int slot, int32_t not_pid, int32_t *pid)
{
    for (int tries = 0; tries < SUPPORT_LIVENESS_MS / 2; tries++) {
        cf_worker_stats ws;
        if (cf_executor_worker_stats(ex, slot, &ws) == 0 && ws.pid > 0 && ws.pid != not_pid) {
            *pid = ws.pid;
            return true;
        }
        support_sleep_ms(2);
    }
    return false;
}

/* The child: creates a 2-worker pool with CF_DEBUG as `env_at_create`
 * (NULL: unset), then sets it to `env_after`, kills worker 0, waits for
 * its replacement, shuts down. Never returns. */
static _Noreturn void debug_log_child(int log_fd, int pipe_fd, const char *env_at_create,
                                      const char *env_after)
{
    struct debug_log_pids pids = {{0, 0}, 0};
    cf_executor *ex;
    if (dup2(log_fd, STDERR_FILENO) < 0)
        _exit(10);
    if (env_at_create)
        setenv("CF_DEBUG", env_at_create, 1);
    else
        unsetenv("CF_DEBUG");
    if (cf_process_pool_create(&ex, &(cf_process_pool_options){.max_workers = 2}) < 0)
        _exit(11);
    if (env_after)
        setenv("CF_DEBUG", env_after, 1);
    else
        unsetenv("CF_DEBUG");
    /* Both workers busy in a gate task: each has told the pool it started
     * (a worker reports its start before it takes any task). */
    char dir[64];
    support_make_dir(dir, sizeof(dir));
    cf_future *f0 = support_block_worker(ex, dir, 0);
    cf_future *f1 = support_block_worker(ex, dir, 1);
    if (!debug_log_wait_worker(ex, 0, 0, &pids.first[0]) ||
        !debug_log_wait_worker(ex, 1, 0, &pids.first[1]))
        _exit(12);
    kill(pids.first[0], SIGKILL);
    support_gate_open(dir);
    if (!debug_log_wait_worker(ex, 0, pids.first[0], &pids.replacement))
        _exit(13);
    /* One of them died with worker 0, the other finished. */
    if (cf_future_error(f0, CF_FOREVER) + cf_future_error(f1, CF_FOREVER) != CF_EWORKER)
        _exit(14);
    cf_future_release(f0);
    cf_future_release(f1);
    support_remove_dir(dir);
    cf_executor_shutdown(ex, CF_WAIT, false);
    cf_executor_release(ex);
    if (write(pipe_fd, &pids, sizeof(pids)) != (ssize_t)sizeof(pids))
        _exit(15);
    _exit(0);
}

/* Runs the child; returns its stderr (malloc'd) and pid, and its pids. */
static char *debug_log_run(const char *env_at_create, const char *env_after, pid_t *child_out,
                           struct debug_log_pids *pids)
{
    char dir[64], path[96];
    int p[2];
    support_make_dir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/stderr", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    cr_assert_geq(fd, 0);
    cr_assert_eq(pipe(p), 0);
    fflush(NULL);
    pid_t child = fork();
    cr_assert_geq(child, 0);
    if (child == 0) {
        close(p[0]);
        debug_log_child(fd, p[1], env_at_create, env_after);
    }
    close(p[1]);
    int status;
    cr_assert_eq(waitpid(child, &status, 0), child);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed: status %d",
              status);
    cr_assert_eq(read(p[0], pids, sizeof(*pids)), (ssize_t)sizeof(*pids));
    close(p[0]);
    off_t size = lseek(fd, 0, SEEK_END);
    char *text = calloc(1, (size_t)size + 1);
    cr_assert_not_null(text);
    cr_assert_eq(pread(fd, text, (size_t)size, 0), (ssize_t)size);
    close(fd);
    support_remove_dir(dir);
    *child_out = child;
    return text;
}

/* How many lines of `text` contain `needle`. */
static int debug_log_count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *s = text; (s = strstr(s, needle)); s += strlen(needle))
        n++;
    return n;
}

static void debug_log_expect(const char *text, int times, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void debug_log_expect(const char *text, int times, const char *fmt, ...)
{
    char needle[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(needle, sizeof(needle), fmt, ap);
    va_end(ap);
    cr_assert_eq(debug_log_count(text, needle), times, "expected %d line(s) with \"%s\" in:\n%s",
                 times, needle, text);
}

Test(debug_log, lines_for_start_death_respawn_shutdown, .timeout = 60)
{
    pid_t child;
    struct debug_log_pids pids;
    char *text = debug_log_run("1", NULL, &child, &pids);
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "cfutures[%d] pool ", (int)child);
    /* Every line is the pool's, whole, and starts with the prefix. */
    int lines = 0;
    for (char *line = text, *nl; (nl = strchr(line, '\n')); line = nl + 1, lines++)
        cr_assert_eq(strncmp(line, prefix, strlen(prefix)), 0, "stray line: %.*s",
                     (int)(nl - line), line);
    debug_log_expect(text, 1, ": worker 0 (pid %d) started\n", pids.first[0]);
    debug_log_expect(text, 1, ": worker 1 (pid %d) started\n", pids.first[1]);
    debug_log_expect(text, 1, ": worker 0 (pid %d) died (killed by SIGKILL)\n", pids.first[0]);
    debug_log_expect(text, 1, ": worker 0 respawning");
    debug_log_expect(text, 1, ": worker 0 (pid %d) started\n", pids.replacement);
    debug_log_expect(text, 1, ": worker 0 (pid %d) exited (exit status 0)\n", pids.replacement);
    debug_log_expect(text, 1, ": worker 1 (pid %d) exited (exit status 0)\n", pids.first[1]);
    debug_log_expect(text, 1, ": shut down");
    cr_assert_eq(lines, 8, "8 lines expected:\n%s", text);
    /* Order: the death before the respawn before the replacement's start;
     * the shutdown line last. */
    char died[64], started[64];
    snprintf(died, sizeof(died), "(pid %d) died", pids.first[0]);
    snprintf(started, sizeof(started), "(pid %d) started", pids.replacement);
    cr_assert_lt(strstr(text, died), strstr(text, "respawning"));
    cr_assert_lt(strstr(text, "respawning"), strstr(text, started));
    cr_assert_eq(strchr(strstr(text, ": shut down"), '\n')[1], '\0',
                 "the shutdown line is not the last:\n%s", text);
    free(text);
}

Test(debug_log, silent_without_cf_debug, .timeout = 60)
{
    pid_t child;
    struct debug_log_pids pids;
    char *text = debug_log_run(NULL, NULL, &child, &pids);
    cr_assert_null(strstr(text, "cfutures["), "unexpected output:\n%s", text);
    free(text);
    text = debug_log_run("0", NULL, &child, &pids);
    cr_assert_null(strstr(text, "cfutures["), "CF_DEBUG=0 logged:\n%s", text);
    free(text);
}

Test(debug_log, read_once_at_creation, .timeout = 60)
{
    pid_t child;
    struct debug_log_pids pids;
    /* Set only after the pool was created: that pool stays quiet. */
    char *text = debug_log_run(NULL, "1", &child, &pids);
    cr_assert_null(strstr(text, "cfutures["), "logged after a late CF_DEBUG:\n%s", text);
    free(text);
    /* Unset after creation: the pool goes on logging. */
    text = debug_log_run("1", NULL, &child, &pids);
    debug_log_expect(text, 1, ": shut down");
    debug_log_expect(text, 1, ": worker 0 (pid %d) died", pids.first[0]);
    free(text);
}
