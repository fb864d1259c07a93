/* An intrusive multi-producer, single-consumer FIFO (D. Vyukov's
 * algorithm): any number of threads push with one atomic exchange and no
 * lock; one thread at a time pops (a caller with several consumers
 * serialises them with a lock of its own). The thread pool's queue of
 * futures not yet taken (executor/thread_pool.c) is one.
 *
 * A push is two steps (swap the tail, then link the old tail to the new
 * node); a pop that finds the first step done and the second not yet
 * returns NULL as if the queue were empty, and the caller retries: the
 * pusher is a few instructions from done. The queue never allocates: nodes
 * live in the caller's objects, and the stub node in the queue itself.
 */
#ifndef CF_COMMON_MPSC_QUEUE_H
#define CF_COMMON_MPSC_QUEUE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct cf__mpsc_node {
    struct cf__mpsc_node *_Atomic next;
};

struct cf__mpsc_queue {
    /* Producers' end: swapped by every push. Apart from the consumer's
     * end, so that a push and a pop do not contend for one cache line. */
    _Alignas(64) struct cf__mpsc_node *_Atomic tail;
    _Alignas(64) struct cf__mpsc_node *head; /* the consumer's */
    /* Written by a push when the queue was empty: apart from head too. */
    _Alignas(64) struct cf__mpsc_node stub;
};

static inline void cf__mpsc_init(struct cf__mpsc_queue *q)
{
    atomic_init(&q->stub.next, NULL);
    q->head = &q->stub;
    atomic_init(&q->tail, &q->stub);
}

/* Pushes the chain first..last (already linked through next; last's next
 * is set here) in one step. Any thread. */
static inline void cf__mpsc_push_chain(struct cf__mpsc_queue *q, struct cf__mpsc_node *first,
                                       struct cf__mpsc_node *last)
{
    atomic_store_explicit(&last->next, NULL, memory_order_relaxed);
    struct cf__mpsc_node *prev = atomic_exchange_explicit(&q->tail, last, memory_order_acq_rel);
    atomic_store_explicit(&prev->next, first, memory_order_release);
}

static inline void cf__mpsc_push(struct cf__mpsc_queue *q, struct cf__mpsc_node *n)
{
    cf__mpsc_push_chain(q, n, n);
}

/* Whether a pop may find a node (a hint: a push may be halfway). The
 * consumer's call, like pop. */
static inline bool cf__mpsc_maybe_nonempty(struct cf__mpsc_queue *q)
{
    return q->head != &q->stub || atomic_load_explicit(&q->stub.next, memory_order_relaxed);
}

/* Any thread: false when the queue is surely empty (its tail is the stub,
 * where a pop that emptied it left it), true otherwise (a hint). */
static inline bool cf__mpsc_pushed_since_empty(struct cf__mpsc_queue *q)
{
    return atomic_load_explicit(&q->tail, memory_order_relaxed) != &q->stub;
}

/* The oldest node, or NULL when the queue is empty or its oldest push is
 * halfway (retry). One consumer at a time. */
static inline struct cf__mpsc_node *cf__mpsc_pop(struct cf__mpsc_queue *q)
{
    struct cf__mpsc_node *head = q->head;
    struct cf__mpsc_node *next = atomic_load_explicit(&head->next, memory_order_acquire);
    if (head == &q->stub) {
        if (!next)
            return NULL;
        q->head = head = next;
        next = atomic_load_explicit(&head->next, memory_order_acquire);
    }
    if (next) {
        q->head = next;
        return head;
    }
    /* head is the last node linked. Unless a push is halfway behind it,
     * put the stub behind it so that head can be handed out. */
    if (head != atomic_load_explicit(&q->tail, memory_order_acquire))
        return NULL;
    cf__mpsc_push(q, &q->stub);
    next = atomic_load_explicit(&head->next, memory_order_acquire);
    if (!next)
        return NULL;
    q->head = next;
    return head;
}

#endif
