/* The fork server: a single-threaded child of the pool that forks every
 * worker, first ones and replacements alike, and reaps them.
 *
 * Why: a process forked from a multi-threaded parent inherits locks that
 * other threads held at that instant (a user's mutex, stdio). The parent of
 * a running pool has a collector thread and user threads; the fork server is
 * forked once, at pool creation, and stays single-threaded, so every worker
 * it forks starts from a clean image. Being the workers' parent, it also
 * learns every exit first: it reports each one to the parent as a
 * WORKER_EXIT record on the result ring, after the worker is gone, so the
 * parent has already seen every result that worker pushed.
 *
 * The parent talks to it over a SOCK_SEQPACKET socket: SPAWN(slot), STOP
 * and KILL(slot, pid, sig). It answers with notes carrying pidfds: its own
 * first (HELLO: the parent watches it through that, whatever the
 * application does with SIGCHLD), then one per worker it forks (PIDFD),
 * opened while the worker cannot have been reaped yet, so the parent
 * signals exactly that worker, never a pid number the kernel may have
 * given to another process meanwhile. Where the kernel has no pidfds the
 * parent asks for KILL instead: we are the workers' parent, and a pid
 * still in pids[] is an unreaped child of ours.
 *
 * SIGCHLD is set back to its default here: an application that ignores it
 * (SIG_IGN makes the kernel reap children at once) would otherwise leave
 * us unable to learn any worker's exit status.
 *
 * It dies with the parent (PR_SET_PDEATHSIG), and its workers die with it.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ipc/clock.h"
#include "ipc/fault.h"
#include "ipc/pidfd.h"
#include "ipc/side.h"
#include "serialize/record.h"
#include "workers/pool_ipc.h"

struct forkserver {
    struct cf__pool_ipc *ipc;
    int sock;
    int sigfd;
    pid_t *pids; /* per slot, 0 when empty */
    int live;
    bool stopping;  /* no more spawns; exit once every worker is reaped */
    bool sock_open; /* the parent's end is open: KILL still served */
};

/* Makes this process die with `parent` and checks it has not died already
 * (the signal is only armed for deaths after the prctl). */
static void die_with(pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1);
}

static void push_record(struct forkserver *fs, msgpack_sbuffer *sb)
{
    struct cf__side side = {.fd = -1};
    if (cf__pool_push(&fs->ipc->results, 0, sb->data, sb->size, CF__NO_DEADLINE, &side,
                      NULL) < 0)
        _exit(3); /* the parent closed the ring: nothing left to report to */
}

static void report_exit(struct forkserver *fs, int slot, pid_t pid, int status)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    cf__record_worker_exit(&pk, slot, pid, status);
    push_record(fs, &sb);
    /* The worker may have died inside a signal on the result ring, having
     * counted a wake-up it never sent (ipc/pshared.h): the push above may
     * then have skipped waking the collector. Forget such counts and wake
     * it, or it would hear of this death only at its next timeout. */
    cf__ring_forget_notifier(&fs->ipc->results);
    msgpack_sbuffer_destroy(&sb);
}

static void report_spawn_failure(struct forkserver *fs, int slot, int err)
{
    char msg[128];
    msgpack_sbuffer sb;
    msgpack_packer pk;
    snprintf(msg, sizeof(msg), "fork of worker %d failed: %s", slot, strerror(err));
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    cf__record_worker_start(&pk, slot, getpid(), -err, msg, strlen(msg));
    push_record(fs, &sb);
    msgpack_sbuffer_destroy(&sb);
}

static void spawn(struct forkserver *fs, int slot)
{
    if (slot < 0 || slot >= fs->ipc->nworkers || fs->pids[slot] != 0 || fs->stopping)
        return;
    pid_t self = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        report_spawn_failure(fs, slot, errno);
        return;
    }
    if (pid == 0) {
        sigset_t none;
        close(fs->sock);
        close(fs->sigfd);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        die_with(self);
        cf__worker_main(fs->ipc, slot);
    }
    fs->pids[slot] = pid;
    fs->live++;
    /* Not reaped yet (we reap only in reap()): this pidfd is the worker. A
     * parent that cannot take it now (a full socket) falls back to KILL. */
    int pidfd = cf__pidfd_open(pid);
    struct cf__forkserver_note note = {CF__FS_PIDFD, slot, pid};
    (void)cf__fs_send_note(fs->sock, &note, pidfd, MSG_DONTWAIT);
    if (pidfd >= 0)
        close(pidfd);
}

