/** @file
 * cfutures: process-shared lock, semaphore, event, barrier and bounded queue.
 * Included by <cfutures.h>; do not include it on its own.
 *
 * These are the threading primitives for several processes: the pool's
 * workers, or any processes forked from the one that created them. They
 * are built on a robust process-shared mutex and a futex event count (never
 * glibc's process-shared pthread_cond_t, which a killed waiter corrupts).
 *
 * Placement. Each object must live in memory shared by every process that
 * uses it and must hold no pointers, so it works at any address:
 *
 *     static cf_plock *lock;           // set before the pool exists
 *     lock = cf_pshared_alloc(sizeof *lock);
 *     cf_plock_init(lock);
 *     cf_process_pool_create(&pool, NULL);   // workers inherit `lock`
 *
 * Create objects before forking (or before cf_process_pool_create): the
 * children inherit both the mapping and the global pointer to it. An object
 * created after the fork is invisible to the children.
 *
 * Dead participants. A process may die anywhere (SIGKILL included):
 *  - holding a cf_plock: the next acquirer gets the lock together with
 *    CF_PLOCK_OWNER_DIED, so it can repair what the dead owner protected;
 *  - blocked in any wait: the others are unaffected (a dead waiter leaves
 *    at most a stale sleeper count, which costs a spare wake-up);
 *  - inside a call on a semaphore, event or queue: every change to their
 *    state is published by one final store, so the others see the call as
 *    done or not done, never half done;
 *  - inside a barrier call while holding its internal lock: the barrier
 *    breaks (CF_EBROKEN) until reset, like a party failing in Python's
 *    Barrier; killed while blocked in cf_pbarrier_wait, it stays counted
 *    as arrived: its round completes when the other parties arrive.
 * Permits a dead process held on a cf_psem, or items it took from a queue,
 * are not given back: like Python's, they have no owner.
 *
 * The fields of these structs are private. Copying an object, or using it
 * after destroy, is undefined. Every function is safe to call from any
 * thread of any process sharing the object, except where noted.
 *
 * Timeouts are seconds: 0 tries once, CF_FOREVER (any negative) waits
 * without limit, NaN is refused (-EINVAL; cf_pevent_wait returns false);
 * deadlines are CLOCK_MONOTONIC and computed once, so spurious wake-ups
 * never extend the total wait.
 */
#ifndef CFUTURES_PSHARED_H
#define CFUTURES_PSHARED_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Private storage of the shared objects: the robust mutex plus `extra`
 * bytes of state, aligned like a pthread_mutex_t. */
#define CF__PSHARED_PRIV(extra)                                               \
    union {                                                                   \
        pthread_mutex_t cf__align_mutex;                                      \
        uint64_t cf__align_u64;                                               \
        unsigned char cf__bytes[sizeof(pthread_mutex_t) + (extra)];           \
    } cf__priv

/* ------------------------------------------------------- shared memory */

/** Maps `size` bytes (rounded up to whole pages) of anonymous shared memory
 * (MAP_SHARED | MAP_ANONYMOUS), zero-filled, inherited by every child
 * forked afterwards. Returns the mapping, or NULL with errno set (EINVAL
 * for size 0, ENOMEM). Release with cf_pshared_free and the same size.
 * Thread-safe. */
CF_API void *cf_pshared_alloc(size_t size);

/** Unmaps what cf_pshared_alloc(size) returned, in this process only (the
 * other processes keep their mapping). Destroy the objects in it first.
 * NULL is a no-op returning 0. Returns 0, or -EINVAL (size 0, or ptr not
 * page-aligned). Thread-safe. */
CF_API int cf_pshared_free(void *ptr, size_t size);

/* ----------------------------------------------------------------- lock */

/** Returned (a success) by the acquire functions when the lock is now held
 * by the caller but its previous owner died holding it. What the lock
 * protected may be half updated: repair it before releasing. */
#define CF_PLOCK_OWNER_DIED 1

/** Python's Lock, owned by the thread that acquired it. */
typedef struct cf_plock {
    CF__PSHARED_PRIV(8); /**< private */
} cf_plock;

/** Initialises an unlocked lock in place (in shared memory). Returns 0,
 * -EINVAL (NULL) or a negated errno from pthread_mutex_init. Not
 * thread-safe: no other process may use `l` yet. */
