/* A multi-producer, multi-consumer ring of variable-length records in
 * shared memory (see ring.h for the layout and the publication rule).
 *
 * Owns struct cf__ring_shared, which every attached process maps; struct
 * cf__ring is one process's private view (its capacity copy is the trusted
 * one: the shared copy could be scribbled on by a faulty peer). Any thread
 * of any process may push, pop, cancel or close.
 *
 * Lock order: the ring lock is a leaf. The only callback made under it is
 * the caller's claim function, which must not take the ring lock or block.
 * Notifications are sent after unlocking, so a woken waiter does not
 * immediately block on the lock we still hold.
 */
#include <errno.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "ipc/clock.h"
#include "ipc/cpu.h"
#include "ipc/fault.h"
#include "ipc/ring.h"

#define HDR 8u                 /* record header bytes */
#define REC_PAD 0x80000000u    /* internal flag: filler up to the buffer end */
#define KNOWN_FLAGS (CF__RING_REC_CANCELLED | REC_PAD)
#define MAX_CAPACITY (1ull << 32) /* a PAD's u32 len must cover capacity - 8 */

struct rec_hdr {
    uint32_t len;
    uint32_t flags;
};

struct cf__ring_shared {
    /* First member (tests lock it directly through r->sh). Guards every
     * field below and the data bytes; the atomics are only atomic so that
     * the lock-free readers (taken, bytes_used, closed) see whole values. */
    _Alignas(64) cf__pmutex lock;
    uint64_t capacity;       /* written once by init; read by attach only */
    _Atomic uint32_t closed; /* 0 → 1 once, under the lock */
    _Atomic uint32_t wake_gen; /* bumped by cf__ring_wake_all, under the lock */
    _Alignas(64) _Atomic uint64_t head; /* next write position; store-release */
    _Alignas(64) _Atomic uint64_t tail; /* next read position; store-release */
    _Alignas(64) cf__pcond not_empty;   /* consumers sleep here */
    /* Wake-ups of not_empty on their way (cf__pcond_signal_counted): a
     * push skips its FUTEX_WAKE while a consumer it would wake is woken
     * already and about to look at the ring anyway. */
    _Atomic uint32_t not_empty_woken;
    _Alignas(64) cf__pcond not_full;    /* producers sleep here */
    /* pid of the consumer polling the ring (0: none); read by every push.
     * Lock-free: see cf__ring_poll_begin. */
    _Alignas(64) _Atomic int32_t poller;
    _Atomic uint64_t poll_ended_ns; /* CLOCK_MONOTONIC of the last poll_end */
};

_Static_assert(alignof(struct cf__ring_shared) == 64, "ring header alignment");
_Static_assert(sizeof(struct cf__ring_shared) % 64 == 0, "ring header size");

static inline uint64_t round8(uint64_t n)
{
    return (n + 7) & ~(uint64_t)7;
}

static inline uint64_t rec_size(uint32_t len)
{
    return HDR + round8(len);
}

static inline uint64_t offset_of(const struct cf__ring *r, uint64_t pos)
{
    return pos & (r->capacity - 1);
}

static bool capacity_ok(uint64_t capacity)
{
    return capacity >= CF__RING_MIN_CAPACITY && capacity <= MAX_CAPACITY &&
           (capacity & (capacity - 1)) == 0;
}

size_t cf__ring_footprint(size_t capacity)
{
    if (!capacity_ok(capacity) || capacity > SIZE_MAX - sizeof(struct cf__ring_shared))
        return 0;
    return sizeof(struct cf__ring_shared) + capacity;
}

static void set_view(struct cf__ring *r, void *mem, uint64_t capacity)
{
    r->sh = mem;
    r->data = (unsigned char *)mem + sizeof(struct cf__ring_shared);
    r->capacity = capacity;
    r->poll_ns = 0;
    r->may_poll = NULL;
    r->may_poll_arg = NULL;
}

