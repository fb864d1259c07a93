/* cf_queue: Python's Queue, LifoQueue and PriorityQueue (queue.h).
 *
 * Owns the queue's slot array and, once cf_queue_fd asked for it, its
 * readiness descriptor (ipc/readiness.h), updated under `mu` after
 * every change of "has items or is shut down". Any thread may put, get, task_done, join
 * or shut down; `mu` guards every field, and the three condition variables
 * (CLOCK_MONOTONIC) are its only waits. No other lock is taken while `mu`
 * is held, so there is no lock order to keep.
 *
 * A put or get signals the other side only when someone sleeps there
 * (counted under `mu`): with one producer and one consumer mostly awake,
 * a signal per item was a store to the condition variable's line, which
 * the other thread then had to fetch back. The signal stays under `mu`:
 * sent after unlocking, it could reach a queue that a getter woken some
 * other way had already emptied and destroyed (review: a reply queue
 * destroyed after its last get crashed in 3 runs of 8).
 *
 * Storage per kind, in one slot array:
 *  - FIFO: a ring; `head` is the oldest item.
 *  - LIFO: a stack in slots[0..len); head stays 0.
 *  - PRIORITY: a binary min-heap in slots[0..len) keyed by (priority, seq);
 *    seq is the put order, so equal priorities leave in insertion order
 *    (the cookbook's (-priority, index, item) entries).
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cfutures.h>

#include "threading/internal.h"
#include "ipc/readiness.h"

#define INITIAL_CAP 16

/* ------------------------------------------------------------- storage */

static bool slot_before(const struct cf__queue_slot *a, const struct cf__queue_slot *b)
{
    return a->priority != b->priority ? a->priority < b->priority : a->seq < b->seq;
}

static void swap_slots(struct cf__queue_slot *a, struct cf__queue_slot *b)
{
    struct cf__queue_slot t = *a;
    *a = *b;
    *b = t;
}

static void heap_sift_up(struct cf__queue_slot *h, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!slot_before(&h[i], &h[parent]))
            break;
        swap_slots(&h[i], &h[parent]);
        i = parent;
    }
}

static void heap_sift_down(struct cf__queue_slot *h, size_t len, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < len && slot_before(&h[l], &h[m]))
            m = l;
        if (r < len && slot_before(&h[r], &h[m]))
            m = r;
        if (m == i)
            return;
        swap_slots(&h[i], &h[m]);
        i = m;
    }
}

/* Doubles an unbounded queue's storage. The FIFO ring keeps its order:
 * the wrapped part (slots[0..head+len-oldcap)) moves to just past the old
 * end, which the doubling always leaves room for. */
static int grow(cf_queue *q)
{
    size_t old = q->cap, cap = old ? old * 2 : INITIAL_CAP;
    if (cap < old || cap > SIZE_MAX / sizeof(*q->slots))
        return -ENOMEM;
    struct cf__queue_slot *s = realloc(q->slots, cap * sizeof(*s));
    if (!s)
        return -ENOMEM;
    if (q->kind == CF_QUEUE_FIFO && q->head + q->len > old)
        memcpy(s + old, s, (q->head + q->len - old) * sizeof(*s));
    q->slots = s;
    q->cap = cap;
    return 0;
}

/* Stores one item; the caller checked that a bounded queue has room. */
static int push(cf_queue *q, void *item, int64_t priority)
{
    if (q->len == q->cap) {
        int rc = grow(q);
        if (rc < 0)
            return rc;
    }
    struct cf__queue_slot s = {item, priority, q->seq++};
    if (q->kind == CF_QUEUE_FIFO) {
        size_t at = q->head + q->len; /* < 2 * cap: a compare beats a division */
        q->slots[at >= q->cap ? at - q->cap : at] = s;
    } else {
        q->slots[q->len] = s;
        if (q->kind == CF_QUEUE_PRIORITY)
            heap_sift_up(q->slots, q->len);
    }
    q->len++;
    q->unfinished++;
    return 0;
}

/* Removes the next item; the queue is not empty. */
static struct cf__queue_slot pop(cf_queue *q)
{
    struct cf__queue_slot s;
    if (q->kind == CF_QUEUE_FIFO) {
        s = q->slots[q->head];
        q->head = q->head + 1 == q->cap ? 0 : q->head + 1;
    } else if (q->kind == CF_QUEUE_LIFO) {
        s = q->slots[q->len - 1];
    } else {
        s = q->slots[0];
        q->slots[0] = q->slots[q->len - 1];
        heap_sift_down(q->slots, q->len - 1, 0);
    }
    q->len--;
    return s;
}

