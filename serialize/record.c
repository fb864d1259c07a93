/* serialize/record.c — encodes and decodes the records that cross the
 * process boundary (layout in serialize/record.h).
 *
 * Encoders run in whichever process writes a ring (the parent for tasks,
 * workers and the supervisor for results and worker events); the decoder
 * runs in whichever process reads one, on bytes another process wrote. The
 * common TASK record (scalar arguments) is read in one checked pass
 * (flat_task); any other record is first checked whole by the
 * allocation-free validator (serialize/validate.c), then read element by
 * element so each element's byte range is known: the scalar fields
 * straight from the bytes, a task's payload through msgpack-c's unpacker
 * (a result's value and a chunk's items stay packed: their consumers read
 * them). No state: all functions are safe from any thread and in a forked
 * child.
 */
#include "serialize/record.h"

#include <cfutures.h>
#include <errno.h>
#include <msgpack/unpack_define.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

_Static_assert(CF__MSGPACK_UNPACK_DEPTH_MAX <= MSGPACK_EMBED_STACK_SIZE,
               "the decoder must not hand msgpack-c more nesting than it unpacks");

/* ---------------------------------------------------------------- encode */

/* Skips the body call for an empty string: msgpack-c would memcpy from a
 * possibly NULL pointer. Non-zero when the writer failed. */
static int pack_str(msgpack_packer *pk, const char *s, size_t n)
{
    return msgpack_pack_str(pk, n) || (n > 0 && msgpack_pack_str_body(pk, s, n));
}

static bool msg_ok(const char *msg, size_t msg_len)
{
    return (msg != NULL || msg_len == 0) && msg_len <= UINT32_MAX;
}

/* An unsigned integer in msgpack's shortest form (msgpack-c's too) at b;
 * returns its length. */
static size_t put_uint(unsigned char *b, uint64_t v)
{
    int bytes = v <= 0x7f ? 0 : v <= 0xff ? 1 : v <= 0xffff ? 2 : v <= 0xffffffffu ? 4 : 8;
    if (bytes == 0) {
        b[0] = (unsigned char)v;
        return 1;
    }
    b[0] = bytes == 1 ? 0xcc : bytes == 2 ? 0xcd : bytes == 4 ? 0xce : 0xcf;
    for (int i = 0; i < bytes; i++)
        b[1 + i] = (unsigned char)(v >> (8 * (bytes - 1 - i)));
    return 1 + (size_t)bytes;
}

/* The type, the id and the name, encoded here in msgpack-c's own bytes
 * (tests/test_record.c compares them) and handed to the packer's writer in
 * one call: through msgpack-c, the three fields took four writer calls, a
 * fifth of a thread pool submit's time. */
static int named_begin(msgpack_packer *pk, int type, uint64_t id, const char *name,
                       size_t name_len)
{
    if (pk == NULL || name == NULL || name_len == 0 || name_len > CF__TASK_NAME_MAX)
        return -EINVAL;
    _Static_assert(CF__TASK_NAME_MAX <= 255, "a name fits a str8");
    unsigned char b[1 + 9 + 2 + CF__TASK_NAME_MAX];
    size_t n = 0;
    b[n++] = (unsigned char)type; /* 1 or 2: a positive fixint */
    n += put_uint(b + n, id);
    if (name_len < 32) {
        b[n++] = (unsigned char)(0xa0 | name_len);
    } else {
        b[n++] = 0xd9;
        b[n++] = (unsigned char)name_len;
    }
    memcpy(b + n, name, name_len);
    n += name_len;
    return pk->callback(pk->data, (const char *)b, n) == 0 ? 0 : -ENOMEM;
}

int cf__record_task_begin(msgpack_packer *pk, uint64_t id, const char *name, size_t name_len)
{
    return named_begin(pk, CF__REC_TASK, id, name, name_len);
}

int cf__record_chunk_begin(msgpack_packer *pk, uint64_t id, const char *name,
                           size_t name_len)
{
    return named_begin(pk, CF__REC_CHUNK, id, name, name_len);
}

int cf__record_result_begin(msgpack_packer *pk, uint64_t id)
{
    if (pk == NULL)
        return -EINVAL;
    if (msgpack_pack_int(pk, CF__REC_RESULT) || msgpack_pack_uint64(pk, id) ||
        msgpack_pack_int(pk, 0))
        return -ENOMEM;
    return 0;
}

