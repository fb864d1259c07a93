/* tests/test_record.c — record encoders and the hardened decoder
 * (serialize/record.c). Expected bytes are packed here with msgpack-c
 * directly; malformed records are hand-built from the same calls. */
#include "serialize/record.h"

#include <cfutures.h>
#include <criterion/criterion.h>
#include <errno.h>
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

static void enc_fini(struct enc *e)
{
    msgpack_sbuffer_destroy(&e->sb);
}

static void expect_bytes(const struct enc *got, const struct enc *want)
{
    cr_assert_eq(got->sb.size, want->sb.size, "size %zu, want %zu", got->sb.size,
                 want->sb.size);
    cr_assert_eq(memcmp(got->sb.data, want->sb.data, want->sb.size), 0);
}

/* Decodes into *r with a fresh zone kept in *z (caller destroys it). */
static int decode(const void *buf, size_t len, msgpack_zone *z, struct cf__record *r)
{
    cr_assert(msgpack_zone_init(z, 1024));
    return cf__record_decode(buf, len, z, r);
}

static int decode_only(const void *buf, size_t len)
{
    msgpack_zone z;
    struct cf__record r;
    int err = decode(buf, len, &z, &r);

    msgpack_zone_destroy(&z);
    return err;
}

/* The payloads used below, packed by msgpack-c. */
static void pack_rich_payload(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 6);
    msgpack_pack_int64(pk, 112272535095293LL);
    msgpack_pack_str_with_body(pk, "x\0y", 3);
    msgpack_pack_nil(pk);
    msgpack_pack_map(pk, 1);
    msgpack_pack_str_with_body(pk, "k", 1);
    msgpack_pack_double(pk, -0.5);
    msgpack_pack_bin_with_body(pk, "\x00\xff", 2);
    msgpack_pack_ext_with_body(pk, "abc", 3, -7);
}

/* Arguments of the shape the decoder reads in one pass (serialize/record.c,
 * flat_task): an array of scalars, every format. */
static void pack_flat_args(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 9);
    msgpack_pack_uint64(pk, UINT64_MAX);
    msgpack_pack_int64(pk, INT64_MIN);
    msgpack_pack_int(pk, -5);
    msgpack_pack_str_with_body(pk, "x\0y", 3);
    msgpack_pack_bin_with_body(pk, "\x00\xff", 2);
    msgpack_pack_nil(pk);
    msgpack_pack_true(pk);
    msgpack_pack_float(pk, 3.5f);
    msgpack_pack_double(pk, -0.25);
}

static void pack_chunk_items(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 2);
    msgpack_pack_array(pk, 1);
    msgpack_pack_int(pk, 1);
    msgpack_pack_array(pk, 2);
    msgpack_pack_int(pk, 2);
    msgpack_pack_float(pk, 3.5f);
}

/* A TASK's payload is unpacked; a CHUNK's items stay packed, the payload
 * object carrying only their count. */
static void expect_payload(const struct cf__record *r, void (*pack)(msgpack_packer *))
{
    struct enc want;
    msgpack_zone z;
    msgpack_object o;
    size_t off = 0;

    enc_init(&want);
    pack(&want.pk);
    cr_assert_eq(r->payload_len, want.sb.size);
    cr_assert_eq(memcmp(r->payload_raw, want.sb.data, want.sb.size), 0);
    cr_assert(msgpack_zone_init(&z, 1024));
    cr_assert_eq(msgpack_unpack(want.sb.data, want.sb.size, &off, &z, &o),
                 MSGPACK_UNPACK_SUCCESS);
    if (r->type == CF__REC_CHUNK) {
        cr_assert_eq(r->payload.type, MSGPACK_OBJECT_ARRAY);
        cr_assert_eq(o.type, MSGPACK_OBJECT_ARRAY);
        cr_assert_eq(r->payload.via.array.size, o.via.array.size);
        cr_assert_null(r->payload.via.array.ptr);
    } else {
        cr_assert(msgpack_object_equal(r->payload, o));
    }
    msgpack_zone_destroy(&z);
    enc_fini(&want);
}

/* ------------------------------------------------------------ roundtrip */

static void roundtrip_named(int type, uint64_t id, const char *name, size_t name_len,
                            void (*payload)(msgpack_packer *))
{
    struct enc got, want;
    struct cf__record r;
    msgpack_zone z;
    int err;

    enc_init(&got);
    enc_init(&want);
    err = type == CF__REC_TASK ? cf__record_task_begin(&got.pk, id, name, name_len)
                               : cf__record_chunk_begin(&got.pk, id, name, name_len);
    cr_assert_eq(err, 0);
    payload(&got.pk);
    msgpack_pack_int(&want.pk, type);
    msgpack_pack_uint64(&want.pk, id);
    msgpack_pack_str_with_body(&want.pk, name, name_len);
    payload(&want.pk);
    expect_bytes(&got, &want);

    cr_assert_eq(decode(got.sb.data, got.sb.size, &z, &r), 0);
    cr_assert_eq(r.type, type);
    cr_assert_eq(r.id, id);
    cr_assert_eq(r.name_len, name_len);
    cr_assert_eq(memcmp(r.name, name, name_len), 0);
    expect_payload(&r, payload);
    msgpack_zone_destroy(&z);
    enc_fini(&got);
    enc_fini(&want);
}

Test(record, task_roundtrip, .timeout = 10)
{
    char long_name[CF__TASK_NAME_MAX];

    memset(long_name, 'n', sizeof(long_name));
    roundtrip_named(CF__REC_TASK, 42, "is_prime", 8, pack_rich_payload);
    roundtrip_named(CF__REC_TASK, 0, "a", 1, pack_rich_payload);
    roundtrip_named(CF__REC_TASK, UINT64_MAX, long_name, sizeof(long_name),
                    pack_chunk_items);
}

Test(record, chunk_roundtrip, .timeout = 10)
{
    roundtrip_named(CF__REC_CHUNK, 7, "square", 6, pack_chunk_items);
    roundtrip_named(CF__REC_CHUNK, 1ull << 40, "s", 1, pack_rich_payload);
}

