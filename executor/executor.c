/* The generic executor layer: argument checks, task ids, record packing,
 * and dispatch to the backend's operations. Called from any user thread.
 */
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "executor/executor.h"
#include "executor/future_internal.h"
#include "ipc/clock.h"
#include "serialize/record.h"

/* Task ids are unique in the process, across executors: a stale or stray
 * result can never complete the wrong future. */
static _Atomic uint64_t next_task_id = 1;

bool cf__executor_cancel(cf_executor *ex, cf_future *f)
{
    return ex ? ex->ops->cancel(ex, f) : cf__future_mark_cancelled(f);
}

void cf__executor_refresh_running(cf_executor *ex, cf_future *f)
{
    if (ex && ex->ops->refresh_running)
        ex->ops->refresh_running(ex, f);
}

int cf_executor_workers(const cf_executor *ex)
{
    return ex ? ex->ops->workers(ex) : -EINVAL;
}

int cf_executor_shutdown(cf_executor *ex, bool wait, bool cancel_futures)
{
    return ex ? ex->ops->shutdown(ex, wait, cancel_futures) : -EINVAL;
}

void cf_executor_release(cf_executor *ex)
{
    if (!ex)
        return;
    ex->ops->shutdown(ex, true, false);
    /* Every future is done now, but a cancel or running() that read the
     * owner while its future was pending may still be inside the backend. */
    while (atomic_load(&ex->calls) > 0)
        sched_yield();
    ex->ops->destroy(ex);
}

int cf__executor_submit_packed(cf_executor *ex, bool chunk, const char *task,
                               const cf_submit_options *opts, cf__pack_fn pack_payload,
                               void *arg, cf_future **out)
{
    static const cf_submit_options defaults = CF_SUBMIT_OPTIONS_INIT;
    if (!opts)
        opts = &defaults;
    if (!ex || !task || !out || isnan(opts->timeout) || isnan(opts->task_timeout) ||
        opts->max_retries < -1)
        return -EINVAL;
    double timeout = opts->timeout;
    size_t name_len = strlen(task);
    if (name_len == 0 || name_len > CF__TASK_NAME_MAX)
        return -EINVAL;
    cf_future *f;
    int rc = cf_future_create(&f);
    if (rc < 0)
        return rc;
    f->id = atomic_fetch_add_explicit(&next_task_id, 1, memory_order_relaxed);
    if (!(f->task = strdup(task))) {
        cf_future_release(f);
        return -ENOMEM;
    }

    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    /* Every ring record starts with the task id in 8 raw bytes, so a worker
     * can note which tasks it took without parsing msgpack under the ring
     * lock (workers/worker.c). */
    rc = msgpack_sbuffer_write(&sb, (const char *)&f->id, sizeof(f->id)) == 0 ? 0 : -ENOMEM;
    if (rc == 0)
        rc = chunk ? cf__record_chunk_begin(&pk, f->id, task, name_len)
                   : cf__record_task_begin(&pk, f->id, task, name_len);
    if (rc == 0)
        rc = pack_payload(&pk, arg);
    if (rc < 0) {
        msgpack_sbuffer_destroy(&sb);
        cf_future_release(f);
        return rc;
    }
    /* The backend takes the buffer; it keeps it until the future completes
     * so that a task lost with its worker can be queued again. */
    f->owner = ex;
    /* msgpack's buffer starts at 8 KiB; a future may keep its record until
     * it completes, so keep only what the record needs (measured: with
     * 200 000 futures in flight the slack alone cost a 4x slower submit). */
    char *exact = realloc(sb.data, sb.size ? sb.size : 1);
    if (exact)
        sb.data = exact;
    f->retries_left = opts->max_retries;
    f->task_deadline = opts->task_timeout > 0 ? cf__deadline_after(opts->task_timeout) : 0;
    /* The ring reads deadline 0 as "do not wait" (-EAGAIN -> CF_EFULL);
     * cf__deadline_after(0) would give "now", which times out instead. */
    rc = ex->ops->submit(ex, f, (unsigned char *)sb.data, sb.size,
                         timeout == 0 ? 0 : cf__deadline_after(timeout));
    if (rc < 0) {
        f->owner = NULL;
        cf_future_release(f);
        return rc == -EAGAIN ? CF_EFULL : rc;
    }
    atomic_fetch_add_explicit(&ex->counters.submitted, 1, memory_order_relaxed);
    *out = f;
    return 0;
}

void cf__executor_count_completion(cf_executor *ex, int state, int error)
{
    struct cf__executor_counters *c = &ex->counters;
    if (state == CF__CANCELLED) {
        atomic_fetch_add_explicit(&c->cancelled, 1, memory_order_relaxed);
        return;
    }
    if (error == 0) {
        atomic_fetch_add_explicit(&c->completed, 1, memory_order_relaxed);
        return;
    }
    atomic_fetch_add_explicit(&c->failed, 1, memory_order_relaxed);
    _Atomic uint64_t *cause = error == CF_EWORKER    ? &c->failed_worker
                              : error == -ETIMEDOUT ? &c->failed_timeout
                                                    : &c->failed_task;
    atomic_fetch_add_explicit(cause, 1, memory_order_relaxed);
}

