/** @file
 * cfutures: semaphores, bounded semaphores, events and barriers.
 * Included by <cfutures.h>; do not include it on its own. */
#ifndef CFUTURES_SYNC_H
#define CFUTURES_SYNC_H

#include <pthread.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Python's threading.Semaphore, BoundedSemaphore, Event and Barrier, for
 * threads of one process (see <cfutures/pshared.h> across processes).
 *
 * Common rules
 *  - Caller-allocated and embeddable: cf_X_init() sets one up in memory the
 *    caller owns (no allocation), cf_X_destroy() tears it down. Every field
 *    of the structs below is private. A primitive must not be copied or
 *    moved once initialised.
 *  - init and destroy are not thread-safe: nobody else may use the object
 *    while they run. destroy returns -EBUSY, and destroys nothing, while a
 *    thread is still inside a call on the object (blocked, or woken but not
 *    yet returned); join your threads first. Every other function is
 *    thread-safe.
 *  - Timeouts are seconds as a double: 0 tries once without blocking, a
 *    negative value (CF_FOREVER) waits without limit, a positive one waits
 *    at most that long against one CLOCK_MONOTONIC deadline computed at the
 *    call (spurious wakeups never extend it). Timeouts above 1e9 s wait
 *    without limit. NaN is -EINVAL where a code can be returned.
 *  - init returns 0, -EINVAL, or a negated errno from pthreads (-ENOMEM,
 *    -EAGAIN); after a failure the object is not initialised and must
 *    not be destroyed.
 *  - Nothing here is async-signal-safe, nor safe to use in a child forked
 *    while another thread was inside a call on the object.
 */

/* ---------------------------------------------------------- semaphores */

/** A counting semaphore (Python's Semaphore), or a bounded one (Python's
 * BoundedSemaphore: a flag set by cf_sem_init_bounded, not a separate type,
 * so every cf_sem_* function below serves both). Not FIFO: a releaser
 * wakes some waiter, not necessarily the oldest. */
typedef struct cf_sem {
    pthread_mutex_t mu;  /**< private */
    pthread_cond_t cond; /**< signalled once per unit released */
    long value;          /**< the count; protected by mu */
    long bound;          /**< bounded: the initial value; else unused */
    unsigned waiters;    /**< threads inside a call; protected by mu */
    bool bounded;        /**< private */
} cf_sem;

/** Sets the count to `value`. Returns 0, -EINVAL (s NULL, value < 0) or a
 * negated pthread errno. */
CF_API int cf_sem_init(cf_sem *s, long value);

/** The same for a bounded semaphore: `value` is also the most the count may
 * ever reach, so a release past it fails (see cf_sem_release). */
CF_API int cf_sem_init_bounded(cf_sem *s, long value);

/** Returns 0, -EINVAL (NULL) or -EBUSY (a thread is still inside a call). */
CF_API int cf_sem_destroy(cf_sem *s);

/** Blocks until the count is positive, then decrements it. Returns 0 or
 * -EINVAL (NULL). */
CF_API int cf_sem_acquire(cf_sem *s);

/** Decrements the count if it is positive, without blocking. Returns true
 * when it did (Python's acquire(blocking=False)); false otherwise or for
 * NULL. */
CF_API bool cf_sem_try_acquire(cf_sem *s);

/** As cf_sem_acquire, waiting at most `timeout` seconds (see the common
 * rules; 0 behaves as cf_sem_try_acquire). Returns 0 when acquired,
 * -ETIMEDOUT when not, -EINVAL (NULL, NaN). */
CF_API int cf_sem_acquire_timed(cf_sem *s, double timeout);

/** Adds n (>= 1) to the count and wakes up to n waiters (Python's
 * release(n)). Returns 0; -EINVAL (NULL, n < 1); -EOVERFLOW, with the count
 * unchanged, when a bounded semaphore would pass its initial value
 * (Python's ValueError "Semaphore released too many times") or any
 * semaphore would pass LONG_MAX. Any thread may release; nothing records
 * who acquired. */
CF_API int cf_sem_release(cf_sem *s, long n);

/** The current count (a snapshot; it may change at once). Python's
 * _value, for diagnostics and tests. Returns -EINVAL for NULL. */
CF_API long cf_sem_value(cf_sem *s);

/* ---------------------------------------------------------------- events */

/** A flag threads can wait for (Python's Event). */
typedef struct cf_event {
    pthread_mutex_t mu;  /**< private */
    pthread_cond_t cond; /**< broadcast by cf_event_set */
    unsigned long sets;  /**< times the flag went false -> true; mu */
    unsigned waiters;    /**< threads inside cf_event_wait; mu */
    bool flag;           /**< mu */
} cf_event;