int cf__ring_init(struct cf__ring *r, void *mem, size_t capacity)
{
    struct cf__ring_shared *sh = mem;
    int err;

    if (!mem || (uintptr_t)mem % 64 != 0 || cf__ring_footprint(capacity) == 0)
        return -EINVAL;
    memset(sh, 0, sizeof(*sh));
    err = cf__pmutex_init(&sh->lock);
    if (err)
        return err;
    sh->capacity = capacity;
    atomic_init(&sh->closed, 0);
    atomic_init(&sh->wake_gen, 0);
    atomic_init(&sh->poller, 0);
    atomic_init(&sh->poll_ended_ns, 0);
    atomic_init(&sh->head, 0);
    atomic_init(&sh->tail, 0);
    cf__pcond_init(&sh->not_empty);
    atomic_init(&sh->not_empty_woken, 0);
    cf__pcond_init(&sh->not_full);
    set_view(r, mem, capacity);
    return 0;
}

int cf__ring_attach(struct cf__ring *r, void *mem, size_t mem_size)
{
    const struct cf__ring_shared *sh = mem;
    uint64_t capacity;

    if (!mem || (uintptr_t)mem % 64 != 0 || mem_size < sizeof(*sh))
        return -EINVAL;
    capacity = sh->capacity;
    if (!capacity_ok(capacity) || cf__ring_footprint(capacity) > mem_size)
        return -EPROTO;
    set_view(r, mem, capacity);
    return 0;
}

size_t cf__ring_max_record(const struct cf__ring *r)
{
    return r->capacity / 8 - HDR;
}

/* Takes the ring lock. A previous owner that died (cf__pmutex_lock → 1)
 * needs no repair: it can only have been copying bytes outside
 * [tail, head) or into its own batch, and every change others can see is
 * one final store of head, tail, closed or a header's flags word. So we
 * just continue. */
static int lock_ring(struct cf__ring *r)
{
    int rc = cf__pmutex_lock(&r->sh->lock);

    return rc < 0 ? rc : 0;
}

static void unlock_ring(struct cf__ring *r)
{
    cf__pmutex_unlock(&r->sh->lock);
}

/* Head and tail as seen under the lock, checked: another process wrote them. */
static bool load_positions(const struct cf__ring *r, uint64_t *head, uint64_t *tail)
{
    *head = atomic_load_explicit(&r->sh->head, memory_order_relaxed);
    *tail = atomic_load_explicit(&r->sh->tail, memory_order_relaxed);
    return *tail <= *head && *head - *tail <= r->capacity && ((*head | *tail) & 7) == 0;
}

/* Called with the lock held after finding the shared state corrupt: its
 * contents can no longer be trusted, so nobody may use the ring again.
 * The caller broadcasts after unlocking. */
static void close_locked(struct cf__ring *r)
{
    atomic_store_explicit(&r->sh->closed, 1, memory_order_relaxed);
}

static void wake_everyone(struct cf__ring *r)
{
    cf__pcond_broadcast(&r->sh->not_empty);
    cf__pcond_broadcast(&r->sh->not_full);
}

/* Validates the header at `pos` (tail <= pos < head, pos 8-aligned) and
 * returns the bytes the record occupies, a PAD included; 0 if corrupt.
 * Nothing outside [pos, head) and the buffer is ever read as a result. */
static uint64_t check_record(const struct cf__ring *r, uint64_t pos, uint64_t head,
                             struct rec_hdr *h)
{
    uint64_t off = offset_of(r, pos), size;

    if (head - pos < HDR)
        return 0;
    memcpy(h, r->data + off, sizeof(*h));
    if (h->flags & ~KNOWN_FLAGS)
        return 0;
    if (h->flags & REC_PAD) {
        size = r->capacity - off;
        if (h->flags != REC_PAD || (uint64_t)h->len + HDR != size)
            return 0;
    } else {
        if (h->len > cf__ring_max_record(r))
            return 0;
        size = rec_size(h->len);
        if (size > r->capacity - off)
            return 0;
    }
    return size <= head - pos ? size : 0;
}

