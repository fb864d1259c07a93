/* tests/test_validate.c — the allocation-free msgpack walker
 * (serialize/validate.c): every format byte, every length and count check,
 * the depth limit, and a fuzz against two oracles (msgpack-c's unpacker for
 * what is accepted, a small recursive reference checker for the rest). */
#include "serialize/record.h"

#include <cfutures.h>
#include <criterion/criterion.h>
#include <malloc.h>
#include <msgpack.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct enc {
    msgpack_sbuffer sb;
    msgpack_packer pk;
};

static void enc_init(struct enc *e)
{
    msgpack_sbuffer_init(&e->sb);
    msgpack_packer_init(&e->pk, &e->sb, msgpack_sbuffer_write);
}

static void enc_reset(struct enc *e)
{
    msgpack_sbuffer_clear(&e->sb);
}

static void enc_fini(struct enc *e)
{
    msgpack_sbuffer_destroy(&e->sb);
}

/* ---------------------------------------------------- reference checker */

/* A deliberately different implementation of the same rules (recursive,
 * reads lengths as it goes), used only as an oracle for the fuzz tests. */
static int ref_object(const unsigned char *p, size_t len, size_t *pos, int depth);

static int ref_len(const unsigned char *p, size_t len, size_t *pos, int width, uint64_t *n)
{
    if (len - *pos < (size_t)width)
        return -1;
    *n = 0;
    for (int i = 0; i < width; i++)
        *n = *n * 256 + p[(*pos)++];
    return 0;
}

static int ref_skip(size_t len, size_t *pos, uint64_t n)
{
    if (n > len - *pos)
        return -1;
    *pos += n;
    return 0;
}

static int ref_items(const unsigned char *p, size_t len, size_t *pos, int depth, uint64_t n)
{
    if (depth >= 64 || n > len - *pos)
        return -1;
    for (uint64_t i = 0; i < n; i++)
        if (ref_object(p, len, pos, depth + 1) < 0)
            return -1;
    return 0;
}

