/* cf_pevent: Python's Event across processes.
 *
 * Owns a flag in the caller's shared memory, guarded by a robust
 * process-shared mutex, with a futex event count (cf__pcond) for waiters.
 * Any thread of any process may set, clear or wait. Lock order: only `mx`.
 * The flag changes by one store, so a holder of `mx` that dies leaves
 * nothing to repair.
 *
 * `sets` counts the calls to set, so that a waiter present at a set returns
 * true even when a clear follows before it runs again (as Python's, whose
 * waiters are notified while the flag is set).
 */
#include <errno.h>
#include <math.h>

#include <cfutures.h>

#include "ipc/clock.h"
#include "ipc/pshared.h"

struct pevent_state {
    cf__pmutex mx;
    cf__pcond cv;  /* broadcast when the flag is set */
    uint32_t flag; /* protected by mx */
    uint32_t sets; /* calls to set so far (wrapping); protected by mx */
};

_Static_assert(sizeof(struct pevent_state) <= sizeof(((cf_pevent *)0)->cf__priv),
               "cf_pevent storage too small");
_Static_assert(_Alignof(struct pevent_state) <= _Alignof(cf_pevent), "cf_pevent misaligned");

static struct pevent_state *state_of(cf_pevent *e)
{
    return (struct pevent_state *)(void *)e->cf__priv.cf__bytes;
}

static int lock_state(struct pevent_state *st)
{
    int rc = cf__pmutex_lock(&st->mx);

    return rc < 0 ? rc : 0; /* a dead previous holder left nothing half done */
}

int cf_pevent_init(cf_pevent *e)
{
    struct pevent_state *st;
    int rc;

    if (!e)
        return -EINVAL;
    st = state_of(e);
    rc = cf__pmutex_init(&st->mx);
    if (rc < 0)
        return rc;
    cf__pcond_init(&st->cv);
    st->flag = 0;
    st->sets = 0;
    return 0;
}

static int store_flag(cf_pevent *e, uint32_t flag)
{
    struct pevent_state *st;
    int rc;

    if (!e)
        return -EINVAL;
    st = state_of(e);
    rc = lock_state(st);
    if (rc < 0)
        return rc;
    st->flag = flag;
    if (flag)
        st->sets++;
    cf__pmutex_unlock(&st->mx);
    if (flag)
        cf__pcond_broadcast(&st->cv);
    return 0;
}

int cf_pevent_set(cf_pevent *e)
{
    return store_flag(e, 1);
}

int cf_pevent_clear(cf_pevent *e)
{
    return store_flag(e, 0);
}

bool cf_pevent_is_set(cf_pevent *e)
{
    return cf_pevent_wait(e, 0);
}

bool cf_pevent_wait(cf_pevent *e, double timeout)
{
    struct pevent_state *st;
    uint64_t deadline;
    uint32_t start;
    bool flag;

    if (!e || isnan(timeout))
        return false;
    deadline = cf__deadline_after(timeout);
    st = state_of(e);
    if (lock_state(st) < 0)
        return false;
    start = st->sets;
    while (!st->flag && st->sets == start && timeout != 0) {
        int rc = cf__pcond_wait(&st->cv, &st->mx, deadline, 0, NULL);

        if (rc == -ENOTRECOVERABLE)
            return false; /* mx is not held */
        if (rc == -ETIMEDOUT)
            break;
    }
    flag = st->flag != 0 || st->sets != start;
    cf__pmutex_unlock(&st->mx);
    return flag;
}

void cf_pevent_destroy(cf_pevent *e)
{
    if (e)
        cf__pmutex_destroy(&state_of(e)->mx);
}