Test(record, result_ok_roundtrip, .timeout = 10)
{
    struct enc got, want;
    struct cf__record r;
    msgpack_zone z;

    enc_init(&got);
    enc_init(&want);
    cr_assert_eq(cf__record_result_begin(&got.pk, 99), 0);
    pack_rich_payload(&got.pk);
    msgpack_pack_int(&want.pk, CF__REC_RESULT);
    msgpack_pack_uint64(&want.pk, 99);
    msgpack_pack_int(&want.pk, 0);
    pack_rich_payload(&want.pk);
    expect_bytes(&got, &want);

    cr_assert_eq(decode(got.sb.data, got.sb.size, &z, &r), 0);
    cr_assert_eq(r.type, CF__REC_RESULT);
    cr_assert_eq(r.id, 99);
    cr_assert_eq(r.status, 0);
    cr_assert_null(r.message);
    /* The value stays packed (the future unpacks it when asked). */
    cr_assert_eq(r.payload.type, MSGPACK_OBJECT_NIL);
    cr_assert_eq(r.payload_len, want.sb.size - 3);
    cr_assert_eq(memcmp(r.payload_raw, want.sb.data + 3, r.payload_len), 0);
    msgpack_zone_destroy(&z);
    enc_fini(&got);
    enc_fini(&want);
}

static void roundtrip_error(uint64_t id, int status, const char *msg, size_t len)
{
    struct enc got, want;
    struct cf__record r;
    msgpack_zone z;

    enc_init(&got);
    enc_init(&want);
    cr_assert_eq(cf__record_result_error(&got.pk, id, status, msg, len), 0);
    msgpack_pack_int(&want.pk, CF__REC_RESULT);
    msgpack_pack_uint64(&want.pk, id);
    msgpack_pack_int(&want.pk, status);
    msgpack_pack_str(&want.pk, len);
    if (len > 0)
        msgpack_pack_str_body(&want.pk, msg, len);
    expect_bytes(&got, &want);

    cr_assert_eq(decode(got.sb.data, got.sb.size, &z, &r), 0);
    cr_assert_eq(r.type, CF__REC_RESULT);
    cr_assert_eq(r.id, id);
    cr_assert_eq(r.status, status);
    cr_assert_eq(r.message_len, len);
    cr_assert_not_null(r.message, "an empty message is \"\", not NULL");
    cr_assert_eq(memcmp(r.message, msg ? msg : "", len), 0);
    /* the payload is the message string, packed on its own */
    cr_assert_eq(r.payload.type, MSGPACK_OBJECT_STR);
    enc_fini(&want);
    enc_init(&want);
    msgpack_pack_str(&want.pk, len);
    if (len > 0)
        msgpack_pack_str_body(&want.pk, msg, len);
    cr_assert_eq(r.payload_len, want.sb.size);
    cr_assert_eq(memcmp(r.payload_raw, want.sb.data, want.sb.size), 0);
    msgpack_zone_destroy(&z);
    enc_fini(&got);
    enc_fini(&want);
}

Test(record, result_error_roundtrip, .timeout = 10)
{
    char big[70000];

    memset(big, 'e', sizeof(big));
    roundtrip_error(5, CF_ETASK, "boom", 4);
    roundtrip_error(UINT64_MAX, INT32_MIN, "worker 12 killed by SIGKILL", 27);
    roundtrip_error(1, -1, NULL, 0);
    roundtrip_error(2, -EPIPE, big, sizeof(big));
}

Test(record, side_roundtrip, .timeout = 10)
{
    static const struct { int32_t pid, fd; uint64_t size, serial, offset; } cases[] = {
        {1234, 7, 1ull << 30, 0, 0}, {1, 0, 0, 1, 4096},
        {INT32_MAX, INT32_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX}};

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct enc got, want;
        struct cf__record r;
        msgpack_zone z;

        enc_init(&got);
        enc_init(&want);
        cr_assert_eq(cf__record_side(&got.pk, cases[i].pid, cases[i].fd, cases[i].size,
                                     cases[i].serial, cases[i].offset), 0);
        msgpack_pack_int(&want.pk, CF__REC_SIDE);
        msgpack_pack_int64(&want.pk, cases[i].pid);
        msgpack_pack_int64(&want.pk, cases[i].fd);
        msgpack_pack_uint64(&want.pk, cases[i].size);
        msgpack_pack_uint64(&want.pk, cases[i].serial);
        msgpack_pack_uint64(&want.pk, cases[i].offset);
        expect_bytes(&got, &want);
        cr_assert_eq(decode(got.sb.data, got.sb.size, &z, &r), 0);
        cr_assert_eq(r.type, CF__REC_SIDE);
        cr_assert_eq(r.pid, cases[i].pid);
        cr_assert_eq(r.fd, cases[i].fd);
        cr_assert_eq(r.size, cases[i].size);
        cr_assert_eq(r.serial, cases[i].serial);
        cr_assert_eq(r.offset, cases[i].offset);
        msgpack_zone_destroy(&z);
        enc_fini(&got);
        enc_fini(&want);
    }
}