/* -------------------------------------------------------- init/destroy */

int cf_queue_init(cf_queue *q, enum cf_queue_kind kind, size_t maxsize)
{
    if (!q || (kind != CF_QUEUE_FIFO && kind != CF_QUEUE_LIFO && kind != CF_QUEUE_PRIORITY))
        return -EINVAL;
    if (maxsize > SIZE_MAX / sizeof(struct cf__queue_slot))
        return -EINVAL;
    memset(q, 0, sizeof(*q));
    cf__readiness_init(&q->ready);
    q->kind = kind;
    q->maxsize = maxsize;
    if (maxsize) {
        q->slots = malloc(maxsize * sizeof(*q->slots));
        if (!q->slots)
            return -ENOMEM;
        q->cap = maxsize;
    }
    cf__cond_init_monotonic(&q->not_empty);
    cf__cond_init_monotonic(&q->not_full);
    cf__cond_init_monotonic(&q->all_done);
    /* Adaptive (glibc): a thread finding `mu` held spins a little before it
     * sleeps, since every hold is a few stores; producer->consumer, 1 M
     * items, bounded at 1024, five interleaved runs: 6.6-7.3 M/s with a
     * plain mutex (the bare pthread queue: 6.8-9.8), 9.4-12.0 adaptive. */
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
#ifdef __GLIBC__
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
#endif
    pthread_mutex_init(&q->mu, &ma);
    pthread_mutexattr_destroy(&ma);
    return 0;
}

void cf_queue_destroy(cf_queue *q)
{
    if (!q)
        return;
    free(q->slots);
    q->slots = NULL;
    cf__readiness_close(&q->ready);
    q->cap = q->len = 0;
    pthread_cond_destroy(&q->not_empty);
    pthread_cond_destroy(&q->not_full);
    pthread_cond_destroy(&q->all_done);
    pthread_mutex_destroy(&q->mu);
}

/* ----------------------------------------------------------- waiting */

static bool is_full(const cf_queue *q)
{
    return q->maxsize && q->len >= q->maxsize;
}

static bool is_empty(const cf_queue *q)
{
    return q->len == 0;
}

/* What cf_queue_fd's descriptor must say now (mu held): a get would not
 * block. */
static bool get_ready(const cf_queue *q)
{
    return q->len > 0 || q->shutdown;
}

/* Brings the descriptor up to date (mu held). The test is here so that a
 * queue nobody polls never leaves this file for it. */
static void update_fd(cf_queue *q)
{
    if (q->ready.fd >= 0)
        cf__readiness_update(&q->ready, get_ready(q));
}

/* Locks `mu` and waits on `cv` while `blocked` says so and the queue is not
 * shut down; returns with `mu` held. A shut-down queue fails at once when
 * `shutdown_first` (putters), else only once blocked (getters drain what
 * was queued). Returns 0 (go on), CF_ESHUTDOWN, `fail` (timeout 0) or
 * -ETIMEDOUT. */
static int lock_and_await(cf_queue *q, pthread_cond_t *cv, unsigned *waiting,
                          bool (*blocked)(const cf_queue *), bool shutdown_first, double timeout,
                          int fail)
{
    uint64_t deadline = cf__wait_deadline(timeout);
    bool timed_out = false;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        if (shutdown_first && q->shutdown)
            return CF_ESHUTDOWN;
        if (!blocked(q))
            return 0;
        if (q->shutdown)
            return CF_ESHUTDOWN;
        if (timeout == 0 || timed_out)
            return timeout == 0 ? fail : -ETIMEDOUT;
        (*waiting)++;
        timed_out = cf__cond_wait_until(cv, &q->mu, deadline) == -ETIMEDOUT;
        (*waiting)--;
    }
}

/* ----------------------------------------------------------------- put */

int cf_queue_put_priority(cf_queue *q, void *item, int64_t priority, double timeout)
{
    if (!q || isnan(timeout))
        return -EINVAL;
    int rc = lock_and_await(q, &q->not_full, &q->putters_waiting, is_full, true, timeout,
                            CF_EFULL);
    if (rc == 0 && (rc = push(q, item, priority)) == 0) {
        update_fd(q);
        if (q->getters_waiting > 0)
            pthread_cond_signal(&q->not_empty);
    }
    pthread_mutex_unlock(&q->mu);
    return rc;
}

int cf_queue_put_timed(cf_queue *q, void *item, double timeout)
{
    return cf_queue_put_priority(q, item, 0, timeout);
}

int cf_queue_put(cf_queue *q, void *item)
{
    return cf_queue_put_priority(q, item, 0, CF_FOREVER);
}

