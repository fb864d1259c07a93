/* tests/test_th_barrier.c — cf_barrier, after CPython's lock_tests.py
 * BarrierTests: rounds with distinct indices, the action run once per
 * round by the last arrival, a failing action or a timeout breaking the
 * barrier, abort, reset with waiters in flight (and the 6-thread,
 * parties=3 scenario), n_waiting, reuse across rounds, every error path.
 *
 * Threads are plain pthreads. "Waiters are in" is read from
 * cf_barrier_n_waiting, so nothing depends on a sleep; nothing asserts on
 * elapsed time.
 */
#include <cfutures.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdatomic.h>
#include <time.h>

#define BAR_N 5 /* CPython's N */
#define BAR_PASSES 3

static void bar_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Polls until `want` threads wait in b (a ~10 s liveness bound). */
static void bar_await_waiting(cf_barrier *b, int want)
{
    for (int i = 0; i < 10000 && cf_barrier_n_waiting(b) < want; i++)
        bar_sleep_ms(1);
    cr_assert_eq(cf_barrier_n_waiting(b), want, "expected %d waiting", want);
}

static void bar_await_count(atomic_int *counter, int want)
{
    for (int i = 0; i < 10000 && atomic_load(counter) < want; i++)
        bar_sleep_ms(1);
    cr_assert_eq(atomic_load(counter), want);
}

struct bar_ctx {
    cf_barrier b;
    cf_barrier b2; /* a helper barrier some scenarios use */
    atomic_int arrived[BAR_PASSES];
    atomic_int seen[BAR_PASSES][BAR_N]; /* how often each index came out */
    atomic_int ok, broken, other, results3;
    atomic_int actions;
    atomic_int action_fails; /* the first this many actions fail */
    atomic_int mismatches;   /* invariants violated inside threads */
    pthread_t action_thread;
};

struct bar_arg {
    struct bar_ctx *c;
    int id;
};

static void bar_run(int n, void *(*fn)(void *), struct bar_ctx *c)
{
    pthread_t t[2 * BAR_N];
    struct bar_arg a[2 * BAR_N];
    cr_assert(n <= 2 * BAR_N);
    for (int i = 0; i < n; i++) {
        a[i] = (struct bar_arg){c, i};
        cr_assert_eq(pthread_create(&t[i], NULL, fn, &a[i]), 0);
    }
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
}

static void bar_tally(struct bar_ctx *c, int rc)
{
    if (rc >= 0)
        atomic_fetch_add(&c->ok, 1);
    else if (rc == CF_EBROKEN)
        atomic_fetch_add(&c->broken, 1);
    else
        atomic_fetch_add(&c->other, 1);
}

static int bar_action(void *arg)
{
    struct bar_ctx *c = arg;
    c->action_thread = pthread_self(); /* read after the round: lock-ordered */
    atomic_fetch_add(&c->actions, 1);
    if (atomic_fetch_sub(&c->action_fails, 1) > 0)
        return -1;
    return 0;
}

/* ---------------------------------------------------------------- basics */

Test(th_barrier, init_and_null_arguments, .timeout = 20)
{
    cf_barrier b;
    cr_assert_eq(cf_barrier_init(&b, 0, NULL, NULL, CF_FOREVER), -EINVAL);
    cr_assert_eq(cf_barrier_init(&b, -3, NULL, NULL, CF_FOREVER), -EINVAL);
    cr_assert_eq(cf_barrier_init(NULL, 2, NULL, NULL, CF_FOREVER), -EINVAL);
    cr_assert_eq(cf_barrier_init(&b, 2, NULL, NULL, NAN), -EINVAL);
    cr_assert_eq(cf_barrier_destroy(NULL), -EINVAL);
    cr_assert_eq(cf_barrier_wait(NULL), -EINVAL);
    cr_assert_eq(cf_barrier_wait_timed(NULL, 0), -EINVAL);
    cr_assert_eq(cf_barrier_reset(NULL), -EINVAL);
    cr_assert_eq(cf_barrier_abort(NULL), -EINVAL);
    cr_assert_not(cf_barrier_broken(NULL));
    cr_assert_eq(cf_barrier_n_waiting(NULL), -EINVAL);
    cr_assert_eq(cf_barrier_parties(NULL), -EINVAL);

    cr_assert_eq(cf_barrier_init(&b, 4, NULL, NULL, CF_FOREVER), 0);
    cr_assert_eq(cf_barrier_parties(&b), 4);
    cr_assert_eq(cf_barrier_n_waiting(&b), 0);
    cr_assert_not(cf_barrier_broken(&b));
    cr_assert_eq(cf_barrier_wait_timed(&b, NAN), -EINVAL);
    cr_assert_not(cf_barrier_broken(&b), "a refused wait does not break it");
    cr_assert_eq(cf_barrier_destroy(&b), 0);
}

