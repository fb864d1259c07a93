/* serialize/validate.c — checks untrusted msgpack bytes before anything
 * unpacks them.
 *
 * Owns cf__msgpack_check_prefix/_one/_seq (serialize/record.h). Called by
 * the record decoder (serialize/record.c) on every record read from a ring
 * or side segment, and by the executors on raw arguments at submit. Pure
 * functions of their input: no allocation, no state, safe from any thread
 * and in a forked child.
 *
 * Why it exists: msgpack-c's unpacker trusts the counts in container
 * headers and allocates count * sizeof(msgpack_object) before it looks at
 * the elements, so a 5-byte array32 header claiming 2^32-1 elements makes
 * it ask for ~100 GB. Here every container must fit its minimum size (one
 * byte per element) in the bytes left, every length must fit the buffer,
 * and nesting is bounded, walked iteratively with a fixed stack.
 */
#include "serialize/record.h"

#include <cfutures.h>
#include <stdbool.h>
#include <stdint.h>

/* What one header says comes next. */
struct cf_head {
    size_t size;    /* bytes of the header itself (format byte included) */
    uint64_t body;  /* bytes of raw body after the header (str/bin/ext/numbers) */
    uint64_t items; /* objects that follow (2 per map entry) */
    bool container; /* array or map, even when empty */
};

/* Headers whose length sits in 1, 2 or 4 big-endian bytes after the
 * format byte; the rest are decided by the format byte alone. */
static int head_sized(unsigned char b, const unsigned char *p, size_t avail,
                      struct cf_head *h)
{
    static const unsigned char width[4] = {1, 2, 4, 0};
    size_t w, extra = 0;
    uint64_t n;

    if (b >= 0xc4 && b <= 0xc6) {        /* bin8/16/32 */
        w = width[b - 0xc4];
    } else if (b >= 0xc7 && b <= 0xc9) { /* ext8/16/32: length, then type */
        w = width[b - 0xc7];
        extra = 1;
    } else if (b >= 0xd9 && b <= 0xdb) { /* str8/16/32 */
        w = width[b - 0xd9];
    } else if (b == 0xdc || b == 0xde) { /* array16, map16 */
        w = 2;
    } else {                             /* array32, map32 */
        w = 4;
    }
    if (avail < 1 + w + extra)
        return CF_EPROTO;
    n = cf__load_be(p + 1, w);
    h->size = 1 + w + extra;
    if (b >= 0xdc) {
        h->container = true;
        h->items = b >= 0xde ? 2 * n : n;
    } else {
        h->body = n;
    }
    return 0;
}

/* Reads the header at p (avail > 0 bytes left) into *h. */
static int head_parse(const unsigned char *p, size_t avail, struct cf_head *h)
{
    unsigned char b = p[0];

    *h = (struct cf_head){.size = 1};
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
        return 0;                            /* fixints, nil, false, true */
    if (b <= 0x8f || (b >= 0x90 && b <= 0x9f)) {
        h->container = true;                 /* fixmap, fixarray */
        h->items = b <= 0x8f ? 2u * (b & 0x0f) : (b & 0x0f);
        return 0;
    }
    if (b <= 0xbf) {                         /* fixstr */
        h->body = b & 0x1f;
        return 0;
    }
    if (b == 0xca || b == 0xcb) {            /* float32, float64 */
        h->body = b == 0xca ? 4 : 8;
        return 0;
    }
    if (b >= 0xcc && b <= 0xd3) {            /* uint8..64, int8..64 */
        h->body = (uint64_t)1 << ((b - 0xcc) & 3);
        return 0;
    }
    if (b >= 0xd4 && b <= 0xd8) {            /* fixext1..16: type byte, data */
        h->size = 2;
        h->body = (uint64_t)1 << (b - 0xd4);
        return avail < 2 ? CF_EPROTO : 0;
    }
    if (b == 0xc1)                           /* never used */
        return CF_EPROTO;
    return head_sized(b, p, avail, h);
}

/* The size of a scalar whose format byte alone decides it (fixints, nil,
 * booleans, fixstr, floats, sized integers, fixext), else 0 (containers,
 * str/bin/ext 8-32, 0xc1). The walker tries this first: it runs over every
 * element of every record, and these are nearly all of them. A table, not
 * a chain of comparisons: the compiler made that an indirect jump, which
 * an argument array's header and its elements kept sending to different
 * places, and map inputs are checked one by one on the feeding thread. */