int cf_queue_try_put(cf_queue *q, void *item)
{
    return cf_queue_put_priority(q, item, 0, 0);
}

/* ----------------------------------------------------------------- get */

int cf_queue_get_priority(cf_queue *q, void **item, int64_t *priority, double timeout)
{
    if (!q || !item || isnan(timeout))
        return -EINVAL;
    int rc = lock_and_await(q, &q->not_empty, &q->getters_waiting, is_empty, false, timeout,
                            CF_EEMPTY);
    if (rc == 0) {
        struct cf__queue_slot s = pop(q);
        *item = s.item;
        if (priority)
            *priority = s.priority;
        update_fd(q);
        if (q->putters_waiting > 0)
            pthread_cond_signal(&q->not_full);
    }
    pthread_mutex_unlock(&q->mu);
    return rc;
}

int cf_queue_get_timed(cf_queue *q, void **item, double timeout)
{
    return cf_queue_get_priority(q, item, NULL, timeout);
}

int cf_queue_get(cf_queue *q, void **item)
{
    return cf_queue_get_priority(q, item, NULL, CF_FOREVER);
}

int cf_queue_try_get(cf_queue *q, void **item)
{
    return cf_queue_get_priority(q, item, NULL, 0);
}

/* ------------------------------------------------------------- queries */

size_t cf_queue_qsize(cf_queue *q)
{
    if (!q)
        return 0;
    pthread_mutex_lock(&q->mu);
    size_t n = q->len;
    pthread_mutex_unlock(&q->mu);
    return n;
}

bool cf_queue_empty(cf_queue *q)
{
    return cf_queue_qsize(q) == 0;
}

bool cf_queue_full(cf_queue *q)
{
    if (!q)
        return false;
    pthread_mutex_lock(&q->mu);
    bool full = is_full(q);
    pthread_mutex_unlock(&q->mu);
    return full;
}

bool cf_queue_is_shutdown(cf_queue *q)
{
    if (!q)
        return false;
    pthread_mutex_lock(&q->mu);
    bool down = q->shutdown;
    pthread_mutex_unlock(&q->mu);
    return down;
}

/* ------------------------------------------------- task_done and join */

int cf_queue_task_done(cf_queue *q)
{
    if (!q)
        return -EINVAL;
    int rc = 0;
    pthread_mutex_lock(&q->mu);
    if (q->unfinished == 0)
        rc = -EINVAL; /* Python: ValueError, task_done() called too many times */
    else if (--q->unfinished == 0)
        pthread_cond_broadcast(&q->all_done);
    pthread_mutex_unlock(&q->mu);
    return rc;
}

int cf_queue_join_timed(cf_queue *q, double timeout)
{
    if (!q || isnan(timeout))
        return -EINVAL;
    uint64_t deadline = cf__wait_deadline(timeout);
    bool timed_out = false;
    int rc = 0;
    pthread_mutex_lock(&q->mu);
    while (q->unfinished) {
        if (timeout == 0 || timed_out) {
            rc = -ETIMEDOUT;
            break;
        }
        timed_out = cf__cond_wait_until(&q->all_done, &q->mu, deadline) == -ETIMEDOUT;
    }
    pthread_mutex_unlock(&q->mu);
    return rc;
}

int cf_queue_join(cf_queue *q)
{
    return cf_queue_join_timed(q, CF_FOREVER);
}

/* ------------------------------------------------------------ shutdown */

int cf_queue_shutdown(cf_queue *q, bool immediate)
{
    if (!q)
        return -EINVAL;
    pthread_mutex_lock(&q->mu);
    q->shutdown = true;
    if (immediate) {
        /* Discarded items count as done, as in CPython 3.13 (items already
         * taken still need their task_done). */
        size_t n = q->len < q->unfinished ? q->len : q->unfinished;
        q->unfinished -= n;
        q->len = 0;
        q->head = 0;
        pthread_cond_broadcast(&q->all_done);
    }
    update_fd(q);
    /* Every waiter re-checks: putters fail, getters drain or fail. */
    pthread_cond_broadcast(&q->not_empty);
    pthread_cond_broadcast(&q->not_full);
    pthread_mutex_unlock(&q->mu);
    return 0;
}

/* ---------------------------------------------------------- descriptor */

int cf_queue_fd(cf_queue *q)
{
    if (!q)
        return -EINVAL;
    int rc = 0;
    pthread_mutex_lock(&q->mu);
    if (!cf__readiness_enabled(&q->ready))
        rc = cf__readiness_open(&q->ready, get_ready(q));
    if (rc == 0)
        rc = q->ready.fd;
    pthread_mutex_unlock(&q->mu);
    return rc;
}
