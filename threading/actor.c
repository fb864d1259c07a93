/* cf_actor: the cookbook's Actor and Worker (actor.h).
 *
 * Owns the actor's thread and its mailbox (a cf_queue). Any thread sends,
 * submits, closes and joins; only the actor's thread takes from the
 * mailbox and runs the handler and the submitted calls. `mu` guards the
 * end-of-life fields (ended, joined, error); the mailbox has its own lock.
 * Lock order: a->mu is never held while taking the mailbox's lock, and the
 * actor's thread holds neither while it runs user code.
 *
 * The mailbox is a FIFO queue whose per-item "priority" value serves as a
 * tag: TAG_MSG for a user message (passed as is, so sends never allocate),
 * TAG_CALL for a struct call made by cf_actor_submit. Closing is the
 * queue's non-immediate shutdown, which plays the cookbook's ActorExit
 * sentinel and also refuses sends after the close instead of losing them.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <cfutures.h>

#include "threading/internal.h"
#include "common/task_error.h"

#define TAG_MSG 0
#define TAG_CALL 1

struct call {
    cf_actor_call_fn fn;
    void *arg;
    cf_future *future; /* the mailbox's reference */
};

/* The actor whose thread this is: turns self-joins into -EDEADLK without
 * reading a->thread, which pthread_create may still be writing. */
static _Thread_local cf_actor *current_actor;

/* --------------------------------------------------------------- calls */

static void run_call(struct call *c)
{
    if (cf_future_set_running(c->future) == 0) {
        msgpack_sbuffer sb;
        msgpack_packer pk;
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        cf__task_error_clear();
        int rc = c->fn(c->arg, &pk);
        /* As a task in either pool (workers/execute.c): any failure is
         * CF_ETASK, with cf_task_fail's message or one that says what. */
        const char *msg = cf__task_error_message();
        char why[64];
        if (rc == CF_ETASK) {
            cf_future_set_error(c->future, CF_ETASK, *msg ? msg : NULL);
        } else if (rc != 0) {
            snprintf(why, sizeof(why), "actor call returned %d", rc);
            cf_future_set_error(c->future, CF_ETASK, why);
        } else if (cf_future_set_result(c->future, sb.data, sb.size) == CF_EPROTO) {
            cf_future_set_error(c->future, CF_ETASK,
                                "actor call must pack exactly one result object");
        }
        msgpack_sbuffer_destroy(&sb);
    }
    /* Otherwise it was cancelled before it started: skip it. */
    cf_future_release(c->future);
    free(c);
}

static void fail_call(struct call *c)
{
    cf_future_set_error(c->future, CF_ESHUTDOWN, "the actor stopped before running the call");
    cf_future_release(c->future);
    free(c);
}

/* ---------------------------------------------------------- the thread */

/* After a handler failure: refuse new mail and fail what is queued, so
 * that no future is left waiting forever. */
static void drain_after_failure(cf_actor *a)
{
    void *item;
    int64_t tag;
    cf_queue_shutdown(&a->mailbox, false);
    while (cf_queue_get_priority(&a->mailbox, &item, &tag, 0) == 0)
        if (tag == TAG_CALL)
            fail_call(item);
}

