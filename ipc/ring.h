/* A ring of variable-length records in shared memory, many producers and
 * many consumers in any processes, guarded by one robust mutex.
 *
 * Layout: struct cf__ring_shared (lock, positions, event counts, each hot
 * word on its own cache line) followed by `capacity` data bytes. Positions
 * are 64-bit and only grow; offset = pos & (capacity - 1). Each record is an
 * 8-byte header {u32 len, u32 flags} followed by len payload bytes padded to
 * 8. A record that would cross the end is preceded by a PAD record filling
 * the rest of the buffer, so every payload is contiguous.
 *
 * Publication rule: a producer copies the whole record under the lock and
 * only then advances `head`; a consumer copies records out under the lock
 * and only then advances `tail`. A process that dies half-way leaves the
 * positions untouched, so nothing half-written is ever seen and nothing is
 * half-consumed; the next locker gets EOWNERDEAD and simply goes on.
 * Every length read from the buffer is validated against head, tail and the
 * capacity before use: another process wrote it.
 *
 * The shared part holds no pointers; struct cf__ring is one process's view.
 */
#ifndef CF_IPC_RING_H
#define CF_IPC_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "ipc/pshared.h"

#define CF__RING_MIN_CAPACITY 4096u
#define CF__RING_REC_CANCELLED 0x1u /* flag: skipped by consumers */

struct cf__ring_shared; /* defined in ring.c; its first member is the
                          * cf__pmutex guarding the ring (tests rely on it) */

struct cf__ring {
    struct cf__ring_shared *sh;
    unsigned char *data;
    uint64_t capacity; /* power of two */
    /* Polling (see cf__ring_pop): a consumer that finds the ring empty
     * first watches it lock-free for up to poll_ns (0, init's default:
     * never) before it sleeps, when may_poll (NULL: always) agrees. */
    uint64_t poll_ns;
    bool (*may_poll)(void *arg);
    void *may_poll_arg;
};

/* Bytes of shared memory a ring of `capacity` data bytes needs (a multiple
 * of 64); 0 when capacity is not a power of two in [CF__RING_MIN_CAPACITY,
 * 2^32]. */
size_t cf__ring_footprint(size_t capacity);

/* Initialises a ring in `mem` (cf__ring_footprint(capacity) bytes, 64-byte
 * aligned, e.g. inside a cf__shm region). capacity: power of two >=
 * CF__RING_MIN_CAPACITY. Returns 0 or -EINVAL / -errno. */
int cf__ring_init(struct cf__ring *r, void *mem, size_t capacity);

/* Fills a view of a ring another process initialised in `mem` (mem_size
 * bytes mapped), e.g. after exec. A forked child can simply use its copy of
 * the parent's struct cf__ring. The shared capacity is validated against
 * mem_size. Returns 0, -EINVAL or -EPROTO (not a valid ring). poll_ns is 0. */
int cf__ring_attach(struct cf__ring *r, void *mem, size_t mem_size);

/* Largest payload pushed inline: capacity / 8 - 8. Bigger records must go
 * through a side segment (ipc/side.h). */
size_t cf__ring_max_record(const struct cf__ring *r);

/* Appends one record made of the concatenation of iov[0..iovcnt). Waits for
 * room until `deadline_ns` (0: do not wait; CF__NO_DEADLINE: forever).
 * Returns 0 and the record's position in *pos (if not NULL); -EMSGSIZE
 * (payload > max_record), -EAGAIN (full and deadline 0), -ETIMEDOUT,
 * -EPIPE (ring closed), -EBADMSG (corrupt positions: the ring is closed),
 * -EINVAL (iovcnt < 0, NULL base with a non-zero length),
 * -ENOTRECOVERABLE. A cf__ring_wake_all does not interrupt a waiting push. */
int cf__ring_pushv(struct cf__ring *r, const struct iovec *iov, int iovcnt,
                   uint64_t deadline_ns, uint64_t *pos);
int cf__ring_push(struct cf__ring *r, const void *rec, size_t len, uint64_t deadline_ns,
                  uint64_t *pos);

/* One record copied out by a consumer. `data` points into the batch's
 * buffer and stays valid until the next pop into the same batch. */
struct cf__ring_record {
    uint64_t pos;
    uint32_t flags;
    uint32_t len;
    const unsigned char *data;
};

struct cf__ring_batch {
    struct cf__ring_record *recs;
    size_t count;
    size_t recs_cap;
    unsigned char *buf; /* owned; grown as needed */
    size_t buf_cap;
};

void cf__ring_batch_init(struct cf__ring_batch *b);
void cf__ring_batch_free(struct cf__ring_batch *b);

/* Called under the ring lock after the records were copied into `b` and
 * before `tail` advances: lets a worker note what it took, atomically with
 * taking it. */
