/* A one-word mutex for objects made by the million (a future per task):
 * 4 bytes against pthread_mutex_t's 40, nothing to initialise (zero is
 * unlocked) or destroy. Drepper's three-state lock ("Futexes Are Tricky"):
 * 0 free, 1 locked, 2 locked and someone may sleep on it; unlock makes the
 * wake system call only in state 2. Private futex: one process only. Not
 * recursive, no owner check, no robustness: for short critical sections
 * of our own code, never held across a user's callback.
 */
#ifndef CF_IPC_FUTEX_LOCK_H
#define CF_IPC_FUTEX_LOCK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ipc/clock.h"
#include "ipc/cpu.h"
#include "ipc/futex.h"

static inline void cf__futex_lock(_Atomic uint32_t *w)
{
    uint32_t c = 0;
    if (atomic_compare_exchange_strong_explicit(w, &c, 1, memory_order_acquire,
                                                memory_order_relaxed))
        return;
    /* Contended: say so (2), and sleep until the holder hands it over. */
    if (c != 2)
        c = atomic_exchange_explicit(w, 2, memory_order_acquire);
    while (c != 0) {
        cf__futex_wait_private((uint32_t *)w, 2, CF__NO_DEADLINE);
        c = atomic_exchange_explicit(w, 2, memory_order_acquire);
    }
}

/* The same for a lock held a few dozen nanoseconds by threads that run
 * side by side (the thread pool's takers): spins a little before it
 * sleeps, since a sleep and its wake cost a thousand times the hold. */
static inline void cf__futex_lock_spin(_Atomic uint32_t *w)
{
    for (int i = 0; i < 100; i++) {
        uint32_t c = atomic_load_explicit(w, memory_order_relaxed);
        if (c == 0 && atomic_compare_exchange_weak_explicit(w, &c, 1, memory_order_acquire,
                                                            memory_order_relaxed))
            return;
        cf__cpu_relax();
    }
    cf__futex_lock(w);
}

/* Takes the lock if it is free; false otherwise. */
static inline bool cf__futex_trylock(_Atomic uint32_t *w)
{
    uint32_t c = 0;
    return atomic_compare_exchange_strong_explicit(w, &c, 1, memory_order_acquire,
                                                   memory_order_relaxed);
}

static inline void cf__futex_unlock(_Atomic uint32_t *w)
{
    if (atomic_exchange_explicit(w, 0, memory_order_release) == 2)
        cf__futex_wake_private((uint32_t *)w, 1);
}

#endif
