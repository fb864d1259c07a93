/* tests/test_th_event.c — cf_event, after CPython's lock_tests.py
 * EventTests: is_set/set/clear, set waking every waiter, waits that time
 * out returning false, set-then-clear still waking present waiters, and
 * every error path.
 *
 * Threads are plain pthreads; "the waiters are blocked" is read from the
 * event's private waiter count (white-box) so no test depends on a sleep
 * being long enough. Nothing asserts on elapsed time.
 */
#include <cfutures.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#define EVT_NTHREADS 5

static void evt_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static unsigned evt_waiters(cf_event *ev)
{
    pthread_mutex_lock(&ev->mu);
    unsigned n = ev->waiters;
    pthread_mutex_unlock(&ev->mu);
    return n;
}

/* Polls until `want` threads are blocked in ev (a ~10 s liveness bound). */
static void evt_await_waiters(cf_event *ev, unsigned want)
{
    for (int i = 0; i < 10000 && evt_waiters(ev) < want; i++)
        evt_sleep_ms(1);
    cr_assert_eq(evt_waiters(ev), want, "expected %u waiters", want);
}

struct evt_ctx {
    cf_event ev;
    double timeout;
    atomic_int woke_true;
    atomic_int woke_false;
};

static void *evt_waiter(void *arg)
{
    struct evt_ctx *c = arg;
    if (cf_event_wait(&c->ev, c->timeout))
        atomic_fetch_add(&c->woke_true, 1);
    else
        atomic_fetch_add(&c->woke_false, 1);
    return NULL;
}

static void evt_start(pthread_t *t, int n, struct evt_ctx *c)
{
    for (int i = 0; i < n; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, evt_waiter, c), 0);
}

static void evt_join(pthread_t *t, int n)
{
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
}

Test(th_event, is_set_set_clear, .timeout = 20)
{
    cf_event ev;
    cr_assert_eq(cf_event_init(&ev), 0);
    cr_assert_not(cf_event_is_set(&ev));
    cr_assert_eq(cf_event_set(&ev), 0);
    cr_assert(cf_event_is_set(&ev));
    cr_assert_eq(cf_event_set(&ev), 0);
    cr_assert(cf_event_is_set(&ev), "set is idempotent");
    cr_assert_eq(cf_event_clear(&ev), 0);
    cr_assert_not(cf_event_is_set(&ev));
    cr_assert_eq(cf_event_clear(&ev), 0);
    cr_assert_not(cf_event_is_set(&ev), "clear is idempotent");
    cr_assert_eq(cf_event_destroy(&ev), 0);
}

Test(th_event, null_arguments, .timeout = 20)
{
    cr_assert_eq(cf_event_init(NULL), -EINVAL);
    cr_assert_eq(cf_event_destroy(NULL), -EINVAL);
    cr_assert_eq(cf_event_set(NULL), -EINVAL);
    cr_assert_eq(cf_event_clear(NULL), -EINVAL);
    cr_assert_not(cf_event_is_set(NULL));
    cr_assert_not(cf_event_wait(NULL, 0));
    cr_assert_not(cf_event_wait(NULL, CF_FOREVER));
}

Test(th_event, wait_times_out_false, .timeout = 20)
{
    cf_event ev;
    cr_assert_eq(cf_event_init(&ev), 0);
    cr_assert_not(cf_event_wait(&ev, 0));
    cr_assert_not(cf_event_wait(&ev, 0.01));
    cr_assert_not(cf_event_wait(&ev, NAN), "NaN is refused, not a wait");
    cr_assert_eq(cf_event_set(&ev), 0);
    cr_assert(cf_event_wait(&ev, 0));
    cr_assert(cf_event_wait(&ev, 0.01));
    cr_assert(cf_event_wait(&ev, CF_FOREVER), "a set flag never blocks");
    cr_assert_eq(cf_event_clear(&ev), 0);
    cr_assert_not(cf_event_wait(&ev, 0.01));
    cr_assert_eq(cf_event_destroy(&ev), 0);
}

/* CPython's _check_notify: set wakes every waiter, each seeing true. */
Test(th_event, set_wakes_all, .timeout = 20)
{
    struct evt_ctx c = {.timeout = CF_FOREVER};
    pthread_t t[EVT_NTHREADS];
    cr_assert_eq(cf_event_init(&c.ev), 0);
    evt_start(t, EVT_NTHREADS, &c);
    evt_await_waiters(&c.ev, EVT_NTHREADS);
    cr_assert_eq(atomic_load(&c.woke_true) + atomic_load(&c.woke_false), 0);
    cr_assert_eq(cf_event_set(&c.ev), 0);
    evt_join(t, EVT_NTHREADS);
    cr_assert_eq(atomic_load(&c.woke_true), EVT_NTHREADS);
    cr_assert_eq(atomic_load(&c.woke_false), 0);
    cr_assert_eq(cf_event_destroy(&c.ev), 0);
}

