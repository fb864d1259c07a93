/* tests/test_record_scalars.c — the record decoder reads its scalar fields
 * (type, id, status, pid, name ...) from the bytes itself rather than
 * through msgpack_unpack (serialize/record.c). These tests hold it to
 * msgpack-c's own reading: every integer and string encoding, in every
 * width, is hand-built into a record, and the decoder must accept or refuse
 * it exactly as msgpack-c's type and value for those bytes say. */
#include "serialize/record.h"

#include <cfutures.h>
#include <criterion/criterion.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* One integer encoded in one msgpack format. */
struct enc_int {
    unsigned char b[9];
    size_t n;
};

static void put_be(unsigned char *p, uint64_t v, size_t w)
{
    for (size_t i = 0; i < w; i++)
        p[i] = (unsigned char)(v >> (8 * (w - 1 - i)));
}

/* Every encoding of v (read as signed when `neg`) that can hold it. */
static size_t encodings(int64_t sv, uint64_t uv, bool neg, struct enc_int *out)
{
    size_t k = 0;
    if (!neg && uv <= 0x7f)
        out[k++] = (struct enc_int){{(unsigned char)uv}, 1};
    if (neg && sv >= -32)
        out[k++] = (struct enc_int){{(unsigned char)(int8_t)sv}, 1};
    for (size_t f = 0; f < 4; f++) { /* uint8..64 */
        size_t w = (size_t)1 << f;
        if (!neg && (w == 8 || uv < ((uint64_t)1 << (8 * w)))) {
            out[k] = (struct enc_int){{(unsigned char)(0xcc + f)}, 1 + w};
            put_be(out[k].b + 1, uv, w);
            k++;
        }
    }
    for (size_t f = 0; f < 4; f++) { /* int8..64 */
        size_t w = (size_t)1 << f;
        int64_t lo = w == 8 ? INT64_MIN : -((int64_t)1 << (8 * w - 1));
        int64_t hi = w == 8 ? INT64_MAX : ((int64_t)1 << (8 * w - 1)) - 1;
        bool fits = neg ? sv >= lo : uv <= (uint64_t)hi;
        if (fits) {
            out[k] = (struct enc_int){{(unsigned char)(0xd0 + f)}, 1 + w};
            put_be(out[k].b + 1, neg ? (uint64_t)sv : uv, w);
            k++;
        }
    }
    return k;
}

/* What msgpack-c makes of the bytes. */
static msgpack_object reference(const unsigned char *b, size_t n)
{
    msgpack_zone z;
    msgpack_object o;
    size_t off = 0;
    cr_assert(msgpack_zone_init(&z, 64));
    cr_assert_eq(msgpack_unpack((const char *)b, n, &off, &z, &o), MSGPACK_UNPACK_SUCCESS);
    cr_assert_eq(off, n);
    msgpack_zone_destroy(&z);
    return o; /* scalars only: nothing points into the zone */
}

static int decode(const unsigned char *buf, size_t len, struct cf__record *r)
{
    msgpack_zone z;
    cr_assert(msgpack_zone_init(&z, 256));
    int err = cf__record_decode(buf, len, &z, r);
    msgpack_zone_destroy(&z);
    return err;
}

static const int64_t signed_values[] = {
    0, 1, 5, 31, 32, 127, 128, 255, 256, 32767, 32768, 65535, 65536,
    INT32_MAX, (int64_t)INT32_MAX + 1, (int64_t)UINT32_MAX, (int64_t)UINT32_MAX + 1, INT64_MAX,
    -1, -5, -32, -33, -128, -129, -32768, -32769, INT32_MIN, (int64_t)INT32_MIN - 1, INT64_MIN,
};

/* Runs check(bytes of the integer, msgpack-c's object) over every value
 * (and UINT64_MAX) in every encoding. */
