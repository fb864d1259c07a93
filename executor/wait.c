/* cf_wait: Python's concurrent.futures.wait for any set of futures,
 * whichever executors they come from. The caller's thread links one waiter
 * into every pending future and sleeps on it; completing threads report.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "executor/future_internal.h"
#include "executor/unique.h"
#include "executor/waiter.h"
#include "ipc/clock.h"

static bool satisfied(enum cf_return_when when, size_t done, size_t failed, size_t total)
{
    switch (when) {
    case CF_FIRST_COMPLETED: return done >= 1 || total == 0;
    case CF_FIRST_EXCEPTION: return failed >= 1 || done == total;
    default: return done == total;
    }
}

int cf_wait(cf_future *const *futures, size_t n, enum cf_return_when when, double timeout,
            bool *done_mask)
{
    if ((n && !futures) ||
        (when != CF_FIRST_COMPLETED && when != CF_FIRST_EXCEPTION && when != CF_ALL_COMPLETED))
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!futures[i])
            return -EINVAL;
    uint64_t deadline = cf__deadline_after(timeout);
    size_t total;
    cf_future **uniq;
    int rc = cf__unique_futures(futures, n, &uniq, &total);
    if (rc < 0)
        return rc;
    struct cf__waiter w;
    struct cf__waiter_link *links = calloc(total ? total : 1, sizeof(*links));
    bool *linked = calloc(total ? total : 1, sizeof(*linked));
    if (!links || !linked || (rc = cf__waiter_init(&w, false)) < 0) {
        free(links);
        free(linked);
        free(uniq);
        return rc < 0 ? rc : -ENOMEM;
    }
    size_t done = 0, failed = 0;
    for (size_t i = 0; i < total; i++) {
        bool f_failed = false;
        if (cf__waiter_link(&w, uniq[i], &links[i], &f_failed)) {
            done++;
            failed += f_failed;
        } else {
            linked[i] = true;
        }
    }
    struct timespec ts = cf__deadline_timespec(deadline);
    pthread_mutex_lock(&w.mu);
    while (!satisfied(when, done + w.n_done, failed + w.n_failed, total)) {
        if (deadline == CF__NO_DEADLINE)
            pthread_cond_wait(&w.cv, &w.mu);
        else if (pthread_cond_timedwait(&w.cv, &w.mu, &ts) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&w.mu);
    for (size_t i = 0; i < total; i++)
        if (linked[i])
            cf__waiter_unlink(&w, uniq[i]);
    /* Report the state as it is now, which may include late completions. */
    int count = 0;
    for (size_t i = 0; i < n; i++) {
        bool d = cf_future_done(futures[i]);
        if (done_mask)
            done_mask[i] = d;
    }
    for (size_t i = 0; i < total; i++)
        count += cf_future_done(uniq[i]);
    cf__waiter_destroy(&w);
    free(links);
    free(linked);
    free(uniq);
    return count;
}
