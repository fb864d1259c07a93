/* tests/test_args.c — typed msgpack readers (cf_obj_*, cf_arg_*) and the
 * format packer (cf_pack_args/cf_pack_argsv) from serialize/args.c.
 * Objects are built by hand or unpacked from bytes msgpack-c packed; the
 * packer's output is compared with the same values packed by msgpack-c
 * directly, and a few spec bytes are spelled out literally. */
#include <cfutures.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <msgpack.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define OBJ_POS(x) ((msgpack_object){.type = MSGPACK_OBJECT_POSITIVE_INTEGER, .via.u64 = (x)})
#define OBJ_NEG(x) ((msgpack_object){.type = MSGPACK_OBJECT_NEGATIVE_INTEGER, .via.i64 = (x)})
#define OBJ_F64(x) ((msgpack_object){.type = MSGPACK_OBJECT_FLOAT64, .via.f64 = (x)})
#define OBJ_F32(x) ((msgpack_object){.type = MSGPACK_OBJECT_FLOAT32, .via.f64 = (x)})
#define OBJ_BOOL(x) ((msgpack_object){.type = MSGPACK_OBJECT_BOOLEAN, .via.boolean = (x)})
#define OBJ_NIL ((msgpack_object){.type = MSGPACK_OBJECT_NIL})
#define OBJ_STR(p, n) \
    ((msgpack_object){.type = MSGPACK_OBJECT_STR, .via.str = {.ptr = (p), .size = (n)}})
#define OBJ_BIN(p, n) \
    ((msgpack_object){.type = MSGPACK_OBJECT_BIN, .via.bin = {.ptr = (p), .size = (n)}})
#define OBJ_ARR(p, n) \
    ((msgpack_object){.type = MSGPACK_OBJECT_ARRAY, .via.array = {.ptr = (p), .size = (n)}})
#define OBJ_MAP ((msgpack_object){.type = MSGPACK_OBJECT_MAP})
#define OBJ_EXT ((msgpack_object){.type = MSGPACK_OBJECT_EXT})

/* One of each type but `keep`, for the CF_ETYPE sweeps. */
static size_t others(msgpack_object_type keep, msgpack_object *out)
{
    static msgpack_object inner[1];
    const msgpack_object all[] = {
        OBJ_NIL, OBJ_BOOL(true), OBJ_POS(1), OBJ_NEG(-1), OBJ_F32(1.5), OBJ_F64(2.5),
        OBJ_STR("s", 1), OBJ_BIN("b", 1), OBJ_ARR(inner, 1), OBJ_MAP, OBJ_EXT,
    };
    size_t n = 0;

    inner[0] = OBJ_NIL;
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (all[i].type != keep)
            out[n++] = all[i];
    return n;
}

/* --------------------------------------------------------- cf_obj_* */

Test(args, obj_i64, .timeout = 10)
{
    msgpack_object o, bad[16];
    int64_t v;
    size_t n;

    o = OBJ_POS(0);
    cr_assert_eq(cf_obj_i64(&o, &v), 0);
    cr_assert_eq(v, 0);
    o = OBJ_POS(INT64_MAX);
    cr_assert_eq(cf_obj_i64(&o, &v), 0);
    cr_assert_eq(v, INT64_MAX);
    o = OBJ_NEG(INT64_MIN);
    cr_assert_eq(cf_obj_i64(&o, &v), 0);
    cr_assert_eq(v, INT64_MIN);
    o = OBJ_NEG(-7);
    cr_assert_eq(cf_obj_i64(&o, &v), 0);
    cr_assert_eq(v, -7);

    v = 123;
    o = OBJ_POS((uint64_t)INT64_MAX + 1);
    cr_assert_eq(cf_obj_i64(&o, &v), CF_ETYPE);
    o = OBJ_POS(UINT64_MAX);
    cr_assert_eq(cf_obj_i64(&o, &v), CF_ETYPE);
    n = others(MSGPACK_OBJECT_POSITIVE_INTEGER, bad);
    for (size_t i = 0; i < n; i++)
        if (bad[i].type != MSGPACK_OBJECT_NEGATIVE_INTEGER)
            cr_assert_eq(cf_obj_i64(&bad[i], &v), CF_ETYPE, "type %d", bad[i].type);
    cr_assert_eq(v, 123, "failure leaves *out alone");
    cr_assert_eq(cf_obj_i64(NULL, &v), -EINVAL);
    cr_assert_eq(cf_obj_i64(&o, NULL), -EINVAL);
}

