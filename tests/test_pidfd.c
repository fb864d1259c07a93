/* Workers are signalled through pidfds, never by a pid number that may
 * belong to someone else by then; without pidfds (a kernel before 5.3) the
 * fork server signals its own unreaped child. Peers' segments are opened
 * through the pidfd too. A fault point makes the
 * parent read a stranger's pid (a "recycled" pid: a dummy process of
 * ours) where it reads a worker's: the dummy must never be signalled. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ipc/fault.h"
#include "ipc/pidfd.h"
#include "ipc/side.h"
#include "tests/support.h"

static int pf_sleep(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    support_sleep_ms(SUPPORT_LIVENESS_MS);
    return msgpack_pack_nil(out);
}
CF_TASK(pf_sleep);

static cf_stats stats_of(cf_executor *ex)
{
    cf_stats st;
    cr_assert_eq(cf_executor_stats(ex, &st), 0);
    return st;
}

static void wait_deaths(cf_executor *ex, uint64_t want)
{
    for (int t = 0; t < SUPPORT_LIVENESS_MS && stats_of(ex).worker_deaths < want; t++)
        support_sleep_ms(1);
    cr_assert_geq(stats_of(ex).worker_deaths, want, "the worker was never killed");
}

/* A timeout and a hard cancel each kill the worker running the task, and
 * the pool goes on. */
static void kills_reach_the_worker(cf_executor *ex)
{
    cf_submit_options so = CF_SUBMIT_OPTIONS_INIT;
    so.task_timeout = 0.3;
    cf_future *f;
    cr_assert_eq(cf_submit_with(ex, &so, "pf_sleep", &f, ""), 0);
    int rc = cf_future_error(f, 20.0);
    cr_assert_eq(rc, -ETIMEDOUT, "%s", cf_strerror(rc));
    cf_future_release(f);
    wait_deaths(ex, 1);

    cr_assert_eq(cf_submit(ex, pf_sleep, &f, ""), 0);
    for (int t = 0; t < SUPPORT_LIVENESS_MS && !cf_future_running(f); t++)
        support_sleep_ms(1);
    cr_assert(cf_future_running(f));
    cr_assert(cf_future_cancel_running(f));
    cf_future_release(f);
    wait_deaths(ex, 2);

    int64_t r;
    cr_assert_eq(cf_submit(ex, support_square, &f, "i", (int64_t)9), 0);
    cr_assert_eq(cf_future_result_i64(f, 20.0, &r), 0);
    cr_assert_eq(r, 81);
    cf_future_release(f);
}

Test(pidfd, a_recycled_pid_is_never_signalled, .timeout = 60)
{
    pid_t dummy = fork();
    cr_assert_geq(dummy, 0);
    if (dummy == 0) {
        /* Dies with the test, whatever the test does. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        for (;;)
            pause();
    }
    cf_executor *ex = support_new_pool(1, 0);
    cf__fault_set_value(dummy);
    cr_assert_eq(cf__fault_arm(CF__FAULT_WORKER_PID, CF__FAULT_ERROR_ALL, 1, CF__ROLE_PARENT), 0);
    kills_reach_the_worker(ex);
    cf__fault_disarm();
    cf_executor_release(ex);
    int status;
    cr_assert_eq(waitpid(dummy, &status, WNOHANG), 0, "the dummy (pid %d) was signalled: %s",
                 (int)dummy,
                 WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "exited");
    kill(dummy, SIGKILL);
    waitpid(dummy, &status, 0);
}

/* No pidfds at all (the fork server's pidfd_open fails with ENOSYS): the
 * fork server does the kills, and its own death is still seen. */
Test(pidfd, without_pidfds_the_fork_server_kills, .timeout = 60)
{
    cr_assert_eq(cf__fault_arm(CF__FAULT_NO_PIDFD, CF__FAULT_ERROR_ALL, 1, CF__ROLE_FORKSERVER),
                 0);
    cf_executor *ex = support_new_pool(1, 0);
    kills_reach_the_worker(ex);

    char dir[64];
    support_make_dir(dir, sizeof(dir));
    cf_future *held = support_block_worker(ex, dir, 1);
    support_kill_forkserver();
    int rc = cf_future_error(held, 20.0);
    cr_assert_eq(rc, CF_EBROKEN, "%s", cf_strerror(rc));
    cr_assert_eq(cf_executor_shutdown(ex, CF_WAIT, false), 0);
    cf_future_release(held);
    cf_executor_release(ex);
    cf__fault_disarm();
    support_remove_dir(dir);
}

/* A child holding a memfd: its pid, and the descriptor number in *fd. */
static pid_t memfd_holder(int *fd)
{
    int pipefd[2];
    cr_assert_eq(pipe(pipefd), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int m = memfd_create("cfutures-side", MFD_CLOEXEC);
        if (m < 0 || write(pipefd[1], &m, sizeof(m)) != sizeof(m))
            _exit(1);
        for (;;)
            pause();
    }
    close(pipefd[1]);
    cr_assert_eq(read(pipefd[0], fd, sizeof(*fd)), (ssize_t)sizeof(*fd));
    close(pipefd[0]);
    return pid;
}

/* A peer's segment is opened through the pidfd that names the peer: once
 * the peer is gone, its pid number naming another process (here a second
 * holder, with a memfd at the same number) opens nothing. */
Test(pidfd, a_dead_peers_pid_opens_nothing, .timeout = 30)
{
    int fd1, fd2, status;
    pid_t peer = memfd_holder(&fd1);
    int pidfd = cf__pidfd_open(peer);
    cr_assert_geq(pidfd, 0, "%s", cf_strerror(pidfd));
    cf__side_trust_peer(peer, pidfd);
    int got = cf__side_open_peer(peer, fd1, O_RDONLY);
    if (got < 0) {
        kill(peer, SIGKILL);
        waitpid(peer, &status, 0);
    }
    cr_assert_geq(got, 0, "the live peer: %s", cf_strerror(got));
    close(got);

    kill(peer, SIGKILL);
    waitpid(peer, &status, 0);
    pid_t stranger = memfd_holder(&fd2);
    /* As if the stranger had been given the peer's pid. */
    cf__side_trust_peer(stranger, pidfd);
    got = cf__side_open_peer(stranger, fd2, O_RDONLY);
    cf__side_trust_peer(0, -1);
    close(pidfd);
    kill(stranger, SIGKILL); /* before asserting: nothing left behind */
    waitpid(stranger, &status, 0);
    if (got >= 0)
        close(got);
    cr_assert_lt(got, 0, "opened a stranger's descriptor through a dead peer's pid");
    cr_assert(got == -ESRCH || got == -EBADF, "%s", cf_strerror(got));
}
