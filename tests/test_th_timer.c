/* tests/test_th_timer.c — cf_timer, after CPython's TimerTests in
 * Lib/test/test_threading.py: the function runs once, on another thread;
 * cancel while waiting prevents it (long intervals make "still waiting"
 * certain); cancel after or during the run reports false; error paths.
 * Nothing asserts on elapsed time.
 */
#include <cfutures.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>

struct thtm_rec {
    atomic_int calls;
    atomic_ulong ident;
    /* optional gate the function blocks on, to keep it "running" */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool gated, entered, open;
};

static void thtm_rec_init(struct thtm_rec *r, bool gated)
{
    atomic_init(&r->calls, 0);
    atomic_init(&r->ident, 0);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->gated = gated;
    r->entered = r->open = false;
}

static void thtm_rec_destroy(struct thtm_rec *r)
{
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
}

static void thtm_fire(void *arg)
{
    struct thtm_rec *r = arg;

    atomic_fetch_add(&r->calls, 1);
    atomic_store(&r->ident, cf_thread_get_ident());
    if (!r->gated)
        return;
    pthread_mutex_lock(&r->mu);
    r->entered = true;
    pthread_cond_broadcast(&r->cv);
    while (!r->open)
        pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
}

static void thtm_await_entered(struct thtm_rec *r)
{
    pthread_mutex_lock(&r->mu);
    while (!r->entered)
        pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
}

