/* A FIFO of futures linked through cf_future.inflight_next: the MPI pool
 * root's queue of futures not yet taken (each entry holding one
 * reference, which its taker drops), and lists of futures to complete
 * (cf__future_list_drain; the thread pool's queue is common/mpsc_queue.h). Not
 * thread-safe: the owner's lock guards it. The owner adds its own wakes
 * (room, work) around these calls; the queue only links and counts.
 */
#ifndef CF_EXECUTOR_FUTURE_QUEUE_H
#define CF_EXECUTOR_FUTURE_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h> /* SIZE_MAX, for the callers of take */

#include "executor/future_internal.h"

struct cf__future_queue {
    cf_future *head, *tail;
    size_t count;
};

static inline void cf__future_queue_push(struct cf__future_queue *q, cf_future *f)
{
    f->inflight_next = NULL;
    if (q->tail)
        q->tail->inflight_next = f;
    else
        q->head = f;
    q->tail = f;
    q->count++;
}

/* Detaches up to n futures from the head (SIZE_MAX: all) as a list through
 * inflight_next; NULL when the queue is empty or n is 0. */
static inline cf_future *cf__future_queue_take(struct cf__future_queue *q, size_t n)
{
    cf_future *first = q->head, *last = NULL;
    size_t k = 0;
    for (cf_future *f = q->head; f && k < n; f = f->inflight_next, k++)
        last = f;
    if (!last)
        return NULL;
    q->head = last->inflight_next;
    if (!q->head)
        q->tail = NULL;
    last->inflight_next = NULL;
    q->count -= k;
    return first;
}

/* Takes f out of the queue wherever it stands; false if it is not queued. */
static inline bool cf__future_queue_remove(struct cf__future_queue *q, cf_future *f)
{
    cf_future *prev = NULL;
    for (cf_future *e = q->head; e; prev = e, e = e->inflight_next) {
        if (e != f)
            continue;
        if (prev)
            prev->inflight_next = f->inflight_next;
        else
            q->head = f->inflight_next;
        if (q->tail == f)
            q->tail = prev;
        f->inflight_next = NULL;
        q->count--;
        return true;
    }
    return false;
}

/* Completes each future of a detached list (failed with err and msg, or
 * cancelled when err is 0) and drops the list's references. */
static inline void cf__future_list_drain(cf_future *f, int err, const char *msg)
{
    while (f) {
        cf_future *next = f->inflight_next;
        f->inflight_next = NULL;
        if (err)
            cf__future_finish(f, err, msg, NULL, 0);
        else
            cf__future_mark_cancelled(f);
        cf_future_release(f);
        f = next;
    }
}

#endif