int cf_executor_stats(cf_executor *ex, cf_stats *out)
{
    if (!ex || !out)
        return -EINVAL;
    struct cf__executor_counters *c = &ex->counters;
    *out = (cf_stats){
        .submitted = atomic_load(&c->submitted),
        .completed = atomic_load(&c->completed),
        .failed = atomic_load(&c->failed),
        .failed_task = atomic_load(&c->failed_task),
        .failed_worker = atomic_load(&c->failed_worker),
        .failed_timeout = atomic_load(&c->failed_timeout),
        .cancelled = atomic_load(&c->cancelled),
        .workers = ex->ops->workers(ex),
    };
    if (ex->ops->stats)
        ex->ops->stats(ex, out);
    return 0;
}

int cf_executor_worker_stats(cf_executor *ex, int index, cf_worker_stats *out)
{
    if (!ex || !out || index < 0 || index >= ex->ops->workers(ex))
        return -EINVAL;
    return ex->ops->worker_stats ? ex->ops->worker_stats(ex, index, out) : -ENOTSUP;
}

struct format_args {
    const char *fmt;
    va_list *ap;
};

static int pack_format(msgpack_packer *pk, void *arg)
{
    struct format_args *fa = arg;
    va_list ap;
    va_copy(ap, *fa->ap);
    int rc = cf_pack_argsv(pk, fa->fmt, ap);
    va_end(ap);
    return rc;
}

struct raw_args {
    const void *bytes;
    size_t len;
};

static int pack_raw(msgpack_packer *pk, void *arg)
{
    struct raw_args *ra = arg;
    /* Already one checked msgpack object: append the bytes as they are. */
    return pk->callback(pk->data, ra->bytes, ra->len) == 0 ? 0 : -ENOMEM;
}

int cf_submit(cf_executor *ex, cf_task_fn fn, cf_future **out, const char *fmt, ...)
{
    if (!ex || !fn || !out || !fmt)
        return -EINVAL;
    const char *name = cf_task_name(fn);
    if (!name)
        return CF_ENOTASK;
    va_list ap;
    va_start(ap, fmt);
    struct format_args fa = {fmt, &ap};
    int rc = cf__executor_submit_packed(ex, false, name, NULL, pack_format, &fa, out);
    va_end(ap);
    return rc;
}

int cf_submit_named(cf_executor *ex, const char *task, double timeout, cf_future **out,
                    const char *fmt, ...)
{
    if (!ex || !task || !out || !fmt)
        return -EINVAL;
    cf_submit_options opts = CF_SUBMIT_OPTIONS_INIT;
    opts.timeout = timeout;
    va_list ap;
    va_start(ap, fmt);
    struct format_args fa = {fmt, &ap};
    int rc = cf__executor_submit_packed(ex, false, task, &opts, pack_format, &fa, out);
    va_end(ap);
    return rc;
}

int cf_submit_with(cf_executor *ex, const cf_submit_options *opts, const char *task,
                   cf_future **out, const char *fmt, ...)
{
    if (!ex || !task || !out || !fmt)
        return -EINVAL;
    va_list ap;
    va_start(ap, fmt);
    struct format_args fa = {fmt, &ap};
    int rc = cf__executor_submit_packed(ex, false, task, opts, pack_format, &fa, out);
    va_end(ap);
    return rc;
}

int cf_submit_raw(cf_executor *ex, const char *task, double timeout, cf_future **out,
                  const void *args, size_t len)
{
    if (!ex || !task || !out || (!args && len))
        return -EINVAL;
    /* Another process will parse these bytes: refuse them here, where the
     * caller can still see why, rather than in a worker. */
    if (cf__msgpack_check_value(args, len) != 0)
        return CF_EPROTO;
    struct raw_args ra = {args, len};
    cf_submit_options opts = CF_SUBMIT_OPTIONS_INIT;
    opts.timeout = timeout;
    return cf__executor_submit_packed(ex, false, task, &opts, pack_raw, &ra, out);
}

bool cf_future_cancel_running(cf_future *f)
{
    cf_executor *owner;
    if (!f)
        return false;
    if (!cf__future_pending_owner(f, true, &owner))
        return cf_future_cancelled(f);
    if (!owner)
        return cf__future_mark_cancelled(f);
    bool cancelled = owner->ops->cancel_running ? owner->ops->cancel_running(owner, f)
                                                : owner->ops->cancel(owner, f);
    atomic_fetch_sub(&owner->calls, 1);
    return cancelled;
}