static void each_encoding(void (*check)(const struct enc_int *, const msgpack_object *))
{
    size_t nv = sizeof(signed_values) / sizeof(signed_values[0]);
    for (size_t i = 0; i <= nv; i++) {
        bool neg = i < nv && signed_values[i] < 0;
        int64_t sv = i < nv ? signed_values[i] : 0;
        uint64_t uv = i < nv ? (uint64_t)sv : UINT64_MAX;
        struct enc_int e[9];
        size_t k = encodings(sv, uv, neg, e);
        cr_assert(k > 0);
        for (size_t j = 0; j < k; j++) {
            msgpack_object o = reference(e[j].b, e[j].n);
            check(&e[j], &o);
        }
    }
}

static size_t cat(unsigned char *buf, size_t at, const void *p, size_t n)
{
    memcpy(buf + at, p, n);
    return at + n;
}

/* TASK's id: any integer msgpack-c reads as positive. */
static void check_task_id(const struct enc_int *e, const msgpack_object *o)
{
    unsigned char buf[32];
    size_t n = cat(buf, 0, "\x01", 1);
    n = cat(buf, n, e->b, e->n);
    n = cat(buf, n, "\xa1" "f" "\x90", 3);
    struct cf__record r;
    int err = decode(buf, n, &r);
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        cr_assert_eq(err, 0, "format 0x%02x", e->b[0]);
        cr_assert_eq(r.id, o->via.u64, "format 0x%02x", e->b[0]);
    } else {
        cr_assert_eq(err, CF_EPROTO, "format 0x%02x", e->b[0]);
    }
}

/* RESULT's status: an integer in [INT32_MIN, 0]. */
static void check_result_status(const struct enc_int *e, const msgpack_object *o)
{
    unsigned char buf[32];
    size_t n = cat(buf, 0, "\x03\x05", 2);
    n = cat(buf, n, e->b, e->n);
    n = cat(buf, n, "\xa1m", 2);
    int64_t want;
    bool ok = false;
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        want = o->via.i64;
        ok = want >= INT32_MIN;
    } else {
        want = 0;
        ok = o->via.u64 == 0;
    }
    struct cf__record r;
    int err = decode(buf, n, &r);
    cr_assert_eq(err, ok ? 0 : CF_EPROTO, "format 0x%02x", e->b[0]);
    if (ok) {
        cr_assert_eq(r.status, want, "format 0x%02x", e->b[0]);
        if (want < 0)
            cr_assert(r.message_len == 1 && r.message[0] == 'm');
    }
}

/* SIDE's pid: an integer in [1, INT32_MAX]; its size, serial and offset
 * any positive one. */
static void check_side_pid(const struct enc_int *e, const msgpack_object *o)
{
    unsigned char buf[64];
    size_t n = cat(buf, 0, "\x04", 1);
    n = cat(buf, n, e->b, e->n);
    n = cat(buf, n, "\x03", 1);
    n = cat(buf, n, e->b, e->n); /* the size */
    n = cat(buf, n, e->b, e->n); /* the serial */
    n = cat(buf, n, e->b, e->n); /* the offset */
    bool pos = o->type == MSGPACK_OBJECT_POSITIVE_INTEGER;
    bool ok = pos && o->via.u64 >= 1 && o->via.u64 <= INT32_MAX;
    struct cf__record r;
    int err = decode(buf, n, &r);
    cr_assert_eq(err, ok ? 0 : CF_EPROTO, "format 0x%02x", e->b[0]);
    if (ok) {
        cr_assert_eq((uint64_t)r.pid, o->via.u64);
        cr_assert_eq(r.fd, 3);
        cr_assert_eq(r.size, o->via.u64);
        cr_assert_eq(r.serial, o->via.u64);
        cr_assert_eq(r.offset, o->via.u64);
    }
}