CF_API int cf_plock_init(cf_plock *l);

/** Waits for the lock. Returns 0, CF_PLOCK_OWNER_DIED (acquired; see above),
 * -EINVAL (NULL) or -ENOTRECOVERABLE (a previous owner died and the lock
 * could not be repaired). A thread that acquires a lock it already holds
 * deadlocks, as with Python's Lock: use the timed form to bound it. */
CF_API int cf_plock_acquire(cf_plock *l);
/** Tries once: 0, CF_PLOCK_OWNER_DIED, -EBUSY (held), -EINVAL,
 * -ENOTRECOVERABLE. */
CF_API int cf_plock_try_acquire(cf_plock *l);
/** Waits at most `timeout`: 0, CF_PLOCK_OWNER_DIED, -ETIMEDOUT (still held
 * by someone else when the deadline passed; timeout 0 is a single try that
 * returns -EBUSY), -EINVAL (NULL, NaN timeout), -ENOTRECOVERABLE. */
CF_API int cf_plock_acquire_timed(cf_plock *l, double timeout);

/** Releases the lock. Returns 0, -EINVAL (NULL) or -EPERM (the calling
 * thread does not hold it: unlike Python's Lock, only the owner may
 * release, because ownership is how a dead owner is detected). */
CF_API int cf_plock_release(cf_plock *l);

/** Destroys an unlocked lock nobody uses any more. NULL is a no-op. */
CF_API void cf_plock_destroy(cf_plock *l);

/* ------------------------------------------------------------ semaphore */

/** Python's Semaphore: a counter of permits, without an owner. */
typedef struct cf_psem {
    CF__PSHARED_PRIV(16); /**< private */
} cf_psem;

/** Initialises with `value` permits (0 .. UINT32_MAX). Returns 0 or -EINVAL
 * (NULL, value out of range). Not thread-safe (no user yet). */
CF_API int cf_psem_init(cf_psem *s, long long value);

/** Takes one permit, waiting while there is none. Returns 0, -EINVAL,
 * -ENOTRECOVERABLE. */
CF_API int cf_psem_acquire(cf_psem *s);
/** Tries once: 0, -EBUSY (no permit), -EINVAL, -ENOTRECOVERABLE. */
CF_API int cf_psem_try_acquire(cf_psem *s);
/** Waits at most `timeout`: 0, -ETIMEDOUT (timeout 0: -EBUSY), -EINVAL
 * (NULL, NaN timeout), -ENOTRECOVERABLE. */
CF_API int cf_psem_acquire_timed(cf_psem *s, double timeout);

/** Adds n permits (n >= 1) and wakes the waiters (every one, so that a
 * waiter dying before it takes its permit cannot strand the others). Returns 0, -EINVAL
 * (NULL, n < 1), -EOVERFLOW (the value would pass UINT32_MAX; unchanged),
 * -ENOTRECOVERABLE. */
CF_API int cf_psem_release(cf_psem *s, long long n);

/** The current number of permits (a snapshot), or -EINVAL. */
CF_API long long cf_psem_value(cf_psem *s);

/** Destroys a semaphore nobody uses any more. NULL is a no-op. */
CF_API void cf_psem_destroy(cf_psem *s);

/* ---------------------------------------------------------------- event */

/** Python's Event: a flag that waiters block on until it is set. */
typedef struct cf_pevent {
    CF__PSHARED_PRIV(16); /**< private */
} cf_pevent;

/** Initialises with the flag clear. Returns 0 or -EINVAL. Not thread-safe. */
CF_API int cf_pevent_init(cf_pevent *e);

/** Sets the flag and wakes every waiter. Returns 0, -EINVAL,
 * -ENOTRECOVERABLE. */
CF_API int cf_pevent_set(cf_pevent *e);
/** Clears the flag. Returns 0, -EINVAL, -ENOTRECOVERABLE. */
CF_API int cf_pevent_clear(cf_pevent *e);
/** The flag (false for NULL). */
CF_API bool cf_pevent_is_set(cf_pevent *e);

/** Waits until the flag is set or `timeout` passes and returns the flag, as
 * Python's Event.wait: true when set (also when a set happened while this
 * call waited, even if a clear followed before it woke), false on timeout
 * (and for NULL, a NaN timeout or an unrecoverable internal lock, reported
 * as "not set"). */