static int ref_object(const unsigned char *p, size_t len, size_t *pos, int depth)
{
    uint64_t n;
    unsigned b;

    if (*pos >= len)
        return -1;
    b = p[(*pos)++];
    if (b < 0x80 || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
        return 0;
    if ((b & 0xf0) == 0x80)
        return ref_items(p, len, pos, depth, 2u * (b & 15));
    if ((b & 0xf0) == 0x90)
        return ref_items(p, len, pos, depth, b & 15);
    if ((b & 0xe0) == 0xa0)
        return ref_skip(len, pos, b & 31);
    switch (b) {
    case 0xc4: case 0xd9: return ref_len(p, len, pos, 1, &n) ? -1 : ref_skip(len, pos, n);
    case 0xc5: case 0xda: return ref_len(p, len, pos, 2, &n) ? -1 : ref_skip(len, pos, n);
    case 0xc6: case 0xdb: return ref_len(p, len, pos, 4, &n) ? -1 : ref_skip(len, pos, n);
    case 0xc7: return ref_len(p, len, pos, 1, &n) ? -1 : ref_skip(len, pos, n + 1);
    case 0xc8: return ref_len(p, len, pos, 2, &n) ? -1 : ref_skip(len, pos, n + 1);
    case 0xc9: return ref_len(p, len, pos, 4, &n) ? -1 : ref_skip(len, pos, n + 1);
    case 0xca: return ref_skip(len, pos, 4);
    case 0xcb: return ref_skip(len, pos, 8);
    case 0xcc: case 0xd0: return ref_skip(len, pos, 1);
    case 0xcd: case 0xd1: return ref_skip(len, pos, 2);
    case 0xce: case 0xd2: return ref_skip(len, pos, 4);
    case 0xcf: case 0xd3: return ref_skip(len, pos, 8);
    case 0xd4: return ref_skip(len, pos, 2);
    case 0xd5: return ref_skip(len, pos, 3);
    case 0xd6: return ref_skip(len, pos, 5);
    case 0xd7: return ref_skip(len, pos, 9);
    case 0xd8: return ref_skip(len, pos, 17);
    case 0xdc: return ref_len(p, len, pos, 2, &n) ? -1 : ref_items(p, len, pos, depth, n);
    case 0xdd: return ref_len(p, len, pos, 4, &n) ? -1 : ref_items(p, len, pos, depth, n);
    case 0xde: return ref_len(p, len, pos, 2, &n) ? -1 : ref_items(p, len, pos, depth, 2 * n);
    case 0xdf: return ref_len(p, len, pos, 4, &n) ? -1 : ref_items(p, len, pos, depth, 2 * n);
    default: return -1; /* 0xc1 */
    }
}

static int ref_check_one(const unsigned char *p, size_t len)
{
    size_t pos = 0;

    return ref_object(p, len, &pos, 0) == 0 && pos == len ? 0 : CF_EPROTO;
}

/* msgpack-c as the oracle for a buffer the validator accepted. */
static void expect_msgpack_c_accepts(const void *buf, size_t len)
{
    msgpack_zone z;
    msgpack_object o;
    size_t off = 0;

    cr_assert(msgpack_zone_init(&z, 1024));
    cr_assert_eq(msgpack_unpack(buf, len, &off, &z, &o), MSGPACK_UNPACK_SUCCESS);
    cr_assert_eq(off, len);
    msgpack_zone_destroy(&z);
}

/* ------------------------------------------------------- every format */

static void pack_nils(msgpack_packer *pk, size_t n)
{
    for (size_t i = 0; i < n; i++)
        msgpack_pack_nil(pk);
}

static void pack_body(msgpack_packer *pk, size_t n, int kind)
{
    char *b = malloc(n + 1);

    cr_assert_not_null(b);
    memset(b, 'x', n + 1);
    if (kind == 's')
        msgpack_pack_str_with_body(pk, b, n);
    else if (kind == 'b')
        msgpack_pack_bin_with_body(pk, b, n);
    else
        msgpack_pack_ext_with_body(pk, b, n, (int8_t)(n % 256 - 128));
    free(b);
}

/* Packs encoding number k (0 <= k < encodings) with msgpack-c; together
 * they start with every format byte but 0xc1. */
static void pack_encoding(msgpack_packer *pk, int k)
{
    static const size_t sizes[] = {0, 1, 2, 3, 4, 8, 16, 17, 40, 255, 256, 300, 65535, 65536};
    const int nsizes = sizeof(sizes) / sizeof(sizes[0]);

    if (k < 128) { msgpack_pack_int(pk, k); return; }
    k -= 128;
    if (k < 32) { msgpack_pack_int(pk, -32 + k); return; }
    k -= 32;
    if (k < 16) { msgpack_pack_map(pk, (size_t)k); pack_nils(pk, 2 * (size_t)k); return; }
    k -= 16;
    if (k < 16) { msgpack_pack_array(pk, (size_t)k); pack_nils(pk, (size_t)k); return; }
    k -= 16;
    if (k < 32) { pack_body(pk, (size_t)k, 's'); return; }
    k -= 32;
    if (k < 3 * nsizes) { pack_body(pk, sizes[k % nsizes], "sbe"[k / nsizes]); return; }
    k -= 3 * nsizes;
    switch (k) {
    case 0: msgpack_pack_nil(pk); return;
    case 1: msgpack_pack_false(pk); return;
    case 2: msgpack_pack_true(pk); return;
    case 3: msgpack_pack_float(pk, 1.5f); return;
    case 4: msgpack_pack_double(pk, -2.25); return;
    case 5: msgpack_pack_fix_uint8(pk, 200); return;
    case 6: msgpack_pack_fix_uint16(pk, 60000); return;
    case 7: msgpack_pack_fix_uint32(pk, 4000000000u); return;
    case 8: msgpack_pack_fix_uint64(pk, UINT64_MAX); return;
    case 9: msgpack_pack_fix_int8(pk, -100); return;
    case 10: msgpack_pack_fix_int16(pk, -30000); return;
    case 11: msgpack_pack_fix_int32(pk, INT32_MIN); return;
    case 12: msgpack_pack_fix_int64(pk, INT64_MIN); return;
    case 13: msgpack_pack_array(pk, 20); pack_nils(pk, 20); return;
    case 14: msgpack_pack_array(pk, 65536); pack_nils(pk, 65536); return;
    case 15: msgpack_pack_map(pk, 20); pack_nils(pk, 40); return;
    default: msgpack_pack_map(pk, 65536); pack_nils(pk, 131072); return;
    }
}

#define ENCODINGS (128 + 32 + 16 + 16 + 32 + 3 * 14 + 17)

Test(validate, every_format_byte_accepted, .timeout = 10)
{
    bool seen[256] = {false};
    struct enc e;

    enc_init(&e);
    for (int k = 0; k < ENCODINGS; k++) {
        enc_reset(&e);
        pack_encoding(&e.pk, k);
        seen[(unsigned char)e.sb.data[0]] = true;
        cr_assert_eq(cf__msgpack_check_one(e.sb.data, e.sb.size), 0, "encoding %d", k);
        cr_assert_eq(cf__msgpack_check_seq(e.sb.data, e.sb.size, 1), 0);
        expect_msgpack_c_accepts(e.sb.data, e.sb.size);
    }
    for (int b = 0; b < 256; b++)
        cr_assert_eq(seen[b], b != 0xc1, "format byte 0x%02x", b);
    enc_fini(&e);
}

Test(validate, every_prefix_and_extension_rejected, .timeout = 10)
{
    struct enc e;

    enc_init(&e);
    for (int k = 0; k < ENCODINGS; k++) {
        enc_reset(&e);
        pack_encoding(&e.pk, k);
        size_t len = e.sb.size;
        /* Every prefix of the small ones; a few cuts of the big ones. */
        for (size_t cut = 0; cut < len; cut += len > 2000 ? len / 7 + 1 : 1)
            cr_assert_eq(cf__msgpack_check_one(e.sb.data, cut), CF_EPROTO,
                         "encoding %d cut at %zu", k, cut);
        cr_assert_eq(cf__msgpack_check_one(e.sb.data, len - 1), CF_EPROTO);
        msgpack_pack_nil(&e.pk);
        cr_assert_eq(cf__msgpack_check_one(e.sb.data, e.sb.size), CF_EPROTO);
        cr_assert_eq(cf__msgpack_check_seq(e.sb.data, e.sb.size, 2), 0);
    }
    enc_fini(&e);
}

/* ------------------------------------------------------- bad bytes */

Test(validate, c1_rejected_anywhere, .timeout = 10)
{
    static const unsigned char alone[] = {0xc1};
    static const unsigned char in_array[] = {0x92, 0x01, 0xc1};
    static const unsigned char as_key[] = {0x81, 0xc1, 0x01};
    static const unsigned char as_value[] = {0x81, 0x01, 0xc1};
    static const unsigned char after[] = {0x01, 0xc1};
    /* followed by enough bytes to pass for any length-prefixed header */
    static const unsigned char padded[] = {0xc1, 0, 0, 0, 0, 0, 0, 0, 0};
    static const unsigned char padded_in_array[] = {0x91, 0xc1, 0, 0, 0, 0, 0, 0, 0, 0};

    cr_assert_eq(cf__msgpack_check_one(alone, 1), CF_EPROTO);
    cr_assert_eq(cf__msgpack_check_one(in_array, 3), CF_EPROTO);
    cr_assert_eq(cf__msgpack_check_one(as_key, 3), CF_EPROTO);
    cr_assert_eq(cf__msgpack_check_one(as_value, 3), CF_EPROTO);
    cr_assert_eq(cf__msgpack_check_seq(after, 2, 2), CF_EPROTO);
    cr_assert_eq(cf__msgpack_check_seq(after, 1, 1), 0);
    for (size_t len = 1; len <= sizeof(padded); len++)
        cr_assert_eq(cf__msgpack_check_prefix(padded, len, 1, NULL, NULL), CF_EPROTO);
    cr_assert_eq(cf__msgpack_check_seq(padded, sizeof(padded), 1), CF_EPROTO);
    cr_assert_eq(cf__msgpack_check_seq(padded, sizeof(padded), 9), CF_EPROTO);
    cr_assert_eq(cf__msgpack_check_one(padded_in_array, sizeof(padded_in_array)), CF_EPROTO);
}

Test(validate, empty_and_null, .timeout = 10)
{
    static const unsigned char one[] = {0xc0};
    size_t used = 7;
    unsigned depth = 7;

    cr_assert_eq(cf__msgpack_check_one(NULL, 0), CF_EPROTO);
    cr_assert_eq(cf__msgpack_check_one(one, 0), CF_EPROTO);
    cr_assert_eq(cf__msgpack_check_one(NULL, 5), CF_EPROTO);
    cr_assert_eq(cf__msgpack_check_seq(NULL, 0, 0), 0);
    cr_assert_eq(cf__msgpack_check_seq(one, 0, 0), 0);
    cr_assert_eq(cf__msgpack_check_seq(one, 1, 0), CF_EPROTO);
    cr_assert_eq(cf__msgpack_check_seq(NULL, 3, 1), CF_EPROTO);
    cr_assert_eq(cf__msgpack_check_prefix(NULL, 0, 1, &used, &depth), CF_EPROTO);
    cr_assert_eq(used, 7);
    cr_assert_eq(depth, 7);
}

Test(validate, seq_counts, .timeout = 10)
{
    static const unsigned char three[] = {0x01, 0xa1, 'x', 0x92, 0xc0, 0xc3};

    cr_assert_eq(cf__msgpack_check_seq(three, sizeof(three), 3), 0);
    cr_assert_eq(cf__msgpack_check_seq(three, sizeof(three), 2), CF_EPROTO);
    cr_assert_eq(cf__msgpack_check_seq(three, sizeof(three), 4), CF_EPROTO);
    cr_assert_eq(cf__msgpack_check_seq(three, sizeof(three), SIZE_MAX), CF_EPROTO);
    cr_assert_eq(cf__msgpack_check_one(three, sizeof(three)), CF_EPROTO);
}

Test(validate, prefix_reports_used_and_depth, .timeout = 10)
{
    /* [[1], {2: [[]]}] then trailing 0x05 */
    static const unsigned char b[] = {0x92, 0x91, 0x01, 0x81, 0x02, 0x91, 0x90, 0x05};
    size_t used = 0;
    unsigned depth = 0;

    cr_assert_eq(cf__msgpack_check_prefix(b, sizeof(b), 1, &used, &depth), 0);
    cr_assert_eq(used, sizeof(b) - 1);
    cr_assert_eq(depth, 4);
    cr_assert_eq(cf__msgpack_check_prefix(b, sizeof(b), 2, &used, NULL), 0);
    cr_assert_eq(used, sizeof(b));
    cr_assert_eq(cf__msgpack_check_prefix(b, sizeof(b), 0, &used, &depth), 0);
    cr_assert_eq(used, 0);
    cr_assert_eq(depth, 0);
    cr_assert_eq(cf__msgpack_check_prefix(b + 7, 1, 1, NULL, &depth), 0);
    cr_assert_eq(depth, 0);
}

/* ------------------------------------------------- hostile lengths */

Test(validate, hostile_array32_rejected_without_allocating, .timeout = 10)
{
    static const unsigned char a32[10] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0, 0xc0, 0xc0, 0xc0, 0xc0};
    static const unsigned char m32[10] = {0xdf, 0x7f, 0xff, 0xff, 0xff, 0xc0, 0xc0, 0xc0, 0xc0, 0xc0};
    struct mallinfo2 before = mallinfo2();

    cr_assert_eq(cf__msgpack_check_one(a32, sizeof(a32)), CF_EPROTO);
    cr_assert_eq(cf__msgpack_check_one(m32, sizeof(m32)), CF_EPROTO);
    cr_assert_eq(mallinfo2().uordblks, before.uordblks);
}