Test(record, worker_start_roundtrip, .timeout = 10)
{
    static const struct { int32_t slot, pid; int status; const char *msg; } cases[] = {
        {0, 99, 0, ""}, {3, 4242, -5, "initializer failed"}, {INT32_MAX, INT32_MAX, INT32_MIN, "x"}};

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct enc got, want;
        struct cf__record r;
        msgpack_zone z;
        size_t len = strlen(cases[i].msg);

        enc_init(&got);
        enc_init(&want);
        cr_assert_eq(cf__record_worker_start(&got.pk, cases[i].slot, cases[i].pid,
                                             cases[i].status, cases[i].msg, len), 0);
        msgpack_pack_int(&want.pk, CF__REC_WORKER_START);
        msgpack_pack_int64(&want.pk, cases[i].slot);
        msgpack_pack_int64(&want.pk, cases[i].pid);
        msgpack_pack_int64(&want.pk, cases[i].status);
        msgpack_pack_str_with_body(&want.pk, cases[i].msg, len);
        expect_bytes(&got, &want);
        cr_assert_eq(decode(got.sb.data, got.sb.size, &z, &r), 0);
        cr_assert_eq(r.type, CF__REC_WORKER_START);
        cr_assert_eq(r.slot, cases[i].slot);
        cr_assert_eq(r.pid, cases[i].pid);
        cr_assert_eq(r.status, cases[i].status);
        cr_assert_eq(r.message_len, len);
        cr_assert_not_null(r.message);
        cr_assert_eq(memcmp(r.message, cases[i].msg, len), 0);
        msgpack_zone_destroy(&z);
        enc_fini(&got);
        enc_fini(&want);
    }
    /* a NULL message with length 0 is an empty one */
    struct enc e;
    enc_init(&e);
    cr_assert_eq(cf__record_worker_start(&e.pk, 1, 2, 0, NULL, 0), 0);
    cr_assert_eq(decode_only(e.sb.data, e.sb.size), 0);
    enc_fini(&e);
}

Test(record, worker_exit_roundtrip, .timeout = 10)
{
    static const struct { int32_t slot, pid; int ws; } cases[] = {
        {0, 1, 0}, {5, 777, 9}, {2, 3, -1}, {INT32_MAX, INT32_MAX, INT32_MIN}, {1, 1, INT32_MAX}};

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct enc got, want;
        struct cf__record r;
        msgpack_zone z;

        enc_init(&got);
        enc_init(&want);
        cr_assert_eq(cf__record_worker_exit(&got.pk, cases[i].slot, cases[i].pid, cases[i].ws), 0);
        msgpack_pack_int(&want.pk, CF__REC_WORKER_EXIT);
        msgpack_pack_int64(&want.pk, cases[i].slot);
        msgpack_pack_int64(&want.pk, cases[i].pid);
        msgpack_pack_int64(&want.pk, cases[i].ws);
        expect_bytes(&got, &want);
        cr_assert_eq(decode(got.sb.data, got.sb.size, &z, &r), 0);
        cr_assert_eq(r.type, CF__REC_WORKER_EXIT);
        cr_assert_eq(r.slot, cases[i].slot);
        cr_assert_eq(r.pid, cases[i].pid);
        cr_assert_eq(r.wait_status, cases[i].ws);
        msgpack_zone_destroy(&z);
        enc_fini(&got);
        enc_fini(&want);
    }
}

Test(record, wake_roundtrip, .timeout = 10)
{
    struct enc e;
    struct cf__record r;
    msgpack_zone z;

    enc_init(&e);
    cr_assert_eq(cf__record_wake(&e.pk), 0);
    cr_assert_eq(e.sb.size, 1);
    cr_assert_eq((unsigned char)e.sb.data[0], 0x07);
    cr_assert_eq(decode(e.sb.data, e.sb.size, &z, &r), 0);
    cr_assert_eq(r.type, CF__REC_WAKE);
    msgpack_zone_destroy(&z);
    enc_fini(&e);
}

/* -------------------------------------------------------- encoder errors */

Test(record, encoder_invalid_arguments, .timeout = 10)
{
    char name[CF__TASK_NAME_MAX + 1];
    struct enc e;

    memset(name, 'a', sizeof(name));
    enc_init(&e);
    cr_assert_eq(cf__record_task_begin(&e.pk, 1, name, 0), -EINVAL);
    cr_assert_eq(cf__record_task_begin(&e.pk, 1, name, CF__TASK_NAME_MAX + 1), -EINVAL);
    cr_assert_eq(cf__record_task_begin(&e.pk, 1, NULL, 3), -EINVAL);
    cr_assert_eq(cf__record_task_begin(NULL, 1, name, 3), -EINVAL);
    cr_assert_eq(cf__record_chunk_begin(&e.pk, 1, name, 0), -EINVAL);
    cr_assert_eq(cf__record_chunk_begin(&e.pk, 1, name, CF__TASK_NAME_MAX + 1), -EINVAL);
    cr_assert_eq(cf__record_chunk_begin(&e.pk, 1, NULL, 1), -EINVAL);
    cr_assert_eq(cf__record_result_begin(NULL, 1), -EINVAL);
    cr_assert_eq(cf__record_result_error(&e.pk, 1, 0, "x", 1), -EINVAL);
    cr_assert_eq(cf__record_result_error(&e.pk, 1, 5, "x", 1), -EINVAL);
    cr_assert_eq(cf__record_result_error(&e.pk, 1, -1, NULL, 1), -EINVAL);
    cr_assert_eq(cf__record_result_error(&e.pk, 1, -1, name, (size_t)UINT32_MAX + 1), -EINVAL);
    cr_assert_eq(cf__record_result_error(NULL, 1, -1, "x", 1), -EINVAL);
    cr_assert_eq(cf__record_side(&e.pk, 0, 1, 1, 0, 0), -EINVAL);
    cr_assert_eq(cf__record_side(&e.pk, -1, 1, 1, 0, 0), -EINVAL);
    cr_assert_eq(cf__record_side(&e.pk, 1, -1, 1, 0, 0), -EINVAL);
    cr_assert_eq(cf__record_side(NULL, 1, 1, 1, 0, 0), -EINVAL);
    cr_assert_eq(cf__record_worker_start(&e.pk, -1, 1, 0, "", 0), -EINVAL);
    cr_assert_eq(cf__record_worker_start(&e.pk, 0, 0, 0, "", 0), -EINVAL);
    cr_assert_eq(cf__record_worker_start(&e.pk, 0, 1, 1, "", 0), -EINVAL);
    cr_assert_eq(cf__record_worker_start(&e.pk, 0, 1, 0, NULL, 2), -EINVAL);
    cr_assert_eq(cf__record_worker_start(NULL, 0, 1, 0, "", 0), -EINVAL);
    cr_assert_eq(cf__record_worker_exit(&e.pk, -1, 1, 0), -EINVAL);
    cr_assert_eq(cf__record_worker_exit(&e.pk, 0, 0, 0), -EINVAL);
    cr_assert_eq(cf__record_worker_exit(NULL, 0, 1, 0), -EINVAL);
    cr_assert_eq(cf__record_wake(NULL), -EINVAL);
    cr_assert_eq(e.sb.size, 0, "an invalid argument packs nothing");
    enc_fini(&e);
}

