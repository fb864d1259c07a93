/* cf_pqueue: a bounded FIFO of byte strings across processes.
 *
 * Owns a header and `capacity` fixed-size slots laid out in the caller's
 * shared memory (no pointers: slot i sits at a computed offset). One robust
 * process-shared mutex guards everything; two futex event counts wake
 * getters (not_empty) and putters (not_full). Any thread of any process
 * may put, get or shut down. Lock order: only `mx`.
 *
 * Why `head` and `tail` are free-running 64-bit counters rather than an
 * index plus a count: every change is then one store made after the bytes
 * are copied (put: fill slot, then tail++; get: copy out, then head++). A
 * process killed in the middle leaves the queue as if the call never
 * happened, so the next holder of `mx` has nothing to repair.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <cfutures.h>

#include "ipc/clock.h"
#include "ipc/pshared.h"

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
    _Alignas(8) unsigned char slots[];
};

static size_t slot_size(size_t item_max)
{
    return (sizeof(uint32_t) + item_max + 7) / 8 * 8;
}

size_t cf_pqueue_footprint(size_t capacity, size_t item_max)
{
    size_t slot;

    if (capacity == 0 || item_max == 0 || capacity > UINT32_MAX ||
        item_max > UINT32_MAX - 16)
        return 0;
    slot = slot_size(item_max);
    if (slot > (SIZE_MAX - offsetof(struct cf_pqueue, slots)) / capacity)
        return 0;
    return offsetof(struct cf_pqueue, slots) + capacity * slot;
}

int cf_pqueue_init(cf_pqueue *q, size_t capacity, size_t item_max)
{
    int rc;

    if (!q || cf_pqueue_footprint(capacity, item_max) == 0)
        return -EINVAL;
    rc = cf__pmutex_init(&q->mx);
    if (rc < 0)
        return rc;
    cf__pcond_init(&q->not_empty);
    cf__pcond_init(&q->not_full);
    q->capacity = (uint32_t)capacity;
    q->item_max = (uint32_t)item_max;
    q->slot_size = (uint32_t)slot_size(item_max);
    q->shutdown = 0;
    q->head = q->tail = 0;
    return 0;
}

static unsigned char *slot_at(cf_pqueue *q, uint64_t pos)
{
    return q->slots + (size_t)(pos % q->capacity) * q->slot_size;
}

static int lock_queue(cf_pqueue *q)
{
    int rc = cf__pmutex_lock(&q->mx);

    return rc < 0 ? rc : 0; /* a dead holder left no half-done change */
}

/* Sleeps on `cv` (mx held). Returns 0 to re-check, `fail` (poll),
 * -ETIMEDOUT, or -ENOTRECOVERABLE with mx not held. */
static int await_change(cf_pqueue *q, cf__pcond *cv, uint64_t deadline, bool wait, int fail)
{
    if (!wait)
        return fail;
    return cf__pcond_wait(cv, &q->mx, deadline, 0, NULL);
}

static int put_until(cf_pqueue *q, const void *item, size_t len, uint64_t deadline,
                     bool wait)
{
    unsigned char *slot;
    int rc;

    if (!q || (!item && len > 0))
        return -EINVAL;
    if (len > q->item_max)
        return -EMSGSIZE;
    rc = lock_queue(q);
    if (rc < 0)
        return rc;
    for (;;) {
        if (q->shutdown) {
            rc = CF_ESHUTDOWN;
            goto out_unlock;
        }
        if (q->tail - q->head < q->capacity)
            break;
        rc = await_change(q, &q->not_full, deadline, wait, CF_EFULL);
        if (rc == -ENOTRECOVERABLE)
            return rc;
        if (rc < 0 && q->tail - q->head >= q->capacity && !q->shutdown)
            goto out_unlock;
    }
    slot = slot_at(q, q->tail);
    memcpy(slot, &(uint32_t){(uint32_t)len}, sizeof(uint32_t));
    if (len)
        memcpy(slot + sizeof(uint32_t), item, len);
    q->tail++; /* publish */
    rc = 0;
    cf__pcond_signal(&q->not_empty);
out_unlock:
    cf__pmutex_unlock(&q->mx);
    return rc;
}