Test(args, obj_u64, .timeout = 10)
{
    msgpack_object o, bad[16];
    uint64_t v;
    size_t n;

    o = OBJ_POS(UINT64_MAX);
    cr_assert_eq(cf_obj_u64(&o, &v), 0);
    cr_assert_eq(v, UINT64_MAX);
    o = OBJ_POS(0);
    cr_assert_eq(cf_obj_u64(&o, &v), 0);
    cr_assert_eq(v, 0);
    n = others(MSGPACK_OBJECT_POSITIVE_INTEGER, bad);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(cf_obj_u64(&bad[i], &v), CF_ETYPE, "type %d", bad[i].type);
    cr_assert_eq(cf_obj_u64(NULL, &v), -EINVAL);
    cr_assert_eq(cf_obj_u64(&o, NULL), -EINVAL);
}

Test(args, obj_f64, .timeout = 10)
{
    msgpack_object o, bad[16];
    double v;
    size_t n;

    o = OBJ_F64(-2.25);
    cr_assert_eq(cf_obj_f64(&o, &v), 0);
    cr_assert_eq(v, -2.25);
    o = OBJ_F32(0.5);
    cr_assert_eq(cf_obj_f64(&o, &v), 0);
    cr_assert_eq(v, 0.5);
    o = OBJ_POS(1ull << 53);
    cr_assert_eq(cf_obj_f64(&o, &v), 0);
    cr_assert_eq(v, 9007199254740992.0);
    o = OBJ_NEG(-3);
    cr_assert_eq(cf_obj_f64(&o, &v), 0);
    cr_assert_eq(v, -3.0);
    n = others(MSGPACK_OBJECT_FLOAT64, bad);
    for (size_t i = 0; i < n; i++) {
        msgpack_object_type t = bad[i].type;
        bool num = t == MSGPACK_OBJECT_FLOAT32 || t == MSGPACK_OBJECT_POSITIVE_INTEGER ||
                   t == MSGPACK_OBJECT_NEGATIVE_INTEGER;
        cr_assert_eq(cf_obj_f64(&bad[i], &v), num ? 0 : CF_ETYPE, "type %d", t);
    }
    cr_assert_eq(cf_obj_f64(NULL, &v), -EINVAL);
    cr_assert_eq(cf_obj_f64(&o, NULL), -EINVAL);
}

Test(args, obj_f64_from_packed_float32, .timeout = 10)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_zone z;
    msgpack_object o;
    size_t off = 0;
    double v;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_float(&pk, 1.25f);
    cr_assert(msgpack_zone_init(&z, 256));
    cr_assert_eq(msgpack_unpack(sb.data, sb.size, &off, &z, &o), MSGPACK_UNPACK_SUCCESS);
    cr_assert_eq(o.type, MSGPACK_OBJECT_FLOAT32);
    cr_assert_eq(cf_obj_f64(&o, &v), 0);
    cr_assert_eq(v, 1.25);
    msgpack_zone_destroy(&z);
    msgpack_sbuffer_destroy(&sb);
}

Test(args, obj_bool, .timeout = 10)
{
    msgpack_object o, bad[16];
    bool v = false;
    size_t n;

    o = OBJ_BOOL(true);
    cr_assert_eq(cf_obj_bool(&o, &v), 0);
    cr_assert(v);
    o = OBJ_BOOL(false);
    cr_assert_eq(cf_obj_bool(&o, &v), 0);
    cr_assert_not(v);
    n = others(MSGPACK_OBJECT_BOOLEAN, bad);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(cf_obj_bool(&bad[i], &v), CF_ETYPE, "type %d", bad[i].type);
    cr_assert_eq(cf_obj_bool(NULL, &v), -EINVAL);
    cr_assert_eq(cf_obj_bool(&o, NULL), -EINVAL);
}

Test(args, obj_str_bin_array, .timeout = 10)
{
    msgpack_object items[2] = {OBJ_POS(1), OBJ_NIL};
    msgpack_object s = OBJ_STR("a\0b", 3), b = OBJ_BIN("\x00\x01", 2), a = OBJ_ARR(items, 2);
    msgpack_object bad[16];
    const msgpack_object *ip;
    const char *sp;
    const void *bp;
    size_t len, n;

    cr_assert_eq(cf_obj_str(&s, &sp, &len), 0);
    cr_assert_eq(sp, s.via.str.ptr, "borrowed, not copied");
    cr_assert_eq(len, 3);
    cr_assert_eq(cf_obj_bin(&b, &bp, &len), 0);
    cr_assert_eq(bp, b.via.bin.ptr);
    cr_assert_eq(len, 2);
    cr_assert_eq(cf_obj_array(&a, &ip, &len), 0);
    cr_assert_eq(ip, items);
    cr_assert_eq(len, 2);

    n = others(MSGPACK_OBJECT_STR, bad);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(cf_obj_str(&bad[i], &sp, &len), CF_ETYPE);
    n = others(MSGPACK_OBJECT_BIN, bad);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(cf_obj_bin(&bad[i], &bp, &len), CF_ETYPE);
    n = others(MSGPACK_OBJECT_ARRAY, bad);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(cf_obj_array(&bad[i], &ip, &len), CF_ETYPE);

    cr_assert_eq(cf_obj_str(NULL, &sp, &len), -EINVAL);
    cr_assert_eq(cf_obj_str(&s, NULL, &len), -EINVAL);
    cr_assert_eq(cf_obj_str(&s, &sp, NULL), -EINVAL);
    cr_assert_eq(cf_obj_bin(NULL, &bp, &len), -EINVAL);
    cr_assert_eq(cf_obj_bin(&b, NULL, &len), -EINVAL);
    cr_assert_eq(cf_obj_bin(&b, &bp, NULL), -EINVAL);
    cr_assert_eq(cf_obj_array(NULL, &ip, &len), -EINVAL);
    cr_assert_eq(cf_obj_array(&a, NULL, &len), -EINVAL);
    cr_assert_eq(cf_obj_array(&a, &ip, NULL), -EINVAL);
}