/* A writer that accepts `budget` bytes, then fails. */
struct budget {
    size_t left;
    size_t used;
};

static int budget_write(void *data, const char *buf, size_t len)
{
    struct budget *b = data;

    (void)buf;
    if (len > b->left)
        return -1;
    b->left -= len;
    b->used += len;
    return 0;
}

static int encode_case(int which, msgpack_packer *pk)
{
    switch (which) {
    case 0: return cf__record_task_begin(pk, 1ull << 50, "is_prime", 8);
    case 1: return cf__record_chunk_begin(pk, 300, "square", 6);
    case 2: return cf__record_result_begin(pk, 70000);
    case 3: return cf__record_result_error(pk, 1ull << 33, CF_ETASK, "bad n: 12", 9);
    case 4: return cf__record_side(pk, 70000, 300, 1ull << 40, 5, 4096);
    case 5: return cf__record_worker_start(pk, 3, 70000, -300, "nope", 4);
    case 6: return cf__record_worker_exit(pk, 3, 70000, 0x100);
    default: return cf__record_wake(pk);
    }
}

Test(record, encoder_writer_failure_is_enomem, .timeout = 10)
{
    for (int which = 0; which < 8; which++) {
        struct budget b = {.left = SIZE_MAX};
        msgpack_packer pk;
        size_t total;

        msgpack_packer_init(&pk, &b, budget_write);
        cr_assert_eq(encode_case(which, &pk), 0);
        total = b.used;
        cr_assert_gt(total, 0);
        for (size_t budget = 0; budget < total; budget++) {
            b = (struct budget){.left = budget};
            cr_assert_eq(encode_case(which, &pk), -ENOMEM, "case %d budget %zu", which, budget);
        }
        b = (struct budget){.left = total};
        cr_assert_eq(encode_case(which, &pk), 0);
    }
}

/* ------------------------------------------------------- hand-built records */

/* One element of a hand-built record. */
enum tok_kind { T_INT, T_UINT, T_STR, T_BIN, T_NIL, T_ARR, T_MAP, T_DBL, T_TRUE, T_RAW, T_END };

struct tok {
    enum tok_kind k;
    int64_t i;
    uint64_t u;
    const char *s;
    size_t n;
};

#define I(x) {.k = T_INT, .i = (x)}
#define U(x) {.k = T_UINT, .u = (x)}
#define S(x) {.k = T_STR, .s = (x), .n = sizeof(x) - 1}
#define BIN(x) {.k = T_BIN, .s = (x), .n = sizeof(x) - 1}
#define NIL {.k = T_NIL}
#define ARR(x) {.k = T_ARR, .n = (x)}
#define MAP(x) {.k = T_MAP, .n = (x)}
#define DBL {.k = T_DBL}
#define TRUE_ {.k = T_TRUE}
#define RAW(x) {.k = T_RAW, .s = (x), .n = sizeof(x) - 1}
#define END {.k = T_END}

static void pack_toks(msgpack_packer *pk, const struct tok *t)
{
    for (; t->k != T_END; t++) {
        switch (t->k) {
        case T_INT: msgpack_pack_int64(pk, t->i); break;
        case T_UINT: msgpack_pack_uint64(pk, t->u); break;
        case T_STR: msgpack_pack_str_with_body(pk, t->s, t->n); break;
        case T_BIN: msgpack_pack_bin_with_body(pk, t->s, t->n); break;
        case T_NIL: msgpack_pack_nil(pk); break;
        case T_ARR: msgpack_pack_array(pk, t->n); break;
        case T_MAP: msgpack_pack_map(pk, t->n); break;
        case T_DBL: msgpack_pack_double(pk, 1.0); break;
        case T_TRUE: msgpack_pack_true(pk); break;
        case T_RAW: pk->callback(pk->data, t->s, t->n); break;
        default: break;
        }
    }
}

struct rcase {
    const char *what;
    int want;
    struct tok t[12];
};

