/* Tests for cf_pbarrier: Python's Barrier across forked processes. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cfutures.h>

#include "psync_support.h"

#define PARTIES 4
#define ROUNDS 5

struct barrier_shared {
    cf_pbarrier bar;
    int index[ROUNDS][PARTIES]; /* [round][child]: written by that child only */
    _Atomic int ready;
};

static struct barrier_shared *sh;

static void setup_with(long long parties)
{
    sh = cf_pshared_alloc(sizeof *sh);
    cr_assert_not_null(sh);
    cr_assert_eq(cf_pbarrier_init(&sh->bar, parties), 0);
}

static void setup4(void)
{
    setup_with(PARTIES);
}

static void setup3(void)
{
    setup_with(3);
}

static void teardown(void)
{
    psync_kill_all();
    if (sh) {
        cf_pbarrier_destroy(&sh->bar);
        cf_pshared_free(sh, sizeof *sh);
    }
    sh = NULL;
}

static int barrier_rounds(int child)
{
    for (int r = 0; r < ROUNDS; r++) {
        int idx = cf_pbarrier_wait(&sh->bar, CF_FOREVER);

        if (idx < 0)
            return 1;
        sh->index[r][child] = idx;
    }
    return 0;
}

/* One wait; exits 0 with an index, 10 with CF_EBROKEN, 20 otherwise. */
static int barrier_wait_once(int unused)
{
    int rc;

    (void)unused;
    atomic_fetch_add(&sh->ready, 1);
    rc = cf_pbarrier_wait(&sh->bar, CF_FOREVER);
    if (rc >= 0 && rc < cf_pbarrier_parties(&sh->bar))
        return 0;
    return rc == CF_EBROKEN ? 10 : 20;
}

static bool n_waiting_reaches(int want)
{
    for (int i = 0; i < 10000; i++) {
        if (cf_pbarrier_n_waiting(&sh->bar) == want)
            return true;
        psync_sleep_ms(1);
    }
    return false;
}

Test(psync_barrier, unique_indices_every_round, .init = setup4, .fini = teardown,
     .timeout = 20)
{
    pid_t pids[PARTIES];

    for (int i = 0; i < PARTIES; i++)
        pids[i] = psync_spawn(barrier_rounds, i);
    for (int i = 0; i < PARTIES; i++)
        cr_assert_eq(psync_reap(pids[i]), 0, "child %d failed", i);
    for (int r = 0; r < ROUNDS; r++) {
        int seen = 0;

        for (int i = 0; i < PARTIES; i++) {
            int idx = sh->index[r][i];

            cr_assert(idx >= 0 && idx < PARTIES);
            seen |= 1 << idx;
        }
        cr_assert_eq(seen, (1 << PARTIES) - 1, "round %d: indices not a permutation", r);
    }
    cr_assert_not(cf_pbarrier_broken(&sh->bar));
}

