/* cf_exchange: the cookbook's pub/sub exchanges (actor.h).
 *
 * Owns the subscriber list of each exchange (intrusive: the subscribers
 * are the caller's) and the process-wide registry of named exchanges. Any
 * thread attaches, detaches and sends. ex->mu guards the list and is held
 * for a whole send, so deliveries of one exchange are serialised and a
 * detach that returns guarantees no delivery is in flight to that
 * subscriber. `registry_mu` guards the registry and is never held with an
 * exchange's mutex.
 *
 * Re-entry from a delivery (a callback that attaches, detaches or sends on
 * the exchange delivering to it) would self-deadlock on ex->mu; a
 * thread-local chain of the exchanges this thread is delivering for turns
 * that into -EDEADLK.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cfutures.h>

#define NAME_MAX_LEN 255

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static cf_exchange *registry; /* named exchanges, never freed */

struct delivering {
    const cf_exchange *ex;
    struct delivering *up;
};
static _Thread_local struct delivering *delivering;

static bool delivering_for(const cf_exchange *ex)
{
    for (const struct delivering *d = delivering; d; d = d->up)
        if (d->ex == ex)
            return true;
    return false;
}

/* ----------------------------------------------------------- subscribers */

int cf_subscriber_init_fn(cf_subscriber *s, cf_subscriber_fn fn, void *arg)
{
    if (!s || !fn)
        return -EINVAL;
    *s = (cf_subscriber){.fn = fn, .arg = arg};
    return 0;
}

int cf_subscriber_init_queue(cf_subscriber *s, cf_queue *q)
{
    if (!s || !q)
        return -EINVAL;
    *s = (cf_subscriber){.queue = q};
    return 0;
}

int cf_subscriber_init_actor(cf_subscriber *s, cf_actor *a)
{
    if (!s || !a)
        return -EINVAL;
    *s = (cf_subscriber){.actor = a};
    return 0;
}

static int deliver(cf_subscriber *s, void *msg)
{
    if (s->fn)
        return s->fn(s->arg, msg);
    if (s->queue)
        return cf_queue_put(s->queue, msg);
    return cf_actor_send(s->actor, msg);
}

/* ------------------------------------------------------------- exchanges */

int cf_exchange_init(cf_exchange *ex)
{
    if (!ex)
        return -EINVAL;
    memset(ex, 0, sizeof(*ex));
    pthread_mutex_init(&ex->mu, NULL);
    return 0;
}

int cf_exchange_destroy(cf_exchange *ex)
{
    if (!ex || ex->named)
        return -EINVAL;
    pthread_mutex_lock(&ex->mu);
    size_t n = ex->count;
    pthread_mutex_unlock(&ex->mu);
    if (n)
        return -EBUSY;
    pthread_mutex_destroy(&ex->mu);
    return 0;
}

static cf_exchange *find_named(const char *name)
{
    for (cf_exchange *ex = registry; ex; ex = ex->next_named)
        if (strcmp(ex->name, name) == 0)
            return ex;
    return NULL;
}

int cf_exchange_get(const char *name, cf_exchange **out)
{
    if (!name || !out || !*name || strlen(name) > NAME_MAX_LEN)
        return -EINVAL;
    int rc = 0;
    pthread_mutex_lock(&registry_mu);
    cf_exchange *ex = find_named(name);
    if (ex)
        goto out_unlock;
    ex = malloc(sizeof(*ex));
    char *copy = strdup(name);
    if (!ex || !copy) {
        free(ex);
        free(copy);
        rc = -ENOMEM;
        goto out_unlock;
    }
    cf_exchange_init(ex);
    ex->named = true;
    ex->name = copy;
    ex->next_named = registry;
    registry = ex;
out_unlock:
    pthread_mutex_unlock(&registry_mu);
    if (rc == 0)
        *out = ex;
    return rc;
}

int cf_exchange_attach(cf_exchange *ex, cf_subscriber *s)
{
    if (!ex || !s || (!s->fn && !s->queue && !s->actor))
        return -EINVAL;
    if (delivering_for(ex))
        return -EDEADLK;
    int rc = 0;
    pthread_mutex_lock(&ex->mu);
    /* s->ex is guarded by the mutex of the exchange s is on; a subscriber
     * used by one thread at a time (the documented contract) reads its own
     * write here. */
    if (s->ex) {
        rc = -EINVAL;
    } else {
        s->ex = ex;
        s->next = NULL;
        s->prev = ex->tail;
        if (ex->tail)
            ex->tail->next = s;
        else
            ex->head = s;
        ex->tail = s;
        ex->count++;
    }
    pthread_mutex_unlock(&ex->mu);
    return rc;
}

int cf_exchange_detach(cf_exchange *ex, cf_subscriber *s)
{
    if (!ex || !s)
        return -EINVAL;
    if (delivering_for(ex))
        return -EDEADLK;
    int rc = 0;
    pthread_mutex_lock(&ex->mu);
    if (s->ex != ex) {
        rc = -EINVAL; /* Python's set.remove: KeyError */
    } else {
        if (s->prev)
            s->prev->next = s->next;
        else
            ex->head = s->next;
        if (s->next)
            s->next->prev = s->prev;
        else
            ex->tail = s->prev;
        s->ex = NULL;
        s->prev = s->next = NULL;
        ex->count--;
    }
    pthread_mutex_unlock(&ex->mu);
    return rc;
}

size_t cf_exchange_count(cf_exchange *ex)
{
    if (!ex)
        return 0;
    pthread_mutex_lock(&ex->mu);
    size_t n = ex->count;
    pthread_mutex_unlock(&ex->mu);
    return n;
}

int cf_exchange_send(cf_exchange *ex, void *msg)
{
    if (!ex)
        return -EINVAL;
    if (delivering_for(ex))
        return -EDEADLK;
    struct delivering self = {ex, delivering};
    int first_error = 0;
    pthread_mutex_lock(&ex->mu);
    delivering = &self;
    for (cf_subscriber *s = ex->head; s; s = s->next) {
        int rc = deliver(s, msg);
        if (rc < 0 && first_error == 0)
            first_error = rc;
    }
    delivering = self.up;
    pthread_mutex_unlock(&ex->mu);
    return first_error;
}

int cf_exchange_subscribe(cf_exchange *ex, cf_subscriber *const *subs, size_t n,
                          int (*fn)(cf_exchange *ex, void *arg), void *arg)
{
    if (!ex || (!subs && n) || !fn)
        return -EINVAL;
    size_t attached;
    int rc = 0;
    for (attached = 0; attached < n; attached++)
        if ((rc = cf_exchange_attach(ex, subs[attached])) < 0)
            goto out_detach;
    rc = fn(ex, arg);
out_detach:
    /* Whatever fn did; a subscriber fn detached already just gives
     * -EINVAL here, which the scope ignores. */
    for (size_t i = 0; i < attached; i++)
        cf_exchange_detach(ex, subs[i]);
    return rc;
}