static const struct rcase rcases[] = {
    /* the type */
    {"type 0", CF_EPROTO, {U(0), END}},
    {"type 8", CF_EPROTO, {U(8), END}},
    {"type 2^40", CF_EPROTO, {U(1ull << 40), END}},
    {"type -1", CF_EPROTO, {I(-1), END}},
    {"type str", CF_EPROTO, {S("7"), END}},
    {"type nil", CF_EPROTO, {NIL, END}},
    {"type float", CF_EPROTO, {DBL, END}},
    {"type bool", CF_EPROTO, {TRUE_, END}},
    {"type array", CF_EPROTO, {ARR(1), U(7), END}},
    {"type as uint64", 0, {RAW("\xcf\0\0\0\0\0\0\0\x07"), END}},
    {"wake extra", CF_EPROTO, {U(7), NIL, END}},
    /* TASK and CHUNK */
    {"task ok", 0, {U(1), U(5), S("f"), ARR(0), END}},
    {"task args scalar", 0, {U(1), U(5), S("f"), I(-3), END}},
    {"task id 0", 0, {U(1), U(0), S("f"), ARR(0), END}},
    {"task id as uint8", 0, {U(1), RAW("\xcc\x05"), S("f"), ARR(0), END}},
    {"task no payload", CF_EPROTO, {U(1), U(5), S("f"), END}},
    {"task no name", CF_EPROTO, {U(1), U(5), END}},
    {"task only type", CF_EPROTO, {U(1), END}},
    {"task extra", CF_EPROTO, {U(1), U(5), S("f"), ARR(0), NIL, END}},
    {"task id negative", CF_EPROTO, {U(1), I(-5), S("f"), ARR(0), END}},
    {"task id str", CF_EPROTO, {U(1), S("5"), S("f"), ARR(0), END}},
    {"task id float", CF_EPROTO, {U(1), DBL, S("f"), ARR(0), END}},
    {"task name empty", CF_EPROTO, {U(1), U(5), S(""), ARR(0), END}},
    {"task name bin", CF_EPROTO, {U(1), U(5), BIN("f"), ARR(0), END}},
    {"task name nil", CF_EPROTO, {U(1), U(5), NIL, ARR(0), END}},
    {"task name int", CF_EPROTO, {U(1), U(5), U(3), ARR(0), END}},
    {"task name array", CF_EPROTO, {U(1), U(5), ARR(1), S("f"), ARR(0), END}},
    {"task c1 payload", CF_EPROTO, {U(1), U(5), S("f"), RAW("\x91\xc1"), END}},
    {"task hostile payload", CF_EPROTO,
     {U(1), U(5), S("f"), RAW("\xdd\xff\xff\xff\xff\xc0\xc0\xc0\xc0\xc0"), END}},
    {"chunk ok", 0, {U(2), U(5), S("f"), ARR(1), ARR(0), END}},
    {"chunk items not array", CF_EPROTO, {U(2), U(5), S("f"), MAP(0), END}},
    {"chunk items int", CF_EPROTO, {U(2), U(5), S("f"), U(1), END}},
    {"chunk no items", CF_EPROTO, {U(2), U(5), S("f"), END}},
    /* RESULT */
    {"result ok str", 0, {U(3), U(5), I(0), S("fine"), END}},
    {"result ok nil", 0, {U(3), U(5), I(0), NIL, END}},
    {"result int32 min", 0, {U(3), U(5), I(INT32_MIN), S("m"), END}},
    {"result status 1", CF_EPROTO, {U(3), U(5), I(1), S("m"), END}},
    {"result status big", CF_EPROTO, {U(3), U(5), U(1ull << 40), S("m"), END}},
    {"result below int32", CF_EPROTO, {U(3), U(5), I((int64_t)INT32_MIN - 1), S("m"), END}},
    {"result status u64 max", CF_EPROTO, {U(3), U(5), U(UINT64_MAX), S("m"), END}},
    {"result status 2^32-1", CF_EPROTO, {U(3), U(5), U(UINT32_MAX), S("m"), END}},
    {"result status str", CF_EPROTO, {U(3), U(5), S("0"), S("m"), END}},
    {"result status float", CF_EPROTO, {U(3), U(5), DBL, S("m"), END}},
    {"result status nil", CF_EPROTO, {U(3), U(5), NIL, S("m"), END}},
    {"result error int", CF_EPROTO, {U(3), U(5), I(-1), U(7), END}},
    {"result error nil", CF_EPROTO, {U(3), U(5), I(-1), NIL, END}},
    {"result error bin", CF_EPROTO, {U(3), U(5), I(-1), BIN("m"), END}},
    {"result error array", CF_EPROTO, {U(3), U(5), I(-1), ARR(1), S("m"), END}},
    {"result id negative", CF_EPROTO, {U(3), I(-2), I(0), NIL, END}},
    {"result no payload", CF_EPROTO, {U(3), U(5), I(0), END}},
    {"result extra", CF_EPROTO, {U(3), U(5), I(0), NIL, NIL, END}},
    /* SIDE */
    {"side ok", 0, {U(4), I(10), I(0), U(0), U(0), U(0), END}},
    {"side pid 0", CF_EPROTO, {U(4), I(0), I(3), U(1), U(0), U(0), END}},
    {"side pid -1", CF_EPROTO, {U(4), I(-1), I(3), U(1), U(0), U(0), END}},
    {"side pid 2^31", CF_EPROTO, {U(4), I(1ll << 31), I(3), U(1), U(0), U(0), END}},
    {"side fd -1", CF_EPROTO, {U(4), I(10), I(-1), U(1), U(0), U(0), END}},
    {"side fd 2^31", CF_EPROTO, {U(4), I(10), I(1ll << 31), U(1), U(0), U(0), END}},
    {"side size -1", CF_EPROTO, {U(4), I(10), I(3), I(-1), U(0), U(0), END}},
    {"side size str", CF_EPROTO, {U(4), I(10), I(3), S("1"), U(0), U(0), END}},
    {"side size float", CF_EPROTO, {U(4), I(10), I(3), DBL, U(0), U(0), END}},
    {"side pid str", CF_EPROTO, {U(4), S("10"), I(3), U(1), U(0), U(0), END}},
    {"side no size", CF_EPROTO, {U(4), I(10), I(3), END}},
    {"side kept ok", 0, {U(4), I(10), I(3), U(1), U(7), U(4096), END}},
    {"side no serial", CF_EPROTO, {U(4), I(10), I(3), U(1), END}},
    {"side no offset", CF_EPROTO, {U(4), I(10), I(3), U(1), U(7), END}},
    {"side serial -1", CF_EPROTO, {U(4), I(10), I(3), U(1), I(-1), U(0), END}},
    {"side offset str", CF_EPROTO, {U(4), I(10), I(3), U(1), U(1), S("4096"), END}},
    {"side extra", CF_EPROTO, {U(4), I(10), I(3), U(1), U(0), U(0), U(1), END}},
    /* WORKER_START */
    {"start ok", 0, {U(5), I(0), I(10), I(0), S(""), END}},
    {"start slot -1", CF_EPROTO, {U(5), I(-1), I(10), I(0), S(""), END}},
    {"start pid 0", CF_EPROTO, {U(5), I(0), I(0), I(0), S(""), END}},
    {"start status 1", CF_EPROTO, {U(5), I(0), I(10), I(1), S(""), END}},
    {"start message int", CF_EPROTO, {U(5), I(0), I(10), I(0), I(0), END}},
    {"start message nil", CF_EPROTO, {U(5), I(0), I(10), I(-1), NIL, END}},
    {"start message bin", CF_EPROTO, {U(5), I(0), I(10), I(-1), BIN("x"), END}},
    {"start no message", CF_EPROTO, {U(5), I(0), I(10), I(0), END}},
    {"start extra", CF_EPROTO, {U(5), I(0), I(10), I(0), S(""), NIL, END}},
    /* WORKER_EXIT */
    {"exit ok", 0, {U(6), I(1), I(10), I(INT32_MIN), END}},
    {"exit slot -1", CF_EPROTO, {U(6), I(-1), I(10), I(0), END}},
    {"exit pid -7", CF_EPROTO, {U(6), I(1), I(-7), I(0), END}},
    {"exit status 2^31", CF_EPROTO, {U(6), I(1), I(10), I(1ll << 31), END}},
    {"exit status u64 max", CF_EPROTO, {U(6), I(1), I(10), U(UINT64_MAX), END}},
    {"exit status 2^63", CF_EPROTO, {U(6), I(1), I(10), U(1ull << 63), END}},
    {"exit pid 2^64-9", CF_EPROTO, {U(6), I(1), U(UINT64_MAX - 8), I(0), END}},
    {"exit status str", CF_EPROTO, {U(6), I(1), I(10), S("0"), END}},
    {"exit no status", CF_EPROTO, {U(6), I(1), I(10), END}},
    {"exit extra", CF_EPROTO, {U(6), I(1), I(10), I(0), I(0), END}},
};

