/* threading/barrier.c — cf_barrier: a reusable rendezvous of a fixed
 * number of threads (Python's threading.Barrier).
 *
 * Owns the round state of a caller-allocated cf_barrier. Any thread may
 * wait, reset or abort; `count` and `state` are read and written under
 * b->mu, the only lock taken here (the action runs with it held, as in
 * CPython). `parties`, `action`, `action_arg` and `timeout` are fixed at
 * init.
 *
 * CPython's state machine:
 *   FILLING    threads arrive and wait; the last one runs the action and
 *              switches to DRAINING;
 *   DRAINING   the round's threads leave with their index; newcomers wait
 *              until the last one out switches back to FILLING;
 *   RESETTING  cf_barrier_reset found waiters: they leave with CF_EBROKEN,
 *              newcomers wait, the last one out switches to FILLING;
 *   BROKEN     abort, a failing action or a timeout: every wait fails until
 *              a reset.
 */
#include <cfutures.h>

#include <errno.h>
#include <math.h>

#include "threading/internal.h"

enum { BARRIER_BROKEN = -2, BARRIER_RESETTING = -1, BARRIER_FILLING = 0, BARRIER_DRAINING = 1 };

int cf_barrier_init(cf_barrier *b, int parties, cf_barrier_action_fn action, void *arg,
                    double timeout)
{
    int rc;

    if (!b || parties < 1 || isnan(timeout))
        return -EINVAL;
    if ((rc = cf__mutex_cond_init(&b->mu, &b->cond)) < 0)
        return rc;
    b->action = action;
    b->action_arg = arg;
    b->timeout = timeout;
    b->parties = parties;
    b->count = 0;
    b->state = BARRIER_FILLING;
    b->inside = 0;
    return 0;
}

int cf_barrier_destroy(cf_barrier *b)
{
    if (!b)
        return -EINVAL;
    pthread_mutex_lock(&b->mu);
    bool busy = b->inside > 0;
    pthread_mutex_unlock(&b->mu);
    if (busy)
        return -EBUSY;
    pthread_cond_destroy(&b->cond);
    pthread_mutex_destroy(&b->mu);
    return 0;
}

/* With b->mu held. */
static void barrier_break(cf_barrier *b)
{
    b->state = BARRIER_BROKEN;
    pthread_cond_broadcast(&b->cond);
}

/* Waits out a draining round or a reset; fails on a broken barrier. */
static int barrier_enter(cf_barrier *b)
{
    while (b->state == BARRIER_DRAINING || b->state == BARRIER_RESETTING)
        pthread_cond_wait(&b->cond, &b->mu);
    return b->state == BARRIER_BROKEN ? CF_EBROKEN : 0;
}

/* The last arrival: run the action, then let the round go. */
static int barrier_release(cf_barrier *b)
{
    if (b->action && b->action(b->action_arg) != 0) {
        barrier_break(b);
        return CF_EBROKEN;
    }
    b->state = BARRIER_DRAINING;
    pthread_cond_broadcast(&b->cond);
    return 0;
}

/* Any other arrival: wait for the round to fill, breaking it on timeout.
 * The deadline counts from here, after barrier_enter, as in CPython. */
static int barrier_await(cf_barrier *b, double timeout)
{
    uint64_t deadline = cf__wait_deadline(timeout);

    while (b->state == BARRIER_FILLING) {
        int rc = timeout == 0 ? -ETIMEDOUT : cf__cond_wait_until(&b->cond, &b->mu, deadline);
        if (rc == -ETIMEDOUT && b->state == BARRIER_FILLING) {
            barrier_break(b);
            return CF_EBROKEN;
        }
    }
    return b->state < 0 ? CF_EBROKEN : 0;
}

/* The last thread out of a draining round or a reset re-opens the
 * barrier. */
static void barrier_exit(cf_barrier *b)
{
    if (b->count == 0 && (b->state == BARRIER_DRAINING || b->state == BARRIER_RESETTING)) {
        b->state = BARRIER_FILLING;
        pthread_cond_broadcast(&b->cond);
    }
}

int cf_barrier_wait_timed(cf_barrier *b, double timeout)
{
    int rc;

    if (!b || isnan(timeout))
        return -EINVAL;
    pthread_mutex_lock(&b->mu);
    b->inside++; /* until we unlock for good: destroy must wait for us */
    if ((rc = barrier_enter(b)) < 0)
        goto out_unlock;
    int index = b->count++;
    if (index + 1 == b->parties)
        rc = barrier_release(b);
    else
        rc = barrier_await(b, timeout);
    b->count--;
    barrier_exit(b);
    if (rc == 0)
        rc = index;
out_unlock:
    b->inside--;
    pthread_mutex_unlock(&b->mu);
    return rc;
}

int cf_barrier_wait(cf_barrier *b)
{
    if (!b)
        return -EINVAL;
    /* b->timeout is fixed at init: reading it unlocked is safe. */
    return cf_barrier_wait_timed(b, b->timeout);
}

int cf_barrier_reset(cf_barrier *b)
{
    if (!b)
        return -EINVAL;
    pthread_mutex_lock(&b->mu);
    if (b->count > 0) {
        /* A draining round finishes normally; a filling or broken one
         * sends its waiters away broken before the barrier re-opens. */
        if (b->state == BARRIER_FILLING || b->state == BARRIER_BROKEN)
            b->state = BARRIER_RESETTING;
    } else {
        b->state = BARRIER_FILLING;
    }
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->mu);
    return 0;
}

int cf_barrier_abort(cf_barrier *b)
{
    if (!b)
        return -EINVAL;
    pthread_mutex_lock(&b->mu);
    barrier_break(b);
    pthread_mutex_unlock(&b->mu);
    return 0;
}

bool cf_barrier_broken(cf_barrier *b)
{
    if (!b)
        return false;
    pthread_mutex_lock(&b->mu);
    bool broken = b->state == BARRIER_BROKEN;
    pthread_mutex_unlock(&b->mu);
    return broken;
}

int cf_barrier_n_waiting(cf_barrier *b)
{
    if (!b)
        return -EINVAL;
    pthread_mutex_lock(&b->mu);
    int n = b->state == BARRIER_FILLING ? b->count : 0;
    pthread_mutex_unlock(&b->mu);
    return n;
}

int cf_barrier_parties(const cf_barrier *b)
{
    return b ? b->parties : -EINVAL;
}
