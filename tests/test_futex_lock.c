/* The one-word lock of futures and of the thread pool's takers
 * (ipc/futex_lock.h): mutual exclusion under contention (each holder
 * checks that no other is inside), both acquire paths, trylock, and the
 * hand-over to a waiter that went to sleep on it. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>

#include "ipc/futex_lock.h"

enum { THREADS = 4, ROUNDS = 20000 };

static _Atomic uint32_t lock_word;
static atomic_int inside;  /* holders inside the critical section */
static atomic_int overlaps; /* times a holder found another inside */
static long counter;       /* changed only under the lock */

static void critical_section(void)
{
    if (atomic_fetch_add(&inside, 1) != 0)
        atomic_fetch_add(&overlaps, 1);
    long v = counter;
    sched_yield(); /* widen the window a second holder would need */
    counter = v + 1;
    atomic_fetch_sub(&inside, 1);
}

static void *hammer(void *arg)
{
    bool spin = (intptr_t)arg & 1;
    for (int i = 0; i < ROUNDS; i++) {
        if (spin)
            cf__futex_lock_spin(&lock_word);
        else
            cf__futex_lock(&lock_word);
        critical_section();
        cf__futex_unlock(&lock_word);
    }
    return NULL;
}

Test(futex_lock, excludes_under_contention, .timeout = 120)
{
    atomic_store(&lock_word, 0);
    counter = 0;
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) /* half lock, half lock_spin */
        cr_assert_eq(pthread_create(&th[i], NULL, hammer, (void *)(intptr_t)i), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    cr_assert_eq(atomic_load(&overlaps), 0, "two holders at once");
    cr_assert_eq(counter, (long)THREADS * ROUNDS, "an update was lost");
    cr_assert_eq(atomic_load(&lock_word), 0, "left unlocked");
}

Test(futex_lock, trylock_only_when_free, .timeout = 10)
{
    _Atomic uint32_t w = 0;
    cr_assert(cf__futex_trylock(&w));
    cr_assert_not(cf__futex_trylock(&w), "held");
    cf__futex_unlock(&w);
    cr_assert(cf__futex_trylock(&w), "free again");
    cf__futex_unlock(&w);
    cr_assert_eq(atomic_load(&w), 0);
}

static _Atomic uint32_t handover_word;
static atomic_bool waiter_has_it;

static void *waiter(void *arg)
{
    (void)arg;
    cf__futex_lock(&handover_word);
    atomic_store(&waiter_has_it, true);
    cf__futex_unlock(&handover_word);
    return NULL;
}

/* A waiter that found the lock held marks it contended (2) and sleeps:
 * the unlock must wake it, and it then holds the lock. */
Test(futex_lock, unlock_wakes_a_sleeping_waiter, .timeout = 20)
{
    atomic_store(&handover_word, 0);
    cf__futex_lock(&handover_word);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, waiter, NULL), 0);
    while (atomic_load(&handover_word) != 2) /* the waiter said it waits */
        sched_yield();
    cr_assert_not(atomic_load(&waiter_has_it));
    cf__futex_unlock(&handover_word);
    pthread_join(th, NULL);
    cr_assert(atomic_load(&waiter_has_it));
    cr_assert_eq(atomic_load(&handover_word), 0);
}
