/* cf_lock (threading/lock.c): the scenarios of CPython's lock_tests.py
 * (BaseLockTests, LockTests) and the cookbook's thread-safe counter. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>

#include <cfutures.h>

#define LOCK_THREADS 8
#define LOCK_INCREMENTS 10000

static pthread_t lock_start(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, fn, arg), 0);
    return t;
}

static void lock_join(pthread_t t)
{
    cr_assert_eq(pthread_join(t, NULL), 0);
}

Test(th_lock, null_and_bad_arguments, .timeout = 10)
{
    cf_lock l;
    cr_assert_eq(cf_lock_init(NULL), -EINVAL);
    cr_assert_eq(cf_lock_destroy(NULL), -EINVAL);
    cr_assert_eq(cf_lock_acquire(NULL), -EINVAL);
    cr_assert_not(cf_lock_try(NULL));
    cr_assert_eq(cf_lock_acquire_timed(NULL, 1), -EINVAL);
    cr_assert_eq(cf_lock_release(NULL), -EINVAL);
    cr_assert_not(cf_lock_locked(NULL));
    cr_assert_eq(cf_lock_init(&l), 0);
    cr_assert_eq(cf_lock_acquire_timed(&l, NAN), -EINVAL);
    cr_assert_not(cf_lock_locked(&l), "a NaN timeout must not acquire");
    cr_assert_eq(cf_lock_destroy(&l), 0);
}

Test(th_lock, acquire_release, .timeout = 10)
{
    cf_lock l;
    cr_assert_eq(cf_lock_init(&l), 0);
    cr_assert_not(cf_lock_locked(&l));
    cr_assert_eq(cf_lock_acquire(&l), 0);
    cr_assert(cf_lock_locked(&l));
    cr_assert_eq(cf_lock_release(&l), 0);
    cr_assert_not(cf_lock_locked(&l));
    cr_assert_eq(cf_lock_acquire_timed(&l, CF_FOREVER), 0);
    cr_assert_eq(cf_lock_release(&l), 0);
    cr_assert_eq(cf_lock_acquire_timed(&l, 5), 0);
    cr_assert_eq(cf_lock_release(&l), 0);
    cr_assert_eq(cf_lock_destroy(&l), 0);
}

Test(th_lock, try_acquire, .timeout = 10)
{
    cf_lock l;
    cf_lock_init(&l);
    cr_assert(cf_lock_try(&l));
    cr_assert_not(cf_lock_try(&l), "not reentrant");
    cr_assert_eq(cf_lock_acquire_timed(&l, 0), -ETIMEDOUT);
    cr_assert_eq(cf_lock_release(&l), 0);
    cr_assert(cf_lock_try(&l));
    cr_assert_eq(cf_lock_release(&l), 0);
}

Test(th_lock, release_unlocked_is_eperm, .timeout = 10)
{
    cf_lock l;
    cf_lock_init(&l);
    cr_assert_eq(cf_lock_release(&l), -EPERM);
    cr_assert_not(cf_lock_locked(&l), "a failed release changes nothing");
    cf_lock_acquire(&l);
    cr_assert_eq(cf_lock_release(&l), 0);
    cr_assert_eq(cf_lock_release(&l), -EPERM);
    cr_assert(cf_lock_try(&l), "still usable after the error");
    cf_lock_release(&l);
}

Test(th_lock, destroy_locked_is_ebusy, .timeout = 10)
{
    cf_lock l;
    cf_lock_init(&l);
    cf_lock_acquire(&l);
    cr_assert_eq(cf_lock_destroy(&l), -EBUSY);
    cr_assert(cf_lock_locked(&l), "left untouched");
    cf_lock_release(&l);
    cr_assert_eq(cf_lock_destroy(&l), 0);
}

struct lock_probe {
    cf_lock *lock;
    double timeout;
    int result;
    bool tried;
};

static void *lock_probe_timed(void *arg)
{
    struct lock_probe *p = arg;
    p->result = cf_lock_acquire_timed(p->lock, p->timeout);
    p->tried = cf_lock_try(p->lock);
    return NULL;
}

Test(th_lock, timed_out_acquire_returns_etimedout, .timeout = 10)
{
    cf_lock l;
    cf_lock_init(&l);
    cf_lock_acquire(&l);
    struct lock_probe p = {.lock = &l, .timeout = 0.05};
    lock_join(lock_start(lock_probe_timed, &p));
    cr_assert_eq(p.result, -ETIMEDOUT);
    cr_assert_not(p.tried);
    cr_assert_eq(cf_lock_acquire_timed(&l, 0.01), -ETIMEDOUT, "same thread too");
    cr_assert(cf_lock_locked(&l));
    cr_assert_eq(cf_lock_release(&l), 0);
}

/* lock_tests.py test_state_after_timeout: a waiter that gave up leaves the
 * lock in a state where release/acquire work normally. */