static void *actor_main(void *p)
{
    cf_actor *a = p;
    void *item;
    int64_t tag;
    int err = 0;
    current_actor = a;
    /* Ends when the mailbox is closed and empty (CF_ESHUTDOWN). */
    while (cf_queue_get_priority(&a->mailbox, &item, &tag, CF_FOREVER) == 0) {
        if (tag == TAG_CALL) {
            run_call(item);
            continue;
        }
        int rc = a->handler(a, item);
        if (rc < 0) {
            err = rc;
            drain_after_failure(a);
            break;
        }
    }
    pthread_mutex_lock(&a->mu);
    a->error = err;
    a->ended = true;
    pthread_cond_broadcast(&a->ended_cv);
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

/* ------------------------------------------------------------ lifecycle */

int cf_actor_start(cf_actor *a, cf_actor_fn handler, void *arg)
{
    if (!a)
        return -EINVAL;
    int rc = cf_queue_init(&a->mailbox, CF_QUEUE_FIFO, 0);
    if (rc < 0)
        return rc;
    a->handler = handler;
    a->arg = arg;
    a->ended = a->joined = false;
    a->error = 0;
    cf__cond_init_monotonic(&a->ended_cv);
    pthread_mutex_init(&a->mu, NULL);
    rc = pthread_create(&a->thread, NULL, actor_main, a);
    if (rc != 0)
        goto out_destroy_sync;
    return 0;

out_destroy_sync:
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->ended_cv);
    cf_queue_destroy(&a->mailbox);
    return -rc;
}

void *cf_actor_arg(const cf_actor *a)
{
    return a ? a->arg : NULL;
}

int cf_actor_send(cf_actor *a, void *msg)
{
    if (!a || !a->handler)
        return -EINVAL;
    return cf_queue_put_priority(&a->mailbox, msg, TAG_MSG, CF_FOREVER);
}

int cf_actor_submit(cf_actor *a, cf_actor_call_fn fn, void *arg, cf_future **out)
{
    if (!a || !fn)
        return -EINVAL;
    struct call *c = malloc(sizeof(*c));
    if (!c)
        return -ENOMEM;
    int rc = cf_future_create(&c->future);
    if (rc < 0)
        goto out_free_call;
    c->fn = fn;
    c->arg = arg;
    /* The caller's reference, taken before the actor may drop its own. */
    cf_future *f = cf_future_retain(c->future);
    rc = cf_queue_put_priority(&a->mailbox, c, TAG_CALL, CF_FOREVER);
    if (rc < 0)
        goto out_release_future;
    if (out)
        *out = f;
    else
        cf_future_release(f);
    return 0;

out_release_future:
    cf_future_release(f);
    cf_future_release(c->future);
out_free_call:
    free(c);
    return rc;
}

int cf_actor_close(cf_actor *a)
{
    if (!a)
        return -EINVAL;
    return cf_queue_shutdown(&a->mailbox, false);
}

int cf_actor_join(cf_actor *a, double timeout)
{
    if (!a || isnan(timeout))
        return -EINVAL;
    if (current_actor == a)
        return -EDEADLK;
    uint64_t deadline = cf__wait_deadline(timeout);
    bool reap = false;
    int rc = 0;
    pthread_mutex_lock(&a->mu);
    while (!a->ended) {
        if (timeout == 0) {
            rc = -ETIMEDOUT;
            break;
        }
        if (cf__cond_wait_until(&a->ended_cv, &a->mu, deadline) == -ETIMEDOUT) {
            rc = a->ended ? 0 : -ETIMEDOUT;
            break;
        }
    }
    if (rc == 0 && !a->joined)
        reap = a->joined = true;
    pthread_mutex_unlock(&a->mu);
    /* The loop has ended: this only waits for the thread's exit. */
    if (reap)
        pthread_join(a->thread, NULL);
    return rc;
}

bool cf_actor_is_alive(cf_actor *a)
{
    if (!a)
        return false;
    pthread_mutex_lock(&a->mu);
    bool alive = !a->ended;
    pthread_mutex_unlock(&a->mu);
    return alive;
}

int cf_actor_error(cf_actor *a)
{
    if (!a)
        return -EINVAL;
    pthread_mutex_lock(&a->mu);
    int err = a->error;
    pthread_mutex_unlock(&a->mu);
    return err;
}

void cf_actor_destroy(cf_actor *a)
{
    if (!a || current_actor == a)
        return;
    cf_actor_close(a);
    cf_actor_join(a, CF_FOREVER);
    cf_queue_destroy(&a->mailbox);
    pthread_cond_destroy(&a->ended_cv);
    pthread_mutex_destroy(&a->mu);
}
