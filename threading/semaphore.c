/* threading/semaphore.c — cf_sem: counting and bounded semaphores
 * (Python's threading.Semaphore and BoundedSemaphore).
 *
 * Owns the count of a caller-allocated cf_sem. Any thread may acquire or
 * release; every field but `bounded`/`bound` (fixed at init) is read and
 * written under s->mu, the only lock taken here. The condition variable
 * runs on CLOCK_MONOTONIC so a timed acquire is immune to wall-clock jumps.
 */
#include <cfutures.h>

#include <errno.h>
#include <limits.h>
#include <math.h>

#include "threading/internal.h"

static int sem_init_common(cf_sem *s, long value, bool bounded)
{
    int rc;

    if (!s || value < 0)
        return -EINVAL;
    if ((rc = cf__mutex_cond_init(&s->mu, &s->cond)) < 0)
        return rc;
    s->value = value;
    s->bound = value;
    s->bounded = bounded;
    s->waiters = 0;
    return 0;
}

int cf_sem_init(cf_sem *s, long value)
{
    return sem_init_common(s, value, false);
}

int cf_sem_init_bounded(cf_sem *s, long value)
{
    return sem_init_common(s, value, true);
}

int cf_sem_destroy(cf_sem *s)
{
    if (!s)
        return -EINVAL;
    pthread_mutex_lock(&s->mu);
    bool busy = s->waiters > 0;
    pthread_mutex_unlock(&s->mu);
    if (busy)
        return -EBUSY;
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->mu);
    return 0;
}

/* The one acquire path, until deadline (CF__NO_DEADLINE: forever);
 * nonblocking: never wait. Called with s->mu held. */
static int sem_take_locked(cf_sem *s, bool nonblocking, uint64_t deadline)
{
    if (s->value == 0 && !nonblocking) {
        s->waiters++;
        while (s->value == 0)
            if (cf__cond_wait_until(&s->cond, &s->mu, deadline) == -ETIMEDOUT)
                break;
        s->waiters--;
    }
    /* Re-checked after a timeout too: a unit released just as the
     * deadline passed is still taken, as Python's wait_for does. */
    if (s->value == 0)
        return -ETIMEDOUT;
    s->value--;
    return 0;
}

int cf_sem_acquire_timed(cf_sem *s, double timeout)
{
    int rc;

    if (!s || isnan(timeout))
        return -EINVAL;
    uint64_t deadline = cf__wait_deadline(timeout);
    pthread_mutex_lock(&s->mu);
    rc = sem_take_locked(s, timeout == 0, deadline);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int cf_sem_acquire(cf_sem *s)
{
    return cf_sem_acquire_timed(s, CF_FOREVER);
}

bool cf_sem_try_acquire(cf_sem *s)
{
    return cf_sem_acquire_timed(s, 0) == 0;
}

int cf_sem_release(cf_sem *s, long n)
{
    int rc = 0;

    if (!s || n < 1)
        return -EINVAL;
    pthread_mutex_lock(&s->mu);
    long limit = s->bounded ? s->bound : LONG_MAX;
    if (s->value > limit - n) {
        rc = -EOVERFLOW;
        goto out_unlock;
    }
    s->value += n;
    /* Wake at most n: each woken thread takes one unit, so waking more
     * only makes them go back to sleep (Python's notify(n)). */
    for (long i = 0; i < n && (unsigned long)i < s->waiters; i++)
        pthread_cond_signal(&s->cond);
out_unlock:
    pthread_mutex_unlock(&s->mu);
    return rc;
}

long cf_sem_value(cf_sem *s)
{
    if (!s)
        return -EINVAL;
    pthread_mutex_lock(&s->mu);
    long v = s->value;
    pthread_mutex_unlock(&s->mu);
    return v;
}