Test(th_lock, state_after_timeout, .timeout = 10)
{
    cf_lock l;
    cf_lock_init(&l);
    cf_lock_acquire(&l);
    struct lock_probe p = {.lock = &l, .timeout = 0.02};
    lock_join(lock_start(lock_probe_timed, &p));
    cr_assert_eq(p.result, -ETIMEDOUT);
    cr_assert_eq(cf_lock_release(&l), 0);
    cr_assert_not(cf_lock_locked(&l));
    cr_assert(cf_lock_try(&l));
    cr_assert_eq(cf_lock_release(&l), 0);
    cr_assert_eq(cf_lock_release(&l), -EPERM);
    cr_assert_eq(cf_lock_destroy(&l), 0);
}

static void *lock_release_other(void *arg)
{
    return (void *)(intptr_t)cf_lock_release(arg);
}

/* lock_tests.py LockTests.test_different_thread. */
Test(th_lock, release_from_another_thread, .timeout = 10)
{
    cf_lock l;
    void *ret;
    pthread_t t;
    cf_lock_init(&l);
    cf_lock_acquire(&l);
    cr_assert_eq(pthread_create(&t, NULL, lock_release_other, &l), 0);
    pthread_join(t, &ret);
    cr_assert_eq((intptr_t)ret, 0);
    cr_assert_not(cf_lock_locked(&l));
    cr_assert(cf_lock_try(&l));
    cf_lock_release(&l);
}

struct lock_blocker {
    cf_lock *lock;
    int started;
    int acquired;
    int result;
};

static void *lock_blocker_run(void *arg)
{
    struct lock_blocker *b = arg;
    __atomic_store_n(&b->started, 1, __ATOMIC_SEQ_CST);
    b->result = cf_lock_acquire_timed(b->lock, 15);
    __atomic_store_n(&b->acquired, 1, __ATOMIC_SEQ_CST);
    cf_lock_release(b->lock);
    return NULL;
}

/* lock_tests.py test_acquire_contended: blocked acquirers get the lock once
 * it is released, and not before. */
Test(th_lock, blocked_acquirers_wake_on_release, .timeout = 20)
{
    cf_lock l;
    struct lock_blocker b[4];
    pthread_t t[4];
    cf_lock_init(&l);
    cf_lock_acquire(&l);
    for (int i = 0; i < 4; i++) {
        b[i] = (struct lock_blocker){.lock = &l};
        t[i] = lock_start(lock_blocker_run, &b[i]);
    }
    for (int i = 0; i < 4; i++)
        while (!__atomic_load_n(&b[i].started, __ATOMIC_SEQ_CST))
            sched_yield();
    for (int i = 0; i < 4; i++)
        cr_assert_not(__atomic_load_n(&b[i].acquired, __ATOMIC_SEQ_CST));
    cf_lock_release(&l);
    for (int i = 0; i < 4; i++) {
        lock_join(t[i]);
        cr_assert_eq(b[i].result, 0);
    }
    cr_assert_not(cf_lock_locked(&l));
}

struct lock_counter {
    cf_lock lock;
    long value;
    int mode;
};

static void *lock_count(void *arg)
{
    struct lock_counter *c = arg;
    for (int i = 0; i < LOCK_INCREMENTS; i++) {
        if (c->mode == 0)
            cf_lock_acquire(&c->lock);
        else if (c->mode == 1)
            while (!cf_lock_try(&c->lock))
                sched_yield();
        else
            while (cf_lock_acquire_timed(&c->lock, 0.001) != 0)
                ;
        c->value++;
        cf_lock_release(&c->lock);
    }
    return NULL;
}

static void lock_counter_run(int mode)
{
    struct lock_counter c = {.mode = mode};
    pthread_t t[LOCK_THREADS];
    cf_lock_init(&c.lock);
    for (int i = 0; i < LOCK_THREADS; i++)
        t[i] = lock_start(lock_count, &c);
    for (int i = 0; i < LOCK_THREADS; i++)
        lock_join(t[i]);
    cr_assert_eq(c.value, (long)LOCK_THREADS * LOCK_INCREMENTS);
    cr_assert_not(cf_lock_locked(&c.lock));
    cr_assert_eq(cf_lock_destroy(&c.lock), 0);
}

/* The cookbook's thread-safe counter: the exact total under contention. */
Test(th_lock, counter_blocking, .timeout = 20)
{
    lock_counter_run(0);
}

Test(th_lock, counter_try, .timeout = 20)
{
    lock_counter_run(1);
}

Test(th_lock, counter_timed, .timeout = 20)
{
    lock_counter_run(2);
}