int cf__record_result_error(msgpack_packer *pk, uint64_t id, int status, const char *msg,
                            size_t msg_len)
{
    /* status 0 would turn the message into a successful string result. */
    if (pk == NULL || status >= 0 || !msg_ok(msg, msg_len))
        return -EINVAL;
    if (msgpack_pack_int(pk, CF__REC_RESULT) || msgpack_pack_uint64(pk, id) ||
        msgpack_pack_int(pk, status) || pack_str(pk, msg, msg_len))
        return -ENOMEM;
    return 0;
}

int cf__record_side(msgpack_packer *pk, int32_t pid, int32_t fd, uint64_t size,
                    uint64_t serial, uint64_t offset)
{
    if (pk == NULL || pid <= 0 || fd < 0)
        return -EINVAL;
    if (msgpack_pack_int(pk, CF__REC_SIDE) || msgpack_pack_int32(pk, pid) ||
        msgpack_pack_int32(pk, fd) || msgpack_pack_uint64(pk, size) ||
        msgpack_pack_uint64(pk, serial) || msgpack_pack_uint64(pk, offset))
        return -ENOMEM;
    return 0;
}

int cf__record_worker_start(msgpack_packer *pk, int32_t slot, int32_t pid, int status,
                            const char *msg, size_t msg_len)
{
    if (pk == NULL || slot < 0 || pid <= 0 || status > 0 || !msg_ok(msg, msg_len))
        return -EINVAL;
    if (msgpack_pack_int(pk, CF__REC_WORKER_START) || msgpack_pack_int32(pk, slot) ||
        msgpack_pack_int32(pk, pid) || msgpack_pack_int(pk, status) ||
        pack_str(pk, msg, msg_len))
        return -ENOMEM;
    return 0;
}

int cf__record_worker_exit(msgpack_packer *pk, int32_t slot, int32_t pid, int wait_status)
{
    if (pk == NULL || slot < 0 || pid <= 0)
        return -EINVAL;
    if (msgpack_pack_int(pk, CF__REC_WORKER_EXIT) || msgpack_pack_int32(pk, slot) ||
        msgpack_pack_int32(pk, pid) || msgpack_pack_int(pk, wait_status))
        return -ENOMEM;
    return 0;
}

int cf__record_wake(msgpack_packer *pk)
{
    if (pk == NULL)
        return -EINVAL;
    return msgpack_pack_int(pk, CF__REC_WAKE) ? -ENOMEM : 0;
}

/* ---------------------------------------------------------------- decode */

/* Elements after the type, per record type (index: the type). */
static const unsigned char field_count[] = {
    [CF__REC_TASK] = 3,         [CF__REC_CHUNK] = 3,       [CF__REC_RESULT] = 3,
    [CF__REC_SIDE] = 5,         [CF__REC_WORKER_START] = 4, [CF__REC_WORKER_EXIT] = 3,
    [CF__REC_WAKE] = 0,
};

struct reader {
    const unsigned char *buf;
    size_t len;
    size_t off; /* start of the next element */
    msgpack_zone *zone;
};

/* Unpacks the next element; *start (if not NULL) gets its offset. Only
 * called on bytes the validator accepted, so failure is unexpected. */
static int next(struct reader *r, msgpack_object *o, size_t *start)
{
    if (start != NULL)
        *start = r->off;
    switch (msgpack_unpack((const char *)r->buf, r->len, &r->off, r->zone, o)) {
    case MSGPACK_UNPACK_SUCCESS:
    case MSGPACK_UNPACK_EXTRA_BYTES:
        return 0;
    case MSGPACK_UNPACK_NOMEM_ERROR:
        return -ENOMEM;
    default:
        return CF_EPROTO;
    }
}

/* msgpack-c gives a NULL pointer for an empty string; hand out "" so
 * that readers may memcpy or print a message without a special case. */
static const char *str_ptr(const msgpack_object *o)
{
    return o->via.str.size > 0 ? o->via.str.ptr : "";
}

/* The scalar fields (type, id, status, slot, pid, fd, size, name, message)
 * are read straight from the bytes (serialize/scalar.c), which the
 * validator has accepted: calling msgpack_unpack for each cost more than
 * the rest of a small record's decoding. Bounds are checked again all the
 * same. */
static int next_scalar(struct reader *r, msgpack_object *o)
{
    size_t used;
    if (r->off >= r->len || cf__msgpack_scalar(r->buf + r->off, r->len - r->off, o, &used) != 1)
        return CF_EPROTO;
    r->off += used;
    return 0;
}

