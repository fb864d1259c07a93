/* Waiters: how cf_wait and cf_as_completed learn that futures completed
 * without polling. A waiter is linked into each future it watches; the
 * thread that completes a future reports it to every linked waiter.
 */
#ifndef CF_EXECUTOR_WAITER_H
#define CF_EXECUTOR_WAITER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include <cfutures.h>

struct cf__waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    size_t n_done;
    size_t n_failed; /* finished with an error (not cancelled) */
    struct cf__waiter_link **ready; /* links of completed futures, in order (collect) */
    size_t ready_len, ready_cap;
    bool collect;
    bool oom; /* a ready entry could not be stored: fall back to a scan */
};

int cf__waiter_init(struct cf__waiter *w, bool collect);
void cf__waiter_destroy(struct cf__waiter *w);

/* Called by the completing thread with f->mu held. */
void cf__waiter_notify(struct cf__waiter_link *link, bool failed);

/* Links / unlinks `w` to `f` (takes f->mu). link reports whether f was
 * already done (then it is not linked and the caller counts it itself). */
bool cf__waiter_link(struct cf__waiter *w, cf_future *f, struct cf__waiter_link *node,
                     bool *failed);
void cf__waiter_unlink(struct cf__waiter *w, cf_future *f);

#endif
