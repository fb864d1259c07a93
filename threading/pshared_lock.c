/* cf_plock: Python's Lock across processes.
 *
 * Owns one robust, process-shared mutex (ipc/pshared.h) placed in the
 * caller's shared memory. Any thread of any process sharing it may acquire;
 * only the owning thread releases. The lock is the mutex itself, held for
 * as long as the user holds the lock, so the kernel's robust-futex list
 * hands it on with EOWNERDEAD when the owner dies: that is the whole
 * owner-died mechanism, there is no other state to repair. No lock order:
 * one mutex.
 */
#include <errno.h>
#include <math.h>
#include <time.h>

#include <cfutures.h>

#include "ipc/clock.h"
#include "ipc/pshared.h"

struct plock_state {
    cf__pmutex mx;
};

_Static_assert(sizeof(struct plock_state) <= sizeof(((cf_plock *)0)->cf__priv),
               "cf_plock storage too small");
_Static_assert(_Alignof(struct plock_state) <= _Alignof(cf_plock),
               "cf_plock storage misaligned");

static cf__pmutex *mutex_of(cf_plock *l)
{
    return &((struct plock_state *)(void *)l->cf__priv.cf__bytes)->mx;
}

int cf_plock_init(cf_plock *l)
{
    if (!l)
        return -EINVAL;
    return cf__pmutex_init(mutex_of(l));
}

int cf_plock_acquire(cf_plock *l)
{
    if (!l)
        return -EINVAL;
    /* cf__pmutex_lock already maps EOWNERDEAD to 1 == CF_PLOCK_OWNER_DIED. */
    return cf__pmutex_lock(mutex_of(l));
}

int cf_plock_try_acquire(cf_plock *l)
{
    if (!l)
        return -EINVAL;
    return cf__pmutex_trylock(mutex_of(l));
}

int cf_plock_acquire_timed(cf_plock *l, double timeout)
{
    uint64_t deadline;

    if (!l || isnan(timeout))
        return -EINVAL;
    if (timeout == 0)
        return cf_plock_try_acquire(l);
    deadline = cf__deadline_after(timeout);
    if (deadline == CF__NO_DEADLINE)
        return cf_plock_acquire(l);
    return cf__pmutex_timedlock(mutex_of(l), deadline);
}

int cf_plock_release(cf_plock *l)
{
    if (!l)
        return -EINVAL;
    /* A robust mutex checks its owner: EPERM for anyone else, and for an
     * unlocked mutex. cf__pmutex_unlock drops that result, so call through. */
    return -pthread_mutex_unlock(&mutex_of(l)->m);
}

void cf_plock_destroy(cf_plock *l)
{
    if (l)
        cf__pmutex_destroy(mutex_of(l));
}
