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

#include "threading/internal.h"

enum { TM_WAITING, TM_CANCELLED, TM_RUNNING, TM_DONE };

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
    uint64_t deadline = cf__deadline_after(t->interval);
    bool run;

    pthread_mutex_lock(&t->mu);
    while (t->state == TM_WAITING)
        if (cf__cond_wait_until(&t->cv, &t->mu, deadline) == -ETIMEDOUT)
            break;
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
    int rc;

    if (!t || !fn || isnan(interval) || interval < 0)
        return -EINVAL;
    memset(t, 0, sizeof *t);
    if ((rc = cf__mutex_cond_init(&t->mu, &t->cv)) < 0)
        return rc;
    if ((rc = cf_thread_init(&t->thread, name, tm_body, t)) < 0)
        goto out_sync;
    t->interval = interval;
    t->fn = fn;
    t->arg = arg;
    t->state = TM_WAITING;
    return 0;

out_sync:
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    return rc;
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
