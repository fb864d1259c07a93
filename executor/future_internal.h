/* The inside of cf_future, shared by the executor layer.
 *
 * Locking: `mu` (ipc/futex_lock.h) guards every mutable field below. Completion is published
 * by `done`, a futex word set (release) under `mu` once the state is
 * CANCELLED or FINISHED; after an acquire load sees it set, the completed
 * fields (state, error, message, result) may be read without `mu`, since
 * they never change again. Lock order: an executor's lock, then a future's
 * `mu`, then a waiter's `mu` (executor/waiter.h). Done-callbacks run with
 * no lock held.
 */
#ifndef CF_EXECUTOR_FUTURE_INTERNAL_H
#define CF_EXECUTOR_FUTURE_INTERNAL_H

#include <stdbool.h>
#include <stdatomic.h>
#include <stdint.h>

#include <cfutures.h>

#include "common/mpsc_queue.h"
#include "ipc/side.h"

/* Results up to this many packed bytes are kept inside the future itself. */
#define CF__RESULT_INLINE 16
/* Records up to this many bytes are allocated with their future (one
 * allocation per submit); larger ones separately, so that a backend can
 * drop them early (cf__future_drop_record). */
#define CF__RECORD_INLINE_MAX 256

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

/* The process pool's part of a packed task's future (t->ring): in the
 * same allocation, after the task part, only for an executor whose records
 * go through a shared-memory ring (it sets spill_above). Under the pool's
 * lock. */
struct cf__future_ring {
    struct cf__side task_side; /* large arguments, held until completion */
    uint64_t ring_pos;         /* where its record sits in the task ring */
    bool pushing;              /* a submitter is still inside its push */
    bool side_close_deferred;  /* ... and must drop task_side after it, */
    bool side_reusable;        /* ... for reuse (else abandoned: ipc/side.h) */
};

/* What a future of a packed task (the generic layer's submit, cf_map's
 * chunks) carries besides the core below: its name, its record and the
 * backend's bookkeeping for it. It lives in the future's own allocation,
 * right after the core (cf__future_new); a native or stand-alone future
 * has none (f->t NULL). Owned by the executor that runs the future, under
 * its lock. */
struct cf__future_task {
    char *task; /* task name, for messages */
    /* The record pushed, kept for a re-push. It may live inside the
     * future's own allocation (record_inline): never free() it directly,
     * drop it with cf__future_drop_record. */
    unsigned char *record;
    size_t record_len;
    uint64_t task_deadline;    /* CLOCK_MONOTONIC ns it must finish by (0: none) */
    struct cf__future_ring *ring; /* NULL but on a process pool */
    int retries_left;          /* re-runs allowed if its worker dies (-1: pool's) */
    bool record_inline;        /* record lives in this allocation */
};

/* What few futures need, allocated when first needed (under mu, or
 * before the completion that publishes it): a failure's text, a result
 * left in a mapped segment, the unpacked result. */
struct cf__future_extras {
    char *message;               /* failure text (malloc) or NULL */
    struct cf__side result_side; /* a large result stays mapped here */
    size_t result_off;           /* where the result starts in it */
    msgpack_zone *zone;          /* unpacked result, made on first use */
    msgpack_object *result;      /* in zone */
};

/* The core every future has. Every submit allocates one (a native one is
 * all of its task's memory), and with a million in flight their pages
 * are most of the cost of a submit: so it is kept to 104 bytes, with
 * what only some futures need moved out (t, x above), and a one-word lock
 * (ipc/futex_lock.h) instead of pthread's 40 bytes. Fields are ordered to
 * leave no padding but the 4 bytes after the flags. */
struct cf_future {
    _Atomic int refs;
    /* 0 while pending, 1 once done (a futex word: waiters sleep on it). A
     * pthread_cond_t per future cost its init and destroy on every task. */
    _Atomic uint32_t done;
    _Atomic uint32_t mu;
    uint32_t sleepers; /* threads asleep on `done` (under mu) */
    int error;         /* 0 or the failure code once FINISHED */
    uint8_t state;     /* enum cf__future_state */
    bool native;       /* a cf_submit_fn call, not a record (executor/native.c) */
    /* The result lies in x->result_side (set before `done`): readers that
     * hold no lock look here, never at x, which a reader holding mu may
     * create at any time (to unpack). */
    bool result_in_side;
    /* The thread pool's, under its take_mu: the future's place in the
     * queue is counted as taken, by the thread that popped it or by a
     * pool thread that claimed it first (executor/thread_pool.c). */
    bool place_freed;
    cf_executor *owner; /* owned by the executor that runs the future (under its lock) */
    uint64_t id;
    /* Next to id: a walk of the in-flight table reads both. One link, used
     * by one structure at a time: the process pool's table of futures in
     * flight or a list of futures (inflight_next), or the thread pool's
     * queue (qnode: common/mpsc_queue.h). */
    union {
        cf_future *inflight_next;
        struct cf__mpsc_node qnode;
    };
    size_t result_len;
    /* The packed result: inline when it fits (a small scalar, typically:
     * no allocation to complete it), else buf (malloc) or in x's segment.
     * A native future keeps its call here until it runs (native.c). */
    union {
        unsigned char inline_bytes[CF__RESULT_INLINE];
        unsigned char *buf;
        struct {
            void *(*fn)(void *);
            void *arg;
        } call;
    } result;
    struct cf__callback *callbacks; /* in the order added */
    struct cf__waiter_link *waiters;
    struct cf__future_extras *x;    /* NULL until needed */
    struct cf__future_task *t;      /* NULL: a native or stand-alone future */
};

/* The parts follow each other in one allocation (core, task, ring, extra
 * bytes): each must end where the next may start. */
_Static_assert(sizeof(struct cf_future) % _Alignof(struct cf__future_task) == 0, "task part");
_Static_assert(sizeof(struct cf__future_task) % _Alignof(struct cf__future_ring) == 0, "ring");

/* A pending future; with_task: with its struct cf__future_task (f->t,
 * zeroed), with_ring: and its struct cf__future_ring (f->t->ring), and
 * `extra` bytes after those, at cf__future_extra(f): the generic layer
 * keeps its task name and (small) record there. Same as cf_future_create
 * otherwise. */
cf_future *cf__future_new(bool with_task, bool with_ring, size_t extra);
static inline unsigned char *cf__future_extra(cf_future *f)
{
    return f->t->ring ? (unsigned char *)(f->t->ring + 1) : (unsigned char *)(f->t + 1);
}
/* f's task name for messages: a packed task's, "native function", or
 * NULL for a stand-alone future. */
const char *cf__future_task_name(const cf_future *f);
/* Frees f's record unless it lives inside f; f->record is NULL after. */
void cf__future_drop_record(cf_future *f);

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
/* A finished future's packed result, borrowed for the future's life,
 * without unpacking it (cf_map reads its chunks item by item). Returns 0;
 * -EAGAIN while pending; CF_ECANCELLED or the future's error code. */
int cf__future_packed_result(cf_future *f, const unsigned char **bytes, size_t *len);
int cf__future_state(cf_future *f);

#endif
