/* cf_future: one result that some executor will deliver.
 *
 * Any thread may wait on, query, cancel or add callbacks to a future; the
 * executor's completing thread (the process pool's collector) finishes it.
 * `mu` guards the state; completion sets the `done` futex word (waking
 * any thread asleep on it), reports to linked waiters (cf_wait,
 * cf_as_completed) and then runs the done-callbacks with no lock held, in
 * the order they were added. Lock order: executor lock, future mu, waiter
 * mu. A future made by the generic layer carries its task name and small
 * record in the same allocation (cf__future_new).
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "executor/executor.h"
#include "executor/future_internal.h"
#include "executor/waiter.h"
#include "ipc/clock.h"
#include "ipc/futex.h"
#include "ipc/futex_lock.h"
#include "serialize/record.h"

cf_future *cf__future_new(bool with_task, bool with_ring, size_t extra)
{
    size_t task_size = with_task ? sizeof(struct cf__future_task) : 0;
    if (with_task && with_ring)
        task_size += sizeof(struct cf__future_ring);
    /* The extra bytes are the caller's to fill: only the structs are
     * zeroed (calloc would clear them too, for nothing). */
    cf_future *f = malloc(sizeof(*f) + task_size + extra);
    if (!f)
        return NULL;
    memset(f, 0, sizeof(*f) + task_size);
    atomic_init(&f->refs, 1);
    f->state = CF__PENDING;
    if (with_task) {
        f->t = (struct cf__future_task *)(f + 1);
        if (with_ring) {
            f->t->ring = (struct cf__future_ring *)(f->t + 1);
            f->t->ring->task_side.fd = -1;
        }
    }
    return f;
}

const char *cf__future_task_name(const cf_future *f)
{
    return f->t ? f->t->task : f->native ? "native function" : NULL;
}

/* f's extras, made on first use (with mu held, or before f is shared);
 * NULL when out of memory. */
static struct cf__future_extras *extras(cf_future *f)
{
    if (!f->x && (f->x = calloc(1, sizeof(*f->x))))
        f->x->result_side.fd = -1;
    return f->x;
}

int cf_future_create(cf_future **out)
{
    if (!out)
        return -EINVAL;
    cf_future *f = cf__future_new(false, false, 0);
    if (!f)
        return -ENOMEM;
    *out = f;
    return 0;
}

void cf__future_drop_record(cf_future *f)
{
    struct cf__future_task *t = f->t;
    if (!t)
        return;
    if (!t->record_inline)
        free(t->record);
    t->record = NULL;
    t->record_len = 0;
    t->record_inline = false;
}

cf_future *cf_future_retain(cf_future *f)
{
    if (f)
        atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    return f;
}

/* Whether the packed result lives in result.buf (malloc'd). */
static bool result_in_buf(const cf_future *f)
{
    return f->result_len > CF__RESULT_INLINE && !f->result_in_side;
}

