/* Running a task record: the one piece of the worker loop that the process
 * pool's workers (workers/worker.c) and the thread pool's threads
 * (executor/thread_pool.c) share. Both decode a TASK or CHUNK record, call
 * the registered task, and need its RESULT record or value.
 */
#ifndef CF_WORKERS_EXECUTE_H
#define CF_WORKERS_EXECUTE_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include <cfutures.h>

#include "serialize/record.h"
#include "common/task_error.h"

/* Room enough for any message the functions below write. */
#define CF__EXECUTE_MESSAGE_MAX (CF__TASK_MESSAGE_MAX + 300)

/* Calls the task registered as name[0..name_len) with `args`; `pk` writes
 * to `sb`. On success the task's one result object is appended to `sb` and
 * 0 is returned. Otherwise `sb` is left as it was, msg[0..msg_size) says
 * why, and the return is CF_ENOTASK (no such task), CF_ETASK (cf_task_fail,
 * any other non-zero return, or not exactly one result object packed) or
 * the -errno of the worker's result writer when the task failed because
 * packing failed. Borrows everything; safe on any thread (the
 * cf_task_fail message is thread-local). */
int cf__execute_task(msgpack_sbuffer *sb, msgpack_packer *pk, const char *name, size_t name_len,
                     const msgpack_object *args, char *msg, size_t msg_size);

/* Executes a decoded TASK or CHUNK record (a CHUNK as cf__record_decode
 * leaves it: its items still packed in payload_raw) and packs its whole RESULT record for `id` into `sb`, which is
 * emptied first. A TASK's result is its value, or an error record; a
 * CHUNK's is an array of [status, value | message] pairs (a CHUNK itself
 * never fails). Returns the RESULT status: 0, with the result value at
 * sb->data[*value_off .. sb->size); or a negative code, with the message
 * (also in the record) in msg. Borrows everything; safe on any thread. */
int cf__execute_record(msgpack_sbuffer *sb, msgpack_packer *pk, uint64_t id,
                       const struct cf__record *rec, size_t *value_off, char *msg, size_t msg_size);

#endif