Test(th_barrier, single_party_passes_at_once, .timeout = 20)
{
    struct bar_ctx c = {0};
    cr_assert_eq(cf_barrier_init(&c.b, 1, bar_action, &c, CF_FOREVER), 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(cf_barrier_wait(&c.b), 0);
    cr_assert_eq(atomic_load(&c.actions), 3);
    cr_assert(pthread_equal(c.action_thread, pthread_self()));
    cr_assert_eq(cf_barrier_destroy(&c.b), 0);
}

/* CPython's test_barrier and test_wait_return: every thread of a round
 * passes only once all have arrived, and indices are 0..N-1 once each. */
static void *bar_rounds_thread(void *p)
{
    struct bar_arg *a = p;
    struct bar_ctx *c = a->c;
    for (int r = 0; r < BAR_PASSES; r++) {
        atomic_fetch_add(&c->arrived[r], 1);
        int idx = cf_barrier_wait(&c->b);
        bar_tally(c, idx);
        if (idx < 0 || idx >= BAR_N) {
            atomic_fetch_add(&c->mismatches, 1);
            continue;
        }
        if (atomic_load(&c->arrived[r]) != BAR_N)
            atomic_fetch_add(&c->mismatches, 1);
        atomic_fetch_add(&c->seen[r][idx], 1);
        /* The last arrival runs the action; no later round can have run
         * one yet, since this thread has not arrived there. */
        if (idx == BAR_N - 1 && !pthread_equal(c->action_thread, pthread_self()))
            atomic_fetch_add(&c->mismatches, 1);
    }
    return NULL;
}

Test(th_barrier, rounds_distinct_indices_action_once, .timeout = 20)
{
    struct bar_ctx c = {0};
    cr_assert_eq(cf_barrier_init(&c.b, BAR_N, bar_action, &c, CF_FOREVER), 0);
    bar_run(BAR_N, bar_rounds_thread, &c);
    cr_assert_eq(atomic_load(&c.mismatches), 0);
    cr_assert_eq(atomic_load(&c.ok), BAR_N * BAR_PASSES);
    for (int r = 0; r < BAR_PASSES; r++)
        for (int i = 0; i < BAR_N; i++)
            cr_assert_eq(atomic_load(&c.seen[r][i]), 1, "round %d index %d", r, i);
    cr_assert_eq(atomic_load(&c.actions), BAR_PASSES);
    cr_assert_eq(cf_barrier_n_waiting(&c.b), 0);
    cr_assert_not(cf_barrier_broken(&c.b));
    cr_assert_eq(cf_barrier_destroy(&c.b), 0);
}

/* ------------------------------------------------------------ breaking */

static void *bar_wait_once_thread(void *p)
{
    struct bar_arg *a = p;
    bar_tally(a->c, cf_barrier_wait(&a->c->b));
    return NULL;
}

/* CPython's test_action_exception. */
Test(th_barrier, failing_action_breaks, .timeout = 20)
{
    struct bar_ctx c = {0};
    atomic_store(&c.action_fails, 1);
    cr_assert_eq(cf_barrier_init(&c.b, BAR_N, bar_action, &c, CF_FOREVER), 0);
    bar_run(BAR_N, bar_wait_once_thread, &c);
    cr_assert_eq(atomic_load(&c.broken), BAR_N);
    cr_assert_eq(atomic_load(&c.ok), 0);
    cr_assert(cf_barrier_broken(&c.b));
    cr_assert_eq(cf_barrier_wait(&c.b), CF_EBROKEN, "stays broken");
    cr_assert_eq(atomic_load(&c.actions), 1, "a broken barrier runs no action");
    /* After a reset the next round passes (the action now succeeds). */
    cr_assert_eq(cf_barrier_reset(&c.b), 0);
    cr_assert_not(cf_barrier_broken(&c.b));
    bar_run(BAR_N, bar_wait_once_thread, &c);
    cr_assert_eq(atomic_load(&c.ok), BAR_N);
    cr_assert_eq(cf_barrier_destroy(&c.b), 0);
}

/* A lone waiter with a timeout breaks the barrier (CPython's test_timeout
 * and test_default_timeout). */
Test(th_barrier, timeout_breaks, .timeout = 20)
{
    cf_barrier b;
    cr_assert_eq(cf_barrier_init(&b, 2, NULL, NULL, CF_FOREVER), 0);
    cr_assert_eq(cf_barrier_wait_timed(&b, 0.01), CF_EBROKEN);
    cr_assert(cf_barrier_broken(&b));
    cr_assert_eq(cf_barrier_wait_timed(&b, 0), CF_EBROKEN);
    cr_assert_eq(cf_barrier_reset(&b), 0);
    cr_assert_not(cf_barrier_broken(&b));
    /* timeout 0: try once, which for a non-last arrival breaks it. */
    cr_assert_eq(cf_barrier_wait_timed(&b, 0), CF_EBROKEN);
    cr_assert(cf_barrier_broken(&b));
    cr_assert_eq(cf_barrier_destroy(&b), 0);

    cr_assert_eq(cf_barrier_init(&b, 2, NULL, NULL, 0.01), 0);
    cr_assert_eq(cf_barrier_wait(&b), CF_EBROKEN, "the default timeout applies");
    cr_assert(cf_barrier_broken(&b));
    cr_assert_eq(cf_barrier_destroy(&b), 0);
}

/* A timeout in one thread breaks the barrier for those waiting forever. */
Test(th_barrier, timeout_breaks_other_waiters, .timeout = 20)
{
    struct bar_ctx c = {0};
    pthread_t t[2];
    struct bar_arg a[2] = {{&c, 0}, {&c, 1}};
    cr_assert_eq(cf_barrier_init(&c.b, 4, NULL, NULL, CF_FOREVER), 0);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, bar_wait_once_thread, &a[i]), 0);
    bar_await_waiting(&c.b, 2);
    cr_assert_eq(cf_barrier_wait_timed(&c.b, 0.01), CF_EBROKEN);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(atomic_load(&c.broken), 2);
    cr_assert(cf_barrier_broken(&c.b));
    cr_assert_eq(cf_barrier_destroy(&c.b), 0);
}

