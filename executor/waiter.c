/* Waiters (see waiter.h): the completing thread reports to each waiter
 * linked into the future, with the future's mu held, then the waiter's mu.
 */
#include <errno.h>
#include <stdlib.h>

#include "executor/future_internal.h"
#include "executor/waiter.h"
#include "ipc/futex_lock.h"

int cf__waiter_init(struct cf__waiter *w, bool collect)
{
    pthread_condattr_t attr;
    *w = (struct cf__waiter){.collect = collect};
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&w->cv, &attr);
    pthread_condattr_destroy(&attr);
    if (rc)
        return -rc;
    pthread_mutex_init(&w->mu, NULL);
    return 0;
}

void cf__waiter_destroy(struct cf__waiter *w)
{
    free(w->ready);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
}

void cf__waiter_notify(struct cf__waiter_link *link, bool failed)
{
    struct cf__waiter *w = link->waiter;
    pthread_mutex_lock(&w->mu);
    w->n_done++;
    if (failed)
        w->n_failed++;
    if (w->collect) {
        if (w->ready_len == w->ready_cap) {
            size_t cap = w->ready_cap ? w->ready_cap * 2 : 16;
            struct cf__waiter_link **grown = realloc(w->ready, cap * sizeof(*grown));
            if (grown) {
                w->ready = grown;
                w->ready_cap = cap;
            }
        }
        if (w->ready_len < w->ready_cap)
            w->ready[w->ready_len++] = link;
        else
            w->oom = true;
    }
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

bool cf__waiter_link(struct cf__waiter *w, cf_future *f, struct cf__waiter_link *node,
                     bool *failed)
{
    /* Done already (the usual case when waiting on many futures): its
     * outcome is final once `done` is seen set, so no lock is needed. */
    if (atomic_load_explicit(&f->done, memory_order_acquire)) {
        *failed = f->state == CF__FINISHED && f->error != 0;
        return true;
    }
    cf__futex_lock(&f->mu);
    bool done = f->state == CF__CANCELLED || f->state == CF__FINISHED;
    if (done) {
        *failed = f->state == CF__FINISHED && f->error != 0;
    } else {
        node->waiter = w;
        node->next = f->waiters;
        f->waiters = node;
    }
    cf__futex_unlock(&f->mu);
    return done;
}

void cf__waiter_unlink(struct cf__waiter *w, cf_future *f)
{
    cf__futex_lock(&f->mu);
    for (struct cf__waiter_link **l = &f->waiters; *l; l = &(*l)->next) {
        if ((*l)->waiter == w) {
            *l = (*l)->next;
            break;
        }
    }
    cf__futex_unlock(&f->mu);
}
