/* Robust process-shared mutex and futex event-count condition variable.
 *
 * Owns the two shared objects declared in pshared.h; both live in memory
 * mapped by several processes and hold no pointers. Any thread of any
 * process may lock, wait or notify. Lock order: a cf__pcond is always used
 * with one cf__pmutex; pcond_wait drops that mutex while asleep and takes it
 * again before returning. Notifying takes no lock.
 *
 * Why an event count survives dead waiters: the only per-waiter trace is
 * the `sleepers` increment. A waiter killed asleep leaves it one too high,
 * so notifiers make a FUTEX_WAKE that finds nobody: wasted, not wrong. The
 * kernel drops the dead task from the futex queue by itself.
 *
 * Counted signals (`woken`). A FUTEX_WAKE takes the woken thread tens of
 * microseconds to act on, and meanwhile it still counts as a sleeper: a
 * producer pushing records one by one used to send a FUTEX_WAKE per record
 * to a consumer already woken (perf: 80-90% of them woke nobody). So a
 * signal first counts its wake-up in `woken`, and sends none when every
 * sleeper is counted (woken >= sleepers); the waiter a wake-up reached
 * takes its count back. Why a skip loses nothing: let N skip after its
 * change c (made under the mutex, then seq++, then the loads, all seq_cst).
 *  - sleepers read 0: a waiter registering later read `seq` under the
 *    mutex either after c (and saw c) or before it (and FUTEX_WAIT finds
 *    seq moved on).
 *  - woken read k >= 1: one of those k wake-ups is not yet taken back
 *    (woken saturates at 0, so k >= 1 means an increment whose matching
 *    decrement comes after N's load). Its waiter takes it back after N's
 *    load, so it re-locks after N's unlock and sees c. Or it reached
 *    nobody (FUTEX_WAKE returned 0: the waiter it counted was not asleep
 *    yet); then its notifier takes it back and re-reads seq: it finds N's
 *    seq++ and sends the wake-up again (a loop), or its own seq read was
 *    already past N's, and then the queue was empty after c: whoever
 *    sleeps later read seq after c, so saw c.
 * A waiter takes its count back before dropping its registration: one
 * killed in between leaves both one too high, which cancel out. A notifier
 * killed between counting and sending leaves `woken` too high on its own:
 * cf__pcond_reset_woken, called by whoever handles that death, which then
 * wakes everyone (one killed after taking its count back, before its
 * re-send, may owe a wake-up). Broadcasts and plain signals neither count
 * nor skip; the waiters they wake take back counts that were not theirs,
 * which leaves `woken` low: spare wake-ups, never lost ones.
 */
#include <errno.h>
#include <stdbool.h>

#include "ipc/clock.h"
#include "ipc/cpu.h"
#include "ipc/fault.h"
#include "ipc/futex.h"
#include "ipc/pshared.h"

#ifndef PMUTEX_SPIN
#define PMUTEX_SPIN 100 /* trylocks before blocking: a few microseconds at most */
#endif

int cf__pmutex_init(cf__pmutex *mx)
{
    pthread_mutexattr_t attr;
    int err;

    err = pthread_mutexattr_init(&attr);
    if (err)
        return -err;
    err = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    if (!err)
        err = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    if (!err)
        err = pthread_mutex_init(&mx->m, &attr);
    pthread_mutexattr_destroy(&attr);
    return -err;
}

/* Maps a pthread lock result onto ours. EOWNERDEAD: the caller now holds a
 * mutex whose previous owner died inside its critical section; marking it
 * consistent is only right because every user of a pmutex publishes its
 * changes with one final store (see ring.h), so there is nothing to undo. */
static int lock_result(cf__pmutex *mx, int err)
{
    if (err == 0)
        return 0;
    if (err == EOWNERDEAD) {
        err = pthread_mutex_consistent(&mx->m);
        if (err == 0)
            return 1;
        pthread_mutex_unlock(&mx->m);
        return -ENOTRECOVERABLE;
    }
    return -err;
}

int cf__pmutex_lock(cf__pmutex *mx)
{
    /* Every critical section under a pmutex is a few copies long (ring.h),
     * while sleeping in the kernel and being woken costs tens of
     * microseconds on a virtual machine, and glibc's robust mutexes never
     * spin. So try a little before sleeping. */
    for (int i = 0; i < PMUTEX_SPIN; i++) {
        int err = pthread_mutex_trylock(&mx->m);
        if (err != EBUSY)
            return lock_result(mx, err);
        cf__cpu_relax();
    }
    return lock_result(mx, pthread_mutex_lock(&mx->m));
}

int cf__pmutex_trylock(cf__pmutex *mx)
{
    return lock_result(mx, pthread_mutex_trylock(&mx->m));
}

int cf__pmutex_timedlock(cf__pmutex *mx, uint64_t deadline_ns)
{
    if (deadline_ns == CF__NO_DEADLINE)
        return cf__pmutex_lock(mx);
    struct timespec ts = cf__deadline_timespec(deadline_ns);
    return lock_result(mx, pthread_mutex_clocklock(&mx->m, CLOCK_MONOTONIC, &ts));
}