/* --------------------------------------------------------- cf_arg_* */

/* [7, -8, 2.5, true, "hi", bin "\x01\x02", [nil]] */
static msgpack_object inner_nil[1];
static msgpack_object arg_items[7];

static msgpack_object make_args(void)
{
    inner_nil[0] = OBJ_NIL;
    arg_items[0] = OBJ_POS(7);
    arg_items[1] = OBJ_NEG(-8);
    arg_items[2] = OBJ_F64(2.5);
    arg_items[3] = OBJ_BOOL(true);
    arg_items[4] = OBJ_STR("hi", 2);
    arg_items[5] = OBJ_BIN("\x01\x02", 2);
    arg_items[6] = OBJ_ARR(inner_nil, 1);
    return OBJ_ARR(arg_items, 7);
}

Test(args, arg_count_and_arg, .timeout = 10)
{
    msgpack_object args = make_args(), empty = OBJ_ARR(NULL, 0), notarr = OBJ_POS(3);
    const msgpack_object *o = NULL;

    cr_assert_eq(cf_arg_count(&args), 7);
    cr_assert_eq(cf_arg_count(&empty), 0);
    cr_assert_eq(cf_arg_count(&notarr), CF_ETYPE);
    cr_assert_eq(cf_arg_count(NULL), -EINVAL);

    cr_assert_eq(cf_arg(&args, 4, &o), 0);
    cr_assert_eq(o, &arg_items[4]);
    cr_assert_eq(cf_arg(&args, 7, &o), -ERANGE);
    cr_assert_eq(cf_arg(&args, SIZE_MAX, &o), -ERANGE);
    cr_assert_eq(cf_arg(&empty, 0, &o), -ERANGE);
    cr_assert_eq(cf_arg(&notarr, 0, &o), CF_ETYPE);
    cr_assert_eq(cf_arg(NULL, 0, &o), -EINVAL);
    cr_assert_eq(cf_arg(&args, 0, NULL), -EINVAL);
    cr_assert_eq(o, &arg_items[4], "failures leave *out alone");
}

Test(args, arg_typed_success, .timeout = 10)
{
    msgpack_object args = make_args();
    const msgpack_object *ip;
    const char *sp;
    const void *bp;
    int64_t i;
    uint64_t u;
    double d;
    bool b;
    size_t len;

    cr_assert_eq(cf_arg_i64(&args, 0, &i), 0);
    cr_assert_eq(i, 7);
    cr_assert_eq(cf_arg_i64(&args, 1, &i), 0);
    cr_assert_eq(i, -8);
    cr_assert_eq(cf_arg_u64(&args, 0, &u), 0);
    cr_assert_eq(u, 7);
    cr_assert_eq(cf_arg_f64(&args, 2, &d), 0);
    cr_assert_eq(d, 2.5);
    cr_assert_eq(cf_arg_f64(&args, 1, &d), 0);
    cr_assert_eq(d, -8.0);
    cr_assert_eq(cf_arg_bool(&args, 3, &b), 0);
    cr_assert(b);
    cr_assert_eq(cf_arg_str(&args, 4, &sp, &len), 0);
    cr_assert_eq(len, 2);
    cr_assert_eq(memcmp(sp, "hi", 2), 0);
    cr_assert_eq(cf_arg_bin(&args, 5, &bp, &len), 0);
    cr_assert_eq(len, 2);
    cr_assert_eq(memcmp(bp, "\x01\x02", 2), 0);
    cr_assert_eq(cf_arg_array(&args, 6, &ip, &len), 0);
    cr_assert_eq(len, 1);
    cr_assert_eq(ip, inner_nil);
}

