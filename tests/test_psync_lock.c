/* Tests for cf_plock and cf_pshared_alloc: Python's Lock across forked
 * processes, including owners that die holding it. */
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

struct lock_shared {
    cf_plock lock;
    long counter;        /* protected by lock */
    _Atomic int holding; /* child → parent: "I hold the lock" */
    _Atomic int ready;   /* child → parent: "about to block" */
    _Atomic int release; /* parent → child: "release now" */
};

static struct lock_shared *sh;

static void setup(void)
{
    sh = cf_pshared_alloc(sizeof *sh);
    cr_assert_not_null(sh);
    cr_assert_eq(cf_plock_init(&sh->lock), 0);
}

static void teardown(void)
{
    psync_kill_all();
    if (sh) {
        cf_plock_destroy(&sh->lock);
        cf_pshared_free(sh, sizeof *sh);
    }
    sh = NULL;
}

#define INCREMENTS 20000

static int lock_increment(int n)
{
    for (int i = 0; i < n; i++) {
        if (cf_plock_acquire(&sh->lock) != 0)
            return 1;
        /* A deliberately non-atomic read-modify-write. */
        long v = *(volatile long *)&sh->counter;
        *(volatile long *)&sh->counter = v + 1;
        if (cf_plock_release(&sh->lock) != 0)
            return 2;
    }
    return 0;
}

static int lock_hold_forever(int unused)
{
    (void)unused;
    if (cf_plock_acquire(&sh->lock) != 0)
        return 1;
    sh->counter = 7;
    atomic_store(&sh->holding, 1);
    for (;;)
        pause();
}

static int lock_hold_until_told(int unused)
{
    (void)unused;
    if (cf_plock_acquire(&sh->lock) != 0)
        return 1;
    atomic_store(&sh->holding, 1);
    while (!atomic_load(&sh->release))
        psync_sleep_ms(1);
    return cf_plock_release(&sh->lock) == 0 ? 0 : 2;
}

static int lock_acquire_and_exit(int unused)
{
    (void)unused;
    return cf_plock_acquire(&sh->lock) == 0 ? 0 : 1; /* exits holding it */
}

static int lock_block_in_acquire(int unused)
{
    (void)unused;
    atomic_fetch_add(&sh->ready, 1);
    cf_plock_acquire(&sh->lock);
    return 3; /* never reached before it is killed */
}

Test(psync_lock, exclusion_across_four_processes, .init = setup, .fini = teardown,
     .timeout = 20)
{
    pid_t pids[4];

    for (int i = 0; i < 4; i++)
        pids[i] = psync_spawn(lock_increment, INCREMENTS);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(psync_reap(pids[i]), 0, "child %d failed", i);
    cr_assert_eq(sh->counter, 4L * INCREMENTS);
}

Test(psync_lock, holder_sigkilled_reports_owner_died, .init = setup, .fini = teardown,
     .timeout = 20)
{
    pid_t pid = psync_spawn(lock_hold_forever, 0);

    cr_assert(psync_eventually_at_least(&sh->holding, 1), "child never acquired");
    cr_assert_eq(cf_plock_try_acquire(&sh->lock), -EBUSY);
    cr_assert_eq(cf_plock_acquire_timed(&sh->lock, 0), -EBUSY);
    cr_assert_eq(cf_plock_acquire_timed(&sh->lock, 0.02), -ETIMEDOUT);
    psync_kill(pid);
    cr_assert_eq(cf_plock_acquire(&sh->lock), CF_PLOCK_OWNER_DIED);
    cr_assert_eq(sh->counter, 7, "the dead owner's writes are visible for repair");
    sh->counter = 0;
    cr_assert_eq(cf_plock_release(&sh->lock), 0);
    /* The lock keeps working, without the indication now. */
    cr_assert_eq(cf_plock_acquire(&sh->lock), 0);
    cr_assert_eq(cf_plock_release(&sh->lock), 0);
    pid = psync_spawn(lock_increment, 100);
    cr_assert_eq(psync_reap(pid), 0);
    cr_assert_eq(sh->counter, 100);
}

Test(psync_lock, holder_exits_reports_owner_died_to_try_and_timed, .init = setup,
     .fini = teardown, .timeout = 20)
{
    cr_assert_eq(psync_reap(psync_spawn(lock_acquire_and_exit, 0)), 0);
    cr_assert_eq(cf_plock_try_acquire(&sh->lock), CF_PLOCK_OWNER_DIED);
    cr_assert_eq(cf_plock_release(&sh->lock), 0);
    cr_assert_eq(psync_reap(psync_spawn(lock_acquire_and_exit, 0)), 0);
    cr_assert_eq(cf_plock_acquire_timed(&sh->lock, 5), CF_PLOCK_OWNER_DIED);
    cr_assert_eq(cf_plock_release(&sh->lock), 0);
    cr_assert_eq(cf_plock_acquire_timed(&sh->lock, 5), 0);
    cr_assert_eq(cf_plock_release(&sh->lock), 0);
}

