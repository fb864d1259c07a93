/* The inside of cf_future, shared by the executor layer.
 *
 * Locking: `mu` guards every mutable field below; `cv` signals completion.
 * Lock order: an executor's lock, then a future's `mu`, then a waiter's
 * `mu` (executor/waiter.h). Done-callbacks run with no lock held.
 */
#ifndef CF_EXECUTOR_FUTURE_INTERNAL_H
#define CF_EXECUTOR_FUTURE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <cfutures.h>

#include "ipc/side.h"

enum cf__future_state {
    CF__PENDING,
    CF__RUNNING,
    CF__CANCELLED,
    CF__FINISHED,
};

struct cf__callback {
    cf_done_fn fn;
    void *arg;
    struct cf__callback *next;
};

struct cf__waiter;
struct cf__waiter_link {
    struct cf__waiter *waiter;
    struct cf__waiter_link *next;
};

struct cf_future {
    _Atomic int refs;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    int state;
    int error;       /* 0 or the failure code once FINISHED */
    char *message;   /* failure text (malloc) or NULL */
    unsigned char *result_buf; /* packed result (malloc), or NULL */
    size_t result_len;
    struct cf__side result_side; /* a large result stays mapped here */
    size_t result_off;           /* where the result starts in it */
    msgpack_zone *zone;          /* unpacked result, made on first use */
    msgpack_object result;
    struct cf__callback *callbacks;      /* in the order added */
    struct cf__callback **callbacks_tail;
    struct cf__waiter_link *waiters;

    /* Owned by the executor that runs the future (under its lock). */
    cf_executor *owner;
    uint64_t id;
    uint64_t ring_pos;       /* where its record sits in the task ring */
    unsigned char *record;   /* the record pushed, kept for a re-push */
    size_t record_len;
    struct cf__side task_side; /* large arguments, held until completion */
    char *task;                /* task name, for messages */
    int retries_left;          /* re-runs allowed if its worker dies (-1: pool's) */
    uint64_t task_deadline;    /* CLOCK_MONOTONIC ns it must finish by (0: none) */
    cf_future *inflight_next;  /* the executor's table of futures in flight */
    bool pushing;              /* a submitter is still inside its push */
    bool side_close_deferred;  /* ... and must close task_side after it */
};

/* Completes a future with a packed result (copied) or a failure. The
 * return is -EINVAL if it was already done. Wakes waiters, then runs the
 * callbacks on the calling thread. */
int cf__future_finish(cf_future *f, int error, const char *message, const void *result,
                      size_t len);
/* Takes ownership of a mapped side segment holding the packed result. */
int cf__future_finish_side(cf_future *f, struct cf__side *side, size_t off, size_t len);
/* PENDING -> CANCELLED with waiters and callbacks notified; false if not pending. */
bool cf__future_mark_cancelled(cf_future *f);
/* PENDING or RUNNING -> CANCELLED (a running task that was interrupted);
 * false if it had already finished. */
bool cf__future_mark_interrupted(cf_future *f);
/* Whether f is pending (or running too, if asked); if so *owner is its
 * executor with its call count raised (the caller lowers it when done), or
 * NULL for a stand-alone future. */
bool cf__future_pending_owner(cf_future *f, bool running_too, cf_executor **owner);
/* PENDING -> RUNNING; false if it was not pending. */
bool cf__future_mark_running(cf_future *f);
int cf__future_state(cf_future *f);

#endif
