/* The records that cross the process boundary, encoded with msgpack-c.
 *
 * A record is a short sequence of msgpack objects (no outer array, so the
 * decoder knows where each element's bytes start and a payload can be kept
 * as raw bytes without re-packing):
 *
 *   TASK          1, id u64, name str, args (one object, normally an array)
 *   CHUNK         2, id u64, name str, items (array of argument arrays)
 *   RESULT        3, id u64, status int, payload
 *                    status 0: payload is the result object (for a CHUNK:
 *                    an array of [status, value | message] pairs);
 *                    status < 0: payload is the error message (str)
 *   SIDE          4, pid int, fd int, size u64, serial u64, offset u64
 *                    the record lives in a side segment (ipc/side.h) of
 *                    `size` bytes at `offset`; serial 0: a sealed one-shot
 *                    segment (offset 0), else a kept one (ipc/segcache.h)
 *   WORKER_START  5, slot int, pid int, status int, message str
 *   WORKER_EXIT   6, slot int, pid int, wait status int
 *   WAKE          7                                (no fields)
 *
 * Writers are in this process; readers may be fed bytes from any process,
 * so cf__record_decode trusts nothing: sizes, types, nesting depth and
 * trailing bytes are all checked, and a malformed record is CF_EPROTO.
 */
#ifndef CF_SERIALIZE_RECORD_H
#define CF_SERIALIZE_RECORD_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

enum cf__record_type {
    CF__REC_TASK = 1,
    CF__REC_CHUNK = 2,
    CF__REC_RESULT = 3,
    CF__REC_SIDE = 4,
    CF__REC_WORKER_START = 5,
    CF__REC_WORKER_EXIT = 6,
    CF__REC_WAKE = 7,
};

#define CF__TASK_NAME_MAX 255

/* A decoded record. Pointers borrow from the decoded buffer (and the zone
 * for `payload`), so they live as long as both. */
struct cf__record {
    int type;
    uint64_t id;                /* TASK, CHUNK, RESULT */
    const char *name;           /* TASK, CHUNK: 1..CF__TASK_NAME_MAX bytes */
    uint32_t name_len;
    int32_t status;             /* RESULT, WORKER_START: 0 or a negative code */
    msgpack_object payload;     /* TASK args, RESULT message (status < 0); a RESULT's
                                 * value stays packed: nil here; so do a CHUNK's
                                 * items: an ARRAY of their count, ptr NULL */
    const unsigned char *payload_raw; /* the payload's packed bytes */
    size_t payload_len;
    const char *message;        /* RESULT (status < 0), WORKER_START; "" if empty */
    uint32_t message_len;
    int32_t slot;               /* WORKER_START, WORKER_EXIT */
    int32_t pid;                /* SIDE, WORKER_START, WORKER_EXIT */
    int32_t fd;                 /* SIDE */
    uint64_t size;              /* SIDE */
    uint64_t serial;            /* SIDE */
    uint64_t offset;            /* SIDE */
    int32_t wait_status;        /* WORKER_EXIT */
};

/* Encoders: each packs one whole record, except the *_begin forms, after
 * which the caller packs exactly one payload object. Return 0 or -ENOMEM
 * (the packer's writer failed). name_len must be 1..CF__TASK_NAME_MAX
 * (-EINVAL otherwise). -EINVAL too for what the decoder would reject: a
 * NULL packer or name, a NULL message with msg_len > 0, msg_len above
 * UINT32_MAX, result_error's status >= 0, worker_start's status > 0,
 * pid <= 0, fd < 0, slot < 0. On -ENOMEM the packer may hold part of the
 * record. */
int cf__record_task_begin(msgpack_packer *pk, uint64_t id, const char *name, size_t name_len);
int cf__record_chunk_begin(msgpack_packer *pk, uint64_t id, const char *name,
                           size_t name_len);
int cf__record_result_begin(msgpack_packer *pk, uint64_t id);
int cf__record_result_error(msgpack_packer *pk, uint64_t id, int status, const char *msg,
                            size_t msg_len);
int cf__record_side(msgpack_packer *pk, int32_t pid, int32_t fd, uint64_t size,
                    uint64_t serial, uint64_t offset);
int cf__record_worker_start(msgpack_packer *pk, int32_t slot, int32_t pid, int status,
                            const char *msg, size_t msg_len);
int cf__record_worker_exit(msgpack_packer *pk, int32_t slot, int32_t pid, int wait_status);
int cf__record_wake(msgpack_packer *pk);

