/* cf_psem: Python's Semaphore across processes.
 *
 * Owns a permit count in the caller's shared memory, guarded by a robust
 * process-shared mutex, with a futex event count (cf__pcond) for waiters.
 * Any thread of any process may acquire or release. Lock order: only `mx`.
 * A process dying while holding `mx` leaves nothing to repair: `value`
 * changes by one store, so the next locker simply carries on.
 *
 * release broadcasts even for one permit: a waiter woken alone could die
 * before re-taking `mx`, and a dead process cannot hand its wake-up on to
 * the other sleepers; woken together, they all re-check `value`.
 */
#include <errno.h>
#include <math.h>

#include <cfutures.h>

#include "ipc/clock.h"
#include "ipc/pshared.h"

struct psem_state {
    cf__pmutex mx;
    cf__pcond cv;   /* notified when value grows */
    uint32_t value; /* protected by mx */
};

_Static_assert(sizeof(struct psem_state) <= sizeof(((cf_psem *)0)->cf__priv),
               "cf_psem storage too small");
_Static_assert(_Alignof(struct psem_state) <= _Alignof(cf_psem), "cf_psem misaligned");

static struct psem_state *state_of(cf_psem *s)
{
    return (struct psem_state *)(void *)s->cf__priv.cf__bytes;
}

/* Checks `s` and locks its state, stored in *stp: 0, -EINVAL or a lock
 * error. A dead previous holder is not an error here (see above). */
static int lock_state(cf_psem *s, struct psem_state **stp)
{
    int rc;

    if (!s)
        return -EINVAL;
    *stp = state_of(s);
    rc = cf__pmutex_lock(&(*stp)->mx);
    return rc < 0 ? rc : 0;
}

int cf_psem_init(cf_psem *s, long long value)
{
    struct psem_state *st;
    int rc;

    if (!s || value < 0 || value > UINT32_MAX)
        return -EINVAL;
    st = state_of(s);
    rc = cf__pmutex_init(&st->mx);
    if (rc < 0)
        return rc;
    cf__pcond_init(&st->cv);
    st->value = (uint32_t)value;
    return 0;
}

/* Takes a permit; without `wait`, fails with -EBUSY instead of sleeping. */
static int acquire_until(cf_psem *s, uint64_t deadline, bool wait)
{
    struct psem_state *st;
    int rc = lock_state(s, &st);

    if (rc < 0)
        return rc;
    while (st->value == 0) {
        if (!wait) {
            rc = -EBUSY;
            goto out_unlock;
        }
        rc = cf__pcond_wait(&st->cv, &st->mx, deadline, 0, NULL);
        if (rc == -ENOTRECOVERABLE)
            return rc; /* mx is not held */
        if (rc == -ETIMEDOUT && st->value == 0)
            goto out_unlock;
    }
    st->value--;
    rc = 0;
out_unlock:
    cf__pmutex_unlock(&st->mx);
    return rc;
}

int cf_psem_acquire(cf_psem *s)
{
    return acquire_until(s, CF__NO_DEADLINE, true);
}

int cf_psem_try_acquire(cf_psem *s)
{
    return acquire_until(s, 0, false);
}

int cf_psem_acquire_timed(cf_psem *s, double timeout)
{
    if (isnan(timeout))
        return -EINVAL;
    if (timeout == 0)
        return cf_psem_try_acquire(s);
    return acquire_until(s, cf__deadline_after(timeout), true);
}

int cf_psem_release(cf_psem *s, long long n)
{
    struct psem_state *st;
    int rc;

    if (n < 1)
        return -EINVAL;
    rc = lock_state(s, &st);
    if (rc < 0)
        return rc;
    if (n > (long long)(UINT32_MAX - st->value)) {
        cf__pmutex_unlock(&st->mx);
        return -EOVERFLOW;
    }
    st->value += (uint32_t)n;
    cf__pmutex_unlock(&st->mx);
    /* After unlocking: a waiter that saw value == 0 read `seq` before our
     * lock, so the bump below either wakes it or stops it sleeping. Every
     * waiter, even for n == 1: see the top of the file. */
    cf__pcond_broadcast(&st->cv);
    return 0;
}

long long cf_psem_value(cf_psem *s)
{
    struct psem_state *st;
    long long v;
    int rc = lock_state(s, &st);

    if (rc < 0)
        return rc;
    v = st->value;
    cf__pmutex_unlock(&st->mx);
    return v;
}

void cf_psem_destroy(cf_psem *s)
{
    if (s)
        cf__pmutex_destroy(&state_of(s)->mx);
}