Test(args, arg_typed_errors, .timeout = 10)
{
    msgpack_object args = make_args(), notarr = OBJ_STR("x", 1);
    const msgpack_object *ip;
    const char *sp;
    const void *bp;
    int64_t i;
    uint64_t u;
    double d;
    bool b;
    size_t len;

    /* element of another type */
    cr_assert_eq(cf_arg_i64(&args, 4, &i), CF_ETYPE);
    cr_assert_eq(cf_arg_u64(&args, 1, &u), CF_ETYPE);
    cr_assert_eq(cf_arg_f64(&args, 3, &d), CF_ETYPE);
    cr_assert_eq(cf_arg_bool(&args, 0, &b), CF_ETYPE);
    cr_assert_eq(cf_arg_str(&args, 5, &sp, &len), CF_ETYPE);
    cr_assert_eq(cf_arg_bin(&args, 4, &bp, &len), CF_ETYPE);
    cr_assert_eq(cf_arg_array(&args, 0, &ip, &len), CF_ETYPE);
    /* past the end */
    cr_assert_eq(cf_arg_i64(&args, 7, &i), -ERANGE);
    cr_assert_eq(cf_arg_u64(&args, 8, &u), -ERANGE);
    cr_assert_eq(cf_arg_f64(&args, 100, &d), -ERANGE);
    cr_assert_eq(cf_arg_bool(&args, 7, &b), -ERANGE);
    cr_assert_eq(cf_arg_str(&args, 7, &sp, &len), -ERANGE);
    cr_assert_eq(cf_arg_bin(&args, 7, &bp, &len), -ERANGE);
    cr_assert_eq(cf_arg_array(&args, SIZE_MAX, &ip, &len), -ERANGE);
    /* args not an array */
    cr_assert_eq(cf_arg_i64(&notarr, 0, &i), CF_ETYPE);
    cr_assert_eq(cf_arg_u64(&notarr, 0, &u), CF_ETYPE);
    cr_assert_eq(cf_arg_f64(&notarr, 0, &d), CF_ETYPE);
    cr_assert_eq(cf_arg_bool(&notarr, 0, &b), CF_ETYPE);
    cr_assert_eq(cf_arg_str(&notarr, 0, &sp, &len), CF_ETYPE);
    cr_assert_eq(cf_arg_bin(&notarr, 0, &bp, &len), CF_ETYPE);
    cr_assert_eq(cf_arg_array(&notarr, 0, &ip, &len), CF_ETYPE);
    /* NULLs win over every other error */
    cr_assert_eq(cf_arg_i64(NULL, 0, &i), -EINVAL);
    cr_assert_eq(cf_arg_i64(&args, 99, NULL), -EINVAL);
    cr_assert_eq(cf_arg_u64(&args, 0, NULL), -EINVAL);
    cr_assert_eq(cf_arg_f64(&args, 0, NULL), -EINVAL);
    cr_assert_eq(cf_arg_bool(&args, 0, NULL), -EINVAL);
    cr_assert_eq(cf_arg_str(&args, 4, NULL, &len), -EINVAL);
    cr_assert_eq(cf_arg_str(&args, 4, &sp, NULL), -EINVAL);
    cr_assert_eq(cf_arg_bin(&args, 5, NULL, &len), -EINVAL);
    cr_assert_eq(cf_arg_bin(&args, 5, &bp, NULL), -EINVAL);
    cr_assert_eq(cf_arg_array(&args, 6, NULL, &len), -EINVAL);
    cr_assert_eq(cf_arg_array(&args, 6, &ip, NULL), -EINVAL);
    cr_assert_eq(cf_arg_array(NULL, 6, &ip, &len), -EINVAL);
}

/* ------------------------------------------------------- cf_pack_args */

struct pair {
    msgpack_sbuffer got, want;
    msgpack_packer gp, wp; /* gp: code under test; wp: msgpack-c directly */
};

static void pair_init(struct pair *p)
{
    msgpack_sbuffer_init(&p->got);
    msgpack_sbuffer_init(&p->want);
    msgpack_packer_init(&p->gp, &p->got, msgpack_sbuffer_write);
    msgpack_packer_init(&p->wp, &p->want, msgpack_sbuffer_write);
}

static void pair_fini(struct pair *p)
{
    msgpack_sbuffer_destroy(&p->got);
    msgpack_sbuffer_destroy(&p->want);
}

static void pair_check(struct pair *p, const char *what)
{
    cr_assert_eq(p->got.size, p->want.size, "%s: %zu bytes, want %zu", what, p->got.size,
                 p->want.size);
    cr_assert_eq(memcmp(p->got.data, p->want.data, p->want.size), 0, "%s: bytes differ", what);
    msgpack_sbuffer_clear(&p->got);
    msgpack_sbuffer_clear(&p->want);
}