/* Decodes one record occupying exactly buf[0..len). Objects are allocated in
 * `zone` (cleared by the caller between records). Returns 0, or CF_EPROTO
 * for anything malformed: truncated, trailing bytes, unknown type, a field
 * of the wrong type or range, an empty or too long task name, a RESULT with
 * status < 0 whose payload is not a string, a CHUNK whose items are not an
 * array, a container claiming more elements than bytes remain, nesting
 * deeper than CF__MSGPACK_UNPACK_DEPTH_MAX (32, see there). -ENOMEM when the zone
 * cannot grow. Never reads outside buf[0..len). -EINVAL for a NULL zone or
 * out, or a NULL buf with len > 0. On any error *out is zeroed. */
int cf__record_decode(const void *buf, size_t len, msgpack_zone *zone, struct cf__record *out);

/* The deepest nesting the checks below accept: a scalar is depth 0, an
 * array or map (even empty) one more than the deepest thing inside it. */
#define CF__MSGPACK_DEPTH_MAX 64
/* msgpack-c's own unpacker (MSGPACK_EMBED_STACK_SIZE) fails at depth 33
 * and reports it as MSGPACK_UNPACK_NOMEM_ERROR, so cf__record_decode
 * answers CF_EPROTO for a record element nested deeper than this, before
 * unpacking. Anyone else calling msgpack_unpack has the same limit. */
#define CF__MSGPACK_UNPACK_DEPTH_MAX 32

/* Checks that buf[0..len) holds exactly one well-formed msgpack object:
 * every length within the buffer, every container's element count no
 * larger than the bytes left (so decoding cannot be made to allocate more
 * than a small multiple of len), depth <= 64. Allocates nothing. Returns 0
 * or CF_EPROTO. Used on raw arguments at submit and inside the decoder. */
int cf__msgpack_check_one(const void *buf, size_t len);
/* As above, but for a sequence of `count` objects filling the buffer
 * exactly (count may be 0). */
int cf__msgpack_check_seq(const void *buf, size_t len, size_t count);
/* The walker under both: checks `count` objects at the start of
 * buf[0..len) (bytes after them are allowed) and stores the bytes they
 * take in *used and their deepest nesting in *depth (either may be NULL;
 * both untouched on error). Returns 0 or CF_EPROTO; allocates nothing. */
int cf__msgpack_check_prefix(const void *buf, size_t len, size_t count, size_t *used,
                             unsigned *depth);

/* Reads the object at p (avail bytes) when it is a scalar (nil, boolean,
 * integer, float, str, bin) into *out as msgpack-c would unpack it (str
 * and bin point into p; an empty one just past its header, never NULL),
 * and its size into *used. Returns 1; 0
 * when it is a container or an ext (unpack those with msgpack-c);
 * CF_EPROTO when it is truncated or not msgpack. */
int cf__msgpack_scalar(const unsigned char *p, size_t avail, msgpack_object *out, size_t *used);
/* Reads an array header at p (avail bytes): its element count in *n and
 * its size in *head. Returns 0, or CF_EPROTO when it is not a whole array
 * header. */
int cf__msgpack_array_head(const unsigned char *p, size_t avail, uint32_t *n, size_t *head);
/* The most elements cf__msgpack_flat reads. */
#define CF__FLAT_MAX 16
/* Reads the object at p (avail bytes) when it is a scalar or an array of
 * at most CF__FLAT_MAX scalars (a task's usual arguments) into *out as
 * msgpack-c would give it, an array's elements into elems[CF__FLAT_MAX]
 * (out points at them, never NULL, even for []), and its size into *used.
 * Returns 1; 0 for any other shape, and for bytes that are not msgpack
 * (msgpack-c's unpacker, or the validator, then says why). */
int cf__msgpack_flat(const unsigned char *p, size_t avail, msgpack_object *out,
                     msgpack_object *elems, size_t *used);

/* The big-endian unsigned integer in p[0..n), n <= 8. */
static inline uint64_t cf__load_be(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* The deepest a task's argument or result may nest: a CHUNK wraps each item
 * in two more levels ([items], [status, value]) and the whole must stay
 * within CF__MSGPACK_UNPACK_DEPTH_MAX. */
#define CF__VALUE_DEPTH_MAX (CF__MSGPACK_UNPACK_DEPTH_MAX - 2)
/* cf__msgpack_check_one, plus depth <= CF__VALUE_DEPTH_MAX: what every
 * argument and result that crosses the process boundary must pass. */
int cf__msgpack_check_value(const void *buf, size_t len);

#endif