/* Abort with waiters in flight: each gets CF_EBROKEN, later waits too,
 * until a reset. */
Test(th_barrier, abort_with_waiters, .timeout = 20)
{
    struct bar_ctx c = {0};
    pthread_t t[2];
    struct bar_arg a[2] = {{&c, 0}, {&c, 1}};
    cr_assert_eq(cf_barrier_init(&c.b, 3, NULL, NULL, CF_FOREVER), 0);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, bar_wait_once_thread, &a[i]), 0);
    bar_await_waiting(&c.b, 2);
    cr_assert_eq(cf_barrier_abort(&c.b), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(atomic_load(&c.broken), 2);
    cr_assert(cf_barrier_broken(&c.b));
    cr_assert_eq(cf_barrier_n_waiting(&c.b), 0);
    cr_assert_eq(cf_barrier_wait(&c.b), CF_EBROKEN);
    cr_assert_eq(cf_barrier_reset(&c.b), 0);
    bar_run(3, bar_wait_once_thread, &c);
    cr_assert_eq(atomic_load(&c.ok), 3);
    cr_assert_eq(cf_barrier_destroy(&c.b), 0);
}

/* CPython's test_abort: the thread with index N/2 aborts; the rest, on
 * their second wait, are broken. */
static void *bar_abort_thread(void *p)
{
    struct bar_arg *a = p;
    struct bar_ctx *c = a->c;
    int idx = cf_barrier_wait(&c->b);
    if (idx == BAR_N / 2) {
        cf_barrier_abort(&c->b);
        return NULL;
    }
    bar_tally(c, idx < 0 ? idx : cf_barrier_wait(&c->b));
    return NULL;
}

Test(th_barrier, abort_in_second_round, .timeout = 20)
{
    struct bar_ctx c = {0};
    cr_assert_eq(cf_barrier_init(&c.b, BAR_N, NULL, NULL, CF_FOREVER), 0);
    bar_run(BAR_N, bar_abort_thread, &c);
    cr_assert_eq(atomic_load(&c.ok), 0);
    cr_assert_eq(atomic_load(&c.broken), BAR_N - 1);
    cr_assert(cf_barrier_broken(&c.b));
    cr_assert_eq(cf_barrier_destroy(&c.b), 0);
}

