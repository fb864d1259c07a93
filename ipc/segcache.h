/* Reusable side segments: large records travel in memfds that are kept and
 * written again, instead of a fresh sealed memfd per record (ipc/side.h).
 *
 * Why: on this kind of machine a fresh memfd costs far more than the copy
 * into it. Every page is faulted in by the writer (1.3-2 GB/s, against
 * 10-17 GB/s for memcpy into memory already touched), mapped again by the
 * reader (MAP_POPULATE of 64 MiB: ~10 ms) and freed by both (64 MiB: ~17
 * ms). A segment that is kept, with its mappings kept on both sides, costs
 * one memcpy per record after its first use.
 *
 * The price is the write seal: a kept segment is written again, so it can
 * only carry F_SEAL_SHRINK (its pages can never vanish under a reader: no
 * SIGBUS). Its bytes are immutable by protocol instead: the sender writes a
 * segment only while no receiver holds it. Every reader of these bytes is
 * bounds-checked against the mapping (serialize/, fuzzed), so a peer that
 * broke the protocol could make values wrong, never make us read outside.
 *
 * Layout of a kept segment: page 0 is a header (below), the record starts
 * at offset one page. A sender that packs [id prefix][record] puts the
 * prefix at the end of page 0, where receivers ignore it.
 *
 * Sender side (one cache per process, any thread): a spill buffer borrows a
 * free segment (cf__seg_lend), packs into the mapping, and on sending marks
 * it busy (cf__seg_sent). Whoever holds the received record clears `busy`
 * when done with it (cf__side_close -> cf__seg_release or a view's put):
 * then the sender may lend it again. A segment that stays busy (its holder
 * died with it, or never opened it) is simply never reused; the cache makes
 * new ones up to CF__SEG_SLOTS, and past that senders fall back to sealed
 * one-shot segments.
 *
 * Receiver side: mappings of other processes' segments are kept too
 * (struct cf__seg_view), keyed by (pid, fd, serial): the serial, unique per
 * segment within its sender, tells a segment from a later one that reused
 * the descriptor number. A view is unmapped when its sender has retired the
 * segment (header `retired`), when the sender is gone (cf__seg_forget_pid),
 * or to make room.
 *
 * Memory: a free segment is retired when it has not been lent for
 * CF__SEG_IDLE_NS, at the next lend, or by cf__seg_trim (a pool's destroy);
 * a much larger segment than a record needs is passed over while a slot is
 * empty, so it can go idle. The sender's mappings are MADV_DONTFORK and a
 * fork's child closes the descriptors it inherited (pthread_atfork) and
 * ignores releases of its parent's segments. Receivers' views are
 * inherited (a child may read a result its parent had): the child unmaps
 * the ones not in use and never clears `busy` for its parent.
 *
 * Users: ipc/spill.c (lend, grow, send), ipc/side.c (release, views),
 * executor/process_pool.c (forget a dead worker's views, trim).
 * Tests: tests/test_segcache.c, tests/test_spill_submit.c.
 */
#ifndef CF_IPC_SEGCACHE_H
#define CF_IPC_SEGCACHE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CF__SEG_SLOTS 4
/* Long enough that workers taking turns with multi-second records (a 1 GiB
 * record's first pass over fresh pages) find their segments still kept. */
#define CF__SEG_IDLE_NS (30000ull * 1000 * 1000)
/* How often an idle process keeping segments looks for idle ones. */
#define CF__SEG_TICK_NS (5000ull * 1000 * 1000)
#define CF__SEG_MAGIC 0x31676573667563ull /* "cufseg1" */

/* Page 0 of a kept segment. */
struct cf__seg_header {
    uint64_t magic;
    uint64_t serial;
    _Atomic uint32_t busy;    /* 1 from sending until the holder is done */
    _Atomic uint32_t retired; /* set by the sender before it lets go */
    _Atomic uint64_t released_ns; /* CLOCK_MONOTONIC (system-wide) of the
                                   * last release: idle time counts from it */
};

/* A segment in the sender's cache. While lent, the borrower (one spill
 * buffer) owns map/map_len and may grow both. */
