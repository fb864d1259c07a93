/* threading/event.c — cf_event: a flag threads wait for (Python's
 * threading.Event).
 *
 * Owns the flag of a caller-allocated cf_event. Any thread may set, clear
 * or wait; every field is read and written under ev->mu, the only lock
 * taken here. The condition variable runs on CLOCK_MONOTONIC.
 *
 * Why a counter beside the flag: Python's wait() returns True for a waiter
 * present when set() ran even if clear() follows before it wakes. A waiter
 * therefore remembers `sets` when it starts and stops waiting once the
 * flag is up or the counter has moved.
 */
#include <cfutures.h>

#include <errno.h>
#include <math.h>

#include "threading/internal.h"

int cf_event_init(cf_event *ev)
{
    int rc;

    if (!ev)
        return -EINVAL;
    if ((rc = cf__mutex_cond_init(&ev->mu, &ev->cond)) < 0)
        return rc;
    ev->flag = false;
    ev->sets = 0;
    ev->waiters = 0;
    return 0;
}

int cf_event_destroy(cf_event *ev)
{
    if (!ev)
        return -EINVAL;
    pthread_mutex_lock(&ev->mu);
    bool busy = ev->waiters > 0;
    pthread_mutex_unlock(&ev->mu);
    if (busy)
        return -EBUSY;
    pthread_cond_destroy(&ev->cond);
    pthread_mutex_destroy(&ev->mu);
    return 0;
}

int cf_event_set(cf_event *ev)
{
    if (!ev)
        return -EINVAL;
    pthread_mutex_lock(&ev->mu);
    if (!ev->flag) {
        ev->flag = true;
        ev->sets++;
        if (ev->waiters > 0)
            pthread_cond_broadcast(&ev->cond);
    }
    pthread_mutex_unlock(&ev->mu);
    return 0;
}

int cf_event_clear(cf_event *ev)
{
    if (!ev)
        return -EINVAL;
    pthread_mutex_lock(&ev->mu);
    ev->flag = false;
    pthread_mutex_unlock(&ev->mu);
    return 0;
}

bool cf_event_is_set(cf_event *ev)
{
    if (!ev)
        return false;
    pthread_mutex_lock(&ev->mu);
    bool flag = ev->flag;
    pthread_mutex_unlock(&ev->mu);
    return flag;
}

bool cf_event_wait(cf_event *ev, double timeout)
{
    if (!ev || isnan(timeout))
        return false;
    uint64_t deadline = cf__wait_deadline(timeout);
    pthread_mutex_lock(&ev->mu);
    unsigned long start = ev->sets;
    bool signalled = ev->flag;
    if (!signalled && timeout != 0) {
        ev->waiters++;
        while (!ev->flag && ev->sets == start)
            if (cf__cond_wait_until(&ev->cond, &ev->mu, deadline) == -ETIMEDOUT)
                break;
        ev->waiters--;
        signalled = ev->flag || ev->sets != start;
    }
    pthread_mutex_unlock(&ev->mu);
    return signalled;
}