/* ---------------------------------------------------------------- reset */

Test(th_barrier, reset_idle_is_harmless, .timeout = 20)
{
    cf_barrier b;
    cr_assert_eq(cf_barrier_init(&b, 1, NULL, NULL, CF_FOREVER), 0);
    cr_assert_eq(cf_barrier_reset(&b), 0);
    cr_assert_not(cf_barrier_broken(&b));
    cr_assert_eq(cf_barrier_wait(&b), 0);
    cr_assert_eq(cf_barrier_destroy(&b), 0);
}

/* CPython's test_reset: the thread with index N/2 resets while the
 * others wait in round two; they are broken; then all pass round three. */
static void *bar_reset_thread(void *p)
{
    struct bar_arg *a = p;
    struct bar_ctx *c = a->c;
    int idx = cf_barrier_wait(&c->b);
    if (idx == BAR_N / 2) {
        for (int i = 0; i < 10000 && cf_barrier_n_waiting(&c->b) < BAR_N - 1; i++)
            bar_sleep_ms(1);
        cf_barrier_reset(&c->b);
    } else {
        bar_tally(c, idx < 0 ? idx : cf_barrier_wait(&c->b));
    }
    if (cf_barrier_wait(&c->b) >= 0)
        atomic_fetch_add(&c->results3, 1);
    return NULL;
}

Test(th_barrier, reset_breaks_waiters_then_reusable, .timeout = 20)
{
    struct bar_ctx c = {0};
    cr_assert_eq(cf_barrier_init(&c.b, BAR_N, NULL, NULL, CF_FOREVER), 0);
    bar_run(BAR_N, bar_reset_thread, &c);
    cr_assert_eq(atomic_load(&c.ok), 0);
    cr_assert_eq(atomic_load(&c.broken), BAR_N - 1);
    cr_assert_eq(atomic_load(&c.results3), BAR_N);
    cr_assert_not(cf_barrier_broken(&c.b));
    cr_assert_eq(cf_barrier_destroy(&c.b), 0);
}

/* CPython's test_abort_and_reset: abort in round two, then everyone syncs
 * on a second barrier, one resets, and all pass round three. */
static void *bar_abort_reset_thread(void *p)
{
    struct bar_arg *a = p;
    struct bar_ctx *c = a->c;
    int idx = cf_barrier_wait(&c->b);
    if (idx == BAR_N / 2)
        cf_barrier_abort(&c->b);
    else
        bar_tally(c, idx < 0 ? idx : cf_barrier_wait(&c->b));
    if (cf_barrier_wait(&c->b2) == BAR_N / 2)
        cf_barrier_reset(&c->b);
    cf_barrier_wait(&c->b2);
    if (cf_barrier_wait(&c->b) >= 0)
        atomic_fetch_add(&c->results3, 1);
    return NULL;
}

Test(th_barrier, abort_then_reset_reusable, .timeout = 20)
{
    struct bar_ctx c = {0};
    cr_assert_eq(cf_barrier_init(&c.b, BAR_N, NULL, NULL, CF_FOREVER), 0);
    cr_assert_eq(cf_barrier_init(&c.b2, BAR_N, NULL, NULL, CF_FOREVER), 0);
    bar_run(BAR_N, bar_abort_reset_thread, &c);
    cr_assert_eq(atomic_load(&c.ok), 0);
    cr_assert_eq(atomic_load(&c.broken), BAR_N - 1);
    cr_assert_eq(atomic_load(&c.results3), BAR_N);
    cr_assert_eq(cf_barrier_destroy(&c.b), 0);
    cr_assert_eq(cf_barrier_destroy(&c.b2), 0);
}

/* Issue 18 (2): abort, then reset at once, while the broken waiters are
 * still inside (woken, not yet out): the reset must still send them away
 * and re-open the barrier once the last one is out, so that a full round
 * then passes. Whether the waiters are out before the reset depends on
 * timing, so it is repeated. */
static void *bar_wait_once(void *p)
{
    struct bar_arg *a = p;
    bar_tally(a->c, cf_barrier_wait_timed(&a->c->b, 10.0));
    return NULL;
}

