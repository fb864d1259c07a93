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
#include <time.h>

/* Longer timeouts than this (about 31 years) mean "forever": their
 * deadline would not fit a timespec on every platform. */
#define SEM_TIMEOUT_MAX 1e9

/* Fills *dl with now + timeout on CLOCK_MONOTONIC. Returns false when the
 * timeout means "no deadline" (negative or huge). */
static bool sem_deadline(double timeout, struct timespec *dl)
{
    if (timeout < 0 || timeout > SEM_TIMEOUT_MAX)
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

static int sem_init_common(cf_sem *s, long value, bool bounded)
{
    pthread_condattr_t ca;
    int rc;

    if (!s || value < 0)
        return -EINVAL;
    if ((rc = pthread_condattr_init(&ca)) != 0)
        return -rc;
    if ((rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC)) != 0)
        goto out_condattr;
    if ((rc = pthread_mutex_init(&s->mu, NULL)) != 0)
        goto out_condattr;
    if ((rc = pthread_cond_init(&s->cond, &ca)) != 0)
        goto out_mutex;
    pthread_condattr_destroy(&ca);
    s->value = value;
    s->bound = value;
    s->bounded = bounded;
    s->waiters = 0;
    return 0;

out_mutex:
    pthread_mutex_destroy(&s->mu);
out_condattr:
    pthread_condattr_destroy(&ca);
    return -rc;
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

/* The one acquire path. has_dl false: wait forever; nonblocking: never
 * wait. Called with s->mu held. */
static int sem_take_locked(cf_sem *s, bool nonblocking, bool has_dl, const struct timespec *dl)
{
    if (s->value == 0 && !nonblocking) {
        s->waiters++;
        while (s->value == 0) {
            int rc = has_dl ? pthread_cond_timedwait(&s->cond, &s->mu, dl)
                            : pthread_cond_wait(&s->cond, &s->mu);
            if (rc == ETIMEDOUT)
                break;
        }
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
    struct timespec dl;
    int rc;

    if (!s || isnan(timeout))
        return -EINVAL;
    bool has_dl = timeout != 0 && sem_deadline(timeout, &dl);
    pthread_mutex_lock(&s->mu);
    rc = sem_take_locked(s, timeout == 0, has_dl, &dl);
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
