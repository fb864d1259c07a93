/* Spill buffers: a msgpack write target that starts on the heap and, once
 * the record outgrows the ring, moves into a memfd that is then sealed and
 * announced in place as a side segment (ipc/side.h).
 *
 * Why: a large record used to be packed into a heap buffer and then copied
 * into a fresh memfd, so every byte was copied twice and twice landed on
 * freshly faulted pages. Packed straight into the memfd it is copied once.
 * The memfd grows with ftruncate + mremap (the bytes never move), and large
 * appends go in with pwrite, which fills fresh page-cache pages without a
 * page fault per page.
 *
 * Layout: `sb` is a real msgpack_sbuffer (data, size, alloc) and comes
 * first, so code that packs through a msgpack_sbuffer and rolls sb.size
 * back on failure (workers/execute.c) works unchanged: sb.data is always
 * one contiguous view of bytes [0, sb.size), and a smaller sb.size simply
 * drops the tail. The first `head` bytes (the ring's id prefix, when the
 * parent packs [id][record]) are part of that view but not of the segment:
 * the segment holds [head, sb.size).
 *
 * One owner, one thread; no locks. Users: workers/worker.c (its result
 * buffer) and the parent's submit path (executor/executor.c, with the id
 * prefix as head). Tests: tests/test_spill.c, tests/test_spill_submit.c.
 */
#ifndef CF_IPC_SPILL_H
#define CF_IPC_SPILL_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>

struct cf__side;

struct cf__spill {
    msgpack_sbuffer sb;  /* first: the view packers and execute.c use */
    size_t limit;        /* beyond this many bytes the record moves to a memfd */
    size_t head;         /* leading bytes that stay out of the segment */
    char *heap;          /* the heap buffer, kept across records */
    size_t heap_cap;
    int fd;              /* the memfd, or -1 while on the heap */
    unsigned char *base; /* memfd mode: the mapping (head page, then the file) */
    size_t head_map;     /* bytes of anonymous head page before the file (0 or a page) */
    size_t file_cap;     /* size of the memfd, a multiple of the page size */
    int err;             /* why the last write failed (-errno); 0 if none did */
    bool reuse;          /* take kept segments (ipc/segcache.h) when there is one */
    struct cf__seg *seg; /* the kept segment being packed into, or NULL */
    size_t file_off;     /* where byte `head` of the view lies in the file */
};

/* An empty buffer on the heap. `limit` >= `head`; head <= 4096. */
void cf__spill_init(struct cf__spill *sp, size_t limit, size_t head);

/* Lets records that spill go into kept, reusable segments (ipc/segcache.h)
 * rather than a fresh sealed memfd each (which stays the fallback when no
 * kept segment is free). Off after init. */
void cf__spill_set_reuse(struct cf__spill *sp, bool reuse);

/* msgpack_packer_write callback: `data` is the struct cf__spill. Appends at
 * sb.size; returns 0 or -1 (the reason in sp->err). A failed write appends
 * nothing: a packer must not go on as if it had (every user stops at the
 * first failure, or rolls sb.size back). */
int cf__spill_write(void *data, const char *buf, size_t len);

/* Appends len bytes for the caller to write in place (their content is
 * undefined until then: a kept segment holds an older record's bytes) and
 * returns where they are; NULL on failure (the reason in sp->err, nothing
 * appended). They stay where they are until the next append, seal, reset
 * or destroy. Large ones in a fresh memfd are faulted in by the caller's
 * writes, page by page (no pwrite here). */
void *cf__spill_reserve(struct cf__spill *sp, size_t len);

/* Whether the bytes now live in a memfd. */
static inline bool cf__spill_spilled(const struct cf__spill *sp)
{
    return sp->fd >= 0;
}

/* Turns bytes [head, sb.size) into a sealed side segment in *out (out->fd
 * to announce, out->size = sb.size - head). A spilled record is sealed in
 * place (no copy); a record still on the heap is copied into a new segment
 * (cf__side_create). A record in a kept segment is marked sent instead
 * (out->serial, out->offset, out->seg set: see ipc/segcache.h). Either way the buffer is empty afterwards, back on the
 * heap. Returns 0 or -errno; on failure the bytes are dropped as well and
 * out->fd is -1. */
int cf__spill_seal(struct cf__spill *sp, struct cf__side *out);

/* For a record that stayed on the heap: hands its bytes over (malloc'd, the
 * caller frees them; *len their count) and leaves the buffer empty, with no
 * heap buffer of its own. NULL (and *len 0) when the record spilled or the
 * buffer has no heap buffer. */
void *cf__spill_take(struct cf__spill *sp, size_t *len);

/* Empties the buffer and returns it to the heap, releasing a memfd that was
 * never announced. */
void cf__spill_reset(struct cf__spill *sp);

/* Releases everything; the buffer must be initialised again before use. */
void cf__spill_destroy(struct cf__spill *sp);

#ifdef CF_FAULT_INJECTION
/* Test hook: makes the nth (1-based) system call of kind `op` made by spill
 * code in this process from now on fail with `err`; nth 0 disarms. */
enum cf__spill_op {
    CF__SPILL_OP_CREATE, /* memfd_create */
    CF__SPILL_OP_GROW,   /* ftruncate to a larger size */
    CF__SPILL_OP_REMAP,  /* mremap when growing */
    CF__SPILL_OP_WRITE,  /* pwrite of a large append */
    CF__SPILL_OP_SEAL,   /* sealing a spilled record */
    CF__SPILL_OPS
};
void cf__spill_fault_arm(enum cf__spill_op op, unsigned nth, int err);
#endif

#endif