/* One round of waiting on `cv` with the lock held. Returns 0 to re-check
 * the predicate (lock held), -EAGAIN / -ETIMEDOUT (lock held), or
 * -ENOTRECOVERABLE (lock NOT held). A wait that timed out still returns 0
 * once, so a notification racing with the deadline is not thrown away. */
static int wait_turn(struct cf__ring *r, cf__pcond *cv, uint64_t deadline_ns)
{
    int rc;

    if (deadline_ns == 0)
        return -EAGAIN;
    if (deadline_ns != CF__NO_DEADLINE && cf__now_ns() >= deadline_ns)
        return -ETIMEDOUT;
    rc = cf__pcond_wait_counted(cv, cv == &r->sh->not_empty ? &r->sh->not_empty_woken : NULL,
                                &r->sh->lock, deadline_ns, 0, NULL);
    return rc == -ETIMEDOUT ? 0 : rc;
}

/* ---- polling -------------------------------------------------------------- */

bool cf__ring_poll_begin(struct cf__ring *r)
{
    int32_t none = 0;

    return atomic_compare_exchange_strong_explicit(&r->sh->poller, &none, (int32_t)getpid(),
                                                   memory_order_seq_cst, memory_order_relaxed);
}

void cf__ring_poll_end(struct cf__ring *r)
{
    atomic_store_explicit(&r->sh->poll_ended_ns, cf__now_ns(), memory_order_relaxed);
    /* Both this and the pusher's look at `poller` (signal_consumers) are
     * read-modify-writes of the one word, so one comes first in its
     * modification order: either the pusher reads 0 and wakes a sleeper,
     * or this exchange reads the pusher's write, synchronises with it and
     * so sees its record on the caller's re-check. (A fence pair would do
     * too, but ThreadSanitizer does not model fences.) */
    atomic_exchange_explicit(&r->sh->poller, 0, memory_order_acq_rel);
}

bool cf__ring_polled_within(const struct cf__ring *r, uint64_t ns)
{
    if (atomic_load_explicit(&r->sh->poller, memory_order_relaxed) != 0)
        return true;
    uint64_t ended = atomic_load_explicit(&r->sh->poll_ended_ns, memory_order_relaxed);
    return ended != 0 && cf__now_ns() - ended <= ns;
}

void cf__ring_forget_poller(struct cf__ring *r, int32_t pid)
{
    int32_t expected = pid;

    if (pid > 0 && atomic_compare_exchange_strong(&r->sh->poller, &expected, 0))
        wake_everyone(r);
}

void cf__ring_forget_notifier(struct cf__ring *r)
{
    cf__pcond_reset_woken(&r->sh->not_empty_woken);
    wake_everyone(r);
}

bool cf__ring_has_records(const struct cf__ring *r)
{
    return atomic_load_explicit(&r->sh->head, memory_order_acquire) !=
           atomic_load_explicit(&r->sh->tail, memory_order_acquire);
}

void cf__ring_notify(struct cf__ring *r)
{
    cf__pcond_signal_counted(&r->sh->not_empty, &r->sh->not_empty_woken);
}

/* After publishing records: wakes one sleeping consumer, unless one polls
 * (it will see them; see cf__ring_poll_begin) or one is woken already and
 * will see them when it takes the lock (cf__pcond_signal_counted: it
 * takes a batch and passes the signal on if it leaves records behind). */
static void signal_consumers(struct cf__ring *r)
{
    /* A read-modify-write, not a load: see cf__ring_poll_end. */
    if (atomic_fetch_or_explicit(&r->sh->poller, 0, memory_order_acq_rel) != 0)
        return;
    cf__pcond_signal_counted(&r->sh->not_empty, &r->sh->not_empty_woken);
}

/* Before sleeping in a pop with poll_ns set: watches the ring lock-free for
 * up to poll_ns (and not past the deadline). True when records (or a close
 * or wake_all) showed up. */