static void kill_worker(struct forkserver *fs, int slot, pid_t pid, int sig)
{
    /* pids[slot] == pid: our child, not reaped, so not anyone else. */
    if (slot >= 0 && slot < fs->ipc->nworkers && pid > 0 && fs->pids[slot] == pid &&
        (sig == SIGKILL || sig == SIGTERM))
        kill(pid, sig);
}

static void reap(struct forkserver *fs)
{
    struct signalfd_siginfo si;
    while (read(fs->sigfd, &si, sizeof(si)) == sizeof(si))
        ;
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (int i = 0; i < fs->ipc->nworkers; i++) {
            if (fs->pids[i] == pid) {
                fs->pids[i] = 0;
                fs->live--;
                report_exit(fs, i, pid, status);
                break;
            }
        }
    }
}

static void serve_request(struct forkserver *fs)
{
    struct cf__forkserver_request req;
    ssize_t n = recv(fs->sock, &req, sizeof(req), 0);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
        fs->stopping = true; /* the parent is gone or done with us */
        fs->sock_open = false;
        return;
    }
    if (n != (ssize_t)sizeof(req))
        return;
    if (req.op == CF__FS_SPAWN)
        spawn(fs, req.slot);
    else if (req.op == CF__FS_STOP)
        fs->stopping = true;
    else if (req.op == CF__FS_KILL)
        kill_worker(fs, req.slot, req.pid, req.sig);
}

_Noreturn void cf__forkserver_main(struct cf__pool_ipc *ipc, int sock)
{
    struct forkserver fs = {.ipc = ipc, .sock = sock};
    sigset_t chld;

    die_with(ipc->parent_pid);
    prctl(PR_SET_NAME, "cf-forkserver");
    /* Records other threads of the parent were packing, and cf_buffers it
     * holds, must not stay pinned by us and every worker we fork. */
    cf__side_close_inherited();
    CF__FAULT_ROLE(CF__ROLE_FORKSERVER);
    signal(SIGCHLD, SIG_DFL); /* see the top of this file */
    /* Our own pidfd, for the parent to watch us by. */
    int self = cf__pidfd_open(getpid());
    struct cf__forkserver_note hello = {CF__FS_HELLO, -1, getpid()};
    (void)cf__fs_send_note(sock, &hello, self, 0);
    if (self >= 0)
        close(self);
    /* A pidfd for the parent, which the workers inherit: they take the
     * parent's large task records through it (ipc/side.h), never through
     * a pid that could name another process once the parent is gone. It
     * names the parent if the parent is still ours after it was opened. */
    int parent = cf__pidfd_open(ipc->parent_pid);
    if (parent >= 0 && getppid() != ipc->parent_pid)
        _exit(1);
    cf__side_trust_peer(ipc->parent_pid, parent);
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    fs.sigfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
    fs.pids = calloc((size_t)ipc->nworkers, sizeof(pid_t));
    if (fs.sigfd < 0 || !fs.pids)
        _exit(1);
    fs.sock_open = true;
    while (!fs.stopping || fs.live > 0) {
        /* Once stopping, requests are still read (a KILL for a timeout may
         * come during a shutdown) until the parent closes its end. */
        struct pollfd pfd[2] = {{fs.sock, POLLIN, 0}, {fs.sigfd, POLLIN, 0}};
        int skip = fs.sock_open ? 0 : 1;
        if (poll(pfd + skip, 2 - (nfds_t)skip, -1) < 0 && errno != EINTR)
            _exit(1);
        if (fs.sock_open && (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
            serve_request(&fs);
        if (pfd[1].revents & POLLIN)
            reap(&fs);
    }
    free(fs.pids);
    _exit(0);
}
