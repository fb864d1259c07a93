/* Spill buffers (ipc/spill.h): a heap buffer that moves into a memfd when
 * the record outgrows `limit`, grows there without copying, and is sealed
 * in place as a side segment.
 *
 * Owned by whoever packs one record at a time (a worker's result buffer,
 * the parent's submit path); single-threaded, no locks. Sealing itself is
 * ipc/side.c's (cf__side_seal), so senders seal one way only.
 *
 * The view sb.data must stay one contiguous range even though its first
 * `head` bytes are not part of the segment: with a head, the mapping is one
 * anonymous page followed by the memfd, and sb.data points `head` bytes
 * before the end of that page.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipc/copy.h"
#include "ipc/segcache.h"
#include "ipc/side.h"
#include "ipc/spill.h"

/* Appends at least this long go in with pwrite rather than through the
 * mapping: the kernel then fills fresh page-cache pages directly, where a
 * memcpy would take one page fault per 4 KiB page (measured on a fresh
 * 1 GiB memfd: write ~2 GB/s, fault-and-copy ~1 GB/s). */
#define PWRITE_MIN ((size_t)64 << 10)
/* The smallest memfd we make: below it the memfd's fixed costs dominate. */
#define FILE_MIN ((size_t)256 << 10)
#define HEAP_MIN ((size_t)8 << 10)

#ifdef CF_FAULT_INJECTION
static struct {
    unsigned nth[CF__SPILL_OPS];
    int err[CF__SPILL_OPS];
} faults;

void cf__spill_fault_arm(enum cf__spill_op op, unsigned nth, int err)
{
    faults.nth[op] = nth;
    faults.err[op] = err;
}

/* 0, or the errno an armed hook wants this call to fail with. */
static int fault(enum cf__spill_op op)
{
    if (faults.nth[op] == 0 || --faults.nth[op] > 0)
        return 0;
    return faults.err[op];
}
#define FAULT(op) fault(op)
#else
#define FAULT(op) 0
#endif

static void to_heap(struct cf__spill *sp)
{
    sp->fd = -1;
    sp->seg = NULL;
    sp->file_off = 0;
    sp->base = NULL;
    sp->head_map = 0;
    sp->file_cap = 0;
    sp->sb.data = sp->heap;
    sp->sb.alloc = sp->heap_cap;
    sp->sb.size = 0;
}

void cf__spill_init(struct cf__spill *sp, size_t limit, size_t head)
{
    sp->limit = limit < head ? head : limit;
    sp->head = head;
    sp->heap = NULL;
    sp->heap_cap = 0;
    sp->err = 0;
    sp->reuse = false;
    to_heap(sp);
}

void cf__spill_set_reuse(struct cf__spill *sp, bool reuse)
{
    sp->reuse = reuse;
}

static int fail(struct cf__spill *sp, int err)
{
    sp->err = err;
    return -1;
}

static int pwrite_all(int fd, const char *p, size_t len, size_t off)
{
    int err = FAULT(CF__SPILL_OP_WRITE);
    return err ? -err : cf__side_pwrite(fd, p, len, off);
}

/* Copies buf into the view at offset `at`: the part in the segment
 * (offsets >= head) with pwrite when large, the rest through the mapping. */
static int put(struct cf__spill *sp, size_t at, const char *buf, size_t len)
{
    if (len == 0) /* buf may be NULL then (an empty heap moving to a memfd) */
        return 0;
    /* A kept segment's bytes written before are mapped and faulted in:
     * memcpy there runs at memory speed. */
    if (sp->fd < 0 || len < PWRITE_MIN || (sp->seg && at + len <= sp->head + sp->seg->warm)) {
        cf__copy(sp->sb.data + at, buf, len);
        return 0;
    }
    if (at < sp->head) { /* only after a rollback into the head */
        size_t n = sp->head - at;
        memcpy(sp->sb.data + at, buf, n);
        at += n, buf += n, len -= n;
    }
    return pwrite_all(sp->fd, buf, len, sp->file_off + (at - sp->head));
}