Test(validate, container_counts_against_bytes_left, .timeout = 10)
{
    /* array16 of n nils: n == bytes left is fine, one more is not */
    unsigned char b[3 + 300];

    memset(b, 0xc0, sizeof(b));
    b[0] = 0xdc;
    b[1] = 300 >> 8;
    b[2] = 300 & 0xff;
    cr_assert_eq(cf__msgpack_check_one(b, sizeof(b)), 0);
    b[2]++;
    cr_assert_eq(cf__msgpack_check_one(b, sizeof(b)), CF_EPROTO);
    b[1] = b[2] = 0xff;
    cr_assert_eq(cf__msgpack_check_one(b, sizeof(b)), CF_EPROTO);

    /* a map counts two objects per entry */
    static const unsigned char map3_in5[] = {0x83, 0xc0, 0xc0, 0xc0, 0xc0, 0xc0};
    static const unsigned char map16_big[] = {0xde, 0x00, 0x03, 1, 2, 3, 4, 5};
    static const unsigned char map16_ok[] = {0xde, 0x00, 0x02, 1, 2, 3, 4};
    static const unsigned char fixarr[] = {0x9f, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14};

    cr_assert_eq(cf__msgpack_check_one(map3_in5, sizeof(map3_in5)), CF_EPROTO);
    cr_assert_eq(cf__msgpack_check_one(map16_big, sizeof(map16_big)), CF_EPROTO);
    cr_assert_eq(cf__msgpack_check_one(map16_ok, sizeof(map16_ok)), 0);
    cr_assert_eq(cf__msgpack_check_one(fixarr, sizeof(fixarr)), CF_EPROTO);
}