Test(psync_barrier, abort_with_waiters_in_flight, .init = setup3, .fini = teardown,
     .timeout = 20)
{
    pid_t a = psync_spawn(barrier_wait_once, 0), b = psync_spawn(barrier_wait_once, 0), p[3];

    cr_assert(psync_eventually_at_least(&sh->ready, 2));
    cr_assert(n_waiting_reaches(2));
    cr_assert_eq(cf_pbarrier_abort(&sh->bar), 0);
    cr_assert_eq(psync_reap(a), 10);
    cr_assert_eq(psync_reap(b), 10);
    cr_assert(cf_pbarrier_broken(&sh->bar));
    cr_assert_eq(cf_pbarrier_n_waiting(&sh->bar), 0);
    cr_assert_eq(cf_pbarrier_wait(&sh->bar, CF_FOREVER), CF_EBROKEN);
    cr_assert_eq(cf_pbarrier_reset(&sh->bar), 0);
    cr_assert_not(cf_pbarrier_broken(&sh->bar));
    for (int i = 0; i < 3; i++)
        p[i] = psync_spawn(barrier_wait_once, 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(psync_reap(p[i]), 0, "usable again after reset");
}

Test(psync_barrier, reset_with_waiters_in_flight, .init = setup3, .fini = teardown,
     .timeout = 20)
{
    pid_t a = psync_spawn(barrier_wait_once, 0), b = psync_spawn(barrier_wait_once, 0), p[3];

    cr_assert(n_waiting_reaches(2));
    cr_assert_eq(cf_pbarrier_reset(&sh->bar), 0);
    cr_assert_eq(psync_reap(a), 10);
    cr_assert_eq(psync_reap(b), 10);
    cr_assert_not(cf_pbarrier_broken(&sh->bar));
    cr_assert_eq(cf_pbarrier_n_waiting(&sh->bar), 0);
    for (int i = 0; i < 3; i++)
        p[i] = psync_spawn(barrier_wait_once, 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(psync_reap(p[i]), 0);
}

Test(psync_barrier, timeout_breaks_it, .init = setup3, .fini = teardown, .timeout = 20)
{
    pid_t a = psync_spawn(barrier_wait_once, 0);

    cr_assert(n_waiting_reaches(1));
    cr_assert_eq(cf_pbarrier_wait(&sh->bar, 0.02), CF_EBROKEN);
    cr_assert_eq(psync_reap(a), 10, "the other waiter sees the break");
    cr_assert(cf_pbarrier_broken(&sh->bar));
    cr_assert_eq(cf_pbarrier_wait(&sh->bar, 0), CF_EBROKEN);
    cr_assert_eq(cf_pbarrier_reset(&sh->bar), 0);
    cr_assert_not(cf_pbarrier_broken(&sh->bar));
}

Test(psync_barrier, waiter_killed_does_not_stop_the_round, .init = setup3,
     .fini = teardown, .timeout = 20)
{
    pid_t dead = psync_spawn(barrier_wait_once, 0), p[3];

    cr_assert(n_waiting_reaches(1));
    psync_kill(dead);
    /* The dead process arrived: two more complete the round. */
    p[0] = psync_spawn(barrier_wait_once, 0);
    p[1] = psync_spawn(barrier_wait_once, 0);
    cr_assert_eq(psync_reap(p[0]), 0);
    cr_assert_eq(psync_reap(p[1]), 0);
    cr_assert_not(cf_pbarrier_broken(&sh->bar));
    cr_assert_eq(cf_pbarrier_n_waiting(&sh->bar), 0);
    for (int i = 0; i < 3; i++)
        p[i] = psync_spawn(barrier_wait_once, 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(psync_reap(p[i]), 0, "next round unaffected");
}

Test(psync_barrier, single_party_and_errors, .init = setup3, .fini = teardown,
     .timeout = 20)
{
    cf_pbarrier *b = &sh->bar;

    cr_assert_eq(cf_pbarrier_parties(b), 3);
    cr_assert_eq(cf_pbarrier_init(b, 1), 0);
    cr_assert_eq(cf_pbarrier_wait(b, CF_FOREVER), 0);
    cr_assert_eq(cf_pbarrier_wait(b, 0), 0);
    cr_assert_eq(cf_pbarrier_init(NULL, 2), -EINVAL);
    cr_assert_eq(cf_pbarrier_init(b, 0), -EINVAL);
    cr_assert_eq(cf_pbarrier_init(b, -3), -EINVAL);
    cr_assert_eq(cf_pbarrier_init(b, (long long)INT32_MAX + 1), -EINVAL);
    cr_assert_eq(cf_pbarrier_wait(NULL, 1), -EINVAL);
    cr_assert_eq(cf_pbarrier_abort(NULL), -EINVAL);
    cr_assert_eq(cf_pbarrier_reset(NULL), -EINVAL);
    cr_assert_eq(cf_pbarrier_n_waiting(NULL), -EINVAL);
    cr_assert_eq(cf_pbarrier_parties(NULL), -EINVAL);
    cr_assert_not(cf_pbarrier_broken(NULL));
    cf_pbarrier_destroy(NULL);
}

/* A waiter of a round ended by a reset fails even if it only looks after
 * a second reset (it is stopped meanwhile): its round did not complete. */
Test(psync_barrier, reset_round_fails_after_a_second_reset, .init = setup3,
     .fini = teardown, .timeout = 30)
{
    pid_t a = psync_spawn(barrier_wait_once, 0), b, p[3];

    cr_assert(n_waiting_reaches(1));
    cr_assert(psync_asleep(a));
    psync_stop(a);
    cr_assert_eq(cf_pbarrier_reset(&sh->bar), 0); /* ends a's round */
    b = psync_spawn(barrier_wait_once, 0);
    cr_assert(n_waiting_reaches(1));
    cr_assert_eq(cf_pbarrier_reset(&sh->bar), 0); /* ends b's round */
    cr_assert_eq(psync_reap(b), 10);
    /* And a round that fills in between does not help a either. */
    for (int i = 0; i < 3; i++)
        p[i] = psync_spawn(barrier_wait_once, 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(psync_reap(p[i]), 0);
    psync_cont(a);
    cr_assert_eq(psync_reap(a), 10, "a waiter of a reset round reported success");
}

/* A waiter whose round filled succeeds however late it looks. */
Test(psync_barrier, filled_round_succeeds_when_seen_late, .init = setup3,
     .fini = teardown, .timeout = 30)
{
    pid_t a = psync_spawn(barrier_wait_once, 0), b, p[3];

    cr_assert(n_waiting_reaches(1));
    cr_assert(psync_asleep(a));
    psync_stop(a);
    p[0] = psync_spawn(barrier_wait_once, 0);
    p[1] = psync_spawn(barrier_wait_once, 0);
    cr_assert_eq(psync_reap(p[0]), 0);
    cr_assert_eq(psync_reap(p[1]), 0);
    b = psync_spawn(barrier_wait_once, 0);
    cr_assert(n_waiting_reaches(1));
    cr_assert_eq(cf_pbarrier_reset(&sh->bar), 0);
    cr_assert_eq(psync_reap(b), 10);
    psync_cont(a);
    cr_assert_eq(psync_reap(a), 0);
}

/* The internal lock is the first thing in the object (pshared.h: the
 * private storage starts with the mutex). */
static int barrier_die_holding_lock(int unused)
{
    (void)unused;
    pthread_mutex_lock((pthread_mutex_t *)(void *)&sh->bar);
    return 0; /* exits holding it: the robust mutex reports the death */
}

/* pshared.h: a process dying while it holds the barrier's internal lock
 * breaks the barrier (a waiter killed while blocked does not: see
 * waiter_killed_does_not_stop_the_round). */
Test(psync_barrier, dying_with_the_lock_breaks_it, .init = setup3, .fini = teardown,
     .timeout = 20)
{
    cr_assert_eq(psync_reap(psync_spawn(barrier_die_holding_lock, 0)), 0);
    cr_assert(cf_pbarrier_broken(&sh->bar));
    cr_assert_eq(cf_pbarrier_wait(&sh->bar, CF_FOREVER), CF_EBROKEN);
    cr_assert_eq(cf_pbarrier_reset(&sh->bar), 0);
    cr_assert_not(cf_pbarrier_broken(&sh->bar));
}

Test(psync_barrier, nan_timeout_refused, .init = setup3, .fini = teardown, .timeout = 20)
{
    cr_assert_eq(cf_pbarrier_init(&sh->bar, 1), 0);
    cr_assert_eq(cf_pbarrier_wait(&sh->bar, NAN), -EINVAL);
    cr_assert_not(cf_pbarrier_broken(&sh->bar));
}