CF_API bool cf_pevent_wait(cf_pevent *e, double timeout);

/** Destroys an event nobody uses any more. NULL is a no-op. */
CF_API void cf_pevent_destroy(cf_pevent *e);

/* -------------------------------------------------------------- barrier */

/** Python's Barrier without an action: `parties` processes (or threads)
 * wait until all have arrived, then all go on; reusable round after round. */
typedef struct cf_pbarrier {
    CF__PSHARED_PRIV(48); /**< private */
} cf_pbarrier;

/** Initialises for `parties` (1 .. INT32_MAX). Returns 0 or -EINVAL. Not
 * thread-safe. */
CF_API int cf_pbarrier_init(cf_pbarrier *b, long long parties);

/** Waits for the round to fill, at most `timeout` (CF_FOREVER: no limit).
 * Returns the caller's arrival index 0 .. parties-1 (unique in the round),
 * or CF_EBROKEN: the barrier is or became broken (abort, reset while
 * waiting, another waiter's timeout, a party dying while it held the
 * barrier's internal lock), or it timed out, which breaks it for everyone,
 * as in Python. A waiter whose round filled succeeds even if the barrier
 * broke or was reset since; one whose round was ended by a reset gets
 * CF_EBROKEN however many rounds later it wakes (beyond 64 rounds later,
 * it succeeds only if no reset ended any round in between). -EINVAL for
 * NULL or a NaN timeout; -ENOTRECOVERABLE. */
CF_API int cf_pbarrier_wait(cf_pbarrier *b, double timeout);

/** Breaks the barrier: current and future waiters get CF_EBROKEN until
 * reset. Returns 0, -EINVAL, -ENOTRECOVERABLE. */
CF_API int cf_pbarrier_abort(cf_pbarrier *b);
/** Returns the barrier to its initial state; processes waiting in the
 * current round get CF_EBROKEN. Returns 0, -EINVAL, -ENOTRECOVERABLE. */
CF_API int cf_pbarrier_reset(cf_pbarrier *b);

CF_API bool cf_pbarrier_broken(cf_pbarrier *b);       /**< false for NULL */
CF_API int cf_pbarrier_n_waiting(cf_pbarrier *b);     /**< >= 0, or -EINVAL */
CF_API int cf_pbarrier_parties(cf_pbarrier *b);       /**< >= 1, or -EINVAL */

/** Destroys a barrier nobody uses any more. NULL is a no-op. */
CF_API void cf_pbarrier_destroy(cf_pbarrier *b);

/* ---------------------------------------------------------------- queue */

/** A bounded FIFO of byte strings, copied in and out: `capacity` items of at
 * most `item_max` bytes each, both fixed at init. Its size depends on them,
 * so it is not embeddable: allocate cf_pqueue_footprint() bytes (usually
 * with cf_pshared_alloc) and cast.
 *
 * Nothing in the shared memory is trusted: every call except init and
 * destroy checks the geometry init wrote there and returns CF_EPROTO (the
 * predicates: false) when it has been overwritten; a get that finds an
 * item with an impossible length drops that item and returns CF_EPROTO,
 * so the items behind it can still be taken. Blocked callers are woken
 * together, so a dead or declining getter never strands an item. */
typedef struct cf_pqueue cf_pqueue;

/** Bytes a queue of `capacity` items of up to `item_max` bytes needs, or 0
 * when capacity or item_max is 0, capacity > UINT32_MAX, item_max >
 * UINT32_MAX, or the size overflows. */
CF_API size_t cf_pqueue_footprint(size_t capacity, size_t item_max);

/** Initialises the queue in the cf_pqueue_footprint(capacity, item_max)
 * bytes at q. Returns 0 or -EINVAL (NULL, or a footprint of 0). Not
 * thread-safe. */
CF_API int cf_pqueue_init(cf_pqueue *q, size_t capacity, size_t item_max);