static void expect_literal(const char *fmt_name, const msgpack_sbuffer *sb, const char *bytes,
                           size_t n)
{
    cr_assert_eq(sb->size, n, "%s: %zu bytes, want %zu", fmt_name, sb->size, n);
    cr_assert_eq(memcmp(sb->data, bytes, n), 0, "%s", fmt_name);
}

Test(args, pack_literal_bytes, .timeout = 10)
{
    struct pair p;

    pair_init(&p);
    cr_assert_eq(cf_pack_args(&p.gp, ""), 0);
    expect_literal("\"\"", &p.got, "\x90", 1);
    msgpack_sbuffer_clear(&p.got);
    cr_assert_eq(cf_pack_args(&p.gp, "i", (int64_t)1), 0);
    expect_literal("i 1", &p.got, "\x91\x01", 2);
    msgpack_sbuffer_clear(&p.got);
    cr_assert_eq(cf_pack_args(&p.gp, "i?n", (int64_t)-1, 1), 0);
    expect_literal("i?n", &p.got, "\x93\xff\xc3\xc0", 4);
    msgpack_sbuffer_clear(&p.got);
    cr_assert_eq(cf_pack_args(&p.gp, "s[]", "ab"), 0);
    expect_literal("s[]", &p.got, "\x92\xa2" "ab\x90", 5);
    msgpack_sbuffer_clear(&p.got);
    cr_assert_eq(cf_pack_args(&p.gp, "[[u]]", (uint64_t)200), 0);
    expect_literal("[[u]]", &p.got, "\x91\x91\x91\xcc\xc8", 5);
    pair_fini(&p);
}

Test(args, pack_integers, .timeout = 10)
{
    static const int64_t iv[] = {0, 1, 127, 128, 255, 256, 65535, 65536, -1, -32, -33,
                                 -128, -129, -32768, -32769, INT32_MIN, INT32_MAX,
                                 (int64_t)INT32_MIN - 1, INT64_MIN, INT64_MAX};
    static const uint64_t uv[] = {0, 127, 128, 255, 256, 65535, 65536, UINT32_MAX,
                                  (uint64_t)UINT32_MAX + 1, UINT64_MAX};
    struct pair p;

    pair_init(&p);
    for (size_t k = 0; k < sizeof(iv) / sizeof(iv[0]); k++) {
        cr_assert_eq(cf_pack_args(&p.gp, "i", iv[k]), 0);
        msgpack_pack_array(&p.wp, 1);
        msgpack_pack_int64(&p.wp, iv[k]);
        pair_check(&p, "i");
    }
    for (size_t k = 0; k < sizeof(uv) / sizeof(uv[0]); k++) {
        cr_assert_eq(cf_pack_args(&p.gp, "u", uv[k]), 0);
        msgpack_pack_array(&p.wp, 1);
        msgpack_pack_uint64(&p.wp, uv[k]);
        pair_check(&p, "u");
    }
    pair_fini(&p);
}

Test(args, pack_double_bool_nil, .timeout = 10)
{
    static const double dv[] = {0.0, -0.0, 1.5, -1e300, 5e-324, INFINITY, -INFINITY};
    struct pair p;

    pair_init(&p);
    for (size_t k = 0; k < sizeof(dv) / sizeof(dv[0]); k++) {
        cr_assert_eq(cf_pack_args(&p.gp, "d", dv[k]), 0);
        msgpack_pack_array(&p.wp, 1);
        msgpack_pack_double(&p.wp, dv[k]);
        pair_check(&p, "d");
    }
    cr_assert_eq(cf_pack_args(&p.gp, "???", 0, 1, 2), 0);
    msgpack_pack_array(&p.wp, 3);
    msgpack_pack_false(&p.wp);
    msgpack_pack_true(&p.wp);
    msgpack_pack_true(&p.wp);
    pair_check(&p, "???");
    cr_assert_eq(cf_pack_args(&p.gp, "??", true, false), 0);
    msgpack_pack_array(&p.wp, 2);
    msgpack_pack_true(&p.wp);
    msgpack_pack_false(&p.wp);
    pair_check(&p, "?? bool");
    cr_assert_eq(cf_pack_args(&p.gp, "nn"), 0);
    msgpack_pack_array(&p.wp, 2);
    msgpack_pack_nil(&p.wp);
    msgpack_pack_nil(&p.wp);
    pair_check(&p, "nn");
    pair_fini(&p);
}