Test(record, hand_built_records, .timeout = 10)
{
    for (size_t i = 0; i < sizeof(rcases) / sizeof(rcases[0]); i++) {
        struct enc e;
        struct cf__record r;
        msgpack_zone z;
        int err;

        enc_init(&e);
        pack_toks(&e.pk, rcases[i].t);
        err = decode(e.sb.data, e.sb.size, &z, &r);
        cr_assert_eq(err, rcases[i].want, "%s: got %d", rcases[i].what, err);
        if (err < 0)
            cr_assert_eq(r.type, 0, "%s: *out not cleared", rcases[i].what);
        msgpack_zone_destroy(&z);
        enc_fini(&e);
    }
}

Test(record, name_length_limits, .timeout = 10)
{
    char name[CF__TASK_NAME_MAX + 1];

    memset(name, 'q', sizeof(name));
    for (size_t len = CF__TASK_NAME_MAX - 1; len <= CF__TASK_NAME_MAX + 1; len++) {
        struct enc e;

        enc_init(&e);
        msgpack_pack_int(&e.pk, CF__REC_TASK);
        msgpack_pack_uint64(&e.pk, 1);
        msgpack_pack_str_with_body(&e.pk, name, len);
        msgpack_pack_array(&e.pk, 0);
        cr_assert_eq(decode_only(e.sb.data, e.sb.size),
                     len <= CF__TASK_NAME_MAX ? 0 : CF_EPROTO, "len %zu", len);
        enc_fini(&e);
    }
}

Test(record, decode_null_and_empty, .timeout = 10)
{
    static const unsigned char wake[] = {0x07};
    struct cf__record r;
    msgpack_zone z;

    cr_assert(msgpack_zone_init(&z, 1024));
    cr_assert_eq(cf__record_decode(wake, 0, &z, &r), CF_EPROTO);
    cr_assert_eq(cf__record_decode(NULL, 0, &z, &r), CF_EPROTO);
    cr_assert_eq(cf__record_decode(NULL, 1, &z, &r), -EINVAL);
    cr_assert_eq(cf__record_decode(wake, 1, NULL, &r), -EINVAL);
    cr_assert_eq(cf__record_decode(wake, 1, &z, NULL), -EINVAL);
    cr_assert_eq(cf__record_decode(wake, 1, &z, &r), 0);
    msgpack_zone_destroy(&z);
}

/* ------------------------------------------------ nesting in the payload */

static int decode_task_with_nested_args(int depth)
{
    struct enc e;
    int err;

    enc_init(&e);
    msgpack_pack_int(&e.pk, CF__REC_TASK);
    msgpack_pack_uint64(&e.pk, 1);
    msgpack_pack_str_with_body(&e.pk, "t", 1);
    for (int i = 0; i < depth; i++)
        msgpack_pack_array(&e.pk, 1);
    msgpack_pack_int(&e.pk, 1);
    err = decode_only(e.sb.data, e.sb.size);
    enc_fini(&e);
    return err;
}

/* The validator allows 64 levels, but msgpack-c's unpacker stops at 32
 * and calls that out of memory; the decoder must say CF_EPROTO for it. */
Test(record, payload_depth_limit, .timeout = 10)
{
    cr_assert_eq(decode_task_with_nested_args(1), 0);
    cr_assert_eq(decode_task_with_nested_args(CF__MSGPACK_UNPACK_DEPTH_MAX), 0);
    cr_assert_eq(decode_task_with_nested_args(CF__MSGPACK_UNPACK_DEPTH_MAX + 1), CF_EPROTO);
    cr_assert_eq(decode_task_with_nested_args(CF__MSGPACK_DEPTH_MAX), CF_EPROTO);
    cr_assert_eq(decode_task_with_nested_args(CF__MSGPACK_DEPTH_MAX + 1), CF_EPROTO);
    cr_assert_eq(decode_task_with_nested_args(1000), CF_EPROTO);
}

/* --------------------------------------------- truncation and corruption */