/** As cf_pqueue_init, and gives the queue a descriptor for poll/select/
 * epoll (the cookbook's recipe 12.13): an eventfd readable exactly while
 * the queue holds items, and for good once it is shut down, in every
 * process that shares the queue.
 *
 * The descriptor is created here, so it must be created before the fork:
 * processes forked afterwards inherit it under the same number, and their
 * copies all refer to one kernel counter, so a put in any process makes
 * it readable everywhere and the get that empties the queue clears it
 * everywhere. A process must not close, read or write it (cf_pqueue_fd
 * gives its number, for polling only); a process that did not inherit it
 * (one that got the memory some other way) must not use a pollable queue.
 * cf_pqueue_destroy closes the caller's copy; other processes' copies go
 * when they exit (or exec: it is close-on-exec).
 *
 * Returns 0, -EINVAL (as cf_pqueue_init), or what eventfd failed with
 * (-EMFILE, -ENFILE, -ENOMEM, -ENODEV). */
CF_API int cf_pqueue_init_pollable(cf_pqueue *q, size_t capacity, size_t item_max);

/** The descriptor of a queue made by cf_pqueue_init_pollable (>= 0), or
 * -EINVAL (q NULL), CF_EPROTO (the shared geometry was overwritten) or
 * -ENOENT (the queue was made by cf_pqueue_init). */
CF_API int cf_pqueue_fd(cf_pqueue *q);

/** Copies `len` bytes (0 .. item_max) of `item` (borrowed; may be NULL when
 * len is 0) to the tail of the queue, waiting while it is full. Returns 0,
 * -EINVAL (NULL), -EMSGSIZE (len > item_max), CF_ESHUTDOWN, CF_EPROTO
 * (corrupt queue, see above), -ENOTRECOVERABLE. */
CF_API int cf_pqueue_put(cf_pqueue *q, const void *item, size_t len);
/** Tries once: as put, or CF_EFULL. */
CF_API int cf_pqueue_try_put(cf_pqueue *q, const void *item, size_t len);
/** Waits at most `timeout`: as put, or -ETIMEDOUT (timeout 0: CF_EFULL);
 * -EINVAL for a NaN timeout. */
CF_API int cf_pqueue_put_timed(cf_pqueue *q, const void *item, size_t len, double timeout);

/** Removes the head item, waiting while the queue is empty, and copies it to
 * buf (cap bytes; borrowed); *len gets its length. Returns 0, -EINVAL (NULL
 * q or len, NULL buf with cap > 0), -EMSGSIZE (the item is longer than cap:
 * it stays queued and *len tells the size needed), CF_ESHUTDOWN (shut down
 * and nothing left to take), CF_EPROTO (corrupt queue, or a corrupt head
 * item, which is dropped), -ENOTRECOVERABLE. */
CF_API int cf_pqueue_get(cf_pqueue *q, void *buf, size_t cap, size_t *len);
/** Tries once: as get, or CF_EEMPTY. */
CF_API int cf_pqueue_try_get(cf_pqueue *q, void *buf, size_t cap, size_t *len);
/** Waits at most `timeout`: as get, or -ETIMEDOUT (timeout 0: CF_EEMPTY);
 * -EINVAL for a NaN timeout. */
CF_API int cf_pqueue_get_timed(cf_pqueue *q, void *buf, size_t cap, size_t *len, double timeout);

/** Python 3.13's Queue.shutdown: puts fail with CF_ESHUTDOWN from now on and
 * every blocked caller wakes; gets still drain what is queued and then fail
 * with CF_ESHUTDOWN, except with `immediate`, which discards the items
 * first. Idempotent. Returns 0, -EINVAL, CF_EPROTO, -ENOTRECOVERABLE. */
CF_API int cf_pqueue_shutdown(cf_pqueue *q, bool immediate);

/** @{ */
/** Snapshots: number of items (or -EINVAL, CF_EPROTO, -ENOTRECOVERABLE),
 * and the predicates (false for NULL or on any of those errors). */
CF_API long long cf_pqueue_qsize(cf_pqueue *q);
CF_API bool cf_pqueue_empty(cf_pqueue *q);
CF_API bool cf_pqueue_full(cf_pqueue *q);
/** @} */

/** Destroys a queue nobody uses any more, closing this process's copy of
 * its descriptor, if any. NULL is a no-op. */
CF_API void cf_pqueue_destroy(cf_pqueue *q);

#ifdef __cplusplus
}
#endif

#endif