int cf_pqueue_put(cf_pqueue *q, const void *item, size_t len)
{
    return put_until(q, item, len, CF__NO_DEADLINE, true);
}

int cf_pqueue_try_put(cf_pqueue *q, const void *item, size_t len)
{
    return put_until(q, item, len, 0, false);
}

int cf_pqueue_put_timed(cf_pqueue *q, const void *item, size_t len, double timeout)
{
    return put_until(q, item, len, cf__deadline_after(timeout), timeout != 0);
}

/* Copies the head item out (mx held, queue not empty) and removes it.
 * Returns 0, -EMSGSIZE (left queued) or CF_EPROTO (corrupt length). */
static int take_head(cf_pqueue *q, void *buf, size_t cap, size_t *len)
{
    const unsigned char *slot = slot_at(q, q->head);
    uint32_t n;

    memcpy(&n, slot, sizeof n);
    /* The length was written by another process: check it before use. */
    if (n > q->item_max)
        return CF_EPROTO;
    *len = n;
    if (n > cap)
        return -EMSGSIZE;
    if (n)
        memcpy(buf, slot + sizeof(uint32_t), n);
    q->head++; /* publish */
    cf__pcond_signal(&q->not_full);
    return 0;
}

static int get_until(cf_pqueue *q, void *buf, size_t cap, size_t *len, uint64_t deadline,
                     bool wait)
{
    int rc;

    if (!q || !len || (!buf && cap > 0))
        return -EINVAL;
    rc = lock_queue(q);
    if (rc < 0)
        return rc;
    for (;;) {
        if (q->tail != q->head)
            break;
        if (q->shutdown) {
            rc = CF_ESHUTDOWN;
            goto out_unlock;
        }
        rc = await_change(q, &q->not_empty, deadline, wait, CF_EEMPTY);
        if (rc == -ENOTRECOVERABLE)
            return rc;
        if (rc < 0 && q->tail == q->head && !q->shutdown)
            goto out_unlock;
    }
    rc = take_head(q, buf, cap, len);
out_unlock:
    cf__pmutex_unlock(&q->mx);
    return rc;
}

int cf_pqueue_get(cf_pqueue *q, void *buf, size_t cap, size_t *len)
{
    return get_until(q, buf, cap, len, CF__NO_DEADLINE, true);
}

int cf_pqueue_try_get(cf_pqueue *q, void *buf, size_t cap, size_t *len)
{
    return get_until(q, buf, cap, len, 0, false);
}

int cf_pqueue_get_timed(cf_pqueue *q, void *buf, size_t cap, size_t *len, double timeout)
{
    return get_until(q, buf, cap, len, cf__deadline_after(timeout), timeout != 0);
}

int cf_pqueue_shutdown(cf_pqueue *q, bool immediate)
{
    int rc;

    if (!q)
        return -EINVAL;
    rc = lock_queue(q);
    if (rc < 0)
        return rc;
    q->shutdown = 1;
    if (immediate)
        q->head = q->tail; /* one store: the items are gone */
    cf__pcond_broadcast(&q->not_empty);
    cf__pcond_broadcast(&q->not_full);
    cf__pmutex_unlock(&q->mx);
    return 0;
}

long long cf_pqueue_qsize(cf_pqueue *q)
{
    long long n;
    int rc;

    if (!q)
        return -EINVAL;
    rc = lock_queue(q);
    if (rc < 0)
        return rc;
    n = (long long)(q->tail - q->head);
    cf__pmutex_unlock(&q->mx);
    return n;
}

bool cf_pqueue_empty(cf_pqueue *q)
{
    return cf_pqueue_qsize(q) == 0;
}

bool cf_pqueue_full(cf_pqueue *q)
{
    return q && cf_pqueue_qsize(q) == (long long)q->capacity;
}

void cf_pqueue_destroy(cf_pqueue *q)
{
    if (q)
        cf__pmutex_destroy(&q->mx);
}