void cf__pmutex_unlock(cf__pmutex *mx)
{
    pthread_mutex_unlock(&mx->m);
}

void cf__pmutex_destroy(cf__pmutex *mx)
{
    pthread_mutex_destroy(&mx->m);
}

void cf__pcond_init(cf__pcond *cv)
{
    atomic_init(&cv->seq, 0);
    atomic_init(&cv->sleepers, 0);
}

/* *woken - 1, but never below 0 (see the top of this file: it may be low). */
static void take_back_woken(_Atomic uint32_t *woken)
{
    uint32_t w = atomic_load_explicit(woken, memory_order_seq_cst);

    while (w != 0 && !atomic_compare_exchange_weak_explicit(woken, &w, w - 1,
                                                            memory_order_seq_cst,
                                                            memory_order_seq_cst))
        ;
}

void cf__pcond_reset_woken(_Atomic uint32_t *woken)
{
    atomic_store_explicit(woken, 0, memory_order_seq_cst);
}

/* Spins until `seq` moves away from `old` or `spin` pauses have passed.
 * Returns true when it moved (no need to sleep). Only an early exit: a
 * stale read here just leads to FUTEX_WAIT, whose in-kernel compare (behind
 * a full barrier) is the check the wake-up protocol relies on. */
static bool spin_for_change(cf__pcond *cv, uint32_t old, unsigned spin)
{
    for (unsigned i = 0; i < spin; i++) {
        if (atomic_load_explicit(&cv->seq, memory_order_acquire) != old)
            return true;
        cf__cpu_relax();
    }
    return false;
}

int cf__pcond_wait(cf__pcond *cv, cf__pmutex *mx, uint64_t deadline_ns, unsigned spin,
                   int *owner_died)
{
    return cf__pcond_wait_counted(cv, NULL, mx, deadline_ns, spin, owner_died);
}

int cf__pcond_wait_counted(cf__pcond *cv, _Atomic uint32_t *woken, cf__pmutex *mx,
                           uint64_t deadline_ns, unsigned spin, int *owner_died)
{
    uint32_t old;
    int rc = 0, lk;

    /* Read under the mutex: a notifier that changes the predicate after we
     * checked it must lock after we unlock, so its seq++ comes after this
     * load and FUTEX_WAIT below sees a different value. */
    old = atomic_load_explicit(&cv->seq, memory_order_relaxed);
    /* seq_cst pairs with the notifier's seq_cst seq++ then sleepers load
     * (store-buffering / Dekker): either the notifier sees our increment
     * and wakes, or we see its seq++ and do not sleep. Weaker orders allow
     * both sides to miss each other, a lost wake-up. */
    atomic_fetch_add_explicit(&cv->sleepers, 1, memory_order_seq_cst);
    cf__pmutex_unlock(mx);

    if (!spin_for_change(cv, old, spin)) {
        rc = cf__futex_wait_woken(&cv->seq, old, deadline_ns);
        /* A FUTEX_WAKE reached us: take its count back, before dropping
         * the registration (see the top of this file). */
        if (rc == 0 && woken)
            take_back_woken(woken);
        else if (rc == -EAGAIN)
            rc = 0;
    }

    atomic_fetch_sub_explicit(&cv->sleepers, 1, memory_order_seq_cst);
    lk = cf__pmutex_lock(mx);
    if (lk < 0)
        return lk;
    if (lk == 1 && owner_died)
        *owner_died = 1;
    return rc;
}

static void notify(cf__pcond *cv, int n)
{
    /* seq_cst on both: see cf__pcond_wait. */
    atomic_fetch_add_explicit(&cv->seq, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&cv->sleepers, memory_order_seq_cst) != 0)
        cf__futex_wake(&cv->seq, n);
}

void cf__pcond_signal(cf__pcond *cv)
{
    notify(cv, 1);
}

void cf__pcond_broadcast(cf__pcond *cv)
{
    notify(cv, INT32_MAX);
}

void cf__pcond_signal_counted(cf__pcond *cv, _Atomic uint32_t *woken)
{
    /* seq_cst everywhere: see cf__pcond_wait and the top of this file. */
    uint32_t seen = atomic_fetch_add_explicit(&cv->seq, 1, memory_order_seq_cst) + 1;

    for (;;) {
        uint32_t sleepers = atomic_load_explicit(&cv->sleepers, memory_order_seq_cst);
        uint32_t w = atomic_load_explicit(woken, memory_order_seq_cst);
        do {
            if (w >= sleepers)
                return; /* nobody asleep, or a wake-up on its way to each */
        } while (!atomic_compare_exchange_weak_explicit(woken, &w, w + 1,
                                                        memory_order_seq_cst,
                                                        memory_order_seq_cst));
        (void)CF__FAULT(CF__FAULT_SIGNAL_COUNTED);
        if (cf__futex_wake(&cv->seq, 1) > 0)
            return; /* that waiter takes the count back */
        /* Nobody was asleep in the kernel yet: take the count back, and if
         * another signal came meanwhile, it may have skipped because of
         * our count: send its wake-up. */
        take_back_woken(woken);
        uint32_t now = atomic_load_explicit(&cv->seq, memory_order_seq_cst);
        if (now == seen)
            return;
        seen = now;
    }
}