static bool poll_for_records(struct cf__ring *r, uint64_t deadline_ns, uint32_t gen)
{
    if (r->poll_ns == 0 || deadline_ns == 0 || cf__ring_has_records(r))
        return false;
    if ((r->may_poll && !r->may_poll(r->may_poll_arg)) || !cf__ring_poll_begin(r))
        return false;
    uint64_t end = cf__now_ns() + r->poll_ns;
    if (deadline_ns != CF__NO_DEADLINE && deadline_ns < end)
        end = deadline_ns;
    bool seen = false;
    for (unsigned i = 1;; i++) {
        if (cf__ring_has_records(r) || cf__ring_closed(r) ||
            atomic_load_explicit(&r->sh->wake_gen, memory_order_relaxed) != gen) {
            seen = true;
            break;
        }
        if (i % 64 == 0 && cf__now_ns() >= end)
            break;
        cf__cpu_relax();
    }
    cf__ring_poll_end(r);
    return seen;
}

/* ---- producers ---------------------------------------------------------- */

static int iov_total(const struct iovec *iov, int iovcnt, size_t max, size_t *len)
{
    size_t total = 0;

    if (iovcnt < 0 || (iovcnt > 0 && !iov))
        return -EINVAL;
    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len > max - total)
            return -EMSGSIZE;
        if (iov[i].iov_len && !iov[i].iov_base)
            return -EINVAL;
        total += iov[i].iov_len;
    }
    *len = total;
    return 0;
}

/* Bytes of PAD needed before a record of `need` bytes written at `head`,
 * or -1 if the record plus that PAD does not fit in the free space. */
static int64_t pad_for(const struct cf__ring *r, uint64_t head, uint64_t tail, uint64_t need)
{
    uint64_t contig = r->capacity - offset_of(r, head);
    uint64_t pad = need <= contig ? 0 : contig;

    return pad + need <= r->capacity - (head - tail) ? (int64_t)pad : -1;
}

static void put_hdr(struct cf__ring *r, uint64_t pos, uint32_t len, uint32_t flags)
{
    struct rec_hdr h = {.len = len, .flags = flags};

    memcpy(r->data + offset_of(r, pos), &h, sizeof(h));
}

/* Writes PAD (if any) and the record at `head`, all of it outside
 * [tail, head): invisible until the caller publishes the new head. */
static uint64_t write_record(struct cf__ring *r, uint64_t head, uint64_t pad,
                             const struct iovec *iov, int iovcnt, size_t len)
{
    unsigned char *p;

    if (pad) {
        put_hdr(r, head, (uint32_t)(pad - HDR), REC_PAD);
        head += pad;
    }
    put_hdr(r, head, (uint32_t)len, 0);
    p = r->data + offset_of(r, head) + HDR;
    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len)
            memcpy(p, iov[i].iov_base, iov[i].iov_len);
        p += iov[i].iov_len;
        if (i == 0)
            (void)CF__FAULT(CF__FAULT_RING_PUSH_PARTIAL); /* header, part of the bytes */
    }
    /* Zero the padding: no stale bytes of an older record leak out. */
    memset(p, 0, rec_size((uint32_t)len) - HDR - len);
    return head;
}

/* With the lock held: waits for room, returns the PAD size or an error
 * (-ENOTRECOVERABLE means the lock is no longer held). */
static int64_t wait_for_room(struct cf__ring *r, uint64_t need, uint64_t deadline_ns,
                             uint64_t *head)
{
    uint64_t tail;
    int64_t pad;
    int err;

    for (;;) {
        if (atomic_load_explicit(&r->sh->closed, memory_order_relaxed))
            return -EPIPE;
        if (!load_positions(r, head, &tail)) {
            close_locked(r);
            return -EBADMSG;
        }
        pad = pad_for(r, *head, tail, need);
        if (pad >= 0)
            return pad;
        err = wait_turn(r, &r->sh->not_full, deadline_ns);
        if (err)
            return err;
    }
}

