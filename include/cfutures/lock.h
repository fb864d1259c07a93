/** @file
 * cfutures: locks, reentrant locks, conditions and ordered multi-lock acquire.
 * Included by <cfutures.h>; do not include it on its own.
 *
 * Python's threading.Lock, RLock and Condition, and the Python Cookbook's
 * recipe 12.5 (acquire several locks in one global order). Every object is
 * caller-allocated and embeddable: init it in place, destroy it when no
 * thread uses it any more; nothing here allocates. The struct fields are
 * private: read and write them only through these functions. None of these
 * objects is process-shared (see <cfutures/pshared.h> for that); none may
 * be copied or moved once initialised.
 *
 * Return values: "0 / -ETIMEDOUT" functions return 0 when they got what
 * they waited for, -ETIMEDOUT when the timeout passed first (Python's
 * False), and another negative code on a usage error. Timeouts are seconds
 * (0 tries once, CF_FOREVER waits without limit, NaN is -EINVAL); the
 * deadline is taken once on CLOCK_MONOTONIC, so wakeups never extend it.
 */
#ifndef CFUTURES_LOCK_H
#define CFUTURES_LOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------- lock */

/** A non-reentrant lock (Python's Lock): a binary semaphore on one futex
 * word, so any thread may release it, not only the one that acquired it.
 * The uncontended acquire and release are one atomic operation each. */
typedef struct cf_lock {
    uint32_t word;    /**< private: 0 free, 1 held, 2 held with sleepers */
    uintptr_t holder; /**< private: the thread that last acquired it */
    uint64_t order;   /**< private: its rank for cf_lock_acquire_ordered */
} cf_lock;

/** Initialises an unlocked lock and gives it the next rank of the global
 * lock order (ranks grow with each init). Returns 0 or -EINVAL (NULL). */
CF_API int cf_lock_init(cf_lock *lock);

/** Destroys an unlocked lock. Returns 0, -EINVAL (NULL) or -EBUSY when it is
 * locked (it is left untouched). No thread may use it afterwards. */
CF_API int cf_lock_destroy(cf_lock *lock);

/** Blocks until the lock is acquired. Returns 0 or -EINVAL (NULL).
 * Acquiring a lock the caller already holds deadlocks, as in Python. */
CF_API int cf_lock_acquire(cf_lock *lock);

/** Acquires the lock only if it is free now (Python's acquire(False)).
 * Returns true when acquired; false when held elsewhere or lock is NULL. */
CF_API bool cf_lock_try(cf_lock *lock);

/** Waits at most `timeout` seconds for the lock. Returns 0 when acquired,
 * -ETIMEDOUT when not, -EINVAL (NULL lock, NaN timeout). */
CF_API int cf_lock_acquire_timed(cf_lock *lock, double timeout);

/** Releases the lock; any thread may (Python allows it). Wakes one waiter.
 * Returns 0, -EINVAL (NULL) or -EPERM when it is not locked (Python's
 * RuntimeError: release unlocked lock). */
CF_API int cf_lock_release(cf_lock *lock);

/** Whether the lock is held by some thread right now (a snapshot). */
CF_API bool cf_lock_locked(const cf_lock *lock);

/* ------------------------------------------------------------------ rlock */

/** A reentrant lock (Python's RLock): the owning thread may acquire it again
 * and must release it as many times. Only the owner may release it. */
typedef struct cf_rlock {
    cf_lock lock;    /**< private: held while owned */
    uintptr_t owner; /**< private: owning thread, 0 when free */
    unsigned count;  /**< private: recursion level, touched by the owner */
} cf_rlock;

/** Initialises an unowned rlock. Returns 0 or -EINVAL (NULL). */
CF_API int cf_rlock_init(cf_rlock *rlock);

/** Destroys an unowned rlock. Returns 0, -EINVAL or -EBUSY when owned. */
CF_API int cf_rlock_destroy(cf_rlock *rlock);

/** Blocks until the calling thread owns the rlock, one level deeper.
 * Returns 0, -EINVAL (NULL) or -EAGAIN (recursion level at UINT_MAX). */
CF_API int cf_rlock_acquire(cf_rlock *rlock);

/** Acquires if owned by the caller or free now. Returns true when acquired
 * (false also for NULL or recursion overflow). */
CF_API bool cf_rlock_try(cf_rlock *rlock);

/** Waits at most `timeout` seconds. Returns 0 when acquired, -ETIMEDOUT,
 * -EINVAL (NULL, NaN) or -EAGAIN (recursion overflow). An owner never
 * waits. */
CF_API int cf_rlock_acquire_timed(cf_rlock *rlock, double timeout);

/** Drops one recursion level; the rlock is free when the last goes.
 * Returns 0, -EINVAL (NULL) or -EPERM when the caller does not own it. */
CF_API int cf_rlock_release(cf_rlock *rlock);

/** Whether the calling thread owns the rlock (Python's _is_owned). */
CF_API bool cf_rlock_is_owned(const cf_rlock *rlock);