Test(validate, hostile_raw_lengths, .timeout = 10)
{
    static const unsigned char heads[][6] = {
        {0xdb, 0xff, 0xff, 0xff, 0xff}, /* str32 */
        {0xc6, 0xff, 0xff, 0xff, 0xff}, /* bin32 */
        {0xc9, 0xff, 0xff, 0xff, 0xff, 0x01}, /* ext32 */
        {0xda, 0xff, 0xff},             /* str16 */
        {0xc5, 0x00, 0x10},             /* bin16 */
        {0xc8, 0x00, 0x10, 0x01},       /* ext16 */
        {0xd9, 0x20},                   /* str8 */
        {0xc4, 0x20},                   /* bin8 */
        {0xc7, 0x20, 0x01},             /* ext8 */
    };
    unsigned char b[32];

    for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
        memset(b, 'x', sizeof(b));
        memcpy(b, heads[i], sizeof(heads[i]));
        cr_assert_eq(cf__msgpack_check_one(b, sizeof(b)), CF_EPROTO, "head %zu", i);
        /* the header alone, cut inside the length bytes */
        cr_assert_eq(cf__msgpack_check_one(b, 2), CF_EPROTO, "head %zu", i);
    }
}

Test(validate, ext_types_accepted, .timeout = 10)
{
    static const int8_t types[] = {-128, -1, 0, 1, 127};
    static const size_t lens[] = {0, 1, 2, 4, 8, 16, 5, 255, 256, 70000};
    msgpack_timestamp ts = {.tv_sec = 1700000000, .tv_nsec = 5};
    struct enc e;
    char *body = calloc(1, 70000);

    cr_assert_not_null(body);
    enc_init(&e);
    for (size_t t = 0; t < sizeof(types); t++) {
        for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
            enc_reset(&e);
            msgpack_pack_ext_with_body(&e.pk, body, lens[l], types[t]);
            cr_assert_eq(cf__msgpack_check_one(e.sb.data, e.sb.size), 0);
        }
    }
    enc_reset(&e);
    msgpack_pack_timestamp(&e.pk, &ts);
    cr_assert_eq(cf__msgpack_check_one(e.sb.data, e.sb.size), 0);
    enc_fini(&e);
    free(body);
}

