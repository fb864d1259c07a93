/* libFuzzer target: the record decoder and the msgpack validator
 * (serialize/record.c, serialize/validate.c) on arbitrary bytes.
 *
 * The input is one record, exactly as a consumer would hand it to
 * cf__record_decode after taking it off a ring or out of a side segment.
 * Besides "no crash, no out-of-bounds read, no leak, no hang" (the
 * sanitizers and libFuzzer's -timeout), every accepted record must satisfy
 * the invariants promised in serialize/record.h; a violation aborts:
 *   - pointers (name, message, payload_raw) lie inside the input, and so
 *     do their lengths; type is known; TASK/CHUNK names are 1..255 bytes;
 *     status <= 0; a CHUNK's items are an array; errors zero *out;
 *   - the validator agrees with the decoder (an accepted record is a valid
 *     sequence of 1 + fields objects) and with msgpack-c (what it accepts
 *     at depth <= 32, msgpack_unpack unpacks, ending where it said);
 *   - every strict prefix of an accepted record is refused (truncation);
 *   - re-encoding the decoded fields with the cf__record_* encoders gives
 *     bytes that decode to the same fields, and re-encoding those again is
 *     byte-identical (the encoders are canonical).
 */
#include <errno.h>
#include <msgpack.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cfutures.h>

#include "serialize/record.h"

#include "fuzz/fuzz_util.h"

/* Elements after the type, per record type (serialize/record.h). */
static const size_t field_count[] = {
    [CF__REC_TASK] = 3,         [CF__REC_CHUNK] = 3,        [CF__REC_RESULT] = 3,
    [CF__REC_SIDE] = 5,         [CF__REC_WORKER_START] = 4, [CF__REC_WORKER_EXIT] = 3,
    [CF__REC_WAKE] = 0,
};

static msgpack_zone zone, zone2;

static int inside(const void *p, size_t n, const uint8_t *buf, size_t len)
{
    const uint8_t *q = p;

    return q >= buf && q <= buf + len && n <= (size_t)(buf + len - q);
}

static int is_zero(const void *p, size_t n)
{
    const unsigned char *c = p;

    for (size_t i = 0; i < n; i++)
        if (c[i])
            return 0;
    return 1;
}

/* A message is "" (any address, length 0) or bytes inside the input. */
static void check_message(const struct cf__record *rec, const uint8_t *buf, size_t len)
{
    CHECK(rec->message != NULL);
    if (rec->message_len > 0)
        CHECK(inside(rec->message, rec->message_len, buf, len));
}

static void check_invariants(const struct cf__record *rec, const uint8_t *buf, size_t len)
{
    CHECK(rec->type >= CF__REC_TASK && rec->type <= CF__REC_WAKE);
    CHECK(cf__msgpack_check_seq(buf, len, 1 + field_count[rec->type]) == 0);
    CHECK(rec->status <= 0);
    switch (rec->type) {
    case CF__REC_TASK:
    case CF__REC_CHUNK:
        CHECK(rec->name != NULL);
        CHECK(rec->name_len >= 1 && rec->name_len <= CF__TASK_NAME_MAX);
        CHECK(inside(rec->name, rec->name_len, buf, len));
        CHECK(rec->status == 0 && rec->message == NULL);
        if (rec->type == CF__REC_CHUNK)
            CHECK(rec->payload.type == MSGPACK_OBJECT_ARRAY);
        break;
    case CF__REC_RESULT:
        CHECK(rec->name == NULL && rec->name_len == 0);
        if (rec->status < 0) {
            CHECK(rec->payload.type == MSGPACK_OBJECT_STR);
            check_message(rec, buf, len);
            CHECK(rec->message_len == rec->payload.via.str.size);
        } else {
            CHECK(rec->message == NULL && rec->message_len == 0);
        }
        break;
    case CF__REC_SIDE:
        CHECK(rec->pid > 0 && rec->fd >= 0);
        break;
    case CF__REC_WORKER_START:
        CHECK(rec->slot >= 0 && rec->pid > 0);
        check_message(rec, buf, len);
        break;
    case CF__REC_WORKER_EXIT:
        CHECK(rec->slot >= 0 && rec->pid > 0);
        break;
    default:
        break;
    }
    if (rec->type <= CF__REC_RESULT) {
        CHECK(rec->payload_raw != NULL && rec->payload_len > 0);
        CHECK(inside(rec->payload_raw, rec->payload_len, buf, len));
        /* The payload is the last element: it ends the record. */
        CHECK(rec->payload_raw + rec->payload_len == buf + len);
        CHECK(cf__msgpack_check_one(rec->payload_raw, rec->payload_len) == 0);
    } else {
        CHECK(rec->payload_raw == NULL && rec->payload_len == 0);
    }
}

/* Packs what `rec` says with the encoders; the payload goes in as its raw
 * bytes, as the executors do. */