typedef void (*cf__ring_claim_fn)(void *arg, const struct cf__ring_batch *b);

/* Takes up to `max_records` records (at least 1) into `b`, waiting until
 * at least one is available or the deadline passes. Cancelled records are
 * consumed but not returned (so a batch may be empty when everything taken
 * was cancelled: returns 0 with b->count == 0). Returns 0, -EAGAIN (empty and
 * deadline 0), -ETIMEDOUT, -EPIPE (ring closed and empty), -EBADMSG (a
 * corrupt header: the ring is closed, since its contents can no longer be
 * trusted), -ENOMEM, -EINVAL (max_records 0), -ENOTRECOVERABLE. `claim` may
 * be NULL; it is called only for a non-empty batch. A cf__ring_wake_all made
 * while this call waits returns 0 with b->count == 0 (one made before the
 * call is not seen: close the ring or use a deadline for events that must
 * not be missed). Each payload in b->buf starts 8-byte aligned. */
int cf__ring_pop(struct cf__ring *r, struct cf__ring_batch *b, size_t max_records,
                 uint64_t deadline_ns, cf__ring_claim_fn claim, void *claim_arg);

/* Polling. A consumer may watch the ring lock-free instead of sleeping on
 * it; while it does, a push skips the futex wake-up (the poller sees the
 * record itself), which saves the pusher a system call and the record a
 * wake-up latency. One poller per ring at a time, named by its pid so that
 * a poller killed mid-poll can be forgotten (cf__ring_forget_poller).
 *
 * cf__ring_poll_begin registers the caller; false when another consumer
 * polls already (then just pop or sleep as usual). cf__ring_poll_end
 * unregisters; a push that saw the registration woke nobody, so after
 * poll_end the caller must take what is left (pop with deadline 0 until
 * the ring is empty, or sleep in pop/wait, which re-checks under the lock)
 * or pass it on to a sleeping consumer (cf__ring_notify). cf__ring_pop
 * polls by itself when poll_ns is set; these are for consumers that poll
 * while doing other work (the parent's result ring). */
bool cf__ring_poll_begin(struct cf__ring *r);
void cf__ring_poll_end(struct cf__ring *r);
/* A poller of process `pid` died: unregisters it and wakes every sleeper
 * (pushes may have skipped their wake-ups for it). No-op otherwise. */
void cf__ring_forget_poller(struct cf__ring *r, int32_t pid);
/* A process that used the ring may have died while notifying (see
 * cf__pcond_reset_woken): forgets the wake-ups its event counts believe
 * are on their way, then wakes every sleeper, so that none is left asleep
 * by a wake-up that was counted but never sent. */
void cf__ring_forget_notifier(struct cf__ring *r);
/* True when a consumer polls the ring now or stopped less than `ns` ago. */
bool cf__ring_polled_within(const struct cf__ring *r, uint64_t ns);
/* Wakes one sleeping consumer, poller or not (see cf__ring_poll_begin). */
void cf__ring_notify(struct cf__ring *r);
/* True when the ring holds records (lock-free; cancelled ones count). */
bool cf__ring_has_records(const struct cf__ring *r);

/* Waits, without taking anything, until the ring holds records, it is
 * closed, cf__ring_wake_all is called, or the deadline passes. Returns 0
 * (look again: the records may be gone to another consumer by then),
 * -ETIMEDOUT, -EPIPE (closed and empty), -EBADMSG, -ENOTRECOVERABLE. Never
 * polls. */
int cf__ring_wait(struct cf__ring *r, uint64_t deadline_ns);

/* Records currently in the ring (head - tail in records is not tracked; this
 * is the number of bytes in use, a cheap hint for batch sizing). */
uint64_t cf__ring_bytes_used(const struct cf__ring *r);

/* Marks the record at `pos` cancelled if no consumer has taken it yet.
 * Returns 0 when it did, -EALREADY when it was already taken, -EINVAL when
 * pos is not a record position in the ring, -EBADMSG (a corrupt header met
 * on the way: the ring is closed), -ENOTRECOVERABLE. */
int cf__ring_cancel(struct cf__ring *r, uint64_t pos);

/* True once a consumer has taken the record at `pos` (tail > pos). Lock-free. */
bool cf__ring_taken(const struct cf__ring *r, uint64_t pos);

/* Closes the ring: pushes fail with -EPIPE; pops drain what is left, then
 * fail with -EPIPE. Wakes every waiter. Idempotent. */
void cf__ring_close(struct cf__ring *r);
bool cf__ring_closed(const struct cf__ring *r);

/* Wakes every consumer and producer without changing the ring (they
 * re-check whatever external condition they wait on). */
void cf__ring_wake_all(struct cf__ring *r);

#endif