int cf__ring_pushv(struct cf__ring *r, const struct iovec *iov, int iovcnt,
                   uint64_t deadline_ns, uint64_t *pos)
{
    uint64_t head, at;
    int64_t pad;
    size_t len;
    int err;

    err = iov_total(iov, iovcnt, cf__ring_max_record(r), &len);
    if (err)
        return err;
    err = lock_ring(r);
    if (err)
        return err;
    (void)CF__FAULT(CF__FAULT_RING_PUSH_LOCKED);
    pad = wait_for_room(r, rec_size((uint32_t)len), deadline_ns, &head);
    if (pad == -ENOTRECOVERABLE)
        return (int)pad;
    if (pad < 0) {
        unlock_ring(r);
        if (pad == -EBADMSG)
            wake_everyone(r);
        return (int)pad;
    }
    at = write_record(r, head, (uint64_t)pad, iov, iovcnt, len);
    /* Publication: the one store that makes the record visible. Release so
     * lock-free readers of head never run ahead of the bytes. */
    atomic_store_explicit(&r->sh->head, at + rec_size((uint32_t)len), memory_order_release);
    unlock_ring(r);
    /* One record satisfies one consumer; a consumer that leaves records
     * behind passes the signal on (see cf__ring_pop), so signal suffices. */
    signal_consumers(r);
    if (pos)
        *pos = at;
    return 0;
}

int cf__ring_push(struct cf__ring *r, const void *rec, size_t len, uint64_t deadline_ns,
                  uint64_t *pos)
{
    struct iovec iov = {.iov_base = (void *)rec, .iov_len = len};

    return cf__ring_pushv(r, &iov, 1, deadline_ns, pos);
}

/* ---- consumers ---------------------------------------------------------- */

void cf__ring_batch_init(struct cf__ring_batch *b)
{
    memset(b, 0, sizeof(*b));
}

void cf__ring_batch_free(struct cf__ring_batch *b)
{
    free(b->recs);
    free(b->buf);
    cf__ring_batch_init(b);
}

static int grow_recs(struct cf__ring_batch *b)
{
    size_t cap = b->recs_cap ? b->recs_cap * 2 : 16;
    struct cf__ring_record *recs;

    if (cap > SIZE_MAX / sizeof(*recs))
        return -ENOMEM;
    recs = realloc(b->recs, cap * sizeof(*recs));
    if (!recs)
        return -ENOMEM;
    b->recs = recs;
    b->recs_cap = cap;
    return 0;
}

static int grow_buf(struct cf__ring_batch *b, size_t need)
{
    size_t cap = b->buf_cap ? b->buf_cap : 4096;
    unsigned char *buf;

    if (need <= b->buf_cap && b->buf)
        return 0;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    buf = realloc(b->buf, cap);
    if (!buf)
        return -ENOMEM;
    b->buf = buf;
    b->buf_cap = cap;
    return 0;
}

/* Pass 1: validates headers from `tail` and lists up to `max` live records
 * in b->recs (data not yet set). *end is where the batch stops, *bytes the
 * buffer it needs. A full recs array that cannot grow just ends the batch. */
static int scan_batch(struct cf__ring *r, struct cf__ring_batch *b, size_t max, uint64_t tail,
                      uint64_t head, uint64_t *end, size_t *bytes)
{
    uint64_t pos = tail, size;
    struct rec_hdr h;
    size_t n = 0, total = 0;

    while (pos != head && n < max) {
        size = check_record(r, pos, head, &h);
        if (size == 0)
            return -EBADMSG;
        if (!(h.flags & (REC_PAD | CF__RING_REC_CANCELLED))) {
            if (n == b->recs_cap && grow_recs(b) < 0) {
                if (n == 0)
                    return -ENOMEM;
                break;
            }
            b->recs[n++] = (struct cf__ring_record){.pos = pos, .len = h.len};
            total += round8(h.len);
        }
        pos += size;
    }
    b->count = n;
    *end = pos;
    *bytes = total;
    return 0;
}

