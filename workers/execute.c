/* Runs one task, or one decoded TASK/CHUNK record into its RESULT record.
 *
 * Shared by the process workers and the thread pool; stateless, so any
 * number of threads may call it at once, each with its own buffer. The
 * registry lookup is thread-safe (its last hit is cached per thread) and
 * cf_task_fail's message thread-local.
 */
#include <stdio.h>
#include <string.h>

#include "workers/execute.h"
#include "workers/registry.h"

/* fn may be NULL (no such task). */
static int call_task(msgpack_sbuffer *sb, msgpack_packer *pk, cf_task_fn fn, const char *name,
                     size_t name_len, const msgpack_object *args, char *msg, size_t msg_size)
{
    size_t start = sb->size;
    if (!fn) {
        snprintf(msg, msg_size, "no task registered as '%.*s'", (int)name_len, name);
        return CF_ENOTASK;
    }
    cf__task_error_clear();
    int status = fn(args, pk);
    if (status > 0)
        status = CF_ETASK;
    if (status == 0 && cf__msgpack_check_value(sb->data + start, sb->size - start) != 0) {
        snprintf(msg, msg_size, "task '%.*s' must pack exactly one result object", (int)name_len,
                 name);
        status = CF_ETASK;
    } else if (status == CF_ETASK && cf__task_error_message()[0]) {
        snprintf(msg, msg_size, "%s", cf__task_error_message());
    } else if (status < 0) {
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

/* Each item becomes [0, value] or [status, message]; the chunk succeeds. */
static void execute_chunk(msgpack_sbuffer *sb, msgpack_packer *pk, cf_task_fn fn,
                          const struct cf__record *rec, char *msg, size_t msg_size)
{
    const msgpack_object_array *items = &rec->payload.via.array;
    msgpack_pack_array(pk, items->size);
    for (uint32_t i = 0; i < items->size; i++) {
        size_t start = sb->size;
        msgpack_pack_array(pk, 2);
        msgpack_pack_int(pk, 0);
        int status = call_task(sb, pk, fn, rec->name, rec->name_len, &items->ptr[i], msg, msg_size);
        if (status != 0) {
            sb->size = start;
            msgpack_pack_array(pk, 2);
            msgpack_pack_int(pk, status);
            msgpack_pack_str_with_body(pk, msg, strlen(msg));
        }
    }
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
        execute_chunk(sb, pk, fn, rec, msg, msg_size);
        return 0;
    }
    int status = call_task(sb, pk, fn, rec->name, rec->name_len, &rec->payload, msg, msg_size);
    if (status != 0) {
        sb->size = 0;
        cf__record_result_error(pk, id, status, msg, strlen(msg));
    }
    return status;
}