/* The record type itself, in any encoding. */
static void check_type(const struct enc_int *e, const msgpack_object *o)
{
    struct cf__record r;
    int err = decode(e->b, e->n, &r);
    bool wake = o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 == CF__REC_WAKE;
    cr_assert_eq(err, wake ? 0 : CF_EPROTO, "format 0x%02x", e->b[0]);
    if (wake)
        cr_assert_eq(r.type, CF__REC_WAKE);
}

Test(record_scalars, task_id_every_integer_encoding, .timeout = 10)
{
    each_encoding(check_task_id);
}

Test(record_scalars, result_status_every_integer_encoding, .timeout = 10)
{
    each_encoding(check_result_status);
}

Test(record_scalars, side_fields_every_integer_encoding, .timeout = 10)
{
    each_encoding(check_side_pid);
}

Test(record_scalars, wake_type_every_integer_encoding, .timeout = 10)
{
    each_encoding(check_type);
    /* 7 in the other widths, which the sweep above holds too, and as a
     * float (not an integer at all). */
    struct cf__record r;
    cr_assert_eq(decode((const unsigned char *)"\xcb\x40\x1c\0\0\0\0\0\0", 9, &r), CF_EPROTO);
}

/* A name of `len` bytes in the string format `fmt` (0: fixstr). */
static size_t name_record(unsigned char *buf, int fmt, size_t len)
{
    size_t n = cat(buf, 0, "\x01\x07", 2);
    if (fmt == 0) {
        buf[n++] = (unsigned char)(0xa0 | len);
    } else {
        size_t w = (size_t)1 << (fmt - 0xd9);
        buf[n++] = (unsigned char)fmt;
        put_be(buf + n, len, w);
        n += w;
    }
    memset(buf + n, 'q', len);
    n += len;
    buf[n++] = 0x90;
    return n;
}

Test(record_scalars, task_name_every_string_encoding, .timeout = 10)
{
    static unsigned char buf[400];
    static const int fmts[] = {0, 0xd9, 0xda, 0xdb};
    static const size_t lens[] = {0, 1, 31, 32, 255, 256};
    for (size_t i = 0; i < 4; i++) {
        for (size_t j = 0; j < sizeof(lens) / sizeof(lens[0]); j++) {
            if ((fmts[i] == 0 && lens[j] > 31) || (fmts[i] == 0xd9 && lens[j] > 255))
                continue;
            size_t n = name_record(buf, fmts[i], lens[j]);
            struct cf__record r;
            int err = decode(buf, n, &r);
            bool ok = lens[j] >= 1 && lens[j] <= CF__TASK_NAME_MAX;
            cr_assert_eq(err, ok ? 0 : CF_EPROTO, "fmt 0x%02x len %zu", fmts[i], lens[j]);
            if (ok) {
                cr_assert_eq(r.name_len, lens[j]);
                cr_assert_eq(r.name[0], 'q');
                cr_assert_eq(r.id, 7);
            }
        }
    }
}

Test(record_scalars, empty_message_is_empty_string, .timeout = 10)
{
    /* WORKER_START with "" in each string format: message is "" (never
     * NULL, never a pointer into what follows). */
    static const unsigned char recs[][12] = {
        {0x05, 0x00, 0x0a, 0x00, 0xa0},
        {0x05, 0x00, 0x0a, 0x00, 0xd9, 0x00},
        {0x05, 0x00, 0x0a, 0x00, 0xda, 0x00, 0x00},
        {0x05, 0x00, 0x0a, 0x00, 0xdb, 0x00, 0x00, 0x00, 0x00},
    };
    static const size_t lens[] = {5, 6, 7, 9};
    for (size_t i = 0; i < 4; i++) {
        struct cf__record r;
        cr_assert_eq(decode(recs[i], lens[i], &r), 0, "case %zu", i);
        cr_assert_eq(r.message_len, 0);
        cr_assert_str_eq(r.message, "");
        cr_assert_eq(r.pid, 10);
    }
}

