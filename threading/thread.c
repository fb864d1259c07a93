/* threading/thread.c — cf_thread, Python's threading.Thread.
 *
 * Owns one pthread per started cf_thread. Two kinds of threads touch a
 * cf_thread: the pthread it runs (trampoline: RUNNING on entry, FINISHED
 * on exit, pthread_exit included) and any number of callers (start, join,
 * is_alive, ident). Every field is read and written under t->mu, the only
 * lock here; nothing else is held while it is taken.
 *
 * Why join is a flag plus a condvar and not just pthread_join: pthread_join
 * cannot time out, and two threads must not pthread_join the same thread.
 * So joiners wait on the FINISHED state with a deadline, and the first one
 * to see it claims `reaping` and calls pthread_join (which then returns at
 * once); the others wait for REAPED, so every join that returns 0 means the
 * pthread is gone and its thread-local destructors have run.
 */
#include <cfutures.h>

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "threading/internal.h"

enum { TH_NEW, TH_STARTING, TH_RUNNING, TH_FINISHED, TH_REAPED };

/* Python names unnamed threads Thread-1, Thread-2, ... per process. */
static atomic_uint th_counter;

static _Thread_local cf_thread *th_current;

/* Waits on t->cv until t->state >= want or the deadline (CF__NO_DEADLINE:
 * none). Called with t->mu held. */
static int th_wait_state(cf_thread *t, int want, uint64_t deadline)
{
    while (t->state < want)
        if (cf__cond_wait_until(&t->cv, &t->mu, deadline) == -ETIMEDOUT && t->state < want)
            return -ETIMEDOUT;
    return 0;
}

int cf_thread_init(cf_thread *t, const char *name, cf_thread_fn fn, void *arg)
{
    int rc;

    if (!t || !fn)
        return -EINVAL;
    memset(t, 0, sizeof *t);
    if ((rc = cf__mutex_cond_init(&t->mu, &t->cv)) < 0)
        return rc;
    t->fn = fn;
    t->arg = arg;
    t->state = TH_NEW;
    if (name)
        snprintf(t->name, sizeof t->name, "%s", name);
    else
        snprintf(t->name, sizeof t->name, "Thread-%u", atomic_fetch_add(&th_counter, 1) + 1);
    return 0;
}

/* Marks the end; runs on return and on pthread_exit (a cleanup handler).
 * After the unlock the pthread never touches t again. */
static void th_finish(void *arg)
{
    cf_thread *t = arg;

    pthread_mutex_lock(&t->mu);
    t->state = TH_FINISHED;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

static void *th_trampoline(void *arg)
{
    cf_thread *t = arg;
    char os_name[16];

    th_current = t;
    snprintf(os_name, sizeof os_name, "%.15s", t->name); /* name is fixed after init */
    (void)pthread_setname_np(pthread_self(), os_name);   /* cosmetic: ignore failure */
    pthread_mutex_lock(&t->mu);
    t->ident = (unsigned long)pthread_self();
    t->native_id = (int)gettid();
    t->state = TH_RUNNING;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);

    pthread_cleanup_push(th_finish, t);
    t->fn(t->arg);
    pthread_cleanup_pop(1);
    return NULL;
}

int cf_thread_start(cf_thread *t)
{
    int rc;

    if (!t)
        return -EINVAL;
    pthread_mutex_lock(&t->mu);
    if (t->state != TH_NEW) {
        pthread_mutex_unlock(&t->mu);
        return -EINVAL;
    }
    /* Created under the lock: the new thread blocks on t->mu until we wait
     * below, so t->handle is written before anyone can read it. */
    rc = pthread_create(&t->handle, NULL, th_trampoline, t);
    if (rc != 0) {
        pthread_mutex_unlock(&t->mu);
        return -rc;
    }
    t->state = TH_STARTING;
    th_wait_state(t, TH_RUNNING, CF__NO_DEADLINE);
    pthread_mutex_unlock(&t->mu);
    return 0;
}

int cf_thread_join(cf_thread *t, double timeout)
{
    uint64_t deadline;
    int rc;

    if (!t || isnan(timeout))
        return -EINVAL;
    deadline = cf__deadline_after(timeout);
    pthread_mutex_lock(&t->mu);
    if (t->state == TH_NEW) {
        rc = -EINVAL;
        goto out_unlock;
    }
    /* Not an ident comparison: pthread ids are reused once a thread is
     * reaped, and the thread-local pointer also covers cf_local
     * destructors running after the function returned. */
    if (th_current == t) {
        rc = -EDEADLK;
        goto out_unlock;
    }
    if ((rc = th_wait_state(t, TH_FINISHED, deadline)) < 0)
        goto out_unlock;
    if (t->state == TH_FINISHED && !t->reaping) {
        t->reaping = true;
        pthread_mutex_unlock(&t->mu);
        pthread_join(t->handle, NULL); /* the thread is past th_finish: brief */
        pthread_mutex_lock(&t->mu);
        t->state = TH_REAPED;
        pthread_cond_broadcast(&t->cv);
    }
    /* Another joiner is reaping: that takes no longer than the thread's
     * exit, so wait for it whatever the deadline. */
    rc = th_wait_state(t, TH_REAPED, CF__NO_DEADLINE);
out_unlock:
    pthread_mutex_unlock(&t->mu);
    return rc;
}

bool cf_thread_is_alive(cf_thread *t)
{
    bool alive;

    if (!t)
        return false;
    pthread_mutex_lock(&t->mu);
    alive = t->state == TH_STARTING || t->state == TH_RUNNING;
    pthread_mutex_unlock(&t->mu);
    return alive;
}

unsigned long cf_thread_ident(cf_thread *t)
{
    unsigned long id;

    if (!t)
        return 0;
    pthread_mutex_lock(&t->mu);
    id = t->ident;
    pthread_mutex_unlock(&t->mu);
    return id;
}

int cf_thread_native_id(cf_thread *t)
{
    int id;

    if (!t)
        return 0;
    pthread_mutex_lock(&t->mu);
    id = t->native_id;
    pthread_mutex_unlock(&t->mu);
    return id;
}

const char *cf_thread_name(const cf_thread *t)
{
    return t ? t->name : "";
}

unsigned long cf_thread_get_ident(void)
{
    return (unsigned long)pthread_self();
}

cf_thread *cf_thread_current(void)
{
    return th_current;
}

int cf_thread_destroy(cf_thread *t)
{
    int state;

    if (!t)
        return -EINVAL;
    pthread_mutex_lock(&t->mu);
    state = t->state;
    pthread_mutex_unlock(&t->mu);
    if (state != TH_NEW) {
        int rc = cf_thread_join(t, CF_FOREVER);
        if (rc < 0)
            return rc; /* -EDEADLK: t stays usable */
    }
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    return 0;
}
