/* Runs one task, or one decoded TASK/CHUNK record into its RESULT record.
 *
 * A CHUNK comes as the decoder leaves it (serialize/record.h): its items
 * still packed, read here one at a time as their tasks run.
 *
 * Shared by the process workers and the thread pool; stateless, so any
 * number of threads may call it at once, each with its own buffer. The
 * registry lookup is thread-safe (its last hit is cached per thread) and
 * cf_task_fail's message thread-local.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "ipc/spill.h"
#include "workers/execute.h"
#include "workers/registry.h"

/* Why pk's writer refused bytes since the last clear, when it can say: a
 * spill buffer keeps the memfd's reason (-EMFILE, -ENOSPC...); msgpack-c
 * itself only ever reports -1. 0 if it did not fail or cannot say. */
static int writer_error(const msgpack_packer *pk)
{
    return pk->callback == cf__spill_write ? ((const struct cf__spill *)pk->data)->err : 0;
}

static void writer_error_clear(msgpack_packer *pk)
{
    if (pk->callback == cf__spill_write)
        ((struct cf__spill *)pk->data)->err = 0;
}

/* What a task's return becomes. A failure of the library's writer wins
 * when the task passed it on (msgpack's -1, or the recorded -errno itself)
 * or ignored it (0 over a result that is missing bytes); cf_task_fail's
 * CF_ETASK stays; any other non-zero value, -1 above all, is the task's
 * own failure: CF_ETASK, "task <name> returned <value>". */
static int task_status(int status, const msgpack_packer *pk, const char *name, size_t name_len,
                       char *msg, size_t msg_size)
{
    int werr = writer_error(pk);
    if (werr && (status == -1 || status == werr || status == 0)) {
        snprintf(msg, msg_size, "task %.*s could not pack its result: %s", (int)name_len, name,
                 cf_strerror(werr));
        return werr;
    }
    if (status == 0 || status == CF_ETASK)
        return status;
    /* The library's own codes name themselves (a task passing on what
     * cf_arg_i64 returned); an errno-like -1 must not read as EPERM. */
    if (status <= CF_ECANCELLED && status >= CF_ELOCKORDER)
        snprintf(msg, msg_size, "task %.*s returned %d (%s)", (int)name_len, name, status,
                 cf_strerror(status));
    else
        snprintf(msg, msg_size, "task %.*s returned %d", (int)name_len, name, status);
    return CF_ETASK;
}

/* fn may be NULL (no such task). */
static int call_task(msgpack_sbuffer *sb, msgpack_packer *pk, cf_task_fn fn, const char *name,
                     size_t name_len, const msgpack_object *args, char *msg, size_t msg_size)
{
    size_t start = sb->size;
    if (!fn) {
        cf__task_missing_message(name, name_len, msg, msg_size);
        return CF_ENOTASK;
    }
    cf__task_error_clear();
    msg[0] = '\0';
    writer_error_clear(pk); /* this task's writes only */
    int status = task_status(fn(args, pk), pk, name, name_len, msg, msg_size);
    if (status == 0 && cf__msgpack_check_value(sb->data + start, sb->size - start) != 0) {
        snprintf(msg, msg_size, "task '%.*s' must pack exactly one result object", (int)name_len,
                 name);
        status = CF_ETASK;
    } else if (status == CF_ETASK && cf__task_error_message()[0]) {
        snprintf(msg, msg_size, "%s", cf__task_error_message());
    } else if (status == CF_ETASK && !msg[0]) {
        snprintf(msg, msg_size, "task '%.*s' failed: %s (%d)", (int)name_len, name,
                 cf_strerror(status), status);
    }
    if (status != 0)
        sb->size = start; /* drop whatever the failing task packed */
    return status;
}

/* The registry lookup takes its lock, which every submitting thread takes
 * too; a running thread mostly runs the same task again. A name once found
 * keeps its function (entries are never removed or changed), so the last
 * hit is remembered per thread; a miss is not (the name may be registered
 * later). */
static cf_task_fn lookup(const char *name, size_t name_len)
{
    static _Thread_local struct {
        cf_task_fn fn;
        size_t len;
        char name[CF__TASK_NAME_MAX];
    } last;
    if (last.fn && last.len == name_len && memcmp(last.name, name, name_len) == 0)
        return last.fn;
    cf_task_fn fn = cf__task_lookup(name, name_len);
    if (fn && name_len <= sizeof(last.name)) {
        last.fn = fn;
        last.len = name_len;
        memcpy(last.name, name, name_len);
    }
    return fn;
}

int cf__execute_task(msgpack_sbuffer *sb, msgpack_packer *pk, const char *name, size_t name_len,
                     const msgpack_object *args, char *msg, size_t msg_size)
{
    return call_task(sb, pk, lookup(name, name_len), name, name_len, args, msg, msg_size);
}

/* A chunk's items as they are read, one at a time, from its packed bytes
 * (the decoder leaves them packed, serialize/record.c). An item that is a
 * scalar, or an array of at most CF__FLAT_MAX scalars, is read straight
 * from the bytes (cf__msgpack_flat gives what msgpack-c would); anything else
 * is unpacked by msgpack-c into `zone`, set up on first use. Either way the
 * objects live until the next item is read. */