Test(th_barrier, reset_right_after_abort_with_waiters_inside, .timeout = 60)
{
    enum { PARTIES = 3, ROUNDS = 20 };
    struct bar_ctx c = {0};
    cr_assert_eq(cf_barrier_init(&c.b, PARTIES, NULL, NULL, CF_FOREVER), 0);
    for (int round = 0; round < ROUNDS; round++) {
        pthread_t t[PARTIES];
        struct bar_arg a[PARTIES];
        atomic_store(&c.ok, 0);
        atomic_store(&c.broken, 0);
        atomic_store(&c.other, 0);
        for (int i = 0; i < PARTIES - 1; i++) {
            a[i] = (struct bar_arg){&c, i};
            cr_assert_eq(pthread_create(&t[i], NULL, bar_wait_once, &a[i]), 0);
        }
        bar_await_waiting(&c.b, PARTIES - 1);
        cr_assert_eq(cf_barrier_abort(&c.b), 0);
        cr_assert_eq(cf_barrier_reset(&c.b), 0);
        for (int i = 0; i < PARTIES - 1; i++)
            pthread_join(t[i], NULL);
        cr_assert_eq(atomic_load(&c.broken), PARTIES - 1, "round %d: waiters not broken", round);
        /* A full round on the same barrier. */
        for (int i = 0; i < PARTIES; i++) {
            a[i] = (struct bar_arg){&c, i};
            cr_assert_eq(pthread_create(&t[i], NULL, bar_wait_once, &a[i]), 0);
        }
        for (int i = 0; i < PARTIES; i++)
            pthread_join(t[i], NULL);
        cr_assert_eq(atomic_load(&c.ok), PARTIES,
                     "round %d: after abort + reset a full round failed (%d broken)", round,
                     atomic_load(&c.broken) - (PARTIES - 1));
        cr_assert_not(cf_barrier_broken(&c.b));
    }
    cr_assert_eq(cf_barrier_destroy(&c.b), 0);
}

/* The seed's scenario: 6 threads, parties = 3. Five wait: one full round
 * passes, two are left waiting; a reset sends those two away broken; they
 * and the sixth then make a full round on the same barrier. */
static void *bar_seed_thread(void *p)
{
    struct bar_arg *a = p;
    struct bar_ctx *c = a->c;
    int rc = cf_barrier_wait(&c->b);
    bar_tally(c, rc);
    if (rc == CF_EBROKEN && cf_barrier_wait(&c->b) >= 0)
        atomic_fetch_add(&c->results3, 1);
    return NULL;
}