static int grow_heap(struct cf__spill *sp, size_t need)
{
    size_t cap = sp->heap_cap ? sp->heap_cap : HEAP_MIN;
    while (cap < need && cap <= SIZE_MAX / 2)
        cap *= 2;
    if (cap > sp->limit)
        cap = sp->limit; /* need <= limit here */
    if (cap < need)
        cap = need;
    char *p = realloc(sp->heap, cap);
    if (!p)
        return -ENOMEM;
    sp->heap = sp->sb.data = p;
    sp->heap_cap = sp->sb.alloc = cap;
    return 0;
}

/* A kept segment goes back to the cache with its (maybe grown) mapping. */
static void give_back(struct cf__spill *sp)
{
    sp->seg->map = sp->base;
    sp->seg->map_len = sp->head_map + sp->file_cap;
}

static void drop_memfd(struct cf__spill *sp)
{
    if (sp->fd < 0)
        return;
    if (sp->seg) {
        give_back(sp);
        cf__seg_return(sp->seg);
        return;
    }
    munmap(sp->base, sp->head_map + sp->file_cap);
    close(sp->fd);
}

/* A process forked while a record is being packed (a pool's fork server,
 * the user's fork) must not inherit the writable shared mapping: the
 * kernel refuses F_SEAL_WRITE while any process maps the memfd writable,
 * so the record could not be sealed, and the child would pin the memory.
 * (mremap keeps the flag on the mapping.) */
static void keep_from_children(void *base, size_t len)
{
    (void)madvise(base, len, MADV_DONTFORK);
}

/* ThreadSanitizer does not intercept mremap (google/sanitizers#1099): the
 * shadow of a range that mremap moves a mapping into, or grows it over,
 * keeps the access history of whatever was mapped there before, and a
 * later access is reported as racing with that other mapping's. Mapping
 * the same file over itself through the libc mmap, which TSan does
 * intercept, resets the shadow; the bytes are the file's, untouched. Only
 * in TSan builds. */
