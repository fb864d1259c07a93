/* cf_rlock: Python's threading.RLock, a cf_lock plus an owner and a
 * recursion level.
 *
 * Owns: owner (written by the thread that holds the inner lock, read by
 * every thread to see whether it is the owner, hence atomic) and count
 * (touched only by the owner, ordered by the inner lock).
 * Lock order: only the inner cf_lock. A thread compares owner with itself:
 * no other thread can store its id there, so a stale read can only say
 * "not mine", which is the truth.
 */
#include <cfutures.h>

#include <errno.h>
#include <limits.h>
#include <math.h>

#include "threading/internal.h"

static uintptr_t owner_of(const cf_rlock *rlock)
{
    return __atomic_load_n(&rlock->owner, __ATOMIC_RELAXED);
}

static void take(cf_rlock *rlock)
{
    __atomic_store_n(&rlock->owner, cf__thread_self(), __ATOMIC_RELAXED);
    rlock->count = 1;
}

int cf_rlock_init(cf_rlock *rlock)
{
    if (!rlock)
        return -EINVAL;
    cf_lock_init(&rlock->lock);
    __atomic_store_n(&rlock->owner, 0, __ATOMIC_RELAXED);
    rlock->count = 0;
    return 0;
}

int cf_rlock_destroy(cf_rlock *rlock)
{
    if (!rlock)
        return -EINVAL;
    return cf_lock_destroy(&rlock->lock);
}

/* The owner's re-entry: one level deeper, never waits. */
static int reenter(cf_rlock *rlock)
{
    if (rlock->count == UINT_MAX)
        return -EAGAIN;
    rlock->count++;
    return 0;
}

int cf_rlock_acquire(cf_rlock *rlock)
{
    return cf_rlock_acquire_timed(rlock, CF_FOREVER);
}

bool cf_rlock_try(cf_rlock *rlock)
{
    return cf_rlock_acquire_timed(rlock, 0) == 0;
}

int cf_rlock_acquire_timed(cf_rlock *rlock, double timeout)
{
    if (!rlock || isnan(timeout))
        return -EINVAL;
    if (owner_of(rlock) == cf__thread_self())
        return reenter(rlock);
    int r = cf_lock_acquire_timed(&rlock->lock, timeout);
    if (r == 0)
        take(rlock);
    return r;
}

int cf_rlock_release(cf_rlock *rlock)
{
    if (!rlock)
        return -EINVAL;
    if (owner_of(rlock) != cf__thread_self())
        return -EPERM;
    if (--rlock->count == 0) {
        __atomic_store_n(&rlock->owner, 0, __ATOMIC_RELAXED);
        cf_lock_release(&rlock->lock);
    }
    return 0;
}

bool cf_rlock_is_owned(const cf_rlock *rlock)
{
    return rlock && owner_of(rlock) == cf__thread_self();
}

unsigned cf_rlock_level(const cf_rlock *rlock)
{
    return cf_rlock_is_owned(rlock) ? rlock->count : 0;
}

/* For cond.c's wait: gives up every level at once and returns how many
 * there were; the caller owns the rlock (checked by cond.c). */
unsigned cf__rlock_release_all(cf_rlock *rlock)
{
    unsigned saved = rlock->count;
    rlock->count = 0;
    __atomic_store_n(&rlock->owner, 0, __ATOMIC_RELAXED);
    cf_lock_release(&rlock->lock);
    return saved;
}

/* ... and takes them all back, waiting as long as it takes. */
void cf__rlock_restore(cf_rlock *rlock, unsigned saved)
{
    cf_lock_acquire(&rlock->lock);
    take(rlock);
    rlock->count = saved;
}
