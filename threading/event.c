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
#include <time.h>

/* Longer timeouts than this (about 31 years) mean "forever". */
#define EVENT_TIMEOUT_MAX 1e9

/* Fills *dl with now + timeout on CLOCK_MONOTONIC. Returns false when the
 * timeout means "no deadline" (negative or huge). */
static bool event_deadline(double timeout, struct timespec *dl)
{
    if (timeout < 0 || timeout > EVENT_TIMEOUT_MAX)
        return false;
    clock_gettime(CLOCK_MONOTONIC, dl);
    time_t whole = (time_t)timeout; /* timeout is in 0..1e9 */
    dl->tv_sec += whole;
    dl->tv_nsec += (long)((timeout - (double)whole) * 1e9);
    if (dl->tv_nsec >= 1000000000L) {
        dl->tv_sec++;
        dl->tv_nsec -= 1000000000L;
    }
    return true;
}

int cf_event_init(cf_event *ev)
{
    pthread_condattr_t ca;
    int rc;

    if (!ev)
        return -EINVAL;
    if ((rc = pthread_condattr_init(&ca)) != 0)
        return -rc;
    if ((rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC)) != 0)
        goto out_condattr;
    if ((rc = pthread_mutex_init(&ev->mu, NULL)) != 0)
        goto out_condattr;
    if ((rc = pthread_cond_init(&ev->cond, &ca)) != 0)
        goto out_mutex;
    pthread_condattr_destroy(&ca);
    ev->flag = false;
    ev->sets = 0;
    ev->waiters = 0;
    return 0;

out_mutex:
    pthread_mutex_destroy(&ev->mu);
out_condattr:
    pthread_condattr_destroy(&ca);
    return -rc;
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
    struct timespec dl;

    if (!ev || isnan(timeout))
        return false;
    bool has_dl = timeout != 0 && event_deadline(timeout, &dl);
    pthread_mutex_lock(&ev->mu);
    unsigned long start = ev->sets;
    bool signalled = ev->flag;
    if (!signalled && timeout != 0) {
        ev->waiters++;
        while (!ev->flag && ev->sets == start) {
            int rc = has_dl ? pthread_cond_timedwait(&ev->cond, &ev->mu, &dl)
                            : pthread_cond_wait(&ev->cond, &ev->mu);
            if (rc == ETIMEDOUT)
                break;
        }
        ev->waiters--;
        signalled = ev->flag || ev->sets != start;
    }
    pthread_mutex_unlock(&ev->mu);
    return signalled;
}