Test(args, pack_strings_and_binaries, .timeout = 10)
{
    static const size_t lens[] = {0, 1, 31, 32, 255, 256, 65535, 65536};
    char *big = malloc(65536);
    struct pair p;

    cr_assert_not_null(big);
    memset(big, 'z', 65536);
    pair_init(&p);
    cr_assert_eq(cf_pack_args(&p.gp, "s", "hello"), 0);
    msgpack_pack_array(&p.wp, 1);
    msgpack_pack_str_with_body(&p.wp, "hello", 5);
    pair_check(&p, "s");
    cr_assert_eq(cf_pack_args(&p.gp, "S", "a\0b", (size_t)3), 0);
    msgpack_pack_array(&p.wp, 1);
    msgpack_pack_str_with_body(&p.wp, "a\0b", 3);
    pair_check(&p, "S with NUL");
    for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
        big[lens[k] ? lens[k] - 1 : 0] = '\0';
        cr_assert_eq(cf_pack_args(&p.gp, "sSb", big, big, lens[k], big, lens[k]), 0);
        msgpack_pack_array(&p.wp, 3);
        msgpack_pack_str_with_body(&p.wp, big, strlen(big));
        msgpack_pack_str_with_body(&p.wp, big, lens[k]);
        msgpack_pack_bin_with_body(&p.wp, big, lens[k]);
        pair_check(&p, "sSb");
        big[lens[k] ? lens[k] - 1 : 0] = 'z';
    }
    /* NULL with length 0 is an empty string or binary */
    cr_assert_eq(cf_pack_args(&p.gp, "Sb", (const char *)NULL, (size_t)0, (const void *)NULL,
                              (size_t)0), 0);
    expect_literal("Sb NULL 0", &p.got, "\x92\xa0\xc4\x00", 4);
    pair_fini(&p);
    free(big);
}

Test(args, pack_object, .timeout = 10)
{
    msgpack_sbuffer src;
    msgpack_packer sp;
    msgpack_zone z;
    msgpack_object o;
    size_t off = 0;
    struct pair p;

    /* {"k": [1, -2, "v", bin, 1.5]} packed and unpacked by msgpack-c */
    msgpack_sbuffer_init(&src);
    msgpack_packer_init(&sp, &src, msgpack_sbuffer_write);
    msgpack_pack_map(&sp, 1);
    msgpack_pack_str_with_body(&sp, "k", 1);
    msgpack_pack_array(&sp, 5);
    msgpack_pack_int(&sp, 1);
    msgpack_pack_int(&sp, -2);
    msgpack_pack_str_with_body(&sp, "v", 1);
    msgpack_pack_bin_with_body(&sp, "\x07", 1);
    msgpack_pack_double(&sp, 1.5);
    cr_assert(msgpack_zone_init(&z, 1024));
    cr_assert_eq(msgpack_unpack(src.data, src.size, &off, &z, &o), MSGPACK_UNPACK_SUCCESS);

    pair_init(&p);
    cr_assert_eq(cf_pack_args(&p.gp, "oo", &o, &o), 0);
    msgpack_sbuffer_write(&p.want, "\x92", 1);
    msgpack_sbuffer_write(&p.want, src.data, src.size);
    msgpack_sbuffer_write(&p.want, src.data, src.size);
    pair_check(&p, "oo");
    pair_fini(&p);
    msgpack_zone_destroy(&z);
    msgpack_sbuffer_destroy(&src);
}

Test(args, pack_mixed_and_spaces, .timeout = 10)
{
    struct pair p;
    msgpack_object nil = OBJ_NIL;

    pair_init(&p);
    cr_assert_eq(cf_pack_args(&p.gp, " i [ s [ d ] n ]\t? u\n[]o ", (int64_t)-5, "x", 0.25, 1,
                              (uint64_t)9, &nil), 0);
    msgpack_pack_array(&p.wp, 6);
    msgpack_pack_int64(&p.wp, -5);
    msgpack_pack_array(&p.wp, 3);
    msgpack_pack_str_with_body(&p.wp, "x", 1);
    msgpack_pack_array(&p.wp, 1);
    msgpack_pack_double(&p.wp, 0.25);
    msgpack_pack_nil(&p.wp);
    msgpack_pack_true(&p.wp);
    msgpack_pack_uint64(&p.wp, 9);
    msgpack_pack_array(&p.wp, 0);
    msgpack_pack_nil(&p.wp);
    pair_check(&p, "mixed");
    pair_fini(&p);
}

Test(args, pack_nested_empty_arrays, .timeout = 10)
{
    struct pair p;

    pair_init(&p);
    cr_assert_eq(cf_pack_args(&p.gp, "[]"), 0);
    expect_literal("[]", &p.got, "\x91\x90", 2);
    msgpack_sbuffer_clear(&p.got);
    cr_assert_eq(cf_pack_args(&p.gp, "[[]][][[][[]]]"), 0);
    msgpack_pack_array(&p.wp, 3);
    msgpack_pack_array(&p.wp, 1);     /* [[]] */
    msgpack_pack_array(&p.wp, 0);
    msgpack_pack_array(&p.wp, 0);     /* [] */
    msgpack_pack_array(&p.wp, 2);     /* [[],[[]]] */
    msgpack_pack_array(&p.wp, 0);
    msgpack_pack_array(&p.wp, 1);
    msgpack_pack_array(&p.wp, 0);
    pair_check(&p, "nested empties");
    pair_fini(&p);
}

