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
#include "ipc/side.h"
#include "ipc/spill.h"
#include "serialize/record.h"
#include "workers/registry.h"

/* Task ids are unique in the process, across executors: a stale or stray
 * result can never complete the wrong future. Each executor counts its
 * own in the low 40 bits, under a serial of its own in the high 24, so
 * that one executor's ids stay consecutive however executors interleave
 * their submits: its in-flight table hashes them by their low bits
 * (executor/pool_table.c). */
#define TASK_ID_BITS 40
static _Atomic uint64_t next_executor_serial; /* the first one's ids stay small */

void cf__executor_init_ids(cf_executor *ex)
{
    uint64_t serial = atomic_fetch_add_explicit(&next_executor_serial, 1, memory_order_relaxed);
    /* Serials wrap after 2^24 executors; only the live ones must differ. */
    uint64_t first = (serial & ((1ull << (64 - TASK_ID_BITS)) - 1)) << TASK_ID_BITS;
    atomic_init(&ex->next_task_id, first | 1); /* 0 is never an id */
}

bool cf__executor_cancel(cf_executor *ex, cf_future *f)
{
    return ex ? ex->ops->cancel(ex, f) : cf__future_mark_cancelled(f);
}

void cf__executor_refresh_running(cf_executor *ex, cf_future *f)
{
    if (ex && ex->ops->refresh_running)
        ex->ops->refresh_running(ex, f);
}

_Thread_local int cf__tl_completing;