Test(th_barrier, reset_six_threads_three_parties, .timeout = 20)
{
    struct bar_ctx c = {0};
    pthread_t t[6];
    struct bar_arg a[6];
    cr_assert_eq(cf_barrier_init(&c.b, 3, bar_action, &c, CF_FOREVER), 0);
    for (int i = 0; i < 5; i++) {
        a[i] = (struct bar_arg){&c, i};
        cr_assert_eq(pthread_create(&t[i], NULL, bar_seed_thread, &a[i]), 0);
    }
    bar_await_count(&c.ok, 3);
    bar_await_waiting(&c.b, 2);
    cr_assert_eq(atomic_load(&c.actions), 1);
    cr_assert_eq(cf_barrier_reset(&c.b), 0);
    bar_await_count(&c.broken, 2);
    /* The two broken threads are back (or coming back) for another round;
     * the sixth completes it. */
    a[5] = (struct bar_arg){&c, 5};
    cr_assert_eq(pthread_create(&t[5], NULL, bar_seed_thread, &a[5]), 0);
    for (int i = 0; i < 6; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(atomic_load(&c.ok), 4, "3 in round one, the sixth in round two");
    cr_assert_eq(atomic_load(&c.broken), 2);
    cr_assert_eq(atomic_load(&c.results3), 2);
    cr_assert_eq(atomic_load(&c.other), 0);
    cr_assert_eq(atomic_load(&c.actions), 2);
    cr_assert_not(cf_barrier_broken(&c.b));
    cr_assert_eq(cf_barrier_n_waiting(&c.b), 0);
    cr_assert_eq(cf_barrier_destroy(&c.b), 0);
}

/* ------------------------------------------------------ n_waiting, destroy */

Test(th_barrier, n_waiting_counts_and_destroy_busy, .timeout = 20)
{
    struct bar_ctx c = {0};
    pthread_t t[3];
    struct bar_arg a[3];
    cr_assert_eq(cf_barrier_init(&c.b, 4, NULL, NULL, CF_FOREVER), 0);
    for (int i = 0; i < 3; i++) {
        a[i] = (struct bar_arg){&c, i};
        cr_assert_eq(pthread_create(&t[i], NULL, bar_wait_once_thread, &a[i]), 0);
        bar_await_waiting(&c.b, i + 1);
    }
    cr_assert_eq(cf_barrier_destroy(&c.b), -EBUSY);
    int idx = cf_barrier_wait(&c.b);
    cr_assert_eq(idx, 3, "the fourth arrival has index 3");
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(atomic_load(&c.ok), 3);
    cr_assert_eq(cf_barrier_n_waiting(&c.b), 0);
    cr_assert_eq(cf_barrier_destroy(&c.b), 0);
}

/* ---- destroy with a thread still waiting to enter (a reset completing) */

/* A thread receiving SIGUSR1 parks in the handler, inside whatever wait it
 * was in (its mutex released), until the test posts its gate. */
static sem_t bd_gate[2];
static _Atomic int bd_parked[2];
static pthread_t bd_thread[2];
static cf_barrier bd_bar;
static _Atomic int bd_rc[2];

static void bd_park(int sig)
{
    (void)sig;
    int k = pthread_equal(pthread_self(), bd_thread[0]) ? 0 : 1;
    atomic_store(&bd_parked[k], 1);
    while (sem_wait(&bd_gate[k]) != 0)
        ;
    atomic_store(&bd_parked[k], 0);
}

static void *bd_waiter(void *arg)
{
    atomic_store(&bd_rc[(intptr_t)arg], cf_barrier_wait_timed(&bd_bar, CF_FOREVER));
    return NULL;
}

static int bd_inside(void)
{
    pthread_mutex_lock(&bd_bar.mu);
    int n = bd_bar.inside;
    pthread_mutex_unlock(&bd_bar.mu);
    return n;
}

static void bd_park_thread(int k)
{
    pthread_kill(bd_thread[k], SIGUSR1);
    while (!atomic_load(&bd_parked[k]))
        sched_yield();
}

Test(th_barrier, destroy_busy_while_a_thread_waits_to_enter, .timeout = 20)
{
    struct sigaction sa = {.sa_handler = bd_park};
    sigemptyset(&sa.sa_mask);
    cr_assert_eq(sigaction(SIGUSR1, &sa, NULL), 0);
    for (int k = 0; k < 2; k++)
        cr_assert_eq(sem_init(&bd_gate[k], 0, 0), 0);
    cr_assert_eq(cf_barrier_init(&bd_bar, 2, NULL, NULL, CF_FOREVER), 0);

    /* A waits in a round, parked so that it cannot leave it. */
    cr_assert_eq(pthread_create(&bd_thread[0], NULL, bd_waiter, (void *)0), 0);
    while (cf_barrier_n_waiting(&bd_bar) != 1)
        sched_yield();
    bd_park_thread(0);
    /* The reset must wait for A to leave: C, arriving, waits to enter. */
    cr_assert_eq(cf_barrier_reset(&bd_bar), 0);
    cr_assert_eq(pthread_create(&bd_thread[1], NULL, bd_waiter, (void *)1), 0);
    while (bd_inside() != 2)
        sched_yield();
    bd_park_thread(1);
    /* A leaves (broken by the reset); the round is empty, C is still
     * inside, between its wake-up and re-taking the mutex. */
    sem_post(&bd_gate[0]);
    pthread_join(bd_thread[0], NULL);
    cr_assert_eq(atomic_load(&bd_rc[0]), CF_EBROKEN);
    cr_assert_eq(cf_barrier_destroy(&bd_bar), -EBUSY, "destroyed under a waiting thread");
    sem_post(&bd_gate[1]);
    cr_assert_eq(cf_barrier_abort(&bd_bar), 0);
    pthread_join(bd_thread[1], NULL);
    cr_assert_eq(atomic_load(&bd_rc[1]), CF_EBROKEN);
    cr_assert_eq(cf_barrier_destroy(&bd_bar), 0);
    signal(SIGUSR1, SIG_DFL);
    for (int k = 0; k < 2; k++)
        sem_destroy(&bd_gate[k]);
}
