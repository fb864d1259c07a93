/* The suite's own leak checker (tests/reaper/reaper.c, built next to the
 * test binary as cf-test-reaper): it must count what the run it watches
 * left behind, and nothing that another program on the machine owns.
 * Each test runs a second reaper over a small shell command and reads its
 * verdict (exit status and last stderr line).
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.h"

/* The /dev/shm prefix the reapers of this test process watch: its own, so
 * that tests running side by side (and the reaper running the suite, which
 * watches "cfutures-") never see the objects another test leaves on
 * purpose. */
static const char *test_prefix(void)
{
    static char prefix[48];
    if (!prefix[0]) /* fixed at the first call, before any fork */
        snprintf(prefix, sizeof(prefix), "cfreapertest-%d-", (int)getpid());
    return prefix;
}

/* Starts the reaper over `sh -c script` with a short grace, this test's
 * shm prefix and, after them, the options in `extra` (NULL: none; at most
 * 4); returns its pid and the read end of its stderr. */
static pid_t reaper_start_with(const char *script, const char *const *extra, int *err_fd)
{
    char path[PATH_MAX];
    int fds[2];
    const char *prefix = test_prefix();
    support_tool_path(path, sizeof(path), 0, "cf-test-reaper");
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        const char *argv[16] = {path, "--grace", "0.3", "--shm-prefix", prefix};
        int n = 5;
        for (int i = 0; extra && extra[i] && i < 4; i++)
            argv[n++] = extra[i];
        argv[n++] = "--";
        argv[n++] = "/bin/sh";
        argv[n++] = "-c";
        argv[n++] = script;
        argv[n] = NULL;
        execv(path, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    *err_fd = fds[0];
    return pid;
}

static pid_t reaper_start(const char *script, int *err_fd)
{
    return reaper_start_with(script, NULL, err_fd);
}

/* Waits for the reaper; returns its exit status and its stderr. */
static int reaper_finish(pid_t pid, int err_fd, char *out, size_t size)
{
    size_t len = 0;
    ssize_t n;
    while (len + 1 < size && (n = read(err_fd, out + len, size - 1 - len)) > 0)
        len += (size_t)n;
    out[len] = '\0';
    close(err_fd);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status));
    return WEXITSTATUS(status);
}

Test(reaper, clean_run_passes, .timeout = 20)
{
    char out[4096];
    int fd;
    pid_t pid = reaper_start("exit 0", &fd);
    cr_assert_eq(reaper_finish(pid, fd, out, sizeof(out)), 0, "%s", out);
    cr_assert(strstr(out, "reaper: 0 process(es), 0 segment(s) left"), "%s", out);
}

Test(reaper, failing_command_keeps_its_status, .timeout = 20)
{
    char out[4096];
    int fd;
    pid_t pid = reaper_start("exit 7", &fd);
    cr_assert_eq(reaper_finish(pid, fd, out, sizeof(out)), 7, "%s", out);
}

/* A process the command abandons is reported, killed, and fails the run. */
Test(reaper, abandoned_process_is_ours, .timeout = 20)
{
    char out[4096];
    int fd;
    /* The grandchild keeps the pipe's write end closed so that only the
     * reaper's own kill can end it. */
    pid_t pid = reaper_start("sleep 60 2>/dev/null & echo $! >&2; exit 0", &fd);
    int rc = reaper_finish(pid, fd, out, sizeof(out));
    cr_assert_eq(rc, 3, "%s", out);
    cr_assert(strstr(out, "reaper: 1 process(es), 0 segment(s) left"), "%s", out);
    pid_t stray = (pid_t)atoi(out);
    cr_assert_gt(stray, 0, "%s", out);
    cr_assert(!support_process_running(stray), "the stray %d was killed", (int)stray);
}

/* A process of ours that is not below the reaper (another program, as far
 * as that reaper knows) is not counted, nor is a segment it creates. */
Test(reaper, another_programs_process_and_segment_are_not_counted, .timeout = 20)
{
    char out[4096], shm[96];
    int fd;
    pid_t foreign = fork();
    cr_assert_geq(foreign, 0);
    if (foreign == 0) {
        pause();
        _exit(0);
    }
    pid_t pid = reaper_start("sleep 0.3", &fd);
    /* Created while the reaper runs, by a live process outside it. */
    snprintf(shm, sizeof(shm), "/dev/shm/%s%d-reapertest", test_prefix(), (int)getpid());
    int sfd = open(shm, O_CREAT | O_EXCL | O_WRONLY, 0600);
    cr_assert_geq(sfd, 0);
    close(sfd);
    int rc = reaper_finish(pid, fd, out, sizeof(out));
    bool kept = access(shm, F_OK) == 0;
    unlink(shm);
    kill(foreign, SIGKILL);
    waitpid(foreign, NULL, 0);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "reaper: 0 process(es), 0 segment(s) left"), "%s", out);
    cr_assert(kept, "another program's segment was left alone");
}

/* A segment whose creator ran below the reaper and is gone is ours: it is
 * reported and unlinked. */