int cf__executor_wait_here(cf_future *const *fs, size_t n, bool (*ready)(void *), void *arg,
                           uint64_t deadline_ns)
{
    if (!cf__tl_completing)
        return 0; /* not a completing thread: the usual wait cannot wait for itself */
    /* Each executor among the pending futures' owners, once (a short list:
     * waits mix few executors; past it, an owner may be asked again). */
    cf_executor *asked[8];
    size_t n_asked = 0;
    for (size_t i = 0; i < n && !ready(arg); i++) {
        cf_executor *owner;
        if (!cf__future_pending_owner(fs[i], true, &owner) || !owner)
            continue;
        bool seen = false;
        for (size_t k = 0; k < n_asked && !seen; k++)
            seen = asked[k] == owner;
        int rc = 0;
        if (!seen && owner->ops->wait_here)
            rc = owner->ops->wait_here(owner, fs, n, ready, arg, deadline_ns);
        if (!seen && n_asked < 8)
            asked[n_asked++] = owner;
        atomic_fetch_sub(&owner->calls, 1);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* How many of a wait's futures cf__executor_blocking looks at (done ones
 * cost one load each; pending ones a lock), and how many distinct
 * executors among them it tells. */
#define BLOCKING_SCAN 64
#define BLOCKING_LOOK 16
#define BLOCKING_TELL 4

void cf__executor_blocking(cf_future *const *fs, size_t n)
{
    cf_executor *told[BLOCKING_TELL];
    size_t n_told = 0, looked = 0;
    for (size_t i = 0; i < n && i < BLOCKING_SCAN && looked < BLOCKING_LOOK && n_told < BLOCKING_TELL;
         i++) {
        cf_executor *owner;
        if (cf_future_done(fs[i]))
            continue;
        looked++;
        if (!cf__future_pending_owner(fs[i], true, &owner) || !owner)
            continue;
        bool seen = false;
        for (size_t k = 0; k < n_told && !seen; k++)
            seen = told[k] == owner;
        if (!seen) {
            told[n_told++] = owner;
            if (owner->ops->blocking)
                owner->ops->blocking(owner);
        }
        atomic_fetch_sub(&owner->calls, 1);
    }
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
    cf__executor_loop_close(ex);
    ex->ops->destroy(ex);
}

/* Where a record is packed: a buffer on the submitter's stack, moved to
 * the heap only when the record outgrows it, so that a record costs no
 * allocation of its own unless it is large (msgpack's sbuffer starts at
 * 8 KiB and would need shrinking after). It starts with a real
 * msgpack_sbuffer, kept current: payload packers may read and patch the
 * bytes through pk->data as an sbuffer (cf_map's chunk count does).
 * With `spill` set (a backend that passes large records in side segments),
 * a record that outgrows the stack continues in that spill buffer instead,
 * which moves it into a memfd once the ring cannot carry it: packed there,
 * it is sealed in place rather than copied once more (ipc/spill.h). sb then
 * mirrors the spill's view. */
struct record_buf {
    msgpack_sbuffer sb; /* data: `stack`, malloc'd or the spill's; alloc: its capacity */
    struct cf__spill *spill; /* NULL: no spilling */
    size_t spill_above;
    bool in_spill;
    int spill_err; /* why spilling failed (-errno), for the caller */
    char stack[CF__RECORD_INLINE_MAX];
};

/* Continues a record in rb->spill: from the stack's bytes on the first
 * call, then each write (sb.size may have been rolled back in between). */
static int record_buf_spill(struct record_buf *rb, const char *bytes, size_t len)
{
    if (!rb->in_spill) {
        cf__spill_init(rb->spill, rb->spill_above, sizeof(uint64_t) /* the id prefix */);
        cf__spill_set_reuse(rb->spill, true);
        if (cf__spill_write(rb->spill, rb->stack, rb->sb.size) < 0) {
            rb->spill_err = rb->spill->err;
            cf__spill_destroy(rb->spill); /* still on the stack */
            return -1;
        }
        rb->in_spill = true;
    }
    rb->spill->sb.size = rb->sb.size;
    int rc = cf__spill_write(rb->spill, bytes, len);
    rb->sb = rb->spill->sb;
    if (rc < 0)
        rb->spill_err = rb->spill->err;
    return rc;
}

/* Room for len more bytes on the heap (the record leaves the stack). */
static int record_buf_grow(struct record_buf *rb, size_t len)
{
    msgpack_sbuffer *sb = &rb->sb;
    if (len <= sb->alloc - sb->size)
        return 0;
    if (len > SIZE_MAX / 2 - sb->size)
        return -1;
    size_t cap = sb->alloc * 2 > sb->size + len ? sb->alloc * 2 : sb->size + len;
    char *grown = sb->data == rb->stack ? malloc(cap) : realloc(sb->data, cap);
    if (!grown)
        return -1;
    if (sb->data == rb->stack)
        memcpy(grown, rb->stack, sb->size);
    sb->data = grown;
    sb->alloc = cap;
    return 0;
}

static int record_buf_write(void *data, const char *bytes, size_t len)
{
    struct record_buf *rb = data;
    msgpack_sbuffer *sb = &rb->sb;
    /* The common case, a few bytes that fit where the record now is (the
     * stack, the heap, or a spill buffer's view, which sb mirrors: the
     * spill learns the size before its next operation). A map chunk makes
     * several such calls per item. Large appends still go through the
     * spill, which writes fresh memfd pages more cheaply. */
    if (len <= sb->alloc - sb->size && len <= 4096) {
        memcpy(sb->data + sb->size, bytes, len);
        sb->size += len;
        return 0;
    }
    if (rb->in_spill || (rb->spill && len > sb->alloc - sb->size))
        return record_buf_spill(rb, bytes, len);
    if (record_buf_grow(rb, len) < 0)
        return -1;
    memcpy(sb->data + sb->size, bytes, len);
    sb->size += len;
    return 0;
}

static void record_buf_free(struct record_buf *rb)
{
    if (rb->in_spill)
        cf__spill_destroy(rb->spill);
    else if (rb->sb.data != rb->stack)
        free(rb->sb.data);
}

/* Once packed, a record in the spill buffer becomes a sealed segment in
 * *side (if it went to a memfd; sb.data is then NULL) or a heap record
 * again. Returns 0 or -errno (the record is gone then). */
static int record_buf_finish(struct record_buf *rb, struct cf__side *side)
{
    if (!rb->in_spill)
        return 0;
    int rc = 0;
    rb->spill->sb.size = rb->sb.size;
    if (cf__spill_spilled(rb->spill)) {
        rc = cf__spill_seal(rb->spill, side);
        rb->sb.size = sizeof(uint64_t) /* the id prefix */ + side->size;
        rb->sb.data = NULL;
    } else {
        rb->sb.data = cf__spill_take(rb->spill, &rb->sb.size);
        if (!rb->sb.data)
            rc = -ENOMEM; /* cannot happen: it holds more than the stack did */
    }
    cf__spill_destroy(rb->spill);
    rb->in_spill = false;
    return rc;
}

/* A record being packed, then handed to a backend: on the submitter's
 * stack for cf_submit*, on the heap for a cf_buffer between its creation
 * and its submission. */
struct cf__packed_record {
    struct record_buf rb;
    struct cf__spill spill; /* rb.spill points here when the backend spills */
    uint64_t id;
    const char *task;  /* the caller's name, or name_copy (pack_later) */
    size_t name_len;
    char name_copy[CF__TASK_NAME_MAX + 1];
};

int cf__executor_check_options(const cf_submit_options *opts)
{
    return opts && (isnan(opts->timeout) || isnan(opts->task_timeout) ||
                    opts->max_retries < CF_NO_RETRIES)
               ? -EINVAL
               : 0;
}

int cf__executor_pack_error(const msgpack_packer *pk)
{
    if (pk->callback == record_buf_write)
        return ((const struct record_buf *)pk->data)->spill_err;
    return 0;
}

/* Packs [id][TASK or CHUNK record] into pr with a fresh id. Returns 0 or a
 * negative code, and then holds nothing. */
static int pack_record(struct cf__packed_record *pr, cf_executor *ex, bool chunk,
                       const char *task, cf__pack_fn pack_payload, void *arg)
{
    size_t name_len = strlen(task);
    if (name_len == 0 || name_len > CF__TASK_NAME_MAX)
        return -EINVAL;
    pr->task = task;
    pr->name_len = name_len;
    pr->id = atomic_fetch_add_explicit(&ex->next_task_id, 1, memory_order_relaxed);

    struct record_buf *rb = &pr->rb;
    rb->sb = (msgpack_sbuffer){.size = 0, .data = rb->stack, .alloc = sizeof(rb->stack)};
    rb->spill = ex->spill_above ? &pr->spill : NULL;
    rb->spill_above = ex->spill_above;
    rb->in_spill = false;
    rb->spill_err = 0;
    msgpack_packer pk;
    msgpack_packer_init(&pk, rb, record_buf_write);
    /* Every ring record starts with the task id in 8 raw bytes, so a worker
     * can note which tasks it took without parsing msgpack under the ring
     * lock (workers/worker.c). */
    int rc = record_buf_write(rb, (const char *)&pr->id, sizeof(pr->id)) == 0 ? 0 : -ENOMEM;
    if (rc == 0)
        rc = chunk ? cf__record_chunk_begin(&pk, pr->id, task, name_len)
                   : cf__record_task_begin(&pk, pr->id, task, name_len);
    if (rc == 0)
        rc = pack_payload(&pk, arg);
    if (rc < 0) {
        /* A packer reports any write failure as -ENOMEM (or, passing on
         * msgpack-c's return, -1); a memfd's own reason (-EMFILE,
         * -ENOSPC...) says more. Never a bare -1. */
        if (rc == -1)
            rc = -ENOMEM;
        if (rc == -ENOMEM && rb->spill_err)
            rc = rb->spill_err;
        record_buf_free(rb);
    }
    return rc;
}

/* Hands pr's record to ex's backend with a fresh future in *out. Consumes
 * the record whatever the outcome (pr itself stays the caller's). */
static int submit_record(cf_executor *ex, struct cf__packed_record *pr,
                         const cf_submit_options *opts, cf_future **out)
{
    struct record_buf *rb = &pr->rb;
    struct cf__side side = {.fd = -1};
    /* Zero is the default (no limit); "poll" is a flag of its own. */
    double timeout = opts->timeout == 0 ? CF_FOREVER : opts->timeout;
    size_t name_len = pr->name_len;
    int rc = record_buf_finish(rb, &side);
    if (rc < 0)
        return rc;
    /* One allocation holds the future, a small record and the task name
     * (kept for messages). A large record is allocated on its own, at its
     * exact size: a future may keep it until it completes, and a backend
     * may drop it earlier (cf__future_drop_record). */
    size_t len = rb->sb.size;
    bool small = rb->sb.data == rb->stack;
    /* The ring part only for an executor whose records may spill (the
     * process pool): the thread pool's futures are 72 bytes smaller. */
    cf_future *f = cf__future_new(true, ex->spill_above != 0, (small ? len : 0) + name_len + 1);
    if (!f) {
        record_buf_free(rb);
        cf__side_close(&side);
        return -ENOMEM;
    }
    unsigned char *extra = cf__future_extra(f);
    unsigned char *record;
    if (small) {
        record = memcpy(extra, rb->stack, len);
        extra += len;
        f->t->record_inline = true;
    } else if (side.fd >= 0) {
        record = NULL; /* sealed in a segment: the backend pushes its task_side */
        f->t->ring->task_side = side; /* a segment only where records spill */
    } else {
        unsigned char *exact = realloc(rb->sb.data, len);
        record = exact ? exact : (unsigned char *)rb->sb.data;
    }
    f->t->task = memcpy(extra, pr->task, name_len + 1);
    f->id = pr->id;
    /* The backend takes the record; it keeps it until the future completes
     * so that a task lost with its worker can be queued again. */
    f->owner = ex;
    /* retries_left < 0 asks the backend for the pool's setting. */
    f->t->retries_left = opts->max_retries == CF_NO_RETRIES ? 0
                      : opts->max_retries > 0            ? opts->max_retries
                                                         : -1;
    f->t->task_deadline = opts->task_timeout > 0 ? cf__deadline_after(opts->task_timeout) : 0;
    /* The ring reads deadline 0 as "do not wait" (-EAGAIN -> CF_EFULL). */
    rc = ex->ops->submit(ex, f, record, len, opts->poll ? 0 : cf__deadline_after(timeout));
    if (rc < 0) {
        f->owner = NULL;
        cf_future_release(f);
        return rc == -EAGAIN ? CF_EFULL : rc;
    }
    atomic_fetch_add_explicit(&ex->counters.submitted, 1, memory_order_relaxed);
    *out = f;
    return 0;
}

static const cf_submit_options default_submit_options = CF_SUBMIT_OPTIONS_INIT;

int cf__executor_submit_packed(cf_executor *ex, bool chunk, const char *task,
                               const cf_submit_options *opts, cf__pack_fn pack_payload,
                               void *arg, cf_future **out)
{
    if (!opts)
        opts = &default_submit_options;
    if (!ex || !task || !out || cf__executor_check_options(opts) < 0)
        return -EINVAL;
    struct cf__packed_record pr;
    int rc = pack_record(&pr, ex, chunk, task, pack_payload, arg);
    return rc < 0 ? rc : submit_record(ex, &pr, opts, out);
}

int cf__executor_pack_later(cf_executor *ex, const char *task, cf__pack_fn pack_payload,
                            void *arg, struct cf__packed_record **out)
{
    if (!ex || !task || !out)
        return -EINVAL;
    int rc = cf__task_check(task);
    if (rc < 0)
        return rc;
    struct cf__packed_record *pr = malloc(sizeof(*pr));
    if (!pr)
        return -ENOMEM;
    rc = pack_record(pr, ex, false, task, pack_payload, arg);
    if (rc < 0) {
        free(pr);
        return rc;
    }
    /* The caller's name need not outlive this call: the record keeps a copy. */
    pr->task = memcpy(pr->name_copy, task, pr->name_len + 1);
    *out = pr;
    return 0;
}

int cf__executor_submit_later(cf_executor *ex, struct cf__packed_record *pr,
                              const cf_submit_options *opts, cf_future **out)
{
    int rc = submit_record(ex, pr, opts ? opts : &default_submit_options, out);
    free(pr);
    return rc;
}

void cf__executor_drop_later(struct cf__packed_record *pr)
{
    if (!pr)
        return;
    record_buf_free(&pr->rb);
    free(pr);
}

void *cf__executor_reserve(msgpack_packer *pk, size_t len)
{
    struct record_buf *rb = pk->data;
    msgpack_sbuffer *sb = &rb->sb;
    if (!rb->in_spill && len <= sb->alloc - sb->size) {
        sb->size += len;
        return sb->data + sb->size - len;
    }
    if (rb->spill && !rb->in_spill && record_buf_spill(rb, NULL, 0) < 0)
        return NULL;
    if (rb->in_spill) {
        rb->spill->sb.size = sb->size;
        void *at = cf__spill_reserve(rb->spill, len);
        rb->sb = rb->spill->sb;
        if (!at)
            rb->spill_err = rb->spill->err;
        return at;
    }
    /* No spilling: the heap, grown as record_buf_write does. */
    size_t before = sb->size;
    if (record_buf_grow(rb, len) < 0)
        return NULL;
    sb->size = before + len;
    return sb->data + before;
}

void *cf__executor_alloc(size_t size)
{
    size_t rounded = (size + 63) / 64 * 64; /* aligned_alloc wants a multiple */
    void *p = aligned_alloc(64, rounded);
    if (p)
        memset(p, 0, rounded);
    return p;
}

void cf__executor_count_completion(cf_executor *ex, int state, int error)
{
    int cpu = sched_getcpu(); /* glibc reads it from rseq: no system call */
    struct cf__completion_counts *c =
        &ex->counters.slot[(unsigned)(cpu < 0 ? 0 : cpu) % CF__COUNTER_SLOTS];
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
    *out = (cf_stats){
        .submitted = atomic_load(&ex->counters.submitted),
        .workers = ex->ops->workers(ex),
    };
    for (int i = 0; i < CF__COUNTER_SLOTS; i++) {
        struct cf__completion_counts *c = &ex->counters.slot[i];
        out->completed += atomic_load(&c->completed);
        out->failed += atomic_load(&c->failed);
        out->failed_task += atomic_load(&c->failed_task);
        out->failed_worker += atomic_load(&c->failed_worker);
        out->failed_timeout += atomic_load(&c->failed_timeout);
        out->cancelled += atomic_load(&c->cancelled);
    }
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

static int pack_values(msgpack_packer *pk, void *arg)
{
    return cf_pack_values(pk, *(const cf_values *)arg);
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

/* cf_task_name takes the registry's lock and scans it; a submitting
 * thread mostly submits the same task again. A name, once found, stays
 * the answer for that function: entries are never removed or changed, and
 * the first match is the oldest. */
static const char *task_name_cached(cf_task_fn fn)
{
    static _Thread_local cf_task_fn last_fn;
    static _Thread_local const char *last_name;
    if (fn != last_fn || !last_name) {
        const char *name = cf_task_name(fn);
        if (!name)
            return NULL; /* not cached: it may be registered later */
        last_fn = fn;
        last_name = name;
    }
    return last_name;
}

int cf_submit(cf_executor *ex, cf_task_fn fn, cf_future **out, const char *fmt, ...)
{
    if (!ex || !fn || !out || !fmt)
        return -EINVAL;
    const char *name = task_name_cached(fn);
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
    /* A name nobody registered fails here, not in every worker. */
    int rc = cf__task_check(task);
    if (rc < 0)
        return rc;
    /* An argument timeout of 0 polls, unlike the options' field. */
    cf_submit_options opts = {.timeout = timeout, .poll = timeout == 0};
    va_list ap;
    va_start(ap, fmt);
    struct format_args fa = {fmt, &ap};
    rc = cf__executor_submit_packed(ex, false, task, &opts, pack_format, &fa, out);
    va_end(ap);
    return rc;
}

int cf_submit_with(cf_executor *ex, const cf_submit_options *opts, const char *task,
                   cf_future **out, const char *fmt, ...)
{
    if (!ex || !task || !out || !fmt)
        return -EINVAL;
    int rc = cf__task_check(task);
    if (rc < 0)
        return rc;
    va_list ap;
    va_start(ap, fmt);
    struct format_args fa = {fmt, &ap};
    rc = cf__executor_submit_packed(ex, false, task, opts, pack_format, &fa, out);
    va_end(ap);
    return rc;
}

int cf_submit_args(cf_executor *ex, cf_task_fn fn, cf_future **out, cf_values args)
{
    if (!ex || !fn || !out || (!args.items && args.n))
        return -EINVAL;
    const char *name = task_name_cached(fn);
    if (!name)
        return CF_ENOTASK;
    return cf__executor_submit_packed(ex, false, name, NULL, pack_values, &args, out);
}

int cf_submit_args_with(cf_executor *ex, const cf_submit_options *opts, const char *task,
                        cf_future **out, cf_values args)
{
    if (!ex || !task || !out || (!args.items && args.n))
        return -EINVAL;
    int rc = cf__task_check(task);
    if (rc < 0)
        return rc;
    return cf__executor_submit_packed(ex, false, task, opts, pack_values, &args, out);
}

int cf_submit_raw(cf_executor *ex, const char *task, double timeout, cf_future **out,
                  const void *args, size_t len)
{
    if (!ex || !task || !out || (!args && len))
        return -EINVAL;
    int rc = cf__task_check(task);
    if (rc < 0)
        return rc;
    /* Another process will parse these bytes: refuse them here, where the
     * caller can still see why, rather than in a worker. */
    if (cf__msgpack_check_value(args, len) != 0)
        return CF_EPROTO;
    struct raw_args ra = {args, len};
    cf_submit_options opts = {.timeout = timeout, .poll = timeout == 0};
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