/** The caller's recursion level: 0 when it does not own the rlock. */
CF_API unsigned cf_rlock_level(const cf_rlock *rlock);

/* -------------------------------------------------------------- condition */

/** A condition variable (Python's Condition) over a cf_lock or a cf_rlock
 * that it borrows for its whole life. Waiters queue in arrival order, and
 * notify(n) wakes exactly the n oldest: no spurious wakeups, no lost
 * notifications. The waiter queue is protected by the lock itself, which
 * is why every function below except init/destroy needs the caller to hold
 * it: with a cf_rlock the caller must own it; with a cf_lock the caller
 * must be the thread that acquired it (stricter than Python, which accepts
 * any locked Lock: in C, a notify from another thread would race on the
 * queue). Otherwise they return -EPERM. */
struct cf__cond_waiter;
/** A condition variable over a cf_lock or cf_rlock (see above). */
typedef struct cf_cond {
    cf_lock *lock; /**< private: exactly one of lock, rlock */
    cf_rlock *rlock;              /**< private */
    struct cf__cond_waiter *head; /**< private: FIFO of waiters, under lock */
    struct cf__cond_waiter *tail; /**< private */
} cf_cond;

/** @{ */
/** Initialises a condition over `lock` / `rlock` (borrowed: it must outlive
 * the condition). Returns 0 or -EINVAL (NULL). */
CF_API int cf_cond_init(cf_cond *cond, cf_lock *lock);
CF_API int cf_cond_init_rlock(cf_cond *cond, cf_rlock *rlock);
/** @} */

/** Destroys a condition nobody waits on. Returns 0, -EINVAL or -EBUSY when
 * a thread waits on it. Call it holding the lock, or once no thread can
 * touch the condition. The lock itself is left alone. */
CF_API int cf_cond_destroy(cf_cond *cond);

/** @{ */
/** Acquire / release the underlying lock (Python's `with cond:`). Same
 * returns as cf_lock_acquire / cf_rlock_acquire and the releases. */
CF_API int cf_cond_acquire(cf_cond *cond);
CF_API int cf_cond_release(cf_cond *cond);
/** @} */

/** Releases the lock (every recursion level of an rlock), sleeps until
 * notified or `timeout` passes, then reacquires the lock (and restores the
 * recursion level) before returning, whatever the outcome. Returns 0 when
 * notified, -ETIMEDOUT, -EINVAL (NULL, NaN) or -EPERM (lock not held by
 * the caller; then nothing is released). A notification that arrives
 * while a timed-out waiter is reacquiring the lock counts: 0. */
CF_API int cf_cond_wait(cf_cond *cond, double timeout);

/** A predicate for cf_cond_wait_for; called with the lock held. */
typedef bool (*cf_cond_pred_fn)(void *arg);

/** Python's wait_for: evaluates pred(arg) and waits until it is true, all
 * against one deadline. Returns 0 when the last evaluation was true,
 * -ETIMEDOUT when it was still false at the deadline, -EINVAL, -EPERM.
 * Borrows arg. */
CF_API int cf_cond_wait_for(cf_cond *cond, cf_cond_pred_fn pred, void *arg, double timeout);

/** Wakes the `n` longest-waiting threads (fewer if fewer wait); n = 0 wakes
 * none. Returns 0, -EINVAL or -EPERM. */
CF_API int cf_cond_notify(cf_cond *cond, size_t n);

/** Wakes every waiting thread. Returns 0, -EINVAL or -EPERM. */
CF_API int cf_cond_notify_all(cf_cond *cond);

/* ------------------------------------------------- ordered multi-acquire */

/** Most locks one thread may hold at once through cf_lock_acquire_ordered. */
#define CF_LOCK_ORDER_MAX 64

/** Acquires the n locks of `locks` (any order, no duplicates) in the one
 * global order (their rank, see cf_lock_init), blocking as long as it
 * takes, and records them in the calling thread's list of held locks.
 * Since every thread acquires in the same order, no two threads using
 * this function deadlock with each other. A nested call must only add
 * locks ranked above every lock the thread already holds through this
 * function; otherwise it acquires nothing and returns CF_ELOCKORDER
 * (the cookbook's "Lock Order Violation") instead of risking a deadlock.
 * Returns 0 (also for n = 0), -EINVAL (NULL array or entry, a duplicate),
 * CF_ELOCKORDER, or -E2BIG (more than CF_LOCK_ORDER_MAX held). Borrows
 * the array; thread-safe; each thread has its own list. */
CF_API int cf_lock_acquire_ordered(cf_lock *const *locks, size_t n);

/** Releases locks the calling thread acquired with cf_lock_acquire_ordered
 * (any subset, any order), from the highest rank down. Release them only
 * this way: cf_lock_release would leave them in the thread's list. Returns 0, -EINVAL,
 * or -EPERM when one of them is not in the thread's list (then none is
 * released). */
CF_API int cf_lock_release_ordered(cf_lock *const *locks, size_t n);

/** How many locks the calling thread holds through the ordered API. */
CF_API size_t cf_lock_ordered_held(void);

#ifdef __cplusplus
}
#endif

#endif