Test(args, pack_deep_nesting, .timeout = 10)
{
    enum { DEPTH = 200 };
    char fmt[2 * DEPTH + 2];
    struct pair p;
    size_t n = 0;

    for (int i = 0; i < DEPTH; i++)
        fmt[n++] = '[';
    fmt[n++] = 'i';
    for (int i = 0; i < DEPTH; i++)
        fmt[n++] = ']';
    fmt[n] = '\0';
    pair_init(&p);
    cr_assert_eq(cf_pack_args(&p.gp, fmt, (int64_t)3), 0);
    msgpack_pack_array(&p.wp, 1);
    for (int i = 0; i < DEPTH; i++)
        msgpack_pack_array(&p.wp, 1);
    msgpack_pack_int(&p.wp, 3);
    pair_check(&p, "deep");
    pair_fini(&p);
}

/* Counts past 15 and 65535 switch msgpack to array16 and array32
 * headers; a format of 'n's reaches them without any arguments. */
Test(args, pack_wide_arrays, .timeout = 10)
{
    static const size_t counts[] = {15, 16, 65535, 65536};
    char *fmt = malloc(70000);
    struct pair p;

    cr_assert_not_null(fmt);
    pair_init(&p);
    for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
        size_t c = counts[k];

        /* top level: c nils */
        memset(fmt, 'n', c);
        fmt[c] = '\0';
        cr_assert_eq(cf_pack_args(&p.gp, fmt), 0);
        msgpack_pack_array(&p.wp, c);
        for (size_t i = 0; i < c; i++)
            msgpack_pack_nil(&p.wp);
        pair_check(&p, "top");
        /* nested: n[c nils]n */
        fmt[0] = 'n';
        fmt[1] = '[';
        memset(fmt + 2, 'n', c);
        fmt[c + 2] = ']';
        fmt[c + 3] = 'n';
        fmt[c + 4] = '\0';
        cr_assert_eq(cf_pack_args(&p.gp, fmt), 0);
        msgpack_pack_array(&p.wp, 3);
        msgpack_pack_nil(&p.wp);
        msgpack_pack_array(&p.wp, c);
        for (size_t i = 0; i < c; i++)
            msgpack_pack_nil(&p.wp);
        msgpack_pack_nil(&p.wp);
        pair_check(&p, "nested");
    }
    pair_fini(&p);
    free(fmt);
}

Test(args, pack_format_errors, .timeout = 10)
{
    static const char *const bad[] = {"x", "I", "i%", "[", "]", "[[i]", "i]", "][", "[]]",
                                      "i[", "[n]]["};
    msgpack_sbuffer sb;
    msgpack_packer pk;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        cr_assert_eq(cf_pack_args(&pk, bad[k], (int64_t)1, (int64_t)2), CF_EFORMAT, "%s",
                     bad[k]);
        /* checked before packing: nothing written */
        cr_assert_eq(sb.size, 0, "%s", bad[k]);
    }
    cr_assert_eq(cf_pack_args(&pk, NULL), CF_EFORMAT);
    cr_assert_eq(sb.size, 0);
    cr_assert_eq(cf_pack_args(NULL, "i", (int64_t)1), -EINVAL);
    msgpack_sbuffer_destroy(&sb);
}

Test(args, pack_bad_arguments, .timeout = 10)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    /* These are found while packing and may leave a partial array. */
    cr_assert_eq(cf_pack_args(&pk, "s", (const char *)NULL), CF_EFORMAT);
    cr_assert_eq(cf_pack_args(&pk, "is", (int64_t)1, (const char *)NULL), CF_EFORMAT);
    cr_assert_eq(cf_pack_args(&pk, "S", (const char *)NULL, (size_t)3), CF_EFORMAT);
    cr_assert_eq(cf_pack_args(&pk, "b", (const void *)NULL, (size_t)1), CF_EFORMAT);
    cr_assert_eq(cf_pack_args(&pk, "[o]", (const msgpack_object *)NULL), CF_EFORMAT);
    cr_assert_eq(cf_pack_args(&pk, "S", "x", (size_t)UINT32_MAX + 1), CF_EFORMAT);
    msgpack_sbuffer_destroy(&sb);
}

/* A writer that accepts `left` bytes, then fails. */
static int budget_write(void *data, const char *buf, size_t len)
{
    size_t *left = data;

    (void)buf;
    if (len > *left)
        return -1;
    *left -= len;
    return 0;
}