static int get_u64(struct reader *r, uint64_t *v)
{
    msgpack_object o;
    int err = next_scalar(r, &o);

    if (err < 0)
        return err;
    if (o.type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return CF_EPROTO;
    *v = o.via.u64;
    return 0;
}

/* An integer within [min, max] (both inside int32_t). */
static int get_i32(struct reader *r, int32_t min, int32_t max, int32_t *v)
{
    msgpack_object o;
    int64_t x;
    int err = next_scalar(r, &o);

    if (err < 0)
        return err;
    if (o.type == MSGPACK_OBJECT_POSITIVE_INTEGER && o.via.u64 <= INT32_MAX)
        x = (int64_t)o.via.u64;
    else if (o.type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        x = o.via.i64;
    else
        return CF_EPROTO;
    if (x < min || x > max)
        return CF_EPROTO;
    *v = (int32_t)x;
    return 0;
}

static int get_str(struct reader *r, uint32_t min, uint32_t max, const char **s,
                   uint32_t *n)
{
    msgpack_object o;
    int err = next_scalar(r, &o);

    if (err < 0)
        return err;
    if (o.type != MSGPACK_OBJECT_STR || o.via.str.size < min || o.via.str.size > max)
        return CF_EPROTO;
    *s = str_ptr(&o);
    *n = o.via.str.size;
    return 0;
}

static int get_payload(struct reader *r, struct cf__record *out)
{
    size_t start;
    int err = next(r, &out->payload, &start);

    if (err < 0)
        return err;
    out->payload_raw = r->buf + start;
    out->payload_len = r->off - start;
    return 0;
}

/* A chunk's items stay packed: payload is an array object carrying only
 * their count (ptr NULL), and cf__execute_record reads them one at a time
 * from payload_raw. Unpacking them here made msgpack-c build an object for
 * every element of every item before the first task ran, the costliest
 * part of a worker's share of a map. The items are the record's last field
 * and the validator has checked that the fields fill the record exactly,
 * so their bytes are the rest. */
static int chunk_items(struct reader *r, struct cf__record *out)
{
    uint32_t n;
    size_t head;

    if (r->off >= r->len ||
        cf__msgpack_array_head(r->buf + r->off, r->len - r->off, &n, &head) < 0)
        return CF_EPROTO; /* a chunk's items are an array */
    out->payload.type = MSGPACK_OBJECT_ARRAY;
    out->payload.via.array.size = n;
    out->payload.via.array.ptr = NULL;
    out->payload_raw = r->buf + r->off;
    out->payload_len = r->len - r->off;
    r->off = r->len;
    return 0;
}

static int decode_named(struct reader *r, struct cf__record *out)
{
    int err;

    if ((err = get_u64(r, &out->id)) < 0 ||
        (err = get_str(r, 1, CF__TASK_NAME_MAX, &out->name, &out->name_len)) < 0)
        return err;
    return out->type == CF__REC_CHUNK ? chunk_items(r, out) : get_payload(r, out);
}

static int decode_result(struct reader *r, struct cf__record *out)
{
    int err;

    if ((err = get_u64(r, &out->id)) < 0 || (err = get_i32(r, INT32_MIN, 0, &out->status)) < 0)
        return err;
    if (out->status == 0) {
        /* The value is kept packed: the future unpacks it when asked, and
         * cf_map reads a chunk's pairs itself. Unpacking it here made the
         * collector build every object of every result only to throw them
         * away. It is the record's last field and the validator has
         * checked that the fields fill the record exactly, so its bytes
         * are the rest. */
        out->payload_raw = r->buf + r->off;
        out->payload_len = r->len - r->off;
        r->off = r->len;
        return out->payload_len > 0 ? 0 : CF_EPROTO;
    }
    if ((err = get_payload(r, out)) < 0)
        return err;
    if (out->payload.type != MSGPACK_OBJECT_STR)
        return CF_EPROTO;
    out->message = str_ptr(&out->payload);
    out->message_len = out->payload.via.str.size;
    return 0;
}

static int decode_side(struct reader *r, struct cf__record *out)
{
    int err;

    if ((err = get_i32(r, 1, INT32_MAX, &out->pid)) < 0 ||
        (err = get_i32(r, 0, INT32_MAX, &out->fd)) < 0 || (err = get_u64(r, &out->size)) < 0 ||
        (err = get_u64(r, &out->serial)) < 0 || (err = get_u64(r, &out->offset)) < 0)
        return err;
    return 0;
}

static int decode_worker(struct reader *r, struct cf__record *out)
{
    int err;

    if ((err = get_i32(r, 0, INT32_MAX, &out->slot)) < 0 ||
        (err = get_i32(r, 1, INT32_MAX, &out->pid)) < 0)
        return err;
    if (out->type == CF__REC_WORKER_EXIT)
        return get_i32(r, INT32_MIN, INT32_MAX, &out->wait_status);
    if ((err = get_i32(r, INT32_MIN, 0, &out->status)) < 0 ||
        (err = get_str(r, 0, UINT32_MAX, &out->message, &out->message_len)) < 0)
        return err;
    return 0;
}

/* Validates the type element, then everything after it as a sequence of
 * exactly the fields that type has, before unpacking any of it. */
static int decode_type(struct reader *r, struct cf__record *out)
{
    size_t used, rest;
    unsigned depth;
    uint64_t type;
    int err;

    /* The type is an integer: refusing containers here also keeps deep
     * nesting away from msgpack-c (see CF__MSGPACK_UNPACK_DEPTH_MAX). */
    if (cf__msgpack_check_prefix(r->buf, r->len, 1, &used, &depth) < 0 || depth > 0)
        return CF_EPROTO;
    if ((err = get_u64(r, &type)) < 0)
        return err;
    if (type < CF__REC_TASK || type > CF__REC_WAKE)
        return CF_EPROTO;
    out->type = (int)type;
    if (cf__msgpack_check_prefix(r->buf + used, r->len - used, field_count[type], &rest,
                                 &depth) < 0 ||
        rest != r->len - used || depth > CF__MSGPACK_UNPACK_DEPTH_MAX)
        return CF_EPROTO;
    return 0;
}

/* The common TASK record, read in one pass without the validator or
 * msgpack-c: type 1, an id, a name, and arguments that are one scalar or
 * an array of at most CF__FLAT_MAX scalars, filling the record exactly.
 * Every field is read by cf__msgpack_scalar, which checks each length, so
 * bytes that fit this shape are well-formed by construction: nothing deep
 * can reach msgpack-c, and nothing is read outside buf. The arguments'
 * objects are the ones msgpack-c gives (serialize/scalar.c: an empty str
 * or bin points into the record, never NULL), in the zone. Returns 0;
 * 1 when the record has another shape, or is malformed (the general path
 * then reads it from the start and says why); -ENOMEM. Together validating
 * and unpacking cost a thread pool thread a fifth of a trivial task. */
static int flat_task(struct reader *r, struct cf__record *out)
{
    if (r->len == 0 || r->buf[0] != CF__REC_TASK)
        return 1;
    r->off = 1;
    if (get_u64(r, &out->id) < 0 ||
        get_str(r, 1, CF__TASK_NAME_MAX, &out->name, &out->name_len) < 0 || r->off >= r->len)
        return 1;
    const unsigned char *p = r->buf + r->off;
    size_t avail = r->len - r->off, used;
    msgpack_object elems[CF__FLAT_MAX];
    if (!cf__msgpack_flat(p, avail, &out->payload, elems, &used) || used != avail)
        return 1;
    if (out->payload.type == MSGPACK_OBJECT_ARRAY) {
        /* The elements move to the zone, to live as long as the record. */
        uint32_t n = out->payload.via.array.size;
        msgpack_object *kept = msgpack_zone_malloc(r->zone, (n ? n : 1) * sizeof(*kept));
        if (!kept)
            return -ENOMEM;
        memcpy(kept, elems, n * sizeof(*kept));
        out->payload.via.array.ptr = kept;
    }
    out->type = CF__REC_TASK;
    out->payload_raw = p;
    out->payload_len = avail;
    r->off = r->len;
    return 0;
}

static int decode(struct reader *r, struct cf__record *out)
{
    int err = flat_task(r, out);
    if (err <= 0)
        return err;
    /* Another shape: from the start, with everything checked first. */
    memset(out, 0, sizeof(*out));
    r->off = 0;
    err = decode_type(r, out);

    if (err < 0)
        return err;
    switch (out->type) {
    case CF__REC_TASK:
    case CF__REC_CHUNK:
        err = decode_named(r, out);
        break;
    case CF__REC_RESULT:
        err = decode_result(r, out);
        break;
    case CF__REC_SIDE:
        err = decode_side(r, out);
        break;
    case CF__REC_WORKER_START:
    case CF__REC_WORKER_EXIT:
        err = decode_worker(r, out);
        break;
    default: /* CF__REC_WAKE */
        break;
    }
    if (err == 0 && r->off != r->len)
        err = CF_EPROTO; /* cannot happen after the checks; stay safe */
    return err;
}

int cf__record_decode(const void *buf, size_t len, msgpack_zone *zone, struct cf__record *out)
{
    struct reader r = {.buf = buf, .len = len, .zone = zone};
    int err;

    if (out == NULL)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    if (zone == NULL || (buf == NULL && len > 0))
        return -EINVAL;
    if (len == 0)
        return CF_EPROTO;
    err = decode(&r, out);
    if (err < 0)
        memset(out, 0, sizeof(*out));
    return err;
}