static void encode(const struct cf__record *rec, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    int err = 0;

    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    switch (rec->type) {
    case CF__REC_TASK:
        err = cf__record_task_begin(&pk, rec->id, rec->name, rec->name_len);
        break;
    case CF__REC_CHUNK:
        err = cf__record_chunk_begin(&pk, rec->id, rec->name, rec->name_len);
        break;
    case CF__REC_RESULT:
        if (rec->status < 0)
            err = cf__record_result_error(&pk, rec->id, rec->status, rec->message,
                                          rec->message_len);
        else
            err = cf__record_result_begin(&pk, rec->id);
        break;
    case CF__REC_SIDE:
        err = cf__record_side(&pk, rec->pid, rec->fd, rec->size, rec->serial, rec->offset);
        break;
    case CF__REC_WORKER_START:
        err = cf__record_worker_start(&pk, rec->slot, rec->pid, rec->status, rec->message,
                                      rec->message_len);
        break;
    case CF__REC_WORKER_EXIT:
        err = cf__record_worker_exit(&pk, rec->slot, rec->pid, rec->wait_status);
        break;
    case CF__REC_WAKE:
        err = cf__record_wake(&pk);
        break;
    }
    CHECK(err == 0);
    if (rec->type <= CF__REC_RESULT && !(rec->type == CF__REC_RESULT && rec->status < 0))
        CHECK(msgpack_sbuffer_write(sb, (const char *)rec->payload_raw, rec->payload_len) == 0);
}

static int same_bytes(const void *a, size_t an, const void *b, size_t bn)
{
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

static void check_same(const struct cf__record *a, const struct cf__record *b)
{
    CHECK(a->type == b->type && a->id == b->id && a->status == b->status);
    CHECK(a->slot == b->slot && a->pid == b->pid && a->fd == b->fd);
    CHECK(a->size == b->size && a->wait_status == b->wait_status);
    CHECK((a->name == NULL) == (b->name == NULL));
    CHECK(same_bytes(a->name, a->name_len, b->name, b->name_len));
    CHECK((a->message == NULL) == (b->message == NULL));
    CHECK(same_bytes(a->message, a->message_len, b->message, b->message_len));
    /* An error message is re-packed by the encoder (it may choose a shorter
     * str header than the input did); any other payload is copied raw. */
    if (!(a->type == CF__REC_RESULT && a->status < 0))
        CHECK(same_bytes(a->payload_raw, a->payload_len, b->payload_raw, b->payload_len));
}

static void check_round_trip(const struct cf__record *rec)
{
    msgpack_sbuffer sb1, sb2;
    struct cf__record again;

    msgpack_sbuffer_init(&sb1);
    msgpack_sbuffer_init(&sb2);
    encode(rec, &sb1);
    msgpack_zone_clear(&zone2);
    CHECK(cf__record_decode(sb1.data, sb1.size, &zone2, &again) == 0);
    check_invariants(&again, (const uint8_t *)sb1.data, sb1.size);
    check_same(rec, &again);
    encode(&again, &sb2);
    CHECK(same_bytes(sb1.data, sb1.size, sb2.data, sb2.size));
    msgpack_sbuffer_destroy(&sb1);
    msgpack_sbuffer_destroy(&sb2);
}

/* The validator against msgpack-c: an object the validator accepts (within
 * msgpack-c's nesting limit) must unpack, and end where the validator said. */
static void check_validator(const uint8_t *data, size_t size)
{
    size_t used = 0, off = 0;
    unsigned depth = 0;
    int one = cf__msgpack_check_one(data, size);
    int value = cf__msgpack_check_value(data, size);
    int prefix = cf__msgpack_check_prefix(data, size, 1, &used, &depth);
    msgpack_object obj;
    msgpack_unpack_return ret;

    CHECK(one == 0 || one == CF_EPROTO);
    CHECK(value == 0 || value == CF_EPROTO);
    CHECK(prefix == 0 || prefix == CF_EPROTO);
    /* check_one: exactly one object filling the buffer. */
    CHECK((one == 0) == (prefix == 0 && used == size));
    /* check_value: that, and shallow enough. */
    CHECK((value == 0) == (one == 0 && depth <= CF__VALUE_DEPTH_MAX));
    if (prefix != 0)
        return;
    CHECK(used >= 1 && used <= size);
    CHECK(depth <= CF__MSGPACK_DEPTH_MAX);
    if (depth > CF__MSGPACK_UNPACK_DEPTH_MAX)
        return;
    msgpack_zone_clear(&zone2);
    ret = msgpack_unpack((const char *)data, size, &off, &zone2, &obj);
    CHECK(ret == MSGPACK_UNPACK_SUCCESS || ret == MSGPACK_UNPACK_EXTRA_BYTES);
    CHECK(off == used);
    /* A strict prefix of one object is never one object. */
    if (used > 1)
        CHECK(cf__msgpack_check_one(data, used - 1) == CF_EPROTO);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (!msgpack_zone_init(&zone, 2048) || !msgpack_zone_init(&zone2, 2048))
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cf__record rec;
    int err;

    check_validator(data, size);

    msgpack_zone_clear(&zone);
    err = cf__record_decode(data, size, &zone, &rec);
    CHECK(err == 0 || err == CF_EPROTO || err == -ENOMEM);
    if (err != 0) {
        CHECK(is_zero(&rec, sizeof(rec)));
        return 0;
    }
    check_invariants(&rec, data, size);

    /* Truncated records are refused, wherever the cut. */
    {
        struct cf__record cut;

        msgpack_zone_clear(&zone2);
        CHECK(cf__record_decode(data, size - 1, &zone2, &cut) == CF_EPROTO);
        msgpack_zone_clear(&zone2);
        CHECK(cf__record_decode(data, size / 2, &zone2, &cut) == CF_EPROTO);
        CHECK(is_zero(&cut, sizeof(cut)));
    }

    check_round_trip(&rec);
    return 0;
}