static int pack_everything(msgpack_packer *pk, const msgpack_object *o)
{
    return cf_pack_args(pk, "iud?ns[Sb[o]]", (int64_t)-70000, (uint64_t)1 << 40, 2.5, 1,
                        "str", "bytes", (size_t)5, "\x01\x02", (size_t)2, o);
}

Test(args, pack_writer_failure_is_enomem, .timeout = 10)
{
    msgpack_object items[2] = {OBJ_POS(300), OBJ_STR("abc", 3)};
    msgpack_object o = OBJ_ARR(items, 2);
    msgpack_packer pk;
    size_t left = SIZE_MAX, total;

    msgpack_packer_init(&pk, &left, budget_write);
    cr_assert_eq(pack_everything(&pk, &o), 0);
    total = SIZE_MAX - left;
    cr_assert_gt(total, 20);
    for (size_t budget = 0; budget < total; budget++) {
        left = budget;
        cr_assert_eq(pack_everything(&pk, &o), -ENOMEM, "budget %zu", budget);
    }
    left = total;
    cr_assert_eq(pack_everything(&pk, &o), 0);
}

/* What cf_submit does: a variadic wrapper hands its va_list on. */
static int wrapper(msgpack_packer *pk, const char *fmt, ...)
{
    va_list ap;
    int err;

    va_start(ap, fmt);
    err = cf_pack_argsv(pk, fmt, ap);
    va_end(ap);
    return err;
}

/* A wrapper that packs twice from copies of one va_list (a retry). */
static int wrapper_twice(msgpack_packer *a, msgpack_packer *b, const char *fmt, ...)
{
    va_list ap, aq;
    int err;

    va_start(ap, fmt);
    va_copy(aq, ap);
    err = cf_pack_argsv(a, fmt, ap);
    if (err == 0)
        err = cf_pack_argsv(b, fmt, aq);
    va_end(aq);
    va_end(ap);
    return err;
}

Test(args, pack_argsv_through_wrappers, .timeout = 10)
{
    struct pair p;

    pair_init(&p);
    cr_assert_eq(wrapper(&p.gp, "isd[S]b", (int64_t)-3, "two", 3.0, "four", (size_t)4,
                         "5", (size_t)1), 0);
    msgpack_pack_array(&p.wp, 5);
    msgpack_pack_int64(&p.wp, -3);
    msgpack_pack_str_with_body(&p.wp, "two", 3);
    msgpack_pack_double(&p.wp, 3.0);
    msgpack_pack_array(&p.wp, 1);
    msgpack_pack_str_with_body(&p.wp, "four", 4);
    msgpack_pack_bin_with_body(&p.wp, "5", 1);
    pair_check(&p, "wrapper");

    cr_assert_eq(wrapper_twice(&p.gp, &p.wp, "u[?s]", (uint64_t)77, 0, "z"), 0);
    cr_assert_gt(p.got.size, 0);
    pair_check(&p, "twice");
    pair_fini(&p);
}

/* Packed by cf_pack_args, unpacked by msgpack-c, read by cf_arg_*. */
Test(args, pack_then_read_back, .timeout = 10)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_zone z;
    msgpack_object args;
    const msgpack_object *items;
    const char *s;
    size_t off = 0, n;
    int64_t i;
    uint64_t u;
    double d;
    bool b;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    cr_assert_eq(cf_pack_args(&pk, "iuds?[n]", INT64_MIN, UINT64_MAX, -1.5, "hey", 1), 0);
    cr_assert(msgpack_zone_init(&z, 1024));
    cr_assert_eq(msgpack_unpack(sb.data, sb.size, &off, &z, &args), MSGPACK_UNPACK_SUCCESS);
    cr_assert_eq(cf_arg_count(&args), 6);
    cr_assert_eq(cf_arg_i64(&args, 0, &i), 0);
    cr_assert_eq(i, INT64_MIN);
    cr_assert_eq(cf_arg_u64(&args, 1, &u), 0);
    cr_assert_eq(u, UINT64_MAX);
    cr_assert_eq(cf_arg_i64(&args, 1, &i), CF_ETYPE);
    cr_assert_eq(cf_arg_f64(&args, 2, &d), 0);
    cr_assert_eq(d, -1.5);
    cr_assert_eq(cf_arg_str(&args, 3, &s, &n), 0);
    cr_assert_eq(n, 3);
    cr_assert_eq(memcmp(s, "hey", 3), 0);
    cr_assert_eq(cf_arg_bool(&args, 4, &b), 0);
    cr_assert(b);
    cr_assert_eq(cf_arg_array(&args, 5, &items, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(items[0].type, MSGPACK_OBJECT_NIL);
    cr_assert_eq(cf_arg(&args, 6, &items), -ERANGE);
    msgpack_zone_destroy(&z);
    msgpack_sbuffer_destroy(&sb);
}
