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

int cf__msgpack_check_prefix(const void *buf, size_t len, size_t count, size_t *used,
                             unsigned *depth)
{
    const unsigned char *p = buf;
    uint64_t left[CF__MSGPACK_DEPTH_MAX + 1]; /* [0]: the top-level sequence */
    unsigned sp = 0, deepest = 0;
    size_t pos = 0;
    struct cf_head h;

    if (p == NULL && len > 0)
        return CF_EPROTO;
    left[0] = count;
    for (;;) {
        while (sp > 0 && left[sp] == 0)
            sp--;
        if (left[sp] == 0)
            break;
        left[sp]--;
        if (pos == len || head_parse(p + pos, len - pos, &h) < 0)
            return CF_EPROTO;
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
        if (h.items > 0)
            left[++sp] = h.items;
    }
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

int cf__msgpack_check_value(const void *buf, size_t len)
{
    size_t used;
    unsigned depth;
    if (cf__msgpack_check_prefix(buf, len, 1, &used, &depth) != 0 || used != len ||
        depth > CF__VALUE_DEPTH_MAX)
        return CF_EPROTO;
    return 0;
}
