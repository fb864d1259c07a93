/* cf_as_completed: yields futures in completion order (those already done
 * first), with one deadline counted from creation, like Python's
 * as_completed. The iterator holds a reference to each distinct future and
 * one waiter linked into every pending one; completing threads append to
 * the waiter's ready list, the iterating thread consumes it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "executor/executor.h"
#include "executor/future_internal.h"
#include "executor/unique.h"
#include "executor/waiter.h"
#include "ipc/clock.h"

struct cf_as_completed {
    struct cf__waiter w;
    cf_future **futures; /* distinct, each retained */
    size_t n;
    struct cf__waiter_link *links;
    bool *linked;
    bool *yielded;
    size_t *initial;     /* indices done at creation, yielded first */
    size_t n_initial, next_initial;
    size_t consumed;     /* of w.ready */
    size_t n_yielded;
    uint64_t deadline;
    char message[96];
};

static void free_iterator(cf_as_completed *it)
{
    free(it->links);
    free(it->linked);
    free(it->yielded);
    free(it->initial);
    free(it->futures);
    free(it);
}

int cf_as_completed_create(cf_as_completed **out, cf_future *const *futures, size_t n,
                           double timeout)
{
    if (!out || (n && !futures))
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!futures[i])
            return -EINVAL;
    cf_as_completed *it = calloc(1, sizeof(*it));
    if (!it)
        return -ENOMEM;
    it->deadline = cf__deadline_after(timeout);
    int rc = cf__unique_futures(futures, n, &it->futures, &it->n);
    size_t m = it->n ? it->n : 1;
    if (rc == 0 && (!(it->links = calloc(m, sizeof(*it->links))) ||
                    !(it->linked = calloc(m, sizeof(bool))) ||
                    !(it->yielded = calloc(m, sizeof(bool))) ||
                    !(it->initial = calloc(m, sizeof(size_t)))))
        rc = -ENOMEM;
    if (rc == 0)
        rc = cf__waiter_init(&it->w, true);
    if (rc < 0) {
        free_iterator(it);
        return rc;
    }
    for (size_t i = 0; i < it->n; i++) {
        bool failed;
        cf_future_retain(it->futures[i]);
        if (cf__waiter_link(&it->w, it->futures[i], &it->links[i], &failed))
            it->initial[it->n_initial++] = i;
        else
            it->linked[i] = true;
    }
    *out = it;
    return 0;
}

/* Marks future i yielded; false when it was yielded already. */
static bool take(cf_as_completed *it, size_t i)
{
    if (it->yielded[i])
        return false;
    it->yielded[i] = true;
    it->n_yielded++;
    return true;
}

/* The ready list could not grow (out of memory): find a done one by scan. */
static bool scan_done(cf_as_completed *it, size_t *index)
{
    for (size_t i = 0; i < it->n; i++) {
        if (!it->yielded[i] && cf_future_done(it->futures[i])) {
            *index = i;
            return true;
        }
    }
    return false;
}

/* Whether a completion is waiting to be consumed (or a scan must look). */
static bool any_ready(void *arg)
{
    cf_as_completed *it = arg;
    pthread_mutex_lock(&it->w.mu);
    bool ready = it->consumed < it->w.ready_len || it->w.oom;
    pthread_mutex_unlock(&it->w.mu);
    return ready;
}

int cf_as_completed_next(cf_as_completed *it, cf_future **f)
{
    if (!it || !f)
        return -EINVAL;
    while (it->next_initial < it->n_initial) {
        size_t i = it->initial[it->next_initial++];
        if (take(it, i)) {
            *f = it->futures[i];
            return 0;
        }
    }
    if (it->n_yielded == it->n)
        return CF_EEMPTY;
    /* On a thread that completes some of these futures (a done-callback),
     * the work is done here until one more is ready (executor.h). */
    if (cf__tl_completing && !any_ready(it)) {
        int rc = cf__executor_wait_here(it->futures, it->n, any_ready, it, it->deadline);
        if (rc < 0)
            return rc;
    }
    if (!any_ready(it) && cf__now_ns() < it->deadline)
        cf__executor_blocking(it->futures, it->n); /* about to sleep: a hint */
    struct timespec ts = cf__deadline_timespec(it->deadline);
    bool found = false;
    size_t index = 0;
    pthread_mutex_lock(&it->w.mu);
    for (;;) {
        while (!found && it->consumed < it->w.ready_len) {
            index = (size_t)(it->w.ready[it->consumed++] - it->links);
            found = take(it, index);
        }
        if (!found && it->w.oom) {
            /* Lock order is future before waiter: scan with ours dropped. */
            pthread_mutex_unlock(&it->w.mu);
            if (scan_done(it, &index))
                found = take(it, index);
            pthread_mutex_lock(&it->w.mu);
        }
        if (found)
            break;
        int wrc = it->deadline == CF__NO_DEADLINE
                      ? pthread_cond_wait(&it->w.cv, &it->w.mu)
                      : pthread_cond_timedwait(&it->w.cv, &it->w.mu, &ts);
        if (wrc == ETIMEDOUT && it->consumed == it->w.ready_len)
            break;
    }
    pthread_mutex_unlock(&it->w.mu);
    if (!found) {
        snprintf(it->message, sizeof(it->message), "%zu (of %zu) futures unfinished",
                 it->n - it->n_yielded, it->n);
        return -ETIMEDOUT;
    }
    *f = it->futures[index];
    return 0;
}

const char *cf_as_completed_message(const cf_as_completed *it)
{
    return it ? it->message : "";
}

void cf_as_completed_release(cf_as_completed *it)
{
    if (!it)
        return;
    for (size_t i = 0; i < it->n; i++) {
        if (it->linked[i])
            cf__waiter_unlink(&it->w, it->futures[i]);
        cf_future_release(it->futures[i]);
    }
    cf__waiter_destroy(&it->w);
    free_iterator(it);
}
