/* ipc/readiness.c — the readiness descriptor of ipc/readiness.h:
 * an eventfd whose counter is 1 exactly while its owner's condition holds
 * and 0 otherwise, so poll() reports it readable exactly then.
 *
 * Owns nothing but the descriptor; takes no lock: every call runs under
 * the owner's lock (cf_queue's `mu`, cf_pqueue's robust `mx`), which is
 * what makes `set` agree with the counter and the counter with the
 * condition. Pollers never read the descriptor; only update/resync do.
 *
 * Why an eventfd and not a pipe: one descriptor, eight bytes of kernel
 * state, and a read empties it whatever it holds, so resync can start from
 * a known state in one call.
 *
 * Across fork: the eventfd is one open file description; a forked child's
 * copy of the descriptor refers to the same counter. A write in any process
 * makes every copy readable, a read in any process clears it for all. The
 * `set` word lives beside the queue in shared memory (a cf_pqueue keeps
 * its struct cf__readiness there), under the queue's process-shared lock,
 * so every process sees the same record of the counter. A process killed
 * between the write or read and the store to `set` leaves the two
 * disagreeing; the next holder of the lock learns of the death from the
 * robust mutex and calls resync.
 */
#include "ipc/readiness.h"

#include <errno.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

void cf__readiness_init(struct cf__readiness *r)
{
    r->fd = -1;
    r->set = 0;
}

bool cf__readiness_enabled(const struct cf__readiness *r)
{
    return r->fd >= 0;
}

static void raise_counter(int fd)
{
    uint64_t one = 1;
    ssize_t n;

    /* Cannot block or fail with the counter at 0 or 1 (it would only at
     * 2^64 - 2); EINTR is the one thing to retry. */
    do
        n = write(fd, &one, sizeof one);
    while (n < 0 && errno == EINTR);
}

static void drain_counter(int fd)
{
    uint64_t v;
    ssize_t n;

    /* Not EFD_SEMAPHORE: one read takes the whole count to 0. EAGAIN
     * (already 0) is fine. */
    do
        n = read(fd, &v, sizeof v);
    while (n < 0 && errno == EINTR);
}

int cf__readiness_open(struct cf__readiness *r, bool ready)
{
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

    if (fd < 0)
        return -errno;
    r->fd = fd;
    r->set = 0;
    cf__readiness_update(r, ready);
    return 0;
}

void cf__readiness_update(struct cf__readiness *r, bool ready)
{
    if (r->fd < 0 || (r->set != 0) == ready)
        return;
    if (ready)
        raise_counter(r->fd);
    else
        drain_counter(r->fd);
    r->set = ready;
}

void cf__readiness_resync(struct cf__readiness *r, bool ready)
{
    if (r->fd < 0)
        return;
    drain_counter(r->fd);
    r->set = 0;
    cf__readiness_update(r, ready);
}

void cf__readiness_close(struct cf__readiness *r)
{
    if (r->fd >= 0)
        close(r->fd);
    cf__readiness_init(r);
}