/** Starts with the flag false. Returns 0, -EINVAL or a negated pthread
 * errno. */
CF_API int cf_event_init(cf_event *ev);

/** Returns 0, -EINVAL (NULL) or -EBUSY (a thread is still waiting). */
CF_API int cf_event_destroy(cf_event *ev);

/** Sets the flag and wakes every waiter. Idempotent. Returns 0 or -EINVAL. */
CF_API int cf_event_set(cf_event *ev);

/** Clears the flag; later waiters block until the next set. Returns 0 or
 * -EINVAL. */
CF_API int cf_event_clear(cf_event *ev);

/** The flag (false for NULL). */
CF_API bool cf_event_is_set(cf_event *ev);

/** Blocks until the flag is set or `timeout` passes. Returns true if and
 * only if the flag was set before the call or was set while it waited,
 * even when a cf_event_clear followed before this thread woke (as in
 * Python); false on timeout, for NULL, or for a NaN timeout. */
CF_API bool cf_event_wait(cf_event *ev, double timeout);

/* --------------------------------------------------------------- barriers */

/** Run by the last thread to arrive, before any thread of the round is
 * released, with the barrier's lock held: it must not call functions on
 * the same barrier. A non-zero return breaks the barrier: that thread and
 * every waiter get CF_EBROKEN (Python: the action raised). */
typedef int (*cf_barrier_action_fn)(void *arg);

/** A reusable rendezvous for a fixed number of threads (Python's Barrier,
 * with its filling / draining / resetting / broken state machine). */
typedef struct cf_barrier {
    pthread_mutex_t mu;  /**< private */
    pthread_cond_t cond; /**< broadcast on every state change */
    cf_barrier_action_fn action; /**< private */
    void *action_arg;            /**< private */
    double timeout; /**< the default for cf_barrier_wait */
    int parties;    /**< private */
    int count;  /**< threads of the current round inside wait; mu */
    int state;  /**< filling, draining, resetting, broken; mu */
    int inside; /**< threads inside wait, also those waiting to enter; mu */
} cf_barrier;

/** `parties` threads must call wait for any of them to pass. `action` (may
 * be NULL) runs once per round, see cf_barrier_action_fn; `arg` is
 * borrowed and handed to it. `timeout` is the default of cf_barrier_wait
 * (CF_FOREVER: none). Returns 0, -EINVAL (b NULL, parties < 1, timeout
 * NaN) or a negated pthread errno. */
CF_API int cf_barrier_init(cf_barrier *b, int parties, cf_barrier_action_fn action, void *arg,
                           double timeout);

/** Returns 0, -EINVAL (NULL) or -EBUSY (a thread is still inside wait,
 * including one still waiting for a draining round or a reset to end). */
CF_API int cf_barrier_destroy(cf_barrier *b);

/** Waits until `parties` threads have called it, with the default timeout
 * given to cf_barrier_init. Returns an index in 0..parties-1, distinct for
 * each thread of a round (its arrival order: 0 for the first, parties-1
 * for the last, which runs the action), or: CF_EBROKEN when the barrier is or becomes
 * broken (abort, a failing action, a timeout - the thread that timed out
 * breaks the barrier for all and gets CF_EBROKEN too, as in Python), or
 * is reset while this thread waits; -EINVAL (NULL). A thread that arrives
 * while the previous round drains or a reset completes waits for that
 * first. */
CF_API int cf_barrier_wait(cf_barrier *b);

/** The same with an explicit `timeout` instead of the default; -EINVAL for
 * NaN. */
CF_API int cf_barrier_wait_timed(cf_barrier *b, double timeout);

/** Returns the barrier to its initial, empty state. Threads waiting in it
 * get CF_EBROKEN; once they have left, it is usable again (a broken
 * barrier too). Returns 0 or -EINVAL. */
CF_API int cf_barrier_reset(cf_barrier *b);

/** Breaks the barrier: every current and future wait returns CF_EBROKEN
 * until cf_barrier_reset. Returns 0 or -EINVAL. */
CF_API int cf_barrier_abort(cf_barrier *b);

/** Whether the barrier is broken (false for NULL). */
CF_API bool cf_barrier_broken(cf_barrier *b);

/** Threads currently waiting for the round to fill (0 while a round drains
 * or a reset completes, as in Python); -EINVAL for NULL. */
CF_API int cf_barrier_n_waiting(cf_barrier *b);

/** The number of parties; -EINVAL for NULL. */
CF_API int cf_barrier_parties(const cf_barrier *b);

#ifdef __cplusplus
}
#endif

#endif