struct cf__seg {
    int fd;             /* -1: slot empty */
    unsigned char *map; /* the whole file, read-write */
    size_t map_len;     /* = the file's size: one page + the record room */
    size_t warm;        /* record bytes [0, warm) have been written before */
    uint64_t serial;
    uint64_t lent_ns;   /* when it was last lent (idle time counts from
                         * this or the last release, the later) */
    bool lent;
};

/* A receiver's kept mapping of another process's segment. */
struct cf__seg_view {
    struct cf__seg_view *next;
    pid_t pid;
    int fd;
    uint64_t serial;
    const unsigned char *map;
    size_t map_len;
    unsigned refs;
    bool writable;  /* a put may clear `busy` (false in a fork's child) */
    bool forget;    /* unmap once refs drop to 0 */
};

/* Sender: a free segment for a record of `need` bytes (the record, not the
 * header page), marked lent: the free one that fits best, else the largest
 * free one (the borrower grows it), else a new one while a slot is empty.
 * NULL when every slot is busy or lent, or a new segment could not be made
 * (the caller falls back to a sealed one-shot segment). */
struct cf__seg *cf__seg_lend(size_t need);

/* The page size (offset of the record in a kept segment), and n rounded
 * up to whole pages (0 when that overflows). ipc/spill.c sizes its
 * memfds with them too. */
size_t cf__seg_page(void);
size_t cf__seg_round_pages(size_t n);

/* Sender: `seg` (lent) now carries a record of `len` bytes about to be
 * announced: marks it busy and takes it back from the borrower. */
void cf__seg_sent(struct cf__seg *seg, size_t len);

/* Sender: the borrower gives `seg` back unsent. */
void cf__seg_return(struct cf__seg *seg);

/* Sender: the borrower could not use `seg` (growing it failed): it is
 * retired rather than lent again in an unknown state. */
void cf__seg_discard(struct cf__seg *seg);

/* The holder of a sent record (segment `serial`) is done with it: the
 * sender may reuse it. A no-op when the slot no longer holds that segment
 * (a fork's child releasing what its parent sent). */
void cf__seg_release(struct cf__seg *seg, uint64_t serial);

/* Sender: gives up a sent segment whose receiver may still be reading it
 * (a task cancelled or failed while a worker may hold it): it is never
 * written again. Retired at once; its memory goes when the receiver's
 * view does. Same no-op rule as cf__seg_release. */
void cf__seg_abandon(struct cf__seg *seg, uint64_t serial);

/* Receiver: a mapping of segment (pid, fd, serial) covering a record of
 * `size` bytes at `offset`; *out gets a view with one more reference.
 * Opens /proc/<pid>/fd/<fd> only when no kept view matches. Returns 0, or
 * -EINVAL (bad pid/fd, serial 0), -EPROTO (not a kept segment of that
 * serial, offset not one page, too small), -errno. `writable`: map
 * read-write, so that cf__seg_view_put may clear busy (the parent does;
 * workers map read-only). */
int cf__seg_view_get(pid_t pid, int fd, uint64_t serial, uint64_t offset, uint64_t size,
                     bool writable, struct cf__seg_view **out);

/* Drops a reference taken by cf__seg_view_get; `release` (writable views
 * only) tells the sender the record is done with. */
void cf__seg_view_put(struct cf__seg_view *view, bool release);

/* Receiver: process `pid` is gone: unmaps its views (those in use once
 * their last reference goes). */
void cf__seg_forget_pid(pid_t pid);

/* Sender: retires every free segment now (not the lent or busy ones). */
void cf__seg_trim(void);

/* Housekeeping for a process that may sit idle (the parent's collector, a
 * worker between batches): retires free segments idle for more than
 * CF__SEG_IDLE_NS and unmaps views of retired ones, so that memory goes
 * back without waiting for the next large record. */
void cf__seg_tick(void);

/* Whether this process keeps any segment or view (then it should call
 * cf__seg_tick now and then; otherwise there is nothing to give back). */
bool cf__seg_holding(void);

/* Turns lending on or off for this process (and children forked later);
 * returns the previous setting. Off, senders use sealed one-shot segments
 * only. On by default; tests of the one-shot path turn it off. */
bool cf__seg_enable(bool on);

/* Counters for tests and the docs (this process, since it started). */
struct cf__seg_stats {
    uint64_t created, lent, reused, retired;
    uint64_t views_opened, views_reused;
};
void cf__seg_stats(struct cf__seg_stats *out);

#endif