/* Valid records of every type, packed by the encoders. */
static void pack_sample(int which, msgpack_packer *pk)
{
    switch (which) {
    case 0: cr_assert_eq(cf__record_task_begin(pk, 42, "is_prime", 8), 0);
            pack_rich_payload(pk); break;
    case 1: cr_assert_eq(cf__record_chunk_begin(pk, 1ull << 40, "sq", 2), 0);
            pack_chunk_items(pk); break;
    case 2: cr_assert_eq(cf__record_result_begin(pk, 300), 0);
            pack_rich_payload(pk); break;
    case 3: cr_assert_eq(cf__record_result_error(pk, 9, CF_ETASK, "bad n: 12", 9), 0); break;
    case 4: cr_assert_eq(cf__record_side(pk, 70000, 12, 1ull << 33, 0, 0), 0); break;
    case 5: cr_assert_eq(cf__record_worker_start(pk, 2, 4321, -2, "init", 4), 0); break;
    case 6: cr_assert_eq(cf__record_worker_exit(pk, 1, 4321, 9), 0); break;
    case 7: cr_assert_eq(cf__record_wake(pk), 0); break;
    case 8: cr_assert_eq(cf__record_task_begin(pk, 70000, "flat", 4), 0);
            pack_flat_args(pk); break;
    default: cr_assert_eq(cf__record_task_begin(pk, 5, "one", 3), 0);
             msgpack_pack_str_with_body(pk, "only", 4); break;
    }
}

/* 8 and 9 take the decoder's one-pass path for TASK records. */
#define SAMPLES 10

Test(record, every_truncation_rejected, .timeout = 10)
{
    for (int which = 0; which < SAMPLES; which++) {
        struct enc e;

        enc_init(&e);
        pack_sample(which, &e.pk);
        cr_assert_eq(decode_only(e.sb.data, e.sb.size), 0);
        for (size_t len = 0; len < e.sb.size; len++) {
            /* a heap copy of exactly len bytes, so ASan sees any overread */
            unsigned char *cut = malloc(len ? len : 1);
            cr_assert_not_null(cut);
            memcpy(cut, e.sb.data, len);
            cr_assert_eq(decode_only(cut, len), CF_EPROTO, "sample %d cut at %zu", which, len);
            free(cut);
        }
        enc_fini(&e);
    }
}

Test(record, trailing_bytes_rejected, .timeout = 10)
{
    static const struct { const char *b; size_t n; } tails[] = {
        {"\xc0", 1}, {"\x00", 1}, {"\x07", 1}, {"\x91\x01", 2}, {"\xc1", 1}};

    for (int which = 0; which < SAMPLES; which++) {
        for (size_t t = 0; t < sizeof(tails) / sizeof(tails[0]); t++) {
            struct enc e;

            enc_init(&e);
            pack_sample(which, &e.pk);
            msgpack_sbuffer_write(&e.sb, tails[t].b, tails[t].n);
            cr_assert_eq(decode_only(e.sb.data, e.sb.size), CF_EPROTO, "sample %d tail %zu",
                         which, t);
            enc_fini(&e);
        }
    }
}

/* Checks that a successful decode points only inside buf. */
static void expect_inside(const struct cf__record *r, const unsigned char *buf, size_t len)
{
    const char *lo = (const char *)buf, *hi = (const char *)buf + len;

    if (r->name != NULL)
        cr_assert(r->name >= lo && r->name + r->name_len <= hi);
    if (r->message_len > 0) /* an empty message is a static "" */
        cr_assert(r->message >= lo && r->message + r->message_len <= hi);
    if (r->payload_raw != NULL)
        cr_assert(r->payload_raw >= buf && r->payload_raw + r->payload_len <= buf + len);
}

static void sweep_sample(int which, msgpack_zone *z)
{
    static const unsigned char values[] = {
        0x00, 0x01, 0x03, 0x07, 0x08, 0x7f, 0x80, 0x81, 0x8f, 0x90, 0x91, 0x9f, 0xa0, 0xa1,
        0xbf, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcc, 0xcf, 0xd0,
        0xd3, 0xd4, 0xd8, 0xd9, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff};
    struct enc e;
    unsigned char *b;

    enc_init(&e);
    pack_sample(which, &e.pk);
    b = malloc(e.sb.size);
    cr_assert_not_null(b);
    for (size_t pos = 0; pos < e.sb.size; pos++) {
        unsigned char orig = (unsigned char)e.sb.data[pos];
        unsigned char extra[] = {orig ^ 1, orig ^ 0x80, orig + 1, orig - 1, orig ^ 0x10};

        for (size_t v = 0; v < sizeof(values) + sizeof(extra); v++) {
            struct cf__record r;
            int err;

            memcpy(b, e.sb.data, e.sb.size);
            b[pos] = v < sizeof(values) ? values[v] : extra[v - sizeof(values)];
            err = cf__record_decode(b, e.sb.size, z, &r);
            cr_assert(err == 0 || err == CF_EPROTO, "sample %d pos %zu: %d", which, pos, err);
            if (err == 0)
                expect_inside(&r, b, e.sb.size);
            msgpack_zone_clear(z);
        }
    }
    free(b);
    enc_fini(&e);
}

Test(record, corrupted_byte_sweep, .timeout = 10)
{
    msgpack_zone z;

    cr_assert(msgpack_zone_init(&z, 1024));
    for (int which = 0; which < SAMPLES; which++)
        sweep_sample(which, &z);
    msgpack_zone_destroy(&z);
}

static uint32_t rng_next(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 33);
}

Test(record, random_corruption, .timeout = 10)
{
    msgpack_zone z;
    uint64_t seed = 7;
    int ok = 0;

    cr_assert(msgpack_zone_init(&z, 1024));
    for (int iter = 0; iter < 40000; iter++) {
        struct enc e;
        struct cf__record r;
        size_t len;
        int err;

        enc_init(&e);
        pack_sample((int)(rng_next(&seed) % SAMPLES), &e.pk);
        len = e.sb.size;
        for (int m = 1 + (int)(rng_next(&seed) % 4); m > 0; m--)
            e.sb.data[rng_next(&seed) % len] = (char)rng_next(&seed);
        if (rng_next(&seed) % 3 == 0)
            len -= rng_next(&seed) % len;
        err = cf__record_decode(e.sb.data, len, &z, &r);
        cr_assert(err == 0 || err == CF_EPROTO, "iter %d: %d", iter, err);
        if (err == 0)
            expect_inside(&r, (const unsigned char *)e.sb.data, len);
        ok += err == 0;
        msgpack_zone_clear(&z);
        enc_fini(&e);
    }
    cr_assert_gt(ok, 100, "some corruptions should still decode");
    msgpack_zone_destroy(&z);
}

