/* Process descriptors (Linux pidfds): signalling and watching a process
 * through a descriptor that names exactly one process, never a pid number
 * that the kernel may hand to another process once the first is reaped.
 *
 * Raw system calls (glibc before 2.36 has no wrappers). Every function
 * returns -ENOSYS where the kernel lacks the call (pidfd_open: 5.3), and
 * the callers fall back to something else that is safe (see
 * workers/forkserver.c: the fork server signals its own unreaped
 * children by pid).
 */
#ifndef CF_IPC_PIDFD_H
#define CF_IPC_PIDFD_H

#include <stdbool.h>
#include <sys/types.h>

/* A pidfd for `pid` (close-on-exec), or -errno. Only safe when the caller
 * knows pid cannot have been reaped yet (its own unreaped child, itself). */
int cf__pidfd_open(pid_t pid);
/* Sends sig to the process; 0, or -errno (-ESRCH: it has exited). */
int cf__pidfd_signal(int pidfd, int sig);
/* A duplicate (close-on-exec) of descriptor `fd` of the process, or
 * -errno: -EPERM where ptrace rules forbid it (5.6+; -ENOSYS before). */
int cf__pidfd_getfd(int pidfd, int fd);
/* True once the process has exited (a zombie or reaped): the descriptor
 * polls readable. Never blocks. */
bool cf__pidfd_exited(int pidfd);
/* Waits until the process has exited, or timeout_ms (-1: for ever) passed.
 * True when it has. */
bool cf__pidfd_wait_exit(int pidfd, int timeout_ms);
/* Reaps the process if it is our child and not reaped yet: 0 with its
 * wait status in *status, -ECHILD when someone else reaped it (an
 * application handler calling waitpid(-1), or SIGCHLD ignored), -EAGAIN
 * while it runs. */
int cf__pidfd_reap(int pidfd, int *status);

#endif