void cf_future_release(cf_future *f)
{
    if (!f || atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (struct cf__callback *c = f->callbacks, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    if (result_in_buf(f))
        free(f->result.buf);
    struct cf__future_extras *x = f->x;
    if (x) {
        if (x->zone)
            msgpack_zone_free(x->zone);
        cf__side_close(&x->result_side);
        free(x->message);
        free(x);
    }
    if (f->t && f->t->ring) /* normally dropped already; never reuse it blind */
        cf__side_abandon(&f->t->ring->task_side);
    cf__future_drop_record(f);
    /* t and its task name live in the future's own allocation. */
    free(f);
}

int cf__future_state(cf_future *f)
{
    cf__futex_lock(&f->mu);
    int s = f->state;
    cf__futex_unlock(&f->mu);
    return s;
}

/* Whether f is pending, and (then) which executor runs it; one lock hold
 * so that the owner read agrees with the state. */
bool cf__future_pending_owner(cf_future *f, bool running_too, cf_executor **owner)
{
    cf__futex_lock(&f->mu);
    bool pending = f->state == CF__PENDING || (running_too && f->state == CF__RUNNING);
    *owner = pending ? f->owner : NULL;
    /* A pending future keeps its executor from being destroyed; this call
     * count keeps it alive past the unlock, until the call is over
     * (cf_executor_release waits for it). */
    if (*owner)
        atomic_fetch_add(&(*owner)->calls, 1);
    cf__futex_unlock(&f->mu);
    return pending;
}

/* Lock-free: `done` is set (release) under mu after the final state was
 * written, and the state never changes again. */
static bool is_done(const cf_future *f)
{
    return atomic_load_explicit(&((cf_future *)f)->done, memory_order_acquire) != 0;
}

bool cf_future_done(const cf_future *f)
{
    return f && is_done(f);
}

bool cf_future_cancelled(const cf_future *f)
{
    return f && is_done(f) && f->state == CF__CANCELLED;
}

bool cf_future_running(const cf_future *f)
{
    if (!f)
        return false;
    cf_future *mf = (cf_future *)f;
    cf_executor *owner;
    /* A process pool learns lazily that a worker took the task. */
    if (cf__future_pending_owner(mf, false, &owner) && owner) {
        cf__executor_refresh_running(owner, mf);
        atomic_fetch_sub(&owner->calls, 1);
    }
    return cf__future_state(mf) == CF__RUNNING;
}

/* Reports a failed done-callback by name: its symbol when the dynamic
 * linker knows one, else its object file and offset (what addr2line
 * takes), only then its bare address. */
static void report_failed_callback(const cf_future *f, cf_done_fn fn, int rc)
{
    void *addr = (void *)(uintptr_t)fn; /* POSIX: function pointers convert */
    char what[1024];
    Dl_info info = {0};
    bool found = dladdr(addr, &info) != 0;
    if (found && info.dli_sname && info.dli_saddr == addr)
        snprintf(what, sizeof(what), "%s", info.dli_sname);
    else if (found && info.dli_fname && info.dli_fbase) {
        /* The main program's dli_fname is its argv[0], maybe no path. */
        char exe[256];
        const char *file = info.dli_fname;
        ssize_t n;
        if (!strchr(file, '/') && (n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) > 0) {
            exe[n] = '\0';
            file = exe;
        }
        size_t off = (size_t)((char *)addr - (char *)info.dli_fbase);
        snprintf(what, sizeof(what), "%s+%#zx (a static function: addr2line -f -e %s %#zx)",
                 file, off, file, off);
    } else
        snprintf(what, sizeof(what), "%p", addr);
    const char *task = cf__future_task_name(f);
    fprintf(stderr, "cfutures: done-callback %s%s%s%s failed: %s (%d)\n", what,
            task ? " of task '" : "", task ? task : "", task ? "'" : "", cf_strerror(rc), rc);
}

/* Runs and unlinks nothing: callbacks stay until release so that a
 * callback added later is not confused with these. Called once per future. */
static void run_callbacks(cf_future *f, struct cf__callback *first)
{
    if (!first)
        return; /* most futures: spare them two atomic operations */
    /* A callback may drop what it thinks is the last reference: keep the
     * future (and so the list) alive until the last callback returned. */
    cf_future_retain(f);
    for (struct cf__callback *c = first; c; c = c->next) {
        int rc = c->fn(f, c->arg);
        if (rc != 0)
            report_failed_callback(f, c->fn, rc);
    }
    cf_future_release(f);
}

/* With f->mu held: wake everyone who waits; returns the callbacks to run.
 * *wake says whether threads sleep on `done` (the caller wakes them once
 * it dropped mu, so that they do not wake only to block on it). */
static struct cf__callback *complete_locked(cf_future *f, int state, bool *wake)
{
    f->state = state;
    if (f->owner)
        cf__executor_count_completion(f->owner, state, f->error);
    f->owner = NULL;
    bool failed = state == CF__FINISHED && f->error != 0;
    /* Published before the waiters hear of it: one that wakes must find
     * the future done (cf_future_done reads only this word). */
    atomic_store_explicit(&f->done, 1, memory_order_release);
    for (struct cf__waiter_link *l = f->waiters; l; l = l->next)
        cf__waiter_notify(l, failed);
    *wake = f->sleepers > 0;
    return f->callbacks;
}

/* After complete_locked and the unlock. The caller's reference keeps f
 * alive; a sleeper re-checks under mu. */
static void wake_sleepers(cf_future *f, bool wake)
{
    if (wake)
        cf__futex_wake_private((uint32_t *)&f->done, INT32_MAX);
}

/* The result is `buf` (taken), or `small` (copied into the future; len
 * <= CF__RESULT_INLINE), or in `side`. */
static int finish(cf_future *f, int error, const char *message, unsigned char *buf,
                  const void *small, size_t len, struct cf__side *side, size_t side_off)
{
    /* Out of memory for the text must not leave the future pending forever:
     * it then completes with its code alone. */
    char *msg = error && message ? strdup(message) : NULL;
    cf__futex_lock(&f->mu);
    if (f->state == CF__CANCELLED || f->state == CF__FINISHED) {
        cf__futex_unlock(&f->mu);
        free(msg);
        return -EINVAL;
    }
    /* Extras only for a text or a segment: a plain result needs none. A
     * segment with no room to keep it fails the future instead. */
    if ((msg || side) && !extras(f)) {
        free(msg);
        msg = NULL;
        if (side) {
            error = -ENOMEM;
            len = 0;
            side = NULL;
        }
    }
    f->error = error;
    if (msg)
        f->x->message = msg;
    f->result_len = len;
    if (small)
        memcpy(f->result.inline_bytes, small, len);
    else if (buf)
        f->result.buf = buf;
    if (side) {
        f->x->result_side = *side;
        f->x->result_off = side_off;
        f->result_in_side = true;
        cf__side_forget(side);
    }
    bool wake;
    struct cf__callback *cbs = complete_locked(f, CF__FINISHED, &wake);
    cf__futex_unlock(&f->mu);
    wake_sleepers(f, wake);
    run_callbacks(f, cbs);
    return 0;
}

int cf__future_finish(cf_future *f, int error, const char *message, const void *result,
                      size_t len)
{
    unsigned char *buf = NULL;
    if (!error && len <= CF__RESULT_INLINE)
        return finish(f, 0, NULL, NULL, len ? result : NULL, len, NULL, 0);
    if (!error) {
        if (!(buf = malloc(len)))
            return finish(f, -ENOMEM, "out of memory storing the result", NULL, NULL, 0, NULL,
                          0);
        memcpy(buf, result, len);
    }
    int rc = finish(f, error, message, buf, NULL, error ? 0 : len, NULL, 0);
    if (rc < 0)
        free(buf);
    return rc;
}

int cf__future_finish_side(cf_future *f, struct cf__side *side, size_t off, size_t len)
{
    /* The result bytes stay in the receiver's read-only mapping: no copy.
     * result_buf then aliases the mapping and must not be freed. */
    return finish(f, 0, NULL, NULL, NULL, len, side, off);
}

/* -> CANCELLED from PENDING (and from RUNNING too when `running_too`):
 * waiters and callbacks are notified. True if it is cancelled now. */
static bool cancel_from(cf_future *f, bool running_too)
{
    cf__futex_lock(&f->mu);
    if (f->state != CF__PENDING && !(running_too && f->state == CF__RUNNING)) {
        bool already = f->state == CF__CANCELLED;
        cf__futex_unlock(&f->mu);
        return already;
    }
    f->error = CF_ECANCELLED;
    bool wake;
    struct cf__callback *cbs = complete_locked(f, CF__CANCELLED, &wake);
    cf__futex_unlock(&f->mu);
    wake_sleepers(f, wake);
    run_callbacks(f, cbs);
    return true;
}

bool cf__future_mark_cancelled(cf_future *f)
{
    return cancel_from(f, false);
}

bool cf__future_mark_interrupted(cf_future *f)
{
    return cancel_from(f, true);
}

bool cf__future_mark_running(cf_future *f)
{
    cf__futex_lock(&f->mu);
    bool ok = f->state == CF__PENDING;
    if (ok)
        f->state = CF__RUNNING;
    cf__futex_unlock(&f->mu);
    return ok;
}

bool cf_future_cancel(cf_future *f)
{
    if (!f)
        return false;
    cf_executor *owner;
    if (!cf__future_pending_owner(f, false, &owner))
        return cf__future_state(f) == CF__CANCELLED;
    if (!owner)
        return cf__future_mark_cancelled(f);
    bool cancelled = cf__executor_cancel(owner, f);
    atomic_fetch_sub(&owner->calls, 1);
    return cancelled;
}

/* Waits for completion with f->mu held (dropped while asleep). Returns 0
 * or -ETIMEDOUT. */
static int wait_done_locked(cf_future *f, uint64_t deadline)
{
    while (!atomic_load_explicit(&f->done, memory_order_relaxed)) {
        if (deadline != CF__NO_DEADLINE && cf__now_ns() >= deadline)
            return -ETIMEDOUT;
        /* Counted under mu, so that the completer (which sets done under
         * mu) knows to wake us; a completion between the unlock and the
         * sleep changes the word, and the futex then does not sleep. */
        f->sleepers++;
        cf__futex_unlock(&f->mu);
        cf__futex_wait_private((uint32_t *)&f->done, 0, deadline);
        cf__futex_lock(&f->mu);
        f->sleepers--;
    }
    return 0;
}

/* Before blocking on f: lets its executor complete it on this thread for a
 * short while (see cf__executor_ops.assist). A timeout of 0 never blocks,
 * so it gets no help either. */
static void assist(cf_future *f, double timeout)
{
    cf_executor *owner;
    if (timeout == 0 || !cf__future_pending_owner(f, true, &owner) || !owner)
        return;
    if (owner->ops->blocking)
        owner->ops->blocking(owner);
    if (owner->ops->assist)
        owner->ops->assist(owner, f, cf__deadline_after(timeout));
    atomic_fetch_sub(&owner->calls, 1);
}

static bool future_ready(void *arg)
{
    return is_done(arg);
}

/* Before blocking on f: the assist above, then, on a thread that completes
 * futures of f's executor (a done-callback on the collector...), the work
 * that would complete f done here (cf__executor_wait_here). Returns 0 or
 * that wait's -EDEADLK / -ENOMEM. */
static int before_wait(cf_future *f, double timeout, uint64_t deadline)
{
    if (is_done(f))
        return 0;
    assist(f, timeout);
    return cf__executor_wait_here(&f, 1, future_ready, f, deadline);
}

static const unsigned char *result_bytes(const cf_future *f)
{
    if (f->result_in_side) /* x and its segment were set before `done` */
        return (const unsigned char *)f->x->result_side.map + f->x->result_off;
    return f->result_len > CF__RESULT_INLINE ? f->result.buf : f->result.inline_bytes;
}

/* A done future's code: 0, CF_ECANCELLED or its failure. */
static int outcome(const cf_future *f)
{
    return f->state == CF__CANCELLED ? CF_ECANCELLED : f->error;
}

int cf__future_packed_result(cf_future *f, const unsigned char **bytes, size_t *len)
{
    /* Done: the fields below never change again (see future_internal.h). */
    if (!atomic_load_explicit(&f->done, memory_order_acquire))
        return -EAGAIN;
    int rc = outcome(f);
    if (rc)
        return rc;
    if (!f->result_len)
        return CF_EPROTO;
    *bytes = result_bytes(f);
    *len = f->result_len;
    return 0;
}

/* With f->mu held and the future finished successfully: unpack once. The
 * object itself lives in the zone (the future only points to it). */
static int unpack_result_locked(cf_future *f)
{
    struct cf__future_extras *x = extras(f);
    if (!x)
        return -ENOMEM;
    if (x->zone)
        return 0;
    if (!(x->zone = msgpack_zone_new(256)))
        return -ENOMEM;
    size_t off = 0;
    if (!(x->result = msgpack_zone_malloc(x->zone, sizeof(*x->result)))) {
        msgpack_zone_free(x->zone);
        x->zone = NULL;
        return -ENOMEM;
    }
    msgpack_unpack_return ur = msgpack_unpack((const char *)result_bytes(f), f->result_len,
                                              &off, x->zone, x->result);
    if (ur != MSGPACK_UNPACK_SUCCESS || off != f->result_len) {
        /* Drop the zone: with it kept, the next call would take the
         * "already unpacked" path and report success with a nil result. */
        msgpack_zone_free(x->zone);
        x->zone = NULL;
        x->result = NULL;
        return CF_EPROTO;
    }
    return 0;
}

int cf_future_result(cf_future *f, double timeout, const msgpack_object **result)
{
    if (!f)
        return -EINVAL;
    uint64_t deadline = cf__deadline_after(timeout);
    int rc = before_wait(f, timeout, deadline);
    if (rc < 0)
        return rc;
    cf__futex_lock(&f->mu);
    rc = wait_done_locked(f, deadline);
    if (rc == 0)
        rc = outcome(f);
    if (rc == 0 && result) {
        rc = f->result_len ? unpack_result_locked(f) : CF_EPROTO;
        *result = rc == 0 ? f->x->result : NULL;
    }
    cf__futex_unlock(&f->mu);
    return rc;
}

int cf_future_result_i64(cf_future *f, double timeout, int64_t *out)
{
    const msgpack_object *o;
    int rc = out ? cf_future_result(f, timeout, &o) : -EINVAL;
    return rc ? rc : cf_obj_i64(o, out);
}

int cf_future_result_f64(cf_future *f, double timeout, double *out)
{
    const msgpack_object *o;
    int rc = out ? cf_future_result(f, timeout, &o) : -EINVAL;
    return rc ? rc : cf_obj_f64(o, out);
}

int cf_future_result_bool(cf_future *f, double timeout, bool *out)
{
    const msgpack_object *o;
    int rc = out ? cf_future_result(f, timeout, &o) : -EINVAL;
    return rc ? rc : cf_obj_bool(o, out);
}

int cf_future_result_str(cf_future *f, double timeout, const char **out, size_t *len)
{
    const msgpack_object *o;
    int rc = out && len ? cf_future_result(f, timeout, &o) : -EINVAL;
    return rc ? rc : cf_obj_str(o, out, len);
}

int cf_future_error(cf_future *f, double timeout)
{
    if (!f)
        return -EINVAL;
    uint64_t deadline = cf__deadline_after(timeout);
    int rc = before_wait(f, timeout, deadline);
    if (rc < 0)
        return rc;
    cf__futex_lock(&f->mu);
    rc = wait_done_locked(f, deadline);
    if (rc == 0)
        rc = outcome(f);
    cf__futex_unlock(&f->mu);
    return rc;
}

const char *cf_future_error_message(const cf_future *f)
{
    if (!f)
        return "";
    cf_future *mf = (cf_future *)f;
    cf__futex_lock(&mf->mu);
    /* The message is written once, before the future is marked done. */
    const char *m = mf->x && mf->x->message ? mf->x->message : "";
    cf__futex_unlock(&mf->mu);
    return m;
}

int cf_future_add_done_callback(cf_future *f, cf_done_fn fn, void *arg)
{
    if (!f || !fn)
        return -EINVAL;
    struct cf__callback *c = malloc(sizeof(*c));
    if (!c)
        return -ENOMEM;
    *c = (struct cf__callback){fn, arg, NULL};
    cf__futex_lock(&f->mu);
    bool done = f->state == CF__CANCELLED || f->state == CF__FINISHED;
    if (!done) {
        /* Appended by a walk: a future has few callbacks, and a tail
         * pointer would cost every future 8 bytes. */
        struct cf__callback **link = &f->callbacks;
        while (*link)
            link = &(*link)->next;
        *link = c;
    }
    cf__futex_unlock(&f->mu);
    if (done) {
        run_callbacks(f, c);
        free(c);
    }
    return 0;
}

int cf_future_set_running(cf_future *f)
{
    if (!f)
        return -EINVAL;
    cf__futex_lock(&f->mu);
    int rc = f->state == CF__PENDING     ? 0
             : f->state == CF__CANCELLED ? CF_ECANCELLED
                                         : -EINVAL;
    if (rc == 0)
        f->state = CF__RUNNING;
    cf__futex_unlock(&f->mu);
    return rc;
}

int cf_future_set_result(cf_future *f, const void *msgpack, size_t len)
{
    if (!f || (!msgpack && len))
        return -EINVAL;
    if (cf__msgpack_check_value(msgpack, len) != 0)
        return CF_EPROTO;
    return cf__future_finish(f, 0, NULL, msgpack, len);
}

int cf_future_set_error(cf_future *f, int err, const char *message)
{
    if (!f || err >= 0)
        return -EINVAL;
    return cf__future_finish(f, err, message ? message : cf_strerror(err), NULL, 0);
}
