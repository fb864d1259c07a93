/** @file
 * cfutures: threads, timers and thread-local values.
 * Included by <cfutures.h>; do not include it on its own. */
#ifndef CFUTURES_THREAD_H
#define CFUTURES_THREAD_H

#include <pthread.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ threads */

/* Python's threading.Thread, caller-allocated. A cf_thread runs fn(arg)
 * once on a new pthread. Lifecycle: init, start, join (as often as you
 * like, from any thread), destroy. Every function below is thread-safe
 * except init and destroy, which must not race with any other call on the
 * same object. */

/** The longest name kept, NUL included; longer names are truncated. The
 * operating system sees only the first 15 bytes (pthread_setname_np). */
#define CF_THREAD_NAME_MAX 64

/** The function a thread or timer runs, with the `arg` given at init. */
typedef void (*cf_thread_fn)(void *arg);

/** A thread (Python's threading.Thread), caller-allocated. */
typedef struct cf_thread {
    /** Private: use the functions below. `mu` protects every other field. */
    pthread_mutex_t mu;
    pthread_cond_t cv; /**< broadcast on each state change; CLOCK_MONOTONIC */
    pthread_t handle;  /**< valid from start on */
    cf_thread_fn fn;   /**< private */
    void *arg;         /**< private */
    unsigned long ident; /**< private */
    int native_id;       /**< private */
    int state;    /**< NEW, STARTING, RUNNING, FINISHED, REAPED (thread.c) */
    bool reaping; /**< one joiner is inside pthread_join */
    char name[CF_THREAD_NAME_MAX]; /**< private */
} cf_thread;

/** Prepares `t` to run fn(arg). `name` is copied (truncated to
 * CF_THREAD_NAME_MAX - 1 bytes); NULL gives "Thread-N" as in Python, N
 * counting from 1 per process. Borrows name; arg is passed through
 * untouched. Returns 0, -EINVAL (t or fn NULL) or a negated errno from
 * pthread_mutex_init / pthread_cond_init. */
CF_API int cf_thread_init(cf_thread *t, const char *name, cf_thread_fn fn, void *arg);

/** Starts the thread and returns once it is running (Python's start()
 * waits for the same), so cf_thread_ident is set when it returns. Returns
 * 0, -EINVAL (t NULL, or already started: Python's RuntimeError; a thread
 * starts at most once) or a negated errno from pthread_create (-EAGAIN),
 * after which start may be tried again. */
CF_API int cf_thread_start(cf_thread *t);

/** Waits up to `timeout` seconds (0 polls, CF_FOREVER waits) for the
 * function to return (or the thread to call pthread_exit). Returns 0 once
 * it has ended and the pthread has been reaped, so thread-local
 * destructors (cf_local) have run; -ETIMEDOUT when it is still running;
 * -EINVAL (t NULL, timeout NaN, never started); -EDEADLK when called by
 * the thread itself. Any number of threads may join, any number of
 * times; the first to see the end reaps the pthread. */
CF_API int cf_thread_join(cf_thread *t, double timeout);

/** True from the return of cf_thread_start until the function has
 * returned; false for NULL. */
CF_API bool cf_thread_is_alive(cf_thread *t);

/** Python's ident: the pthread id (pthread_t as unsigned long) of a
 * started thread, 0 before start. It may be reused by a later thread once
 * this one has ended, as in Python. */
CF_API unsigned long cf_thread_ident(cf_thread *t);

/** Python's native_id: the kernel thread id (gettid), 0 before start. */
CF_API int cf_thread_native_id(cf_thread *t);

/** The name given to init (or "Thread-N"); borrowed from t, valid until
 * cf_thread_destroy. "" for NULL. */
CF_API const char *cf_thread_name(const cf_thread *t);

/** The ident of the calling thread, like threading.get_ident(); equal to
 * cf_thread_ident(t) inside t's function. */
CF_API unsigned long cf_thread_get_ident(void);

/** The cf_thread running the caller, or NULL on a thread that was not
 * started by cf_thread_start (the main thread, for one). Borrowed. */
CF_API cf_thread *cf_thread_current(void);

/** Releases t. A started thread is joined first (waiting without limit),
 * because its pthread still uses t until it has ended: make sure it will
 * end. Returns 0; -EDEADLK without touching t when called by the thread
 * itself; -EINVAL for NULL. Must not race with other calls on t. */
CF_API int cf_thread_destroy(cf_thread *t);

/* ------------------------------------------------------------------- timers */

