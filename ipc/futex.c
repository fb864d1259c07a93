/* Futex wait/wake on 32-bit words.
 *
 * Owns no state. The words belong to the callers. Shared words (pshared.c's
 * event counts, the worker slots) may be waited on and woken from any
 * process that maps them: no FUTEX_PRIVATE_FLAG, the kernel must key the
 * futex on the backing page, not on this process's address space, or a
 * waker in another process would never find us. Private words (threading/
 * locks and condition variables, a future's done word) are only ever used
 * within one process: the private flag spares the kernel that page lookup,
 * a measurable part of every wait and wake on a virtual machine.
 */
#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ipc/clock.h"
#include "ipc/futex.h"

static int futex_wait(uint32_t *word, uint32_t expected, uint64_t deadline_ns, int private_flag)
{
    struct timespec ts, *tsp = NULL;
    long rc;

    if (deadline_ns != CF__NO_DEADLINE) {
        ts = cf__deadline_timespec(deadline_ns);
        tsp = &ts;
    }
    /* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC timeout (plain
     * FUTEX_WAIT takes a relative one, which we would have to recompute
     * after every spurious return). */
    rc = syscall(SYS_futex, word, FUTEX_WAIT_BITSET | private_flag, expected, tsp, NULL,
                 FUTEX_BITSET_MATCH_ANY);
    if (rc == 0)
        return 0; /* only ever a FUTEX_WAKE: the kernel retries spurious wake-ups */
    if (errno == ETIMEDOUT)
        return -ETIMEDOUT;
    /* EAGAIN (value already changed), EINTR (signal): the caller re-checks.
     * EFAULT/EINVAL cannot happen with a mapped, aligned word; they are
     * reported like EAGAIN, which keeps the caller's loop bounded by its
     * deadline. */
    return -EAGAIN;
}

int cf__futex_wait(_Atomic uint32_t *word, uint32_t expected, uint64_t deadline_ns)
{
    int rc = futex_wait((uint32_t *)word, expected, deadline_ns, 0);

    return rc == -EAGAIN ? 0 : rc;
}

int cf__futex_wait_woken(_Atomic uint32_t *word, uint32_t expected, uint64_t deadline_ns)
{
    return futex_wait((uint32_t *)word, expected, deadline_ns, 0);
}

int cf__futex_wake(_Atomic uint32_t *word, int n)
{
    long rc = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, n, NULL, NULL, 0);

    return rc > 0 ? (int)rc : 0;
}

int cf__futex_wait_private(uint32_t *word, uint32_t expected, uint64_t deadline_ns)
{
    int rc = futex_wait(word, expected, deadline_ns, FUTEX_PRIVATE_FLAG);

    return rc == -EAGAIN ? 0 : rc;
}

void cf__futex_wake_private(uint32_t *word, int n)
{
    syscall(SYS_futex, word, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, n, NULL, NULL, 0);
}