Test(psync_lock, waiter_killed_while_blocked, .init = setup, .fini = teardown,
     .timeout = 20)
{
    pid_t holder = psync_spawn(lock_hold_until_told, 0), waiter;

    cr_assert(psync_eventually_at_least(&sh->holding, 1));
    waiter = psync_spawn(lock_block_in_acquire, 0);
    cr_assert(psync_eventually_at_least(&sh->ready, 1));
    psync_sleep_ms(20); /* let it block; the test holds either way */
    psync_kill(waiter);
    atomic_store(&sh->release, 1);
    cr_assert_eq(psync_reap(holder), 0);
    /* The killed waiter never owned the lock: a clean acquire. */
    cr_assert_eq(cf_plock_acquire(&sh->lock), 0);
    cr_assert_eq(cf_plock_release(&sh->lock), 0);
}

Test(psync_lock, release_by_non_owner_is_eperm, .init = setup, .fini = teardown,
     .timeout = 20)
{
    pid_t holder;

    cr_assert_eq(cf_plock_release(&sh->lock), -EPERM, "unlocked");
    holder = psync_spawn(lock_hold_until_told, 0);
    cr_assert(psync_eventually_at_least(&sh->holding, 1));
    cr_assert_eq(cf_plock_release(&sh->lock), -EPERM, "held by another process");
    atomic_store(&sh->release, 1);
    cr_assert_eq(psync_reap(holder), 0);
    cr_assert_eq(cf_plock_acquire_timed(&sh->lock, CF_FOREVER), 0);
    cr_assert_eq(cf_plock_release(&sh->lock), 0);
    cr_assert_eq(cf_plock_release(&sh->lock), -EPERM, "released twice");
}

Test(psync_lock, null_arguments, .timeout = 20)
{
    cr_assert_eq(cf_plock_init(NULL), -EINVAL);
    cr_assert_eq(cf_plock_acquire(NULL), -EINVAL);
    cr_assert_eq(cf_plock_try_acquire(NULL), -EINVAL);
    cr_assert_eq(cf_plock_acquire_timed(NULL, 1), -EINVAL);
    cr_assert_eq(cf_plock_release(NULL), -EINVAL);
    cf_plock_destroy(NULL);
}

Test(psync_lock, pshared_alloc_errors, .timeout = 20)
{
    long page = sysconf(_SC_PAGESIZE);
    unsigned char *p;

    errno = 0;
    cr_assert_null(cf_pshared_alloc(0));
    cr_assert_eq(errno, EINVAL);
    errno = 0;
    cr_assert_null(cf_pshared_alloc(SIZE_MAX));
    cr_assert_eq(errno, ENOMEM);
    cr_assert_eq(cf_pshared_free(NULL, 10), 0);
    p = cf_pshared_alloc((size_t)page + 1);
    cr_assert_not_null(p);
    cr_assert_eq(p[0] | p[2 * page - 1], 0, "zero-filled, rounded to pages");
    cr_assert_eq(cf_pshared_free(p + 1, 1), -EINVAL);
    cr_assert_eq(cf_pshared_free(p, 0), -EINVAL);
    cr_assert_eq(cf_pshared_free(p, (size_t)page + 1), 0);
}

static _Atomic int *alloc_flag;

static int lock_write_shared(int v)
{
    atomic_store(alloc_flag, v);
    return 0;
}

Test(psync_lock, pshared_alloc_is_shared_with_children, .timeout = 20)
{
    alloc_flag = cf_pshared_alloc(sizeof *alloc_flag);
    cr_assert_not_null(alloc_flag);
    cr_assert_eq(psync_reap(psync_spawn(lock_write_shared, 42)), 0);
    cr_assert_eq(atomic_load(alloc_flag), 42);
    cr_assert_eq(cf_pshared_free(alloc_flag, sizeof *alloc_flag), 0);
}

Test(psync_lock, nan_timeout_refused, .init = setup, .fini = teardown, .timeout = 20)
{
    cr_assert_eq(cf_plock_acquire_timed(&sh->lock, NAN), -EINVAL);
    cr_assert_eq(cf_plock_try_acquire(&sh->lock), 0, "the lock was not taken");
    cr_assert_eq(cf_plock_release(&sh->lock), 0);
}
