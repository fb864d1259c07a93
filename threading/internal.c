/* threading/internal.c — the pthread helpers of threading/internal.h:
 * monotonic condvar set-up and deadline waits, for the mutex/condvar-based
 * primitives of the threading layer. Owns no state and takes no lock of its
 * own; cf__cond_wait_until runs with the caller's mutex held.
 */
#include "threading/internal.h"

#include <errno.h>
#include <time.h>

int cf__cond_init_monotonic(pthread_cond_t *cv)
{
    pthread_condattr_t ca;
    int rc;

    if ((rc = pthread_condattr_init(&ca)) != 0)
        return -rc;
    if ((rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC)) == 0)
        rc = pthread_cond_init(cv, &ca);
    pthread_condattr_destroy(&ca);
    return -rc;
}

int cf__mutex_cond_init(pthread_mutex_t *mu, pthread_cond_t *cv)
{
    int rc;

    if ((rc = pthread_mutex_init(mu, NULL)) != 0)
        return -rc;
    if ((rc = cf__cond_init_monotonic(cv)) < 0)
        pthread_mutex_destroy(mu);
    return rc;
}

uint64_t cf__wait_deadline(double timeout)
{
    return timeout == 0 ? 0 : cf__deadline_after(timeout);
}

int cf__cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, uint64_t deadline)
{
    if (deadline == CF__NO_DEADLINE) {
        pthread_cond_wait(cv, mu);
        return 0;
    }
    struct timespec ts = cf__deadline_timespec(deadline);
    return pthread_cond_timedwait(cv, mu, &ts) == ETIMEDOUT ? -ETIMEDOUT : 0;
}
