/* serialize/scalar.c — reads one msgpack scalar, or an array header,
 * straight from its bytes.
 *
 * Owns cf__msgpack_scalar, cf__msgpack_array_head and cf__msgpack_flat
 * (serialize/record.h). Used where msgpack-c's unpacker costs more than
 * the value: the record decoder's fixed fields and a task's arguments
 * (serialize/record.c), a chunk's items (workers/execute.c) and cf_map's
 * results, one per item (executor/map.c). Gives the msgpack_object msgpack-c would: an
 * integer of any format is POSITIVE_INTEGER when >= 0, NEGATIVE_INTEGER
 * otherwise; float32 is FLOAT32 with the value widened to double; str and
 * bin point into the bytes. One difference: an empty str or bin points
 * just past its header, never NULL (msgpack-c gives NULL for some empty
 * formats and not others), so a memcpy of its 0 bytes is always defined.
 * Pure: no allocation, no state, any thread. Every length is checked
 * against the bytes given (they may come from another process).
 */
#include "serialize/record.h"

#include <cfutures.h>
#include <stdbool.h>
#include <string.h>

static void set_int(msgpack_object *out, int64_t v)
{
    if (v < 0) {
        out->type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
        out->via.i64 = v;
    } else {
        out->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
        out->via.u64 = (uint64_t)v;
    }
}

/* str or bin of `size` bytes after a `head`-byte header. */
static int set_raw(const unsigned char *p, size_t avail, size_t head, uint64_t size, bool str,
                   msgpack_object *out, size_t *used)
{
    if (avail < head || size > avail - head)
        return CF_EPROTO;
    out->type = str ? MSGPACK_OBJECT_STR : MSGPACK_OBJECT_BIN;
    const char *ptr = (const char *)p + head; /* never NULL, even when empty */
    if (str) {
        out->via.str.size = (uint32_t)size;
        out->via.str.ptr = ptr;
    } else {
        out->via.bin.size = (uint32_t)size;
        out->via.bin.ptr = ptr;
    }
    *used = head + (size_t)size;
    return 1;
}

int cf__msgpack_scalar(const unsigned char *p, size_t avail, msgpack_object *out, size_t *used)
{
    if (avail == 0)
        return CF_EPROTO;
    unsigned char b = p[0];
    *used = 1;
    if (b <= 0x7f || b >= 0xe0) { /* positive / negative fixint */
        set_int(out, (int8_t)b);
        return 1;
    }
    if (b >= 0xa0 && b <= 0xbf) /* fixstr */
        return set_raw(p, avail, 1, b & 0x1f, true, out, used);
    switch (b) {
    case 0xc0:
        out->type = MSGPACK_OBJECT_NIL;
        return 1;
    case 0xc2:
    case 0xc3:
        out->type = MSGPACK_OBJECT_BOOLEAN;
        out->via.boolean = b == 0xc3;
        return 1;
    case 0xca:
    case 0xcb: {
        size_t w = b == 0xca ? 4 : 8;
        if (avail < 1 + w)
            return CF_EPROTO;
        uint64_t raw = cf__load_be(p + 1, w);
        if (w == 4) {
            uint32_t r32 = (uint32_t)raw;
            float f;
            memcpy(&f, &r32, sizeof(f));
            out->type = MSGPACK_OBJECT_FLOAT32;
            out->via.f64 = f;
        } else {
            double d;
            memcpy(&d, &raw, sizeof(d));
            out->type = MSGPACK_OBJECT_FLOAT64;
            out->via.f64 = d;
        }
        *used = 1 + w;
        return 1;
    }
    case 0xc4: case 0xc5: case 0xc6:   /* bin8/16/32 */
    case 0xd9: case 0xda: case 0xdb: { /* str8/16/32 */
        bool str = b >= 0xd9;
        size_t w = (size_t)1 << (b - (str ? 0xd9 : 0xc4));
        if (avail < 1 + w)
            return CF_EPROTO;
        return set_raw(p, avail, 1 + w, cf__load_be(p + 1, w), str, out, used);
    }
    default:
        break;
    }
    if (b >= 0xcc && b <= 0xd3) { /* uint8..64, int8..64 */
        bool sign = b >= 0xd0;
        size_t w = (size_t)1 << ((b - 0xcc) & 3);
        if (avail < 1 + w)
            return CF_EPROTO;
        uint64_t raw = cf__load_be(p + 1, w);
        *used = 1 + w;
        if (!sign) {
            out->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
            out->via.u64 = raw;
        } else if (w == 8) {
            set_int(out, (int64_t)raw);
        } else { /* sign-extend the w-byte value */
            uint64_t bit = (uint64_t)1 << (8 * w - 1);
            set_int(out, (int64_t)(raw ^ bit) - (int64_t)bit);
        }
        return 1;
    }
    if (b == 0xc1)
        return CF_EPROTO; /* never used */
    *used = 0;
    return 0; /* fixmap, fixarray, array/map16/32, ext: msgpack-c's job */
}

int cf__msgpack_array_head(const unsigned char *p, size_t avail, uint32_t *n, size_t *head)
{
    if (avail == 0)
        return CF_EPROTO;
    unsigned char b = p[0];
    if (b >= 0x90 && b <= 0x9f) {
        *n = b & 0x0f;
        *head = 1;
    } else if ((b == 0xdc && avail >= 3) || (b == 0xdd && avail >= 5)) {
        size_t w = b == 0xdc ? 2 : 4;
        *n = (uint32_t)cf__load_be(p + 1, w);
        *head = 1 + w;
    } else {
        return CF_EPROTO;
    }
    return 0;
}

int cf__msgpack_flat(const unsigned char *p, size_t avail, msgpack_object *out,
                     msgpack_object *elems, size_t *used)
{
    uint32_t n;
    size_t head, off, one;
    int rc = cf__msgpack_scalar(p, avail, out, used);
    if (rc != 0)
        return rc == 1;
    if (cf__msgpack_array_head(p, avail, &n, &head) != 0 || n > CF__FLAT_MAX)
        return 0;
    off = head;
    for (uint32_t i = 0; i < n; i++, off += one)
        if (cf__msgpack_scalar(p + off, avail - off, &elems[i], &one) != 1)
            return 0;
    out->type = MSGPACK_OBJECT_ARRAY;
    out->via.array.size = n;
    /* Never NULL, even empty: msgpack-c 4 gives a zone pointer for [] too,
     * and a task may memcpy n elements from it. */
    out->via.array.ptr = elems;
    *used = off;
    return 1;
}
