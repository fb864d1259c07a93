/* threading/timer.c — cf_timer, Python's threading.Timer.
 *
 * Owns the timer's state machine; the thread itself is a cf_thread
 * (thread.c) running tm_body. Two sides touch t->state: the timer's thread
 * (WAITING -> RUNNING -> DONE, or it sees CANCELLED) and any caller of
 * cancel (WAITING -> CANCELLED). Both under t->mu. Lock order: t->mu is
 * never held while calling into the cf_thread (whose own lock is separate)
 * nor while fn runs.
 *
 * Why a condvar and not a sleep: cancel must take effect while the thread
 * waits, so the wait is a timed condvar wait that cancel interrupts; the
 * deadline is computed once, so spurious wakeups do not extend it.
 */
#include <cfutures.h>

#include <errno.h>
#include <math.h>
#include <string.h>
#include <time.h>

enum { TM_WAITING, TM_CANCELLED, TM_RUNNING, TM_DONE };

/* As in thread.c: false when there is no deadline (beyond a century). */
static bool tm_deadline(double timeout, struct timespec *ts)
{
    if (timeout < 0 || timeout > 3.2e9)
        return false;
    clock_gettime(CLOCK_MONOTONIC, ts);
    time_t whole = (time_t)timeout;
    ts->tv_sec += whole;
    ts->tv_nsec += (long)((timeout - (double)whole) * 1e9);
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
    return true;
}

static void tm_done(void *arg)
{
    cf_timer *t = arg;

    pthread_mutex_lock(&t->mu);
    t->state = TM_DONE;
    pthread_mutex_unlock(&t->mu);
}

static void tm_body(void *arg)
{
    cf_timer *t = arg;
    struct timespec deadline;
    bool timed = tm_deadline(t->interval, &deadline);
    bool run;

    pthread_mutex_lock(&t->mu);
    while (t->state == TM_WAITING) {
        int rc = timed ? pthread_cond_timedwait(&t->cv, &t->mu, &deadline)
                       : pthread_cond_wait(&t->cv, &t->mu);
        if (rc == ETIMEDOUT)
            break;
    }
    run = t->state == TM_WAITING;
    if (run)
        t->state = TM_RUNNING; /* from here on cancel returns false */
    pthread_mutex_unlock(&t->mu);
    if (!run)
        return;
    pthread_cleanup_push(tm_done, t);
    t->fn(t->arg);
    pthread_cleanup_pop(1);
}

int cf_timer_init(cf_timer *t, const char *name, double interval, cf_thread_fn fn, void *arg)
{
    pthread_condattr_t ca;
    int rc;

    if (!t || !fn || isnan(interval) || interval < 0)
        return -EINVAL;
    memset(t, 0, sizeof *t);
    if ((rc = pthread_condattr_init(&ca)) != 0)
        return -rc;
    if ((rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC)) != 0)
        goto out_attr;
    if ((rc = pthread_mutex_init(&t->mu, NULL)) != 0)
        goto out_attr;
    if ((rc = pthread_cond_init(&t->cv, &ca)) != 0)
        goto out_mutex;
    if ((rc = -cf_thread_init(&t->thread, name, tm_body, t)) != 0)
        goto out_cond;
    pthread_condattr_destroy(&ca);
    t->interval = interval;
    t->fn = fn;
    t->arg = arg;
    t->state = TM_WAITING;
    return 0;

out_cond:
    pthread_cond_destroy(&t->cv);
out_mutex:
    pthread_mutex_destroy(&t->mu);
out_attr:
    pthread_condattr_destroy(&ca);
    return -rc;
}

int cf_timer_start(cf_timer *t)
{
    return t ? cf_thread_start(&t->thread) : -EINVAL;
}

bool cf_timer_cancel(cf_timer *t)
{
    bool prevented;

    if (!t)
        return false;
    pthread_mutex_lock(&t->mu);
    if (t->state == TM_WAITING) {
        t->state = TM_CANCELLED;
        pthread_cond_signal(&t->cv);
    }
    prevented = t->state == TM_CANCELLED;
    pthread_mutex_unlock(&t->mu);
    return prevented;
}

int cf_timer_join(cf_timer *t, double timeout)
{
    return t ? cf_thread_join(&t->thread, timeout) : -EINVAL;
}

bool cf_timer_finished(cf_timer *t)
{
    bool finished;

    if (!t)
        return false;
    pthread_mutex_lock(&t->mu);
    finished = t->state == TM_CANCELLED || t->state == TM_DONE;
    pthread_mutex_unlock(&t->mu);
    return finished;
}

bool cf_timer_is_alive(cf_timer *t)
{
    return t ? cf_thread_is_alive(&t->thread) : false;
}

int cf_timer_destroy(cf_timer *t)
{
    int rc;

    if (!t)
        return -EINVAL;
    if (cf_thread_current() == &t->thread)
        return -EDEADLK;
    (void)cf_timer_cancel(t); /* false when fn runs or ran: join waits for it */
    if ((rc = cf_thread_destroy(&t->thread)) < 0)
        return rc;
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    return 0;
}
