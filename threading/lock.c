/* cf_lock: Python's threading.Lock as a binary semaphore on one futex word
 * (Drepper, "Futexes Are Tricky", mutex 2), plus the process-private
 * futex helpers that cond.c shares (ipc/futex.h's are process-shared: the
 * kernel then keys each wait on the backing page, which costs more).
 *
 * Owns: the lock word (0 free, 1 held, 2 held and someone may sleep), the
 * holder field (written by each acquirer, read by cond.c's ownership
 * check) and the global rank counter of the lock order.
 * Threads: any thread acquires, any thread releases (Python allows a
 * release by another thread), so there is no owner to check on release,
 * only the word. No lock order: a cf_lock takes no other lock.
 * The uncontended path is one CAS to acquire and one exchange to release;
 * the kernel is entered only when the word says someone may sleep.
 */
#include <cfutures.h>

#include <errno.h>
#include <linux/futex.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "threading/internal.h"

/* glibc says when no second thread was ever started; pthread_mutex_t uses
 * the same flag to drop the bus lock, and we must keep up with it. */
#if defined(__has_include)
#if __has_include(<sys/single_threaded.h>)
#include <sys/single_threaded.h>
#define ALONE() (__libc_single_threaded != 0)
#endif
#endif
#ifndef ALONE
#define ALONE() false
#endif

enum { FREE = 0, HELD = 1, CONTENDED = 2 };

static uint64_t next_rank = 1;

uintptr_t cf__thread_self(void)
{
#if defined(__x86_64__) || defined(__aarch64__)
    return (uintptr_t)__builtin_thread_pointer();
#else
    return (uintptr_t)pthread_self();
#endif
}

int cf_lock_init(cf_lock *lock)
{
    if (!lock)
        return -EINVAL;
    __atomic_store_n(&lock->word, FREE, __ATOMIC_RELAXED);
    __atomic_store_n(&lock->holder, 0, __ATOMIC_RELAXED);
    lock->order = __atomic_fetch_add(&next_rank, 1, __ATOMIC_RELAXED);
    return 0;
}

int cf_lock_destroy(cf_lock *lock)
{
    if (!lock)
        return -EINVAL;
    if (__atomic_load_n(&lock->word, __ATOMIC_ACQUIRE) != FREE)
        return -EBUSY;
    return 0;
}

static bool try_once(cf_lock *lock)
{
    /* Alone, nobody can race with us: plain loads and stores suffice (the
     * first pthread_create publishes them to the new thread). */
    if (ALONE()) {
        if (lock->word != FREE)
            return false;
        lock->word = HELD;
        return true;
    }
    uint32_t expected = FREE;
    return __atomic_compare_exchange_n(&lock->word, &expected, HELD, false, __ATOMIC_ACQUIRE,
                                       __ATOMIC_RELAXED);
}

static void note_holder(cf_lock *lock)
{
    __atomic_store_n(&lock->holder, cf__thread_self(), __ATOMIC_RELAXED);
}

/* The contended path. Marks the word CONTENDED before each sleep so the
 * releaser knows to wake someone; taking the lock with the exchange leaves
 * it CONTENDED, which costs at most one spare wake.
 *
 * No spinning first, as glibc's default mutex: a waiter spinning on
 * another CPU took the lock at nearly every release, so the lock's line
 * moved between CPUs on every acquire. Two threads pinned to two CPUs,
 * 4 M lock/increment/unlock, three runs each: with a 100-pause spin
 * 19-22 M/s (the pthread mutex 16-46 M/s: 0.72-2.37x), without 21-49 M/s
 * over six runs (0.68-0.92x). A sleeping waiter lets the holder run on
 * with a warm line. */
static int acquire_slow(cf_lock *lock, uint64_t deadline)
{
    while (__atomic_exchange_n(&lock->word, CONTENDED, __ATOMIC_ACQUIRE) != FREE) {
        if (cf__futex_wait_private(&lock->word, CONTENDED, deadline) == -ETIMEDOUT) {
            /* One last look: it may have been freed as the time ran out. */
            if (__atomic_exchange_n(&lock->word, CONTENDED, __ATOMIC_ACQUIRE) == FREE)
                return 0;
            return -ETIMEDOUT;
        }
    }
    return 0;
}

int cf_lock_acquire(cf_lock *lock)
{
    if (!lock)
        return -EINVAL;
    if (!try_once(lock))
        acquire_slow(lock, CF__NO_DEADLINE);
    note_holder(lock);
    return 0;
}

bool cf_lock_try(cf_lock *lock)
{
    if (!lock || !try_once(lock))
        return false;
    note_holder(lock);
    return true;
}

int cf_lock_acquire_timed(cf_lock *lock, double timeout)
{
    int r;

    if (!lock || isnan(timeout))
        return -EINVAL;
    if (try_once(lock)) {
        note_holder(lock);
        return 0;
    }
    if (timeout == 0)
        return -ETIMEDOUT;
    if ((r = acquire_slow(lock, cf__deadline_after(timeout))) == 0)
        note_holder(lock);
    return r;
}

int cf_lock_release(cf_lock *lock)
{
    if (!lock)
        return -EINVAL;
    /* Exchanging 0 into a free lock changes nothing, so checking after the
     * fact is safe and keeps release to one atomic operation. */
    uint32_t old;
    if (ALONE()) {
        old = lock->word;
        lock->word = FREE;
    } else {
        old = __atomic_exchange_n(&lock->word, FREE, __ATOMIC_RELEASE);
    }
    if (old == FREE)
        return -EPERM;
    if (old == CONTENDED)
        cf__futex_wake_private(&lock->word, 1);
    return 0;
}

bool cf_lock_locked(const cf_lock *lock)
{
    return lock && __atomic_load_n(&lock->word, __ATOMIC_RELAXED) != FREE;
}

/* Whether the calling thread is the last acquirer of a lock still held:
 * the rule cond.c enforces before touching its waiter queue. */
bool cf__lock_held_by_self(const cf_lock *lock)
{
    return cf_lock_locked(lock) &&
           __atomic_load_n(&lock->holder, __ATOMIC_RELAXED) == cf__thread_self();
}