/* Pass 2: copies the payloads. Uses only the lengths validated in pass 1,
 * never re-reads a header, so a peer scribbling on the buffer meanwhile
 * can garble payload bytes but not move us out of bounds. */
static void copy_batch(struct cf__ring *r, struct cf__ring_batch *b)
{
    size_t off = 0;

    for (size_t i = 0; i < b->count; i++) {
        struct cf__ring_record *rec = &b->recs[i];

        if (rec->len)
            memcpy(b->buf + off, r->data + offset_of(r, rec->pos) + HDR, rec->len);
        rec->data = b->buf + off;
        off += round8(rec->len);
    }
}

static int take_batch(struct cf__ring *r, struct cf__ring_batch *b, size_t max, uint64_t tail,
                      uint64_t head, uint64_t *end)
{
    size_t bytes;
    int err;

    err = scan_batch(r, b, max, tail, head, end, &bytes);
    if (err)
        return err;
    /* At least a small buffer even for empty payloads: rec->data is then a
     * real pointer, safe to hand to memcpy with length 0. */
    if (b->count && grow_buf(b, bytes ? bytes : 8) < 0)
        return -ENOMEM;
    copy_batch(r, b);
    return 0;
}

/* With the lock held: waits until the ring has records. Returns 1 when it
 * has, 0 when cf__ring_wake_all interrupted the wait, or an error
 * (-ENOTRECOVERABLE means the lock is no longer held). */
static int wait_for_records(struct cf__ring *r, uint64_t deadline_ns, uint32_t gen,
                            uint64_t *head, uint64_t *tail)
{
    int err;

    for (;;) {
        if (!load_positions(r, head, tail)) {
            close_locked(r);
            return -EBADMSG;
        }
        if (*head != *tail)
            return 1;
        if (atomic_load_explicit(&r->sh->closed, memory_order_relaxed))
            return -EPIPE;
        if (atomic_load_explicit(&r->sh->wake_gen, memory_order_relaxed) != gen)
            return 0;
        err = wait_turn(r, &r->sh->not_empty, deadline_ns);
        if (err)
            return err;
    }
}

int cf__ring_pop(struct cf__ring *r, struct cf__ring_batch *b, size_t max_records,
                 uint64_t deadline_ns, cf__ring_claim_fn claim, void *claim_arg)
{
    uint64_t head, tail, end;
    int err;

    b->count = 0;
    if (max_records == 0)
        return -EINVAL;
    /* A wake_all from here on interrupts this call, the poll included. */
    uint32_t gen = atomic_load_explicit(&r->sh->wake_gen, memory_order_relaxed);
    poll_for_records(r, deadline_ns, gen);
    err = lock_ring(r);
    if (err)
        return err;
    err = wait_for_records(r, deadline_ns, gen, &head, &tail);
    if (err == -ENOTRECOVERABLE)
        return err;
    if (err <= 0)
        goto out_unlock;
    err = take_batch(r, b, max_records, tail, head, &end);
    if (err) {
        b->count = 0;
        if (err == -EBADMSG)
            close_locked(r);
        goto out_unlock;
    }
    if (b->count && claim)
        claim(claim_arg, b);
    if (b->count)
        (void)CF__FAULT(CF__FAULT_RING_POP_PARTIAL);
    /* Publication: the records are ours only from this store on; a consumer
     * that died before it took nothing. */
    atomic_store_explicit(&r->sh->tail, end, memory_order_release);
    unlock_ring(r);
    /* Wakes producers only if some sleep (cf__pcond checks). Broadcast:
     * the room freed may fit several waiting records of any size. */
    cf__pcond_broadcast(&r->sh->not_full);
    /* Records left behind (max_records reached): hand the push's signal on
     * to another consumer instead of leaving them to the next push. */
    if (end != head)
        signal_consumers(r);
    return 0;

out_unlock:
    unlock_ring(r);
    if (err == -EBADMSG)
        wake_everyone(r);
    return err;
}