/* The TASK and CHUNK header (type, id, name) is encoded by hand in one
 * write (serialize/record.c, named_begin): it must be msgpack-c's own
 * bytes for every width of id and both string headers. */
Test(record, hand_encoded_header_matches_msgpack_c, .timeout = 10)
{
    static const uint64_t ids[] = {0,     1,          127,        128,         255,
                                   256,   65535,      65536,      4294967295u, 4294967296u,
                                   UINT64_MAX};
    static const size_t lens[] = {1, 31, 32, 200, CF__TASK_NAME_MAX};
    char name[CF__TASK_NAME_MAX];
    memset(name, 'n', sizeof(name));
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
            for (int chunk = 0; chunk < 2; chunk++) {
                struct enc got, want;
                enc_init(&got);
                enc_init(&want);
                int rc = chunk ? cf__record_chunk_begin(&got.pk, ids[i], name, lens[k])
                               : cf__record_task_begin(&got.pk, ids[i], name, lens[k]);
                cr_assert_eq(rc, 0);
                msgpack_pack_int(&want.pk, chunk ? CF__REC_CHUNK : CF__REC_TASK);
                msgpack_pack_uint64(&want.pk, ids[i]);
                msgpack_pack_str(&want.pk, lens[k]);
                msgpack_pack_str_body(&want.pk, name, lens[k]);
                expect_bytes(&got, &want);
                enc_fini(&got);
                enc_fini(&want);
            }
        }
    }
}

/* The one-pass TASK decoder (serialize/record.c, flat_task) must give what
 * the general path gives, the objects msgpack-c gives, for every argument
 * shape: those it reads (scalars, arrays of up to 16 scalars) and those it
 * hands on (17 elements, nesting, maps, ext, a non-canonical type byte). */
static void pack_args_case(int which, msgpack_packer *pk)
{
    switch (which) {
    case 0: msgpack_pack_array(pk, 0); break;
    case 1: pack_flat_args(pk); break;
    case 2: msgpack_pack_int(pk, 7); break;
    case 3: msgpack_pack_str_with_body(pk, "", 0); break;
    case 4: msgpack_pack_bin_with_body(pk, "", 0); break;
    case 5:
    case 6:
        msgpack_pack_array(pk, which == 5 ? 16 : 17);
        for (int i = 0; i < (which == 5 ? 16 : 17); i++)
            msgpack_pack_int(pk, i * 1000 - 3);
        break;
    case 7: msgpack_pack_array(pk, 2); msgpack_pack_int(pk, 1);
            msgpack_pack_array(pk, 1); msgpack_pack_nil(pk); break;
    case 8: msgpack_pack_map(pk, 1); msgpack_pack_int(pk, 1); msgpack_pack_int(pk, 2); break;
    case 9: msgpack_pack_array(pk, 1); msgpack_pack_ext_with_body(pk, "ab", 2, 3); break;
    case 10: { /* str8, str16, bin16 */
        static char big[300];
        memset(big, 'q', sizeof(big));
        msgpack_pack_array(pk, 3);
        msgpack_pack_str_with_body(pk, big, 40);
        msgpack_pack_str_with_body(pk, big, 300);
        msgpack_pack_bin_with_body(pk, big, 260);
        break;
    }
    case 11: /* an array16 header for three elements: valid, not shortest */
        msgpack_sbuffer_write(pk->data, "\xdc\x00\x03\x01\xc2\xa1z", 7);
        break;
    case 12: /* array32, the same */
        msgpack_sbuffer_write(pk->data, "\xdd\x00\x00\x00\x02\xcb\x3f\xf0\0\0\0\0\0\0\xc0",
                              15);
        break;
    default: pack_rich_payload(pk); break;
    }
}

#define ARGS_CASES 14

static void expect_args_case(int which, bool wide_type)
{
    struct enc e, args;
    struct cf__record r;
    msgpack_zone z, uz;
    msgpack_object want;
    size_t off = 0;

    enc_init(&e);
    enc_init(&args);
    pack_args_case(which, &args.pk);
    if (wide_type) /* type 1 as a uint8: the same record, another encoding */
        msgpack_sbuffer_write(&e.sb, "\xcc\x01", 2);
    else
        msgpack_pack_int(&e.pk, CF__REC_TASK);
    msgpack_pack_uint64(&e.pk, 1234567);
    msgpack_pack_str_with_body(&e.pk, "job", 3);
    msgpack_sbuffer_write(&e.sb, args.sb.data, args.sb.size);
    cr_assert_eq(decode(e.sb.data, e.sb.size, &z, &r), 0, "case %d", which);
    cr_assert_eq(r.type, CF__REC_TASK);
    cr_assert_eq(r.id, 1234567);
    cr_assert_eq(r.name_len, 3);
    cr_assert_eq(memcmp(r.name, "job", 3), 0);
    cr_assert_eq(r.payload_len, args.sb.size, "case %d", which);
    cr_assert_eq(r.payload_raw, (const unsigned char *)e.sb.data + e.sb.size - args.sb.size);
    cr_assert(msgpack_zone_init(&uz, 1024));
    cr_assert_eq(msgpack_unpack(args.sb.data, args.sb.size, &off, &uz, &want),
                 MSGPACK_UNPACK_SUCCESS);
    cr_assert(msgpack_object_equal(r.payload, want), "case %d", which);
    if (r.payload.type == MSGPACK_OBJECT_ARRAY)
        cr_assert_not_null(r.payload.via.array.ptr, "case %d: [] too", which);
    msgpack_zone_destroy(&uz);
    msgpack_zone_destroy(&z);
    enc_fini(&args);
    enc_fini(&e);
}

Test(record, task_args_match_msgpack_c, .timeout = 10)
{
    for (int which = 0; which < ARGS_CASES; which++) {
        expect_args_case(which, false);
        expect_args_case(which, true);
    }
}