/* Bad input for the scalar reader and the array-header reader: every
 * proper prefix of an encoded scalar is refused (nothing is read past the
 * bytes given; the ASan build checks that), 0xc1 is refused, containers
 * and exts are left to msgpack-c, and a cut array header is refused. */
Test(record_scalars, truncated_and_foreign_bytes_are_refused, .timeout = 10)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    static const char text[40] = "0123456789012345678901234567890123456789";
    for (int k = 0; k < 12; k++) {
        sb.size = 0;
        switch (k) {
        case 0: msgpack_pack_uint16(&pk, 300); break;
        case 1: msgpack_pack_uint32(&pk, 70000); break;
        case 2: msgpack_pack_uint64(&pk, UINT64_MAX); break;
        case 3: msgpack_pack_int8(&pk, -100); break;
        case 4: msgpack_pack_int64(&pk, INT64_MIN); break;
        case 5: msgpack_pack_float(&pk, 1.5f); break;
        case 6: msgpack_pack_double(&pk, 2.5); break;
        case 7: msgpack_pack_str_with_body(&pk, text, 5); break;
        case 8: msgpack_pack_str_with_body(&pk, text, sizeof(text)); break;
        case 9: msgpack_pack_bin_with_body(&pk, text, 3); break;
        case 10: msgpack_pack_nil(&pk); break;
        default: msgpack_pack_true(&pk); break;
        }
        msgpack_object o;
        size_t used;
        cr_assert_eq(cf__msgpack_scalar((const unsigned char *)sb.data, sb.size, &o, &used), 1,
                     "value %d", k);
        cr_assert_eq(used, sb.size, "value %d", k);
        for (size_t cut = 0; cut < sb.size; cut++) {
            /* A copy of exactly `cut` bytes: a read past it is an ASan error. */
            unsigned char *b = malloc(cut ? cut : 1);
            cr_assert_not_null(b);
            memcpy(b, sb.data, cut);
            cr_assert_eq(cf__msgpack_scalar(b, cut, &o, &used), CF_EPROTO, "value %d cut %zu",
                         k, cut);
            free(b);
        }
    }
    msgpack_sbuffer_destroy(&sb);

    msgpack_object o;
    size_t used;
    static const unsigned char never[] = {0xc1};
    static const unsigned char array[] = {0x92, 0x01, 0x02}, map[] = {0x81, 0x01, 0x02};
    static const unsigned char ext[] = {0xd4, 0x01, 0x00};
    cr_assert_eq(cf__msgpack_scalar(never, sizeof(never), &o, &used), CF_EPROTO);
    cr_assert_eq(cf__msgpack_scalar(array, sizeof(array), &o, &used), 0);
    cr_assert_eq(cf__msgpack_scalar(map, sizeof(map), &o, &used), 0);
    cr_assert_eq(cf__msgpack_scalar(ext, sizeof(ext), &o, &used), 0);

    uint32_t n;
    size_t head;
    static const unsigned char a16[] = {0xdc, 0x01, 0x02}, a32[] = {0xdd, 0, 1, 0, 3};
    cr_assert_eq(cf__msgpack_array_head(array, sizeof(array), &n, &head), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(head, 1);
    cr_assert_eq(cf__msgpack_array_head(a16, sizeof(a16), &n, &head), 0);
    cr_assert_eq(n, 0x102);
    cr_assert_eq(head, 3);
    cr_assert_eq(cf__msgpack_array_head(a32, sizeof(a32), &n, &head), 0);
    cr_assert_eq(n, 0x10003);
    cr_assert_eq(head, 5);
    cr_assert_eq(cf__msgpack_array_head(a16, 2, &n, &head), CF_EPROTO);
    cr_assert_eq(cf__msgpack_array_head(a32, 4, &n, &head), CF_EPROTO);
    cr_assert_eq(cf__msgpack_array_head(map, sizeof(map), &n, &head), CF_EPROTO);
    cr_assert_eq(cf__msgpack_array_head(array, 0, &n, &head), CF_EPROTO);
}