static const unsigned char fixed_sizes[256] = {
     1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1, /* 0x00 */
     1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1, /* 0x10 */
     1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1, /* 0x20 */
     1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1, /* 0x30 */
     1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1, /* 0x40 */
     1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1, /* 0x50 */
     1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1, /* 0x60 */
     1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1, /* 0x70 */
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0, /* 0x80 */
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0, /* 0x90 */
     1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14, 15, 16, /* 0xa0 */
    17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, /* 0xb0 */
     1,  0,  1,  1,  0,  0,  0,  0,  0,  0,  5,  9,  2,  3,  5,  9, /* 0xc0 */
     2,  3,  5,  9,  3,  4,  6, 10, 18,  0,  0,  0,  0,  0,  0,  0, /* 0xd0 */
     1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1, /* 0xe0 */
     1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1, /* 0xf0 */
};

static inline size_t fixed_size(unsigned char b)
{
    return fixed_sizes[b];
}

int cf__msgpack_check_prefix(const void *buf, size_t len, size_t count, size_t *used,
                             unsigned *depth)
{
    const unsigned char *p = buf;
    /* What is left of the enclosing levels ([0]: the top-level sequence);
     * the current level's count stays in `cur`, out of memory: a counter
     * in the array made every element wait on a store and a reload. */
    uint64_t left[CF__MSGPACK_DEPTH_MAX];
    uint64_t cur = count;
    unsigned sp = 0, deepest = 0; /* sp: containers around the current level */
    size_t pos = 0;
    struct cf_head h;

    if (p == NULL && len > 0)
        return CF_EPROTO;
    for (;;) {
        while (cur == 0) {
            if (sp == 0)
                goto done;
            cur = left[--sp];
        }
        cur--;
        if (pos == len)
            return CF_EPROTO;
        unsigned char b = p[pos];
        size_t size = fixed_size(b);
        if (size != 0) {
            if (size > len - pos)
                return CF_EPROTO;
            pos += size;
            continue;
        }
        if (b <= 0x9f) { /* fixmap, fixarray (fixed_size took 0x00-0x7f) */
            h.size = 1;
            h.items = b <= 0x8f ? 2u * (b & 0x0f) : (b & 0x0fu);
            h.container = true;
        } else if (head_parse(p + pos, len - pos, &h) < 0) {
            return CF_EPROTO;
        }
        pos += h.size;
        if (!h.container) {
            if (h.body > len - pos)
                return CF_EPROTO;
            pos += (size_t)h.body;
            continue;
        }
        /* Every element takes at least one byte, so a count above the
         * bytes left can never be satisfied: reject it at the header, in
         * O(1), rather than by walking until the bytes run out. With the
         * depth bound this caps what an unpacker allocates for accepted
         * bytes at a small multiple of len. */
        if (sp == CF__MSGPACK_DEPTH_MAX || h.items > len - pos)
            return CF_EPROTO;
        if (sp + 1 > deepest)
            deepest = sp + 1;
        if (h.items > 0) {
            left[sp++] = cur;
            cur = h.items;
        }
    }
done:
    if (used != NULL)
        *used = pos;
    if (depth != NULL)
        *depth = deepest;
    return 0;
}

int cf__msgpack_check_seq(const void *buf, size_t len, size_t count)
{
    size_t used;

    if (count > len && count > 0)
        return CF_EPROTO; /* each object takes at least one byte */
    if (cf__msgpack_check_prefix(buf, len, count, &used, NULL) < 0 || used != len)
        return CF_EPROTO;
    return 0;
}

int cf__msgpack_check_one(const void *buf, size_t len)
{
    return cf__msgpack_check_seq(buf, len, 1);
}

/* Whether buf[0..len) is certainly one scalar, or one fixarray of
 * scalars, that the format bytes alone size: the values tasks and map
 * inputs usually are. false means "ask the walker", not "malformed". */
static bool simple_value(const unsigned char *p, size_t len)
{
    size_t size = fixed_size(p[0]);
    if (size != 0)
        return size == len;
    if (p[0] < 0x90 || p[0] > 0x9f)
        return false;
    size_t pos = 1;
    for (unsigned n = p[0] & 0x0f; n > 0; n--) {
        if (pos == len || (size = fixed_size(p[pos])) == 0 || size > len - pos)
            return false;
        pos += size;
    }
    return pos == len;
}

int cf__msgpack_check_value(const void *buf, size_t len)
{
    /* Called once per item on both sides of a map (each input the parent
     * packs, each result a worker packs): the common shapes are settled
     * here without the walker's generic loop. */
    if (buf != NULL && len > 0 && simple_value(buf, len))
        return 0;
    size_t used;
    unsigned depth;
    if (cf__msgpack_check_prefix(buf, len, 1, &used, &depth) != 0 || used != len ||
        depth > CF__VALUE_DEPTH_MAX)
        return CF_EPROTO;
    return 0;
}