/** Python's threading.Timer: after `interval` seconds, fn(arg) runs once
 * on the timer's own thread, unless the timer was cancelled first. The
 * interval counts from the moment the timer's thread starts waiting
 * (within cf_timer_start). Thread-safe except init and destroy. */
typedef struct cf_timer {
    /** Private: use the functions below. `mu` protects state. */
    cf_thread thread;
    pthread_mutex_t mu; /**< private */
    pthread_cond_t cv; /**< wakes the waiting thread on cancel; CLOCK_MONOTONIC */
    double interval;   /**< private */
    cf_thread_fn fn;   /**< private */
    void *arg;         /**< private */
    int state; /**< WAITING, CANCELLED, RUNNING, DONE (timer.c) */
} cf_timer;

/** Prepares a timer. `name` as for cf_thread_init (NULL: "Thread-N").
 * Returns 0, -EINVAL (t or fn NULL, interval negative or NaN) or a negated
 * errno from the pthread object initialisers. */
CF_API int cf_timer_init(cf_timer *t, const char *name, double interval, cf_thread_fn fn,
                         void *arg);

/** Starts the timer's thread. Returns as cf_thread_start (-EINVAL when
 * already started). A timer cancelled before start still starts, and its
 * thread ends at once without calling fn. */
CF_API int cf_timer_start(cf_timer *t);

/** Stops the timer if fn has not begun: fn will never run. Returns true
 * when fn will not run (cancelled now, or already), false when fn has
 * already begun or finished (or t is NULL). Does not wait for anything;
 * cf_timer_join does. */
CF_API bool cf_timer_cancel(cf_timer *t);

/** cf_thread_join on the timer's thread: 0 once it has ended (fn returned,
 * or the timer was cancelled), -ETIMEDOUT, -EINVAL (never started),
 * -EDEADLK (called from fn). */
CF_API int cf_timer_join(cf_timer *t, double timeout);

/** True once the timer is cancelled or fn has returned (Python's
 * Timer.finished event). */
CF_API bool cf_timer_finished(cf_timer *t);

/** True while the timer's thread runs (waiting or running fn). */
CF_API bool cf_timer_is_alive(cf_timer *t);

/** Cancels the timer if it is still waiting, joins its thread (waiting for
 * a running fn to return) and releases it. Returns 0, -EINVAL for NULL,
 * -EDEADLK without touching t when called from fn. */
CF_API int cf_timer_destroy(cf_timer *t);

/* ------------------------------------------------------ thread-local values */

/** Python's threading.local for one pointer-sized slot: each thread sees
 * its own value, NULL until it sets one. Built on pthread keys, and it
 * follows their rules:
 *  - when a thread ends (returns or pthread_exit), the destructor runs
 *    once with that thread's value if it is not NULL; a destructor that
 *    sets a new value is called again, up to PTHREAD_DESTRUCTOR_ITERATIONS
 *    rounds;
 *  - replacing a value with cf_local_set does NOT call the destructor on
 *    the old one (the caller still owns it);
 *  - the main thread's value is not destroyed when main returns or the
 *    process calls exit();
 *  - cf_local_destroy calls no destructor: values still set in live
 *    threads are the caller's to free.
 * A process has at most PTHREAD_KEYS_MAX (1024) keys in all. */
typedef void (*cf_local_dtor)(void *value);

/** A thread-local slot (Python's threading.local), caller-allocated. */
typedef struct cf_local {
    /** Private. Written by init and destroy only. */
    pthread_key_t key;
    bool valid; /**< private */
} cf_local;

/** Creates the slot; destructor may be NULL. Returns 0, -EINVAL (l NULL)
 * or -EAGAIN (no key left) / -ENOMEM. */
CF_API int cf_local_init(cf_local *l, cf_local_dtor destructor);

/** The calling thread's value; NULL when it set none or l is NULL or
 * destroyed. Thread-safe and lock-free. */
CF_API void *cf_local_get(const cf_local *l);

/** Sets the calling thread's value (borrowed: the slot holds the pointer,
 * the destructor, if any, receives it at thread exit). Returns 0, -EINVAL
 * (l NULL or destroyed) or -ENOMEM. Thread-safe. */
CF_API int cf_local_set(cf_local *l, void *value);

/** Deletes the key (pthread_key_delete); calls no destructor. Must not
 * race with other calls on l. NULL is a no-op. */
CF_API void cf_local_destroy(cf_local *l);

#ifdef __cplusplus
}
#endif

#endif
