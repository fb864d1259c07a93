/* Process-shared synchronisation that survives the death of a participant.
 *
 * cf__pmutex: a robust, process-shared pthread mutex. A lock whose owner
 * died is recovered with pthread_mutex_consistent; the caller is told so it
 * can repair what the dead owner may have left half-done.
 *
 * cf__pcond: our own condition variable, a futex event count. glibc's
 * process-shared pthread_cond_t keeps per-waiter group state in the shared
 * object and is corrupted when a waiter dies inside pthread_cond_wait
 * (glibc bug 21422). An event count holds no per-waiter state: a waiter
 * reads `seq` with the mutex held, registers as a sleeper, drops the mutex
 * and FUTEX_WAITs on the old value; a notifier bumps `seq` and issues
 * FUTEX_WAKE only when `sleepers` is non-zero. A waiter killed while asleep
 * leaves at most a stale sleeper count, which costs spare wake calls.
 *
 * Counted signals: a signal may also skip its FUTEX_WAKE when every sleeper
 * already has a wake-up on its way, counted in a `woken` word the caller
 * keeps beside the event count (the public process-shared objects have no
 * room for it in theirs, and only broadcast). The woken waiter re-locks
 * and re-checks the predicate after the notifier changed it, so it sees
 * the change (pshared.c has the argument). Good for predicates any one
 * waiter can act on and pass on, like "the ring has records". A notifier
 * that died between counting and sending leaves `woken` too high, which
 * could make signals skip a sleeper for ever: cf__pcond_reset_woken.
 * Both structs, and `woken`, live in shared memory and hold no pointers.
 */
#ifndef CF_IPC_PSHARED_H
#define CF_IPC_PSHARED_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

typedef struct cf__pmutex {
    pthread_mutex_t m;
} cf__pmutex;

/* Initialises a robust, process-shared mutex in place. Returns 0 or -errno. */
int cf__pmutex_init(cf__pmutex *mx);
/* Locks. Returns 0; 1 when the previous owner died holding it (the mutex is
 * made consistent and is now held by the caller); -ENOTRECOVERABLE. */
int cf__pmutex_lock(cf__pmutex *mx);
/* Like lock, but -EBUSY instead of waiting. */
int cf__pmutex_trylock(cf__pmutex *mx);
/* Like lock, but -ETIMEDOUT once the absolute CLOCK_MONOTONIC deadline
 * (CF__NO_DEADLINE: none) has passed. */
int cf__pmutex_timedlock(cf__pmutex *mx, uint64_t deadline_ns);
void cf__pmutex_unlock(cf__pmutex *mx);
void cf__pmutex_destroy(cf__pmutex *mx);

typedef struct cf__pcond {
    _Atomic uint32_t seq;      /* bumped by every notify; futex word */
    _Atomic uint32_t sleepers; /* waiters inside FUTEX_WAIT (may be stale high) */
} cf__pcond;

void cf__pcond_init(cf__pcond *cv);

/* Atomically releases `mx` and waits for a notification, then re-locks.
 * Spins up to `spin` iterations watching `seq` before sleeping (0: no spin).
 * Returns 0 (notified, spurious, or interrupted: re-check the predicate),
 * -ETIMEDOUT when the absolute monotonic deadline passed; either way `mx`
 * is held again on return. If re-locking found a dead owner, the return is
 * still 0/-ETIMEDOUT but *owner_died (if not NULL) is set to 1. Only if
 * re-locking fails does it return -ENOTRECOVERABLE, with `mx` NOT held. */
int cf__pcond_wait(cf__pcond *cv, cf__pmutex *mx, uint64_t deadline_ns, unsigned spin,
                   int *owner_died);
/* The same, for an event count notified with cf__pcond_signal_counted:
 * `woken` is the word those signals count their wake-ups in (every waiter
 * of cv must pass it; broadcasts and plain signals may still be used). */
int cf__pcond_wait_counted(cf__pcond *cv, _Atomic uint32_t *woken, cf__pmutex *mx,
                           uint64_t deadline_ns, unsigned spin, int *owner_died);

/* Wake one / every waiter. Callable with or without the mutex held. */
void cf__pcond_signal(cf__pcond *cv);
void cf__pcond_broadcast(cf__pcond *cv);

/* Wakes one waiter, unless every sleeper has a wake-up on its way already
 * (counted in `woken`, zero-initialised, shared like cv): then a waiter is
 * sure to re-check the predicate after the caller's change. */
void cf__pcond_signal_counted(cf__pcond *cv, _Atomic uint32_t *woken);

/* A process that may have died inside cf__pcond_signal_counted (after
 * counting its wake-up, before sending it) left `woken` too high. Forgets
 * every pending wake-up (a `woken` too low only costs spare FUTEX_WAKE
 * calls); the caller then wakes every sleeper, since a signal may have
 * skipped because of that count. Safe at any time. */
void cf__pcond_reset_woken(_Atomic uint32_t *woken);

#endif
