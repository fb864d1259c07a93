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
 *
 * Wake-ups are broadcasts: a process woken by a signal could die (or, for
 * a getter with too small a buffer, decline the item) before re-taking
 * `mx`, and could not hand its wake-up on; with a broadcast every sleeper
 * re-checks. Nothing read from the shared memory is trusted: the geometry
 * is checked on every call and a slot with a corrupt length is dropped.
 *
 * A pollable queue (cf_pqueue_init_pollable) also keeps a readiness
 * descriptor (ipc/readiness.h) in the header: an eventfd made before
 * the fork, so every process holds it under the same number and all the
 * copies share one counter; its `set` word is shared too and changes only
 * under `mx`, after every change of "has items or is shut down". A process
 * killed between touching the counter and recording it in `set` is seen by
 * the next locker (the robust mutex reports the death), which resyncs.
 * The descriptor's number is checked against `fd_check` before use, so
 * scribbled shared memory cannot make us write to some other file.
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include <cfutures.h>

#include "ipc/clock.h"
#include "ipc/pshared.h"
#include "threading/internal.h"
#include "ipc/readiness.h"

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
    cf__readiness_init(&q->ready);
    q->fd_check = ~(uint32_t)q->ready.fd;
    return 0;
}

int cf_pqueue_init_pollable(cf_pqueue *q, size_t capacity, size_t item_max)
{
    int rc = cf_pqueue_init(q, capacity, item_max);

    if (rc < 0)
        return rc;
    rc = cf__readiness_open(&q->ready, false);
    if (rc < 0)
        goto undo_init;
    q->fd_check = ~(uint32_t)q->ready.fd;
    return 0;
undo_init:
    cf__pmutex_destroy(&q->mx);
    return rc;
}

static unsigned char *slot_at(cf_pqueue *q, uint64_t pos)
{
    return q->slots + (size_t)(pos % q->capacity) * q->slot_size;
}

/* Whether the geometry is still what init wrote (mx held). */
static bool geometry_ok(const cf_pqueue *q)
{
    return q->capacity != 0 && q->item_max != 0 && q->item_max <= UINT32_MAX - 16 &&
           q->slot_size == slot_size(q->item_max) && q->tail - q->head <= q->capacity &&
           q->ready.fd >= -1 && q->fd_check == ~(uint32_t)q->ready.fd;
}

/* What the descriptor must say now (mx held): a get would not block. */
static bool get_ready(const cf_pqueue *q)
{
    return q->tail != q->head || q->shutdown;
}

/* Checks `q`, locks and checks the geometry: 0 (mx held), -EINVAL,
 * CF_EPROTO or -ENOTRECOVERABLE (mx not held). */
static int lock_queue(cf_pqueue *q)
{
    int rc;

    if (!q)
        return -EINVAL;
    rc = cf__pmutex_lock(&q->mx);
    if (rc < 0)
        return rc;
    if (!geometry_ok(q)) {
        cf__pmutex_unlock(&q->mx);
        return CF_EPROTO;
    }
    /* A dead holder left no half-done change to the items, but may have
     * died between touching the descriptor and recording it. */
    if (rc == 1)
        cf__readiness_resync(&q->ready, get_ready(q));
    return 0;
}

/* The deadline and "may sleep" of a put/get: timeout 0 polls. */
struct wait_spec {
    uint64_t deadline;
    bool wait;
};

static const struct wait_spec FOREVER = {CF__NO_DEADLINE, true};
static const struct wait_spec POLL = {0, false};

static struct wait_spec timed(double timeout)
{
    return (struct wait_spec){cf__deadline_after(timeout), timeout != 0};
}

/* Waits (mx held) while `blocked` says so and the queue is not shut down.
 * Returns 0 (go on), CF_ESHUTDOWN, `fail` (poll), -ETIMEDOUT (mx held), or
 * -ENOTRECOVERABLE / CF_EPROTO with mx NOT held. */
static int await_room(cf_pqueue *q, cf__pcond *cv, bool (*blocked)(const cf_pqueue *),
                      bool shutdown_first, struct wait_spec w, int fail)
{
    for (;;) {
        if (shutdown_first && q->shutdown)
            return CF_ESHUTDOWN;
        if (!blocked(q))
            return 0;
        if (q->shutdown)
            return CF_ESHUTDOWN;
        if (!w.wait)
            return fail;
        int died = 0;
        int rc = cf__pcond_wait(cv, &q->mx, w.deadline, 0, &died);
        if (rc == -ENOTRECOVERABLE)
            return rc;
        if (!geometry_ok(q)) {
            cf__pmutex_unlock(&q->mx);
            return CF_EPROTO;
        }
        if (died) /* as in lock_queue */
            cf__readiness_resync(&q->ready, get_ready(q));
        if (rc < 0 && blocked(q) && !q->shutdown)
            return rc;
    }
}

static bool is_full(const cf_pqueue *q)
{
    return q->tail - q->head >= q->capacity;
}

static bool is_empty(const cf_pqueue *q)
{
    return q->tail == q->head;
}