/* ------------------------------------------------------------- depth */

/* n nested one-element arrays around a nil, or around an empty array
 * (which is itself one level deep). */
static size_t nest(unsigned char *b, int n, bool empty_inner)
{
    size_t len = 0;

    for (int i = 0; i < n; i++)
        b[len++] = empty_inner && i == n - 1 ? 0x90 : 0x91;
    if (!empty_inner)
        b[len++] = 0xc0;
    return len;
}

Test(validate, depth_64_accepted_65_rejected, .timeout = 10)
{
    unsigned char b[256];
    unsigned depth = 0;
    size_t len;

    len = nest(b, 64, false);
    cr_assert_eq(cf__msgpack_check_one(b, len), 0);
    cr_assert_eq(cf__msgpack_check_prefix(b, len, 1, NULL, &depth), 0);
    cr_assert_eq(depth, 64);
    cr_assert_eq(cf__msgpack_check_one(b, nest(b, 65, false)), CF_EPROTO);
    cr_assert_eq(cf__msgpack_check_one(b, nest(b, 64, true)), 0);
    cr_assert_eq(cf__msgpack_check_one(b, nest(b, 65, true)), CF_EPROTO);
    cr_assert_eq(cf__msgpack_check_one(b, nest(b, 200, false) - 1), CF_EPROTO);
}