Test(reaper, segment_left_by_the_run_is_ours, .timeout = 20)
{
    char out[4096], script[160];
    int fd;
    snprintf(script, sizeof(script), ": >/dev/shm/%s$$-reapertest; exit 0", test_prefix());
    pid_t pid = reaper_start(script, &fd);
    int rc = reaper_finish(pid, fd, out, sizeof(out));
    cr_assert_eq(rc, 3, "%s", out);
    cr_assert(strstr(out, "reaper: 0 process(es), 1 segment(s) left"), "%s", out);
    const char *name = strstr(out, "/dev/shm/cfreapertest-");
    cr_assert_not_null(name, "%s", out);
    char path[128];
    cr_assert_eq(sscanf(name, "%127s", path), 1);
    cr_assert_neq(access(path, F_OK), 0, "%s was unlinked", path);
}

/* Issue 18, hang reporting: a test the runner does not stop (Criterion's
 * timer runs inside the test's own process: a test that blocks every
 * signal or is stopped never times out) is named by the reaper shortly
 * after its timeout, and its worker (the runner's child that started just
 * before it) is killed, so the run goes on. Here the "runner" is a shell
 * that starts a worker (sleep) and says, as tests/hang_report.c does, that
 * a test with a timeout of 0.5 s started; the worker is SIGSTOPped too. */
Test(reaper, hung_test_is_named_and_its_worker_killed, .timeout = 20)
{
    char out[4096];
    int fd;
    /* The deadline bounds the run should the watch fail (then: 124). */
    const char *extra[] = {"--hang-slack", "0.5", "--deadline", "8", NULL};
    pid_t pid = reaper_start_with(
        "sleep 60 & w=$!; kill -STOP $w; "
        "printf 'start\\t0.5\\tfake::hangs\\n' >/proc/self/fd/$CF_TEST_WATCH_FD; "
        "wait $w; echo \"worker status $?\" >&2; "
        "printf 'end\\tfake::hangs\\n' >/proc/self/fd/$CF_TEST_WATCH_FD; exit 0",
        extra, &fd);
    int rc = reaper_finish(pid, fd, out, sizeof(out));
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "reaper: HUNG: fake::hangs still running"), "%s", out);
    cr_assert(strstr(out, "(its timeout: 0.5 s)"), "%s", out);
    cr_assert(strstr(out, "killing its worker"), "%s", out);
    cr_assert(strstr(out, "worker status 137"), "the worker was SIGKILLed: %s", out);
    cr_assert(strstr(out, "reaper: 0 process(es), 0 segment(s) left"), "%s", out);
}

/* A test that ends in time is left alone. */
Test(reaper, test_ending_in_time_is_not_reported, .timeout = 20)
{
    char out[4096];
    int fd;
    const char *extra[] = {"--hang-slack", "0.2", NULL};
    pid_t pid = reaper_start_with(
        "printf 'start\\t0.5\\tfake::quick\\n' >/proc/self/fd/$CF_TEST_WATCH_FD; "
        "sleep 0.1; printf 'end\\tfake::quick\\n' >/proc/self/fd/$CF_TEST_WATCH_FD; "
        "sleep 1; exit 0",
        extra, &fd);
    int rc = reaper_finish(pid, fd, out, sizeof(out));
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert_null(strstr(out, "HUNG"), "%s", out);
}

/* --deadline bounds the whole run: the tests still running are named and
 * everything is killed (status 124). */
Test(reaper, deadline_names_running_tests_and_kills_the_run, .timeout = 20)
{
    char out[4096];
    int fd;
    const char *extra[] = {"--deadline", "0.5", NULL};
    pid_t pid = reaper_start_with(
        "printf 'start\\t0\\tfake::endless\\n' >/proc/self/fd/$CF_TEST_WATCH_FD; "
        "sleep 60; exit 0",
        extra, &fd);
    int rc = reaper_finish(pid, fd, out, sizeof(out));
    cr_assert_eq(rc, 124, "%s", out);
    cr_assert(strstr(out, "the run passed its deadline of 0.5 s; tests still running:"), "%s",
              out);
    cr_assert(strstr(out, "fake::endless"), "%s", out);
}

/* A runner that dies mid-run: the tests it left running are named. */
Test(reaper, runner_killed_names_its_running_tests, .timeout = 20)
{
    char out[4096];
    int fd;
    pid_t pid = reaper_start(
        "printf 'start\\t9\\tfake::one\\nend\\tfake::one\\nstart\\t9\\tfake::two\\n' "
        ">/proc/self/fd/$CF_TEST_WATCH_FD; kill -ABRT $$",
        &fd);
    int rc = reaper_finish(pid, fd, out, sizeof(out));
    cr_assert_eq(rc, 128 + SIGABRT, "%s", out);
    cr_assert(strstr(out, "the runner was killed by signal 6; tests still running:"), "%s", out);
    cr_assert(strstr(out, "fake::two (for"), "%s", out);
    cr_assert(strstr(out, "the last test to end was fake::one"), "%s", out);
}
