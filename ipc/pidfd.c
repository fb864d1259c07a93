/* Process descriptors (see pidfd.h). Stateless; any thread, any process. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ipc/fault.h"
#include "ipc/pidfd.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

int cf__pidfd_open(pid_t pid)
{
    /* Tests take the pidfd-less path (kernels before 5.3) on purpose. */
    if (CF__FAULT(CF__FAULT_NO_PIDFD))
        return -ENOSYS;
    long fd = syscall(SYS_pidfd_open, pid, 0u);
    return fd < 0 ? -errno : (int)fd; /* pidfds are always close-on-exec */
}

int cf__pidfd_signal(int pidfd, int sig)
{
    return syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0u) < 0 ? -errno : 0;
}

int cf__pidfd_getfd(int pidfd, int fd)
{
    long got = syscall(SYS_pidfd_getfd, pidfd, fd, 0u);
    return got < 0 ? -errno : (int)got;
}

bool cf__pidfd_wait_exit(int pidfd, int timeout_ms)
{
    struct pollfd pfd = {pidfd, POLLIN, 0};
    int rc;
    while ((rc = poll(&pfd, 1, timeout_ms)) < 0 && errno == EINTR)
        ;
    return rc > 0 && (pfd.revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL));
}

bool cf__pidfd_exited(int pidfd)
{
    return cf__pidfd_wait_exit(pidfd, 0);
}

int cf__pidfd_reap(int pidfd, int *status)
{
    siginfo_t si = {0};
    int rc;
    while ((rc = waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED | WNOHANG)) < 0 &&
           errno == EINTR)
        ;
    if (rc < 0)
        return -errno;
    if (si.si_pid == 0)
        return -EAGAIN;
    if (status)
        *status = si.si_code == CLD_EXITED ? W_EXITCODE(si.si_status, 0)
                                           : W_EXITCODE(0, si.si_status) |
                                                 (si.si_code == CLD_DUMPED ? WCOREFLAG : 0);
    return 0;
}