Test(validate, depth_through_maps_and_wide_headers, .timeout = 10)
{
    unsigned char b[400];
    size_t len;

    for (int n = 63; n <= 66; n++) {
        len = 0; /* {nil: {nil: ... nil}} */
        for (int i = 0; i < n; i++) {
            b[len++] = 0x81;
            b[len++] = 0xc0;
        }
        b[len++] = 0xc0;
        cr_assert_eq(cf__msgpack_check_one(b, len), n <= 64 ? 0 : CF_EPROTO, "maps %d", n);

        len = 0; /* array16 headers */
        for (int i = 0; i < n; i++) {
            b[len++] = 0xdc;
            b[len++] = 0;
            b[len++] = 1;
        }
        b[len++] = 0x01;
        cr_assert_eq(cf__msgpack_check_one(b, len), n <= 64 ? 0 : CF_EPROTO, "arr16 %d", n);
    }
}

Test(validate, depth_returns_after_siblings, .timeout = 10)
{
    /* [deep63, deep63, 1]: 64 levels at most, though 126 containers open
     * and close along the way. */
    unsigned char b[300];
    size_t len = 0;
    unsigned depth;

    b[len++] = 0x93;
    len += nest(b + len, 63, false);
    len += nest(b + len, 63, true);
    b[len++] = 0x01;
    cr_assert_eq(cf__msgpack_check_prefix(b, len, 1, NULL, &depth), 0);
    cr_assert_eq(depth, 64);
    cr_assert_eq(cf__msgpack_check_one(b, len), 0);
    cr_assert_eq(ref_check_one(b, len), 0);
}

/* --------------------------------------------------------------- fuzz */

static uint32_t rng_next(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 33);
}

/* Agreement with the reference on one buffer; when accepted, msgpack-c
 * must unpack it too (if it is shallow enough for msgpack-c). */
static int fuzz_one(const unsigned char *b, size_t len)
{
    unsigned depth = 0;
    int got = cf__msgpack_check_one(b, len);

    cr_assert_eq(got, ref_check_one(b, len), "len %zu first 0x%02x", len, len ? b[0] : 0);
    if (got == 0 && cf__msgpack_check_prefix(b, len, 1, NULL, &depth) == 0 &&
        depth <= CF__MSGPACK_UNPACK_DEPTH_MAX)
        expect_msgpack_c_accepts(b, len);
    return got;
}

