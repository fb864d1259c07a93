/* Native submit: cf_submit_fn's plain `void *fn(void *arg)` futures, and
 * the pointer/integer result readers.
 *
 * A native future is the bare core of a future (no task part, f->t NULL):
 * it carries its call (fn, arg) where its result will go, and no record;
 * f->native tells the backend to run it with cf__native_run instead of
 * decoding a record. Its result is fn's return
 * packed as one msgpack int64 (9 bytes, inside the future: no allocation),
 * so every msgpack reader (cf_future_result, cf_future_result_i64) works on
 * it too, and cf_future_result_ptr reads it back without unpacking.
 *
 * Called from user threads (submit, result) and pool threads (run). Takes
 * no lock of its own; the backend's and the future's locks are taken in
 * their usual order (executor/future_internal.h).
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "executor/executor.h"
#include "executor/future_internal.h"
#include "ipc/clock.h"

/* msgpack's int64 marker: one byte, then the value big-endian. */
#define MP_INT64 0xd3
#define PACKED_LEN 9

/* A pending native future of ex for fn(arg), or NULL (out of memory). */
static cf_future *native_future(cf_executor *ex, cf_native_fn fn, void *arg)
{
    cf_future *f = cf__future_new(false, false, 0);
    if (!f)
        return NULL;
    f->result.call.fn = fn;
    f->result.call.arg = arg;
    f->native = true;
    f->id = atomic_fetch_add_explicit(&ex->next_task_id, 1, memory_order_relaxed);
    f->owner = ex;
    return f;
}

int cf_submit_fn(cf_executor *ex, cf_native_fn fn, void *arg, cf_future **out)
{
    if (!ex || !fn || !out)
        return -EINVAL;
    if (!ex->ops->submit_native)
        return -ENOTSUP;
    cf_future *f = native_future(ex, fn, arg);
    if (!f)
        return -ENOMEM;
    int rc = ex->ops->submit_native(ex, f, CF__NO_DEADLINE);
    if (rc < 0) {
        f->owner = NULL;
        cf_future_release(f);
        return rc;
    }
    atomic_fetch_add_explicit(&ex->counters.submitted, 1, memory_order_relaxed);
    *out = f;
    return 0;
}

int cf_submit_fn_batch(cf_executor *ex, cf_native_fn fn, void *const *args, size_t n,
                       cf_future **out)
{
    if (!ex || !fn || !out || n > INT_MAX)
        return -EINVAL;
    if (!ex->ops->submit_native_batch)
        return -ENOTSUP;
    for (size_t i = 0; i < n; i++) {
        if (!(out[i] = native_future(ex, fn, args ? args[i] : NULL))) {
            for (size_t j = 0; j < i; j++) {
                cf_future_release(out[j]);
                out[j] = NULL;
            }
            return -ENOMEM;
        }
    }
    size_t queued = 0;
    int rc = n ? ex->ops->submit_native_batch(ex, out, n, &queued) : 0;
    /* Those not queued were never seen by anyone: drop them. */
    for (size_t i = queued; i < n; i++) {
        out[i]->owner = NULL;
        cf_future_release(out[i]);
        out[i] = NULL;
    }
    atomic_fetch_add_explicit(&ex->counters.submitted, queued, memory_order_relaxed);
    return queued > 0 || n == 0 ? (int)queued : rc;
}

void cf__native_run(cf_future *f)
{
    /* Read before the result overwrites them (finish, below). */
    cf_native_fn fn = f->result.call.fn;
    void *arg = f->result.call.arg;
    uint64_t v = (uint64_t)(intptr_t)fn(arg);
    unsigned char b[PACKED_LEN];
    b[0] = MP_INT64;
    for (int i = 0; i < 8; i++)
        b[1 + i] = (unsigned char)(v >> (56 - 8 * i));
    cf__future_finish(f, 0, NULL, b, sizeof(b));
}

int cf_future_result_intptr(cf_future *f, double timeout, intptr_t *out)
{
    if (!f || !out)
        return -EINVAL;
    int rc = cf_future_error(f, timeout);
    if (rc)
        return rc;
    const unsigned char *b;
    size_t len;
    if ((rc = cf__future_packed_result(f, &b, &len)) < 0)
        return rc;
    if (len == PACKED_LEN && b[0] == MP_INT64) {
        /* A native result (or any int64): no unpacking, no zone. */
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
            v = v << 8 | b[1 + i];
        *out = (intptr_t)(int64_t)v;
        return 0;
    }
    const msgpack_object *o;
    if ((rc = cf_future_result(f, 0, &o)) < 0)
        return rc;
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= (uint64_t)INTPTR_MAX)
        *out = (intptr_t)o->via.u64;
    else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER && o->via.i64 >= INTPTR_MIN)
        *out = (intptr_t)o->via.i64;
    else
        return CF_ETYPE;
    return 0;
}

int cf_future_result_ptr(cf_future *f, double timeout, void **out)
{
    if (!out)
        return -EINVAL;
    intptr_t v;
    int rc = cf_future_result_intptr(f, timeout, &v);
    if (rc == 0)
        *out = (void *)v;
    return rc;
}
