/* threading/internal.h — private to the threading layer, never
 * installed: the cf__ functions the .c files of threading/ share.
 *
 * lock.c owns the process-private futex helpers and the thread id that
 * rlock.c and cond.c use; rlock.c owns the release/restore pair of cond.c's
 * wait over an rlock; internal.c owns the pthread helpers that the
 * mutex/condvar-based primitives (thread, timer, semaphore, event, barrier,
 * queue, actor) would otherwise each repeat. Deadlines are ipc/clock.h's:
 * absolute CLOCK_MONOTONIC nanoseconds, CF__NO_DEADLINE for none.
 */
#ifndef CF_THREADING_INTERNAL_H
#define CF_THREADING_INTERNAL_H

#include <cfutures.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "ipc/clock.h"
#include "ipc/futex.h"
#include "ipc/pshared.h"

/* ---- lock.c */

/* A cheap id of the calling thread, unique among live threads. */
uintptr_t cf__thread_self(void);
/* Whether the calling thread was the last to acquire lock and holds it. */
bool cf__lock_held_by_self(const cf_lock *lock);

/* ---- rlock.c */

/* For cond.c's wait: gives up every level at once and returns how many
 * there were; the caller owns the rlock (checked by cond.c). */
unsigned cf__rlock_release_all(cf_rlock *rlock);
/* ... and takes them all back, waiting as long as it takes. */
void cf__rlock_restore(cf_rlock *rlock, unsigned saved);

/* ---- internal.c */

/* Initialises *cv to run on CLOCK_MONOTONIC, so timed waits are immune to
 * wall-clock jumps. 0 or -errno. */
int cf__cond_init_monotonic(pthread_cond_t *cv);
/* Initialises a default mutex and a CLOCK_MONOTONIC condvar; 0 or -errno,
 * with neither left initialised on failure. */
int cf__mutex_cond_init(pthread_mutex_t *mu, pthread_cond_t *cv);
/* The deadline of a wait of `timeout` seconds, where 0 means "do not wait":
 * then no clock is read and the result (0) is never waited on. Otherwise
 * cf__deadline_after: negative → CF__NO_DEADLINE. NaN is the caller's to
 * reject first. */
uint64_t cf__wait_deadline(double timeout);
/* One wait on cv (mu held) until signalled or the deadline
 * (CF__NO_DEADLINE: none). Returns -ETIMEDOUT once the deadline has
 * passed, else 0; the caller re-checks its condition either way. */
int cf__cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, uint64_t deadline);

/* ---- pshared_queue.c */

/* The layout of a cf_pqueue, here (not in pshared_queue.c) only so that the
 * tests can corrupt its shared geometry and slots on purpose. Every field
 * lives in shared memory another process may scribble on: the queue checks
 * the geometry on every call (CF_EPROTO when it is not what init wrote). */
struct cf_pqueue {
    cf__pmutex mx;
    cf__pcond not_empty; /* notified after tail++ and at shutdown */
    cf__pcond not_full;  /* notified after head++ and at shutdown */
    uint32_t capacity;   /* fixed at init */
    uint32_t item_max;   /* fixed at init */
    uint32_t slot_size;  /* fixed at init: 4-byte length + item, rounded */
    uint32_t shutdown;   /* protected by mx */
    uint64_t head;       /* items taken so far; protected by mx */
    uint64_t tail;       /* items put so far; protected by mx */
    struct cf__readiness ready; /* cf_pqueue_fd's eventfd (fd -1: none);
                                 * `set` protected by mx, fd fixed at init */
    uint32_t fd_check;   /* ~fd, so a scribbled fd is caught, not written to */
    _Alignas(8) unsigned char slots[];
};

#endif