Test(validate, random_bytes_agree_with_oracles, .timeout = 10)
{
    /* biased toward headers so that containers and lengths show up */
    static const unsigned char pool[] = {0x00, 0x01, 0x05, 0x7f, 0x80, 0x81, 0x82, 0x90, 0x91,
                                         0x92, 0x93, 0x9f, 0xa0, 0xa1, 0xa3, 0xc0, 0xc1, 0xc2,
                                         0xc4, 0xc5, 0xc7, 0xc9, 0xca, 0xcb, 0xcc, 0xcf, 0xd0,
                                         0xd4, 0xd5, 0xd8, 0xd9, 0xdb, 0xdc, 0xdd, 0xde, 0xdf,
                                         0xe0, 0xff};
    uint64_t seed = 12345;
    unsigned char b[48];
    int accepted = 0;

    for (int iter = 0; iter < 200000; iter++) {
        size_t len = rng_next(&seed) % sizeof(b);
        for (size_t i = 0; i < len; i++)
            b[i] = rng_next(&seed) % 3 ? pool[rng_next(&seed) % sizeof(pool)]
                                       : (unsigned char)rng_next(&seed);
        accepted += fuzz_one(b, len) == 0;
    }
    /* both answers must be exercised for the comparison to mean much */
    cr_assert_gt(accepted, 1000);
    cr_assert_lt(accepted, 199000);
}

Test(validate, mutated_encodings_agree_with_oracles, .timeout = 10)
{
    struct enc e;
    uint64_t seed = 99;

    enc_init(&e);
    /* [{"k": [1, -2.5, bin, ext]}, "str", [[]], 300] packed by msgpack-c */
    msgpack_pack_array(&e.pk, 4);
    msgpack_pack_map(&e.pk, 1);
    msgpack_pack_str_with_body(&e.pk, "k", 1);
    msgpack_pack_array(&e.pk, 4);
    msgpack_pack_int(&e.pk, 1);
    msgpack_pack_double(&e.pk, -2.5);
    msgpack_pack_bin_with_body(&e.pk, "\x01\x02\x03", 3);
    msgpack_pack_ext_with_body(&e.pk, "abcd", 4, 9);
    msgpack_pack_str_with_body(&e.pk, "str", 3);
    msgpack_pack_array(&e.pk, 1);
    msgpack_pack_array(&e.pk, 0);
    msgpack_pack_int(&e.pk, 300);
    cr_assert_eq(cf__msgpack_check_one(e.sb.data, e.sb.size), 0);

    unsigned char b[64];
    size_t len = e.sb.size;
    int accepted = 0;

    cr_assert_leq(len, sizeof(b));
    for (int iter = 0; iter < 100000; iter++) {
        memcpy(b, e.sb.data, len);
        for (int m = 1 + (int)(rng_next(&seed) % 3); m > 0; m--)
            b[rng_next(&seed) % len] = (unsigned char)rng_next(&seed);
        accepted += fuzz_one(b, len - (rng_next(&seed) % 4 == 0 ? rng_next(&seed) % len : 0)) == 0;
    }
    cr_assert_gt(accepted, 1000);
    cr_assert_lt(accepted, 99000);
    enc_fini(&e);
}

/* What crosses the process boundary must also unpack inside a map chunk. */
Test(validate, value_depth_limit, .timeout = 10)
{
    unsigned char b[256];
    size_t n = nest(b, CF__VALUE_DEPTH_MAX, false);
    cr_assert_eq(cf__msgpack_check_value(b, n), 0);
    cr_assert_eq(cf__msgpack_check_one(b, n), 0);
    n = nest(b, CF__VALUE_DEPTH_MAX + 1, false);
    cr_assert_eq(cf__msgpack_check_value(b, n), CF_EPROTO);
    cr_assert_eq(cf__msgpack_check_one(b, n), 0, "still well-formed msgpack");
    n = nest(b, 3, true);
    b[n] = 0xc0; /* a trailing nil: two objects, not one */
    cr_assert_eq(cf__msgpack_check_value(b, n + 1), CF_EPROTO);
    cr_assert_eq(cf__msgpack_check_value(NULL, 0), CF_EPROTO);
}