static void thtm_open(struct thtm_rec *r)
{
    pthread_mutex_lock(&r->mu);
    r->open = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* A recorder and a timer that runs thtm_fire on it. */
struct thtm {
    struct thtm_rec r;
    cf_timer t;
};

/* Inits the recorder and the timer (not started). */
static void thtm_setup(struct thtm *x, const char *name, double interval, bool gated)
{
    thtm_rec_init(&x->r, gated);
    cr_assert_eq(cf_timer_init(&x->t, name, interval, thtm_fire, &x->r), 0);
}

/* Destroys the timer, then the recorder; returns cf_timer_destroy's code. */
static int thtm_teardown(struct thtm *x)
{
    int rc = cf_timer_destroy(&x->t);

    thtm_rec_destroy(&x->r);
    return rc;
}

Test(th_timer, runs_once_on_other_thread, .timeout = 20)
{
    struct thtm x;

    thtm_setup(&x, "tick", 0.01, false);
    cr_assert_not(cf_timer_finished(&x.t));
    cr_assert_eq(cf_timer_start(&x.t), 0);
    cr_assert_eq(cf_timer_join(&x.t, CF_FOREVER), 0);
    cr_assert_eq(atomic_load(&x.r.calls), 1);
    cr_assert_neq(atomic_load(&x.r.ident), 0);
    cr_assert_neq(atomic_load(&x.r.ident), cf_thread_get_ident(), "ran on the timer's thread");
    cr_assert(cf_timer_finished(&x.t));
    cr_assert_not(cf_timer_is_alive(&x.t));
    cr_assert_eq(thtm_teardown(&x), 0);
    cr_assert_eq(atomic_load(&x.r.calls), 1, "destroy does not run it again");
}

Test(th_timer, zero_interval_runs, .timeout = 20)
{
    struct thtm x;

    thtm_setup(&x, NULL, 0, false);
    cr_assert_eq(cf_timer_start(&x.t), 0);
    cr_assert_eq(cf_timer_join(&x.t, CF_FOREVER), 0);
    cr_assert_eq(atomic_load(&x.r.calls), 1);
    thtm_teardown(&x);
}

Test(th_timer, cancel_while_waiting_prevents_run, .timeout = 20)
{
    struct thtm x;

    thtm_setup(&x, NULL, 3600, false);
    cr_assert_eq(cf_timer_start(&x.t), 0);
    cr_assert(cf_timer_is_alive(&x.t));
    cr_assert_eq(cf_timer_join(&x.t, 0.02), -ETIMEDOUT, "an hour-long timer is still waiting");
    cr_assert_not(cf_timer_finished(&x.t));
    cr_assert(cf_timer_cancel(&x.t));
    cr_assert(cf_timer_finished(&x.t), "cancel sets finished");
    cr_assert_eq(cf_timer_join(&x.t, CF_FOREVER), 0, "cancel wakes the waiting thread");
    cr_assert_eq(atomic_load(&x.r.calls), 0);
    cr_assert(cf_timer_cancel(&x.t), "cancelling again still reports prevented");
    thtm_teardown(&x);
}

Test(th_timer, cancel_before_start, .timeout = 20)
{
    struct thtm x;

    thtm_setup(&x, NULL, 0, false);
    cr_assert(cf_timer_cancel(&x.t));
    cr_assert_eq(cf_timer_start(&x.t), 0);
    cr_assert_eq(cf_timer_join(&x.t, CF_FOREVER), 0);
    cr_assert_eq(atomic_load(&x.r.calls), 0);
    thtm_teardown(&x);
}

Test(th_timer, cancel_after_run_returns_false, .timeout = 20)
{
    struct thtm x;

    thtm_setup(&x, NULL, 0, false);
    cr_assert_eq(cf_timer_start(&x.t), 0);
    cr_assert_eq(cf_timer_join(&x.t, CF_FOREVER), 0);
    cr_assert_not(cf_timer_cancel(&x.t));
    cr_assert_eq(atomic_load(&x.r.calls), 1);
    thtm_teardown(&x);
}

Test(th_timer, cancel_while_running_returns_false, .timeout = 20)
{
    struct thtm x;

    thtm_setup(&x, NULL, 0, true);
    cr_assert_eq(cf_timer_start(&x.t), 0);
    thtm_await_entered(&x.r);
    cr_assert_not(cf_timer_cancel(&x.t));
    cr_assert_not(cf_timer_finished(&x.t), "running is not finished");
    cr_assert_eq(cf_timer_join(&x.t, 0), -ETIMEDOUT);
    thtm_open(&x.r);
    cr_assert_eq(cf_timer_join(&x.t, CF_FOREVER), 0);
    cr_assert(cf_timer_finished(&x.t));
    cr_assert_eq(atomic_load(&x.r.calls), 1);
    thtm_teardown(&x);
}

Test(th_timer, destroy_cancels_pending, .timeout = 20)
{
    struct thtm x;

    thtm_setup(&x, NULL, 3600, false);
    cr_assert_eq(cf_timer_start(&x.t), 0);
    cr_assert_eq(thtm_teardown(&x), 0);
    cr_assert_eq(atomic_load(&x.r.calls), 0);
}

Test(th_timer, destroy_unstarted, .timeout = 20)
{
    struct thtm x;

    thtm_setup(&x, NULL, 0, false);
    cr_assert_eq(thtm_teardown(&x), 0);
    cr_assert_eq(atomic_load(&x.r.calls), 0);
}

struct thtm_selfdestroy {
    cf_timer t;
    int join_rc, destroy_rc;
};

static void thtm_self(void *arg)
{
    struct thtm_selfdestroy *s = arg;

    s->join_rc = cf_timer_join(&s->t, CF_FOREVER);
    s->destroy_rc = cf_timer_destroy(&s->t);
}

Test(th_timer, join_or_destroy_from_fn_is_edeadlk, .timeout = 20)
{
    struct thtm_selfdestroy s = {.join_rc = 1, .destroy_rc = 1};

    cr_assert_eq(cf_timer_init(&s.t, NULL, 0, thtm_self, &s), 0);
    cr_assert_eq(cf_timer_start(&s.t), 0);
    cr_assert_eq(cf_timer_join(&s.t, CF_FOREVER), 0);
    cr_assert_eq(s.join_rc, -EDEADLK);
    cr_assert_eq(s.destroy_rc, -EDEADLK);
    cr_assert_eq(cf_timer_destroy(&s.t), 0);
}

Test(th_timer, errors, .timeout = 20)
{
    struct thtm x;

    thtm_rec_init(&x.r, false);
    cr_assert_eq(cf_timer_init(NULL, NULL, 1, thtm_fire, &x.r), -EINVAL);
    cr_assert_eq(cf_timer_init(&x.t, NULL, 1, NULL, &x.r), -EINVAL);
    cr_assert_eq(cf_timer_init(&x.t, NULL, -1, thtm_fire, &x.r), -EINVAL);
    cr_assert_eq(cf_timer_init(&x.t, NULL, NAN, thtm_fire, &x.r), -EINVAL);
    cr_assert_eq(cf_timer_start(NULL), -EINVAL);
    cr_assert_eq(cf_timer_join(NULL, 0), -EINVAL);
    cr_assert_eq(cf_timer_destroy(NULL), -EINVAL);
    cr_assert_not(cf_timer_cancel(NULL));
    cr_assert_not(cf_timer_finished(NULL));
    cr_assert_not(cf_timer_is_alive(NULL));

    cr_assert_eq(cf_timer_init(&x.t, "named", 0, thtm_fire, &x.r), 0);
    cr_assert_str_eq(cf_thread_name(&x.t.thread), "named");
    cr_assert_eq(cf_timer_join(&x.t, 0), -EINVAL, "join before start");
    cr_assert_eq(cf_timer_start(&x.t), 0);
    cr_assert_eq(cf_timer_start(&x.t), -EINVAL, "start twice");
    cr_assert_eq(cf_timer_join(&x.t, CF_FOREVER), 0);
    cr_assert_eq(atomic_load(&x.r.calls), 1);
    thtm_teardown(&x);
}

Test(th_timer, many_timers_each_run_once, .timeout = 20)
{
    enum { NT = 20 };
    static struct thtm x[NT];

    for (int i = 0; i < NT; i++) {
        thtm_setup(&x[i], NULL, 0.001 * i, false);
        cr_assert_eq(cf_timer_start(&x[i].t), 0);
    }
    /* Cancel the odd ones that are still waiting; whatever cancel says must
     * match whether the function ran. */
    bool prevented[NT] = {false};
    for (int i = 1; i < NT; i += 2)
        prevented[i] = cf_timer_cancel(&x[i].t);
    for (int i = 0; i < NT; i++) {
        cr_assert_eq(cf_timer_join(&x[i].t, CF_FOREVER), 0);
        cr_assert_eq(atomic_load(&x[i].r.calls), prevented[i] ? 0 : 1, "timer %d", i);
        thtm_teardown(&x[i]);
    }
}