/* CPython's test_set_and_clear: waiters present at set() return true even
 * if clear() runs before they wake. */
Test(th_event, set_then_clear_still_wakes_present_waiters, .timeout = 20)
{
    struct evt_ctx c = {.timeout = 10.0};
    pthread_t t[EVT_NTHREADS];
    cr_assert_eq(cf_event_init(&c.ev), 0);
    /* Whether a waiter runs before the clear is up to the scheduler: many
     * rounds make the "after the clear" case certain to occur. Waiters
     * that missed the set would time out false. */
    for (int round = 1; round <= 50; round++) {
        evt_start(t, EVT_NTHREADS, &c);
        evt_await_waiters(&c.ev, EVT_NTHREADS);
        cr_assert_eq(cf_event_set(&c.ev), 0);
        cr_assert_eq(cf_event_clear(&c.ev), 0);
        evt_join(t, EVT_NTHREADS);
        cr_assert_eq(atomic_load(&c.woke_true), round * EVT_NTHREADS);
        cr_assert_eq(atomic_load(&c.woke_false), 0);
        cr_assert_not(cf_event_is_set(&c.ev));
    }
    cr_assert_eq(cf_event_destroy(&c.ev), 0);
}

/* Timed waiters that see no set all return false; the flag stays clear. */
Test(th_event, timed_waiters_time_out_false, .timeout = 20)
{
    struct evt_ctx c = {.timeout = 0.02};
    pthread_t t[EVT_NTHREADS];
    cr_assert_eq(cf_event_init(&c.ev), 0);
    evt_start(t, EVT_NTHREADS, &c);
    evt_join(t, EVT_NTHREADS);
    cr_assert_eq(atomic_load(&c.woke_false), EVT_NTHREADS);
    cr_assert_eq(atomic_load(&c.woke_true), 0);
    cr_assert_eq(cf_event_destroy(&c.ev), 0);
}

/* Timed waiters woken by a set before their deadline return true. */
Test(th_event, timed_waiters_woken_by_set, .timeout = 20)
{
    struct evt_ctx c = {.timeout = 10.0};
    pthread_t t[EVT_NTHREADS];
    cr_assert_eq(cf_event_init(&c.ev), 0);
    evt_start(t, EVT_NTHREADS, &c);
    evt_await_waiters(&c.ev, EVT_NTHREADS);
    cr_assert_eq(cf_event_set(&c.ev), 0);
    evt_join(t, EVT_NTHREADS);
    cr_assert_eq(atomic_load(&c.woke_true), EVT_NTHREADS);
    cr_assert_eq(cf_event_destroy(&c.ev), 0);
}

/* After a clear, a new round of waiters blocks again until the next set. */
Test(th_event, reusable_after_clear, .timeout = 20)
{
    struct evt_ctx c = {.timeout = CF_FOREVER};
    pthread_t t[EVT_NTHREADS];
    cr_assert_eq(cf_event_init(&c.ev), 0);
    for (int round = 1; round <= 3; round++) {
        cr_assert_eq(cf_event_clear(&c.ev), 0);
        evt_start(t, EVT_NTHREADS, &c);
        evt_await_waiters(&c.ev, EVT_NTHREADS);
        cr_assert_eq(atomic_load(&c.woke_true), (round - 1) * EVT_NTHREADS);
        cr_assert_eq(cf_event_set(&c.ev), 0);
        evt_join(t, EVT_NTHREADS);
        cr_assert_eq(atomic_load(&c.woke_true), round * EVT_NTHREADS);
    }
    cr_assert_eq(cf_event_destroy(&c.ev), 0);
}

Test(th_event, destroy_busy_while_waiting, .timeout = 20)
{
    struct evt_ctx c = {.timeout = CF_FOREVER};
    pthread_t t[1];
    cr_assert_eq(cf_event_init(&c.ev), 0);
    evt_start(t, 1, &c);
    evt_await_waiters(&c.ev, 1);
    cr_assert_eq(cf_event_destroy(&c.ev), -EBUSY);
    cr_assert_eq(cf_event_set(&c.ev), 0);
    evt_join(t, 1);
    cr_assert_eq(atomic_load(&c.woke_true), 1);
    cr_assert_eq(cf_event_destroy(&c.ev), 0);
}