int cf__ring_wait(struct cf__ring *r, uint64_t deadline_ns)
{
    uint64_t head, tail;
    uint32_t gen = atomic_load_explicit(&r->sh->wake_gen, memory_order_relaxed);
    int err = lock_ring(r);

    if (err)
        return err;
    err = wait_for_records(r, deadline_ns, gen, &head, &tail);
    if (err == -ENOTRECOVERABLE)
        return err;
    unlock_ring(r);
    if (err == -EBADMSG)
        wake_everyone(r);
    if (err == -EAGAIN)
        return -ETIMEDOUT;
    return err < 0 ? err : 0;
}

uint64_t cf__ring_bytes_used(const struct cf__ring *r)
{
    /* tail first: head only grows, so head - tail cannot go negative. */
    uint64_t tail = atomic_load_explicit(&r->sh->tail, memory_order_acquire);
    uint64_t head = atomic_load_explicit(&r->sh->head, memory_order_acquire);

    return head - tail <= r->capacity ? head - tail : r->capacity;
}

/* With the lock held: finds the record starting exactly at `pos` by walking
 * from tail (positions are only known by walking; cancels are rare). */
static int find_record(struct cf__ring *r, uint64_t pos, uint64_t head, uint64_t tail)
{
    struct rec_hdr h;
    uint64_t size;

    if (pos >= head || (pos & 7))
        return -EINVAL;
    while (tail < pos) {
        size = check_record(r, tail, head, &h);
        if (size == 0)
            return -EBADMSG;
        tail += size;
    }
    if (tail != pos)
        return -EINVAL;
    if (check_record(r, pos, head, &h) == 0)
        return -EBADMSG;
    return (h.flags & REC_PAD) ? -EINVAL : 0;
}

int cf__ring_cancel(struct cf__ring *r, uint64_t pos)
{
    uint64_t head, tail;
    struct rec_hdr h;
    int err;

    err = lock_ring(r);
    if (err)
        return err;
    if (!load_positions(r, &head, &tail))
        err = -EBADMSG;
    else if (pos < tail)
        err = -EALREADY;
    else
        err = find_record(r, pos, head, tail);
    if (err == 0) {
        /* One aligned word store under the lock: a canceller that dies
         * here leaves the flag either set or not, both consistent. */
        memcpy(&h, r->data + offset_of(r, pos), sizeof(h));
        h.flags |= CF__RING_REC_CANCELLED;
        memcpy(r->data + offset_of(r, pos), &h, sizeof(h));
    } else if (err == -EBADMSG) {
        close_locked(r);
    }
    unlock_ring(r);
    if (err == -EBADMSG)
        wake_everyone(r);
    return err;
}

bool cf__ring_taken(const struct cf__ring *r, uint64_t pos)
{
    return atomic_load_explicit(&r->sh->tail, memory_order_acquire) > pos;
}

void cf__ring_close(struct cf__ring *r)
{
    /* Set under the lock: a waiter checks `closed` and reads the event
     * count under it, so the broadcast below cannot slip between the two. */
    int err = lock_ring(r);

    atomic_store_explicit(&r->sh->closed, 1, memory_order_relaxed);
    if (err == 0)
        unlock_ring(r);
    wake_everyone(r);
}

bool cf__ring_closed(const struct cf__ring *r)
{
    return atomic_load_explicit(&r->sh->closed, memory_order_relaxed) != 0;
}

void cf__ring_wake_all(struct cf__ring *r)
{
    /* The generation tells sleeping consumers the wake-up was on purpose
     * (see cf__ring_pop); bumped under the lock for the same reason as
     * `closed` in cf__ring_close. */
    if (lock_ring(r) == 0) {
        atomic_fetch_add_explicit(&r->sh->wake_gen, 1, memory_order_relaxed);
        unlock_ring(r);
    }
    wake_everyone(r);
}