struct item_reader {
    const unsigned char *p;
    size_t len, off;
    msgpack_object elems[CF__FLAT_MAX];
    msgpack_zone zone;
    bool zone_ready;
};

/* Reads the next item into *args. 0, or the reason it cannot be read:
 * then the item is skipped if its size is known (-ENOMEM), and the rest
 * of the chunk cannot be read when it is not (CF_EPROTO, r->off = len).
 * The decoder has checked the whole record already; every length is
 * checked again all the same. */
static int next_item(struct item_reader *r, msgpack_object *args)
{
    const unsigned char *p = r->p + r->off;
    size_t avail = r->len - r->off, used, off;
    int rc;
    if (cf__msgpack_flat(p, avail, args, r->elems, &used))
        goto read;
    if (cf__msgpack_check_prefix(p, avail, 1, &used, NULL) != 0) {
        r->off = r->len;
        return CF_EPROTO;
    }
    if (!r->zone_ready && !(r->zone_ready = msgpack_zone_init(&r->zone, 2048)))
        rc = -ENOMEM;
    if (r->zone_ready) {
        msgpack_zone_clear(&r->zone);
        off = 0;
        rc = msgpack_unpack((const char *)p, used, &off, &r->zone, args);
        rc = rc == MSGPACK_UNPACK_SUCCESS && off == used ? 0
             : rc == MSGPACK_UNPACK_NOMEM_ERROR          ? -ENOMEM
                                                         : CF_EPROTO;
    }
    r->off += used;
    return rc;
read:
    r->off += used;
    return 0;
}

/* Appends a few bytes: straight into sb when they fit where it is (any
 * writer of sb keeps [size, alloc) writable; ipc/spill.h), else through
 * the packer. A chunk writes each item's [0, ...] header this way, and
 * the writer call cost more than the bytes. Non-zero when the writer
 * failed. */
static int put_bytes(msgpack_sbuffer *sb, msgpack_packer *pk, const char *b, size_t n)
{
    if (pk->data == (void *)sb && n <= sb->alloc - sb->size) {
        memcpy(sb->data + sb->size, b, n);
        sb->size += n;
        return 0;
    }
    return pk->callback(pk->data, b, n);
}

/* Each item becomes [0, value] or [status, message]; the chunk succeeds
 * (a writer failure shows as a result that does not parse, CF_EPROTO). */
static void execute_chunk(msgpack_sbuffer *sb, msgpack_packer *pk, cf_task_fn fn,
                          const struct cf__record *rec, char *msg, size_t msg_size)
{
    static const char ok_head[2] = {(char)0x92, 0x00}; /* [0, */
    struct item_reader r = {.p = rec->payload_raw, .len = rec->payload_len};
    uint32_t count = rec->payload.via.array.size;
    size_t head;
    if (cf__msgpack_array_head(r.p, r.len, &count, &head) == 0)
        r.off = head;
    else
        r.off = r.len; /* every item then fails to read */
    msgpack_pack_array(pk, count);
    for (uint32_t i = 0; i < count; i++) {
        size_t start = sb->size;
        msgpack_object args;
        int status = r.off < r.len ? next_item(&r, &args) : CF_EPROTO;
        if (status == 0) {
            put_bytes(sb, pk, ok_head, sizeof(ok_head));
            status = call_task(sb, pk, fn, rec->name, rec->name_len, &args, msg, msg_size);
        } else {
            snprintf(msg, msg_size, "worker could not read item %u of the chunk: %s (%d)", i,
                     cf_strerror(status), status);
        }
        if (status != 0) {
            sb->size = start;
            msgpack_pack_array(pk, 2);
            msgpack_pack_int(pk, status);
            msgpack_pack_str_with_body(pk, msg, strlen(msg));
        }
    }
    if (r.zone_ready)
        msgpack_zone_destroy(&r.zone);
    msg[0] = '\0';
}

int cf__execute_record(msgpack_sbuffer *sb, msgpack_packer *pk, uint64_t id,
                       const struct cf__record *rec, size_t *value_off, char *msg, size_t msg_size)
{
    /* Looked up once per record: a chunk's items all name the same task. */
    cf_task_fn fn = lookup(rec->name, rec->name_len);
    sb->size = 0;
    cf__record_result_begin(pk, id);
    *value_off = sb->size;
    if (rec->type == CF__REC_CHUNK) {
        writer_error_clear(pk);
        execute_chunk(sb, pk, fn, rec, msg, msg_size);
        int werr = writer_error(pk);
        if (werr >= 0)
            return 0;
        /* The chunk's own headers were refused: the whole chunk fails
         * with the reason rather than as an unreadable record. */
        snprintf(msg, msg_size, "worker could not pack the chunk's results: %s (%d)",
                 cf_strerror(werr), werr);
        sb->size = 0;
        cf__record_result_error(pk, id, werr, msg, strlen(msg));
        return werr;
    }
    int status = call_task(sb, pk, fn, rec->name, rec->name_len, &rec->payload, msg, msg_size);
    if (status != 0) {
        sb->size = 0;
        cf__record_result_error(pk, id, status, msg, strlen(msg));
    }
    return status;
}
