/* cf_cond: Python's threading.Condition over a cf_lock or a cf_rlock.
 *
 * Owns: the FIFO of waiters. Each waiter is a node on its own stack with
 * its own futex word, as Python gives each waiter its own lock: notify(n)
 * then wakes exactly the n oldest waiters, none spuriously, and a waiter
 * that times out unlinks only itself.
 * Threads: the queue and the nodes' links are touched only by the thread
 * holding the condition's lock (the reason every call checks it). The
 * `signaled` word is written by the notifier under the lock and read by
 * its waiter without it, hence atomic. A node stays alive until its
 * waiter has reacquired the lock, which the notifier holds while it wakes
 * the node, so a wake never touches a dead stack frame.
 * Lock order: only the condition's lock.
 */
#include <cfutures.h>

#include <errno.h>
#include <math.h>

#include "threading/internal.h"

struct cf__cond_waiter {
    uint32_t signaled; /* 0 waiting, 1 notified: atomic */
    struct cf__cond_waiter *prev, *next;
};

static int init(cf_cond *cond, cf_lock *lock, cf_rlock *rlock)
{
    cond->lock = lock;
    cond->rlock = rlock;
    cond->head = cond->tail = NULL;
    return 0;
}

int cf_cond_init(cf_cond *cond, cf_lock *lock)
{
    return cond && lock ? init(cond, lock, NULL) : -EINVAL;
}

int cf_cond_init_rlock(cf_cond *cond, cf_rlock *rlock)
{
    return cond && rlock ? init(cond, NULL, rlock) : -EINVAL;
}

int cf_cond_destroy(cf_cond *cond)
{
    if (!cond)
        return -EINVAL;
    return cond->head ? -EBUSY : 0;
}

int cf_cond_acquire(cf_cond *cond)
{
    if (!cond)
        return -EINVAL;
    return cond->lock ? cf_lock_acquire(cond->lock) : cf_rlock_acquire(cond->rlock);
}

int cf_cond_release(cf_cond *cond)
{
    if (!cond)
        return -EINVAL;
    return cond->lock ? cf_lock_release(cond->lock) : cf_rlock_release(cond->rlock);
}

static bool held(const cf_cond *cond)
{
    return cond->lock ? cf__lock_held_by_self(cond->lock) : cf_rlock_is_owned(cond->rlock);
}

static void enqueue(cf_cond *cond, struct cf__cond_waiter *w)
{
    w->prev = cond->tail;
    w->next = NULL;
    if (cond->tail)
        cond->tail->next = w;
    else
        cond->head = w;
    cond->tail = w;
}

static void unlink_waiter(cf_cond *cond, struct cf__cond_waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        cond->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        cond->tail = w->prev;
}

/* Releases the lock, all levels of an rlock, and returns the level. */
static unsigned release_all(cf_cond *cond)
{
    if (cond->lock) {
        cf_lock_release(cond->lock);
        return 1;
    }
    return cf__rlock_release_all(cond->rlock);
}

static void restore(cf_cond *cond, unsigned saved)
{
    if (cond->lock)
        cf_lock_acquire(cond->lock);
    else
        cf__rlock_restore(cond->rlock, saved);
}

/* One wait against an absolute deadline (CF__NO_DEADLINE: none); the
 * caller holds the lock and holds it again on return. */
static int wait_until(cf_cond *cond, uint64_t deadline)
{
    struct cf__cond_waiter w = {0};

    enqueue(cond, &w);
    unsigned saved = release_all(cond);
    while (!__atomic_load_n(&w.signaled, __ATOMIC_ACQUIRE))
        if (cf__futex_wait_private(&w.signaled, 0, deadline) == -ETIMEDOUT)
            break;
    restore(cond, saved);
    /* Re-read under the lock: a notify may have picked us after the
     * timeout but before we got the lock back; it has unlinked us then. */
    if (__atomic_load_n(&w.signaled, __ATOMIC_ACQUIRE))
        return 0;
    unlink_waiter(cond, &w);
    return -ETIMEDOUT;
}

/* Validates the call and computes its deadline, once. */
static int prepare(cf_cond *cond, double timeout, uint64_t *deadline)
{
    if (!cond || isnan(timeout))
        return -EINVAL;
    if (!held(cond))
        return -EPERM;
    *deadline = cf__deadline_after(timeout);
    return 0;
}

int cf_cond_wait(cf_cond *cond, double timeout)
{
    uint64_t deadline;
    int r = prepare(cond, timeout, &deadline);

    return r < 0 ? r : wait_until(cond, deadline);
}

int cf_cond_wait_for(cf_cond *cond, cf_cond_pred_fn pred, void *arg, double timeout)
{
    uint64_t deadline;
    int r = pred ? prepare(cond, timeout, &deadline) : -EINVAL;

    if (r < 0)
        return r;
    bool ok = pred(arg);
    while (!ok) {
        r = wait_until(cond, deadline);
        ok = pred(arg);
        if (r == -ETIMEDOUT)
            break;
    }
    return ok ? 0 : -ETIMEDOUT;
}

int cf_cond_notify(cf_cond *cond, size_t n)
{
    if (!cond)
        return -EINVAL;
    if (!held(cond))
        return -EPERM;
    for (; n > 0 && cond->head; n--) {
        struct cf__cond_waiter *w = cond->head;
        unlink_waiter(cond, w);
        __atomic_store_n(&w->signaled, 1, __ATOMIC_RELEASE);
        cf__futex_wake_private(&w->signaled, 1);
    }
    return 0;
}

int cf_cond_notify_all(cf_cond *cond)
{
    return cf_cond_notify(cond, SIZE_MAX);
}
