/* Tests for cf_psem: Python's Semaphore across forked processes. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cfutures.h>

#include "psync_support.h"

struct sem_shared {
    cf_psem sem;
    _Atomic int inside;   /* children inside the guarded section */
    _Atomic int max_inside;
    _Atomic int entries;
    _Atomic int ready;
};

static struct sem_shared *sh;

static void setup_with(long long value)
{
    sh = cf_pshared_alloc(sizeof *sh);
    cr_assert_not_null(sh);
    cr_assert_eq(cf_psem_init(&sh->sem, value), 0);
}

static void setup0(void)
{
    setup_with(0);
}

static void setup2(void)
{
    setup_with(2);
}

static void teardown(void)
{
    psync_kill_all();
    if (sh) {
        cf_psem_destroy(&sh->sem);
        cf_pshared_free(sh, sizeof *sh);
    }
    sh = NULL;
}

#define ROUNDS 50

static int sem_guarded_section(int unused)
{
    (void)unused;
    for (int i = 0; i < ROUNDS; i++) {
        if (cf_psem_acquire(&sh->sem) != 0)
            return 1;
        int now = atomic_fetch_add(&sh->inside, 1) + 1;
        int seen = atomic_load(&sh->max_inside);
        while (now > seen && !atomic_compare_exchange_weak(&sh->max_inside, &seen, now))
            ;
        atomic_fetch_add(&sh->entries, 1);
        psync_sleep_ms(1);
        atomic_fetch_sub(&sh->inside, 1);
        if (cf_psem_release(&sh->sem, 1) != 0)
            return 2;
    }
    return 0;
}

static int sem_block_then_exit(int unused)
{
    (void)unused;
    atomic_fetch_add(&sh->ready, 1);
    return cf_psem_acquire(&sh->sem) == 0 ? 0 : 1;
}

Test(psync_sem, limits_concurrency_across_processes, .init = setup2, .fini = teardown,
     .timeout = 20)
{
    pid_t pids[5];

    for (int i = 0; i < 5; i++)
        pids[i] = psync_spawn(sem_guarded_section, 0);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(psync_reap(pids[i]), 0, "child %d failed", i);
    cr_assert_eq(atomic_load(&sh->entries), 5 * ROUNDS);
    cr_assert_leq(atomic_load(&sh->max_inside), 2, "more holders than permits");
    cr_assert_geq(atomic_load(&sh->max_inside), 1);
    cr_assert_eq(cf_psem_value(&sh->sem), 2, "every permit returned");
}

Test(psync_sem, release_wakes_a_waiter_in_another_process, .init = setup0,
     .fini = teardown, .timeout = 20)
{
    pid_t pid = psync_spawn(sem_block_then_exit, 0);

    cr_assert(psync_eventually_at_least(&sh->ready, 1));
    psync_sleep_ms(20); /* let it block; the test holds either way */
    cr_assert_eq(cf_psem_release(&sh->sem, 1), 0);
    cr_assert_eq(psync_reap(pid), 0);
    cr_assert_eq(cf_psem_value(&sh->sem), 0);
}

Test(psync_sem, release_n_wakes_n_waiters, .init = setup0, .fini = teardown, .timeout = 20)
{
    pid_t pids[3];

    for (int i = 0; i < 3; i++)
        pids[i] = psync_spawn(sem_block_then_exit, 0);
    cr_assert(psync_eventually_at_least(&sh->ready, 3));
    cr_assert_eq(cf_psem_release(&sh->sem, 3), 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(psync_reap(pids[i]), 0);
    cr_assert_eq(cf_psem_value(&sh->sem), 0);
}

Test(psync_sem, waiter_killed_while_blocked, .init = setup0, .fini = teardown,
     .timeout = 20)
{
    pid_t b = psync_spawn_two_kill_one(sem_block_then_exit, &sh->ready);

    cr_assert_eq(cf_psem_release(&sh->sem, 1), 0);
    cr_assert_eq(psync_reap(b), 0, "the live waiter got the permit");
    cr_assert_eq(cf_psem_value(&sh->sem), 0);
}

Test(psync_sem, try_and_timed, .init = setup0, .fini = teardown, .timeout = 20)
{
    cr_assert_eq(cf_psem_try_acquire(&sh->sem), -EBUSY);
    cr_assert_eq(cf_psem_acquire_timed(&sh->sem, 0), -EBUSY);
    cr_assert_eq(cf_psem_acquire_timed(&sh->sem, 0.02), -ETIMEDOUT);
    cr_assert_eq(cf_psem_release(&sh->sem, 3), 0);
    cr_assert_eq(cf_psem_value(&sh->sem), 3);
    cr_assert_eq(cf_psem_try_acquire(&sh->sem), 0);
    cr_assert_eq(cf_psem_acquire_timed(&sh->sem, 5), 0);
    cr_assert_eq(cf_psem_acquire_timed(&sh->sem, CF_FOREVER), 0);
    cr_assert_eq(cf_psem_value(&sh->sem), 0);
}

Test(psync_sem, errors, .init = setup0, .fini = teardown, .timeout = 20)
{
    cf_psem *s = &sh->sem;

    cr_assert_eq(cf_psem_init(NULL, 1), -EINVAL);
    cr_assert_eq(cf_psem_init(s, -1), -EINVAL);
    cr_assert_eq(cf_psem_init(s, (long long)UINT32_MAX + 1), -EINVAL);
    cr_assert_eq(cf_psem_acquire(NULL), -EINVAL);
    cr_assert_eq(cf_psem_try_acquire(NULL), -EINVAL);
    cr_assert_eq(cf_psem_acquire_timed(NULL, 1), -EINVAL);
    cr_assert_eq(cf_psem_release(NULL, 1), -EINVAL);
    cr_assert_eq(cf_psem_release(s, 0), -EINVAL);
    cr_assert_eq(cf_psem_release(s, -2), -EINVAL);
    cr_assert_eq(cf_psem_value(NULL), -EINVAL);
    cr_assert_eq(cf_psem_release(s, UINT32_MAX), 0);
    cr_assert_eq(cf_psem_release(s, 1), -EOVERFLOW);
    cr_assert_eq(cf_psem_value(s), (long long)UINT32_MAX, "unchanged by the failure");
    cf_psem_destroy(NULL);
}

static void release_one(void)
{
    cr_assert_eq(cf_psem_release(&sh->sem, 1), 0);
}

/* A waiter woken alone could die before re-locking and take the wake-up
 * with it: release wakes every waiter, so the one that did not get the
 * permit is woken too and goes back to sleep (one more context switch). */
Test(psync_sem, release_one_wakes_every_waiter, .init = setup0, .fini = teardown,
     .timeout = 30)
{
    pid_t other = psync_wake_one_wakes_both(sem_block_then_exit, &sh->ready, release_one);

    release_one();
    cr_assert_eq(psync_reap(other), 0);
}

Test(psync_sem, nan_timeout_refused, .init = setup2, .fini = teardown, .timeout = 20)
{
    cr_assert_eq(cf_psem_acquire_timed(&sh->sem, NAN), -EINVAL);
    cr_assert_eq(cf_psem_value(&sh->sem), 2, "no permit taken");
}