static void after_mremap(void *at, size_t len, int fd)
{
#if defined(__SANITIZE_THREAD__)
    (void)mmap(at, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
#else
    (void)at, (void)len, (void)fd;
#endif
}

/* Moves the bytes (and the view) to `base`, where the record part starts
 * at file offset `file_off`; on failure the bytes stay on the heap. */
static int adopt(struct cf__spill *sp, int fd, unsigned char *base, size_t head_map,
                 size_t cap, size_t file_off)
{
    char *old = sp->sb.data;
    size_t size = sp->sb.size;
    sp->fd = fd;
    sp->base = base;
    sp->head_map = head_map;
    sp->file_cap = cap;
    sp->file_off = file_off;
    sp->sb.data = (char *)base + head_map - sp->head;
    sp->sb.alloc = sp->head + cap;
    sp->sb.size = 0;
    int err = put(sp, 0, old, size);
    sp->sb.size = size;
    return err;
}

static int grow_kept(struct cf__spill *sp, size_t cap);

/* Moves the bytes into a kept segment (ipc/segcache.h) with room for `want`
 * record bytes. 1 when none is free or it could not be used (the caller
 * makes a fresh memfd), else 0. */
static int to_kept(struct cf__spill *sp, size_t want)
{
    struct cf__seg *seg = cf__seg_lend(want);
    if (!seg)
        return 1;
    size_t page = cf__seg_page();
    size_t size = sp->sb.size;
    sp->seg = seg;
    int err = adopt(sp, seg->fd, seg->map, page, seg->map_len - page, page);
    if (err == 0 && sp->file_cap < want)
        err = grow_kept(sp, want);
    if (err) {
        /* The bytes are still on the heap. A fresh memfd may do better
         * (and tests of the one-shot path see its own failures); this
         * segment is not lent again in whatever state it is in. */
        give_back(sp);
        cf__seg_discard(seg);
        to_heap(sp);
        sp->sb.size = size;
        return 1;
    }
    return 0;
}

/* Moves the bytes into a new memfd of room for `need` bytes in all. */
static int to_memfd(struct cf__spill *sp, size_t need)
{
    size_t head = sp->head, body = sp->sb.size > head ? sp->sb.size - head : 0;
    size_t want = need - head, cap;
    int err;

    if (want < FILE_MIN)
        want = FILE_MIN;
    if (want < 2 * body)
        want = 2 * body;
    if (!(cap = cf__seg_round_pages(want)) || cap > (size_t)INT64_MAX)
        return -ENOMEM;
    if (sp->reuse && (err = to_kept(sp, cap)) <= 0)
        return err;
    int fd = (err = FAULT(CF__SPILL_OP_CREATE)) ? -err : cf__side_memfd();
    if (fd < 0)
        return fd;
    if ((err = FAULT(CF__SPILL_OP_GROW)) || ftruncate(fd, (off_t)cap) < 0) {
        err = err ? -err : -errno;
        goto out_close;
    }
    size_t head_map = head ? cf__seg_page() : 0;
    unsigned char *base;
    if (head_map) {
        /* Reserve the whole range, then lay the memfd over all but the first
         * page, which stays private and holds the head. */
        base = mmap(NULL, head_map + cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                    -1, 0);
        if (base == MAP_FAILED) {
            err = -errno;
            goto out_close;
        }
        if (mmap(base + head_map, cap, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) ==
            MAP_FAILED) {
            err = -errno;
            munmap(base, head_map + cap);
            goto out_close;
        }
    } else {
        base = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (base == MAP_FAILED) {
            err = -errno;
            goto out_close;
        }
    }
    keep_from_children(base, head_map + cap);
    size_t size = sp->sb.size;
    err = adopt(sp, fd, base, head_map, cap, 0);
    if (err) {
        drop_memfd(sp);
        to_heap(sp); /* the bytes are still on the heap */
        sp->sb.size = size;
        return err;
    }
    return 0;

out_close:
    close(fd);
    return err;
}

/* Grows the memfd to room for `need` bytes in all; the bytes stay where
 * they are in the file, and mremap moves page tables, not pages. */
static int grow_memfd(struct cf__spill *sp, size_t need)
{
    size_t cap = sp->file_cap, want = need - sp->head;
    int err;

    if (want < cap * 2 && cap <= SIZE_MAX / 2)
        want = cap * 2;
    if (!(cap = cf__seg_round_pages(want)) || cap > (size_t)INT64_MAX)
        return -ENOMEM;
    if (sp->seg)
        return grow_kept(sp, cap);
    if ((err = FAULT(CF__SPILL_OP_GROW)) || ftruncate(sp->fd, (off_t)cap) < 0)
        return err ? -err : -errno;
    unsigned char *file = sp->base + sp->head_map, *base;
    if ((err = FAULT(CF__SPILL_OP_REMAP))) {
        errno = err;
        base = MAP_FAILED;
    } else if (!sp->head_map) {
        if ((base = mremap(file, sp->file_cap, cap, MREMAP_MAYMOVE)) != MAP_FAILED)
            after_mremap(base, cap, sp->fd);
    } else if (mremap(file, sp->file_cap, cap, 0) != MAP_FAILED) {
        base = sp->base; /* grown in place */
        after_mremap(file, cap, sp->fd);
    } else {
        /* Move to a new range: a fresh head page (the head is copied, at
         * most one page) followed by a new mapping of the whole file (its
         * pages stay where they are; only page-table entries are rebuilt,
         * lazily, for bytes touched again). */
        base = mmap(NULL, sp->head_map + cap, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (base != MAP_FAILED) {
            if (mmap(base + sp->head_map, cap, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
                     sp->fd, 0) == MAP_FAILED) {
                err = errno;
                munmap(base, sp->head_map + cap);
                errno = err;
                base = MAP_FAILED;
            } else {
                memcpy(base, sp->base, sp->head_map);
                munmap(sp->base, sp->head_map + sp->file_cap);
            }
        }
    }
    /* On failure the old mapping is intact; the file keeps its new size,
     * which is harmless (sealing cuts it to the record). */
    if (base == MAP_FAILED)
        return -errno;
    keep_from_children(base, sp->head_map + cap);
    sp->base = base;
    sp->file_cap = cap;
    sp->sb.data = (char *)base + sp->head_map - sp->head;
    sp->sb.alloc = sp->head + cap;
    return 0;
}

/* A kept segment is one mapping of the whole file (header page first), so
 * it grows with one mremap. `cap`: record room wanted, in whole pages. */
static int grow_kept(struct cf__spill *sp, size_t cap)
{
    size_t len = sp->head_map + cap;
    struct stat st;
    int err;
    if (cap > (size_t)INT64_MAX - sp->head_map)
        return -ENOMEM;
    /* The file may be larger than our mapping already (a grow whose
     * mremap failed): it cannot shrink (F_SEAL_SHRINK), nor need it. */
    if (fstat(sp->fd, &st) < 0)
        return -errno;
    if ((err = FAULT(CF__SPILL_OP_GROW)) ||
        ((uint64_t)st.st_size < (uint64_t)len && ftruncate(sp->fd, (off_t)len) < 0))
        return err ? -err : -errno;
    unsigned char *base;
    if ((err = FAULT(CF__SPILL_OP_REMAP))) {
        errno = err;
        base = MAP_FAILED;
    } else {
        base = mremap(sp->base, sp->head_map + sp->file_cap, len, MREMAP_MAYMOVE);
    }
    if (base == MAP_FAILED)
        return -errno; /* the old mapping is intact; the file may be larger */
    after_mremap(base, len, sp->fd); /* the whole file, header page first */
    keep_from_children(base, len);
    sp->base = base;
    sp->file_cap = cap;
    sp->sb.data = (char *)base + sp->head_map - sp->head;
    sp->sb.alloc = sp->head + cap;
    return 0;
}

/* Room for len more bytes at sb.size: 0 or -errno. */
static int make_room(struct cf__spill *sp, size_t len)
{
    size_t size = sp->sb.size;
    if (len > SIZE_MAX - size)
        return -ENOMEM;
    size_t need = size + len;
    if (need <= sp->sb.alloc)
        return 0;
    if (sp->fd >= 0)
        return grow_memfd(sp, need);
    return need <= sp->limit ? grow_heap(sp, need) : to_memfd(sp, need);
}

int cf__spill_write(void *data, const char *buf, size_t len)
{
    struct cf__spill *sp = data;
    size_t size = sp->sb.size;
    int err = make_room(sp, len);
    if (err || (err = put(sp, size, buf, len)))
        return fail(sp, err);
    sp->sb.size = size + len;
    return 0;
}

void *cf__spill_reserve(struct cf__spill *sp, size_t len)
{
    size_t size = sp->sb.size;
    int err = make_room(sp, len);
    if (err) {
        fail(sp, err);
        return NULL;
    }
    sp->sb.size = size + len;
    return sp->sb.data + size;
}

int cf__spill_seal(struct cf__spill *sp, struct cf__side *out)
{
    size_t size = sp->sb.size, head = sp->head;
    int err;

    *out = (struct cf__side){.fd = -1};
    if (size < head) {
        err = -EINVAL;
    } else if (sp->fd < 0) {
        err = cf__side_create(out, sp->sb.data + head, size - head);
    } else if (sp->seg) {
        struct cf__seg *seg = sp->seg;
        give_back(sp);
        cf__seg_sent(seg, size - head);
        out->fd = seg->fd;
        out->size = size - head;
        out->serial = seg->serial;
        out->offset = sp->file_off;
        out->seg = seg;
        to_heap(sp);
        return 0;
    } else if ((err = FAULT(CF__SPILL_OP_SEAL))) {
        err = -err;
    } else {
        /* Sealing against writes needs our writable mapping gone. */
        munmap(sp->base, sp->head_map + sp->file_cap);
        err = cf__side_seal(out, sp->fd, size - head); /* takes the fd */
        to_heap(sp);
        return err;
    }
    cf__spill_reset(sp);
    return err;
}

void *cf__spill_take(struct cf__spill *sp, size_t *len)
{
    void *bytes = sp->fd < 0 ? sp->heap : NULL;
    *len = bytes ? sp->sb.size : 0;
    if (bytes) {
        sp->heap = NULL;
        sp->heap_cap = 0;
        to_heap(sp);
    }
    return bytes;
}

void cf__spill_reset(struct cf__spill *sp)
{
    drop_memfd(sp);
    to_heap(sp);
}

void cf__spill_destroy(struct cf__spill *sp)
{
    drop_memfd(sp);
    free(sp->heap);
    sp->heap = NULL;
    sp->heap_cap = 0;
    to_heap(sp);
}