static int put_until(cf_pqueue *q, const void *item, size_t len, struct wait_spec w)
{
    unsigned char *slot;
    int rc;

    if (!q || (!item && len > 0))
        return -EINVAL;
    rc = lock_queue(q);
    if (rc < 0)
        return rc;
    if (len > q->item_max) {
        rc = -EMSGSIZE;
        goto out_unlock;
    }
    rc = await_room(q, &q->not_full, is_full, true, w, CF_EFULL);
    if (rc == -ENOTRECOVERABLE || rc == CF_EPROTO)
        return rc;
    if (rc < 0)
        goto out_unlock;
    slot = slot_at(q, q->tail);
    memcpy(slot, &(uint32_t){(uint32_t)len}, sizeof(uint32_t));
    if (len)
        memcpy(slot + sizeof(uint32_t), item, len);
    q->tail++; /* publish */
    cf__readiness_update(&q->ready, true);
    cf__pcond_broadcast(&q->not_empty);
out_unlock:
    cf__pmutex_unlock(&q->mx);
    return rc;
}

int cf_pqueue_put(cf_pqueue *q, const void *item, size_t len)
{
    return put_until(q, item, len, FOREVER);
}

int cf_pqueue_try_put(cf_pqueue *q, const void *item, size_t len)
{
    return put_until(q, item, len, POLL);
}

int cf_pqueue_put_timed(cf_pqueue *q, const void *item, size_t len, double timeout)
{
    if (isnan(timeout))
        return -EINVAL;
    return put_until(q, item, len, timed(timeout));
}

/* Copies the head item out (mx held, queue not empty) and removes it.
 * Returns 0, -EMSGSIZE (left queued) or CF_EPROTO (a corrupt length: the
 * slot is dropped, so that the items behind it can still be taken). */
static int take_head(cf_pqueue *q, void *buf, size_t cap, size_t *len)
{
    const unsigned char *slot = slot_at(q, q->head);
    uint32_t n;
    int rc = 0;

    memcpy(&n, slot, sizeof n);
    /* The length was written by another process: check it before use. */
    if (n > q->item_max) {
        rc = CF_EPROTO;
    } else {
        *len = n;
        if (n > cap)
            return -EMSGSIZE; /* nothing changed, nobody else to wake */
        if (n)
            memcpy(buf, slot + sizeof(uint32_t), n);
    }
    q->head++; /* publish */
    cf__readiness_update(&q->ready, get_ready(q));
    cf__pcond_broadcast(&q->not_full);
    return rc;
}

static int get_until(cf_pqueue *q, void *buf, size_t cap, size_t *len, struct wait_spec w)
{
    int rc;

    if (!q || !len || (!buf && cap > 0))
        return -EINVAL;
    rc = lock_queue(q);
    if (rc < 0)
        return rc;
    rc = await_room(q, &q->not_empty, is_empty, false, w, CF_EEMPTY);
    if (rc == -ENOTRECOVERABLE || rc == CF_EPROTO)
        return rc;
    if (rc == 0)
        rc = take_head(q, buf, cap, len);
    cf__pmutex_unlock(&q->mx);
    return rc;
}

int cf_pqueue_get(cf_pqueue *q, void *buf, size_t cap, size_t *len)
{
    return get_until(q, buf, cap, len, FOREVER);
}

int cf_pqueue_try_get(cf_pqueue *q, void *buf, size_t cap, size_t *len)
{
    return get_until(q, buf, cap, len, POLL);
}

int cf_pqueue_get_timed(cf_pqueue *q, void *buf, size_t cap, size_t *len, double timeout)
{
    if (isnan(timeout))
        return -EINVAL;
    return get_until(q, buf, cap, len, timed(timeout));
}

int cf_pqueue_shutdown(cf_pqueue *q, bool immediate)
{
    int rc = lock_queue(q);

    if (rc < 0)
        return rc;
    q->shutdown = 1;
    if (immediate)
        q->head = q->tail; /* one store: the items are gone */
    cf__readiness_update(&q->ready, true);
    cf__pcond_broadcast(&q->not_empty);
    cf__pcond_broadcast(&q->not_full);
    cf__pmutex_unlock(&q->mx);
    return 0;
}

/* Snapshots the size and the capacity; 0 or a negative error. */
static int snapshot(cf_pqueue *q, long long *size, long long *capacity)
{
    int rc = lock_queue(q);

    if (rc < 0)
        return rc;
    *size = (long long)(q->tail - q->head);
    *capacity = q->capacity;
    cf__pmutex_unlock(&q->mx);
    return 0;
}

long long cf_pqueue_qsize(cf_pqueue *q)
{
    long long n, cap;
    int rc = snapshot(q, &n, &cap);

    return rc < 0 ? rc : n;
}

bool cf_pqueue_empty(cf_pqueue *q)
{
    long long n, cap;

    return snapshot(q, &n, &cap) == 0 && n == 0;
}

bool cf_pqueue_full(cf_pqueue *q)
{
    long long n, cap;

    return snapshot(q, &n, &cap) == 0 && n == cap;
}

int cf_pqueue_fd(cf_pqueue *q)
{
    int rc = lock_queue(q);

    if (rc < 0)
        return rc;
    rc = cf__readiness_enabled(&q->ready) ? q->ready.fd : -ENOENT;
    cf__pmutex_unlock(&q->mx);
    return rc;
}

void cf_pqueue_destroy(cf_pqueue *q)
{
    if (!q)
        return;
    /* Only a descriptor whose number init vouched for is closed. */
    if (q->ready.fd >= 0 && q->fd_check == ~(uint32_t)q->ready.fd)
        cf__readiness_close(&q->ready);
    cf__pmutex_destroy(&q->mx);
}
