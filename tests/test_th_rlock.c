/* cf_rlock (threading/rlock.c): CPython lock_tests.py RLockTests scenarios:
 * recursion, ownership, release by a non-owner, timed acquires. */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>

#include <cfutures.h>

#define RLOCK_THREADS 6
#define RLOCK_INCREMENTS 10000

static void *rlock_in_thread(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    void *ret;
    cr_assert_eq(pthread_create(&t, NULL, fn, arg), 0);
    cr_assert_eq(pthread_join(t, &ret), 0);
    return ret;
}

Test(th_rlock, null_and_bad_arguments, .timeout = 10)
{
    cf_rlock r;
    cr_assert_eq(cf_rlock_init(NULL), -EINVAL);
    cr_assert_eq(cf_rlock_destroy(NULL), -EINVAL);
    cr_assert_eq(cf_rlock_acquire(NULL), -EINVAL);
    cr_assert_not(cf_rlock_try(NULL));
    cr_assert_eq(cf_rlock_acquire_timed(NULL, 1), -EINVAL);
    cr_assert_eq(cf_rlock_release(NULL), -EINVAL);
    cr_assert_not(cf_rlock_is_owned(NULL));
    cr_assert_eq(cf_rlock_level(NULL), 0);
    cf_rlock_init(&r);
    cr_assert_eq(cf_rlock_acquire_timed(&r, NAN), -EINVAL);
    cr_assert_not(cf_rlock_is_owned(&r));
    cr_assert_eq(cf_rlock_destroy(&r), 0);
}

Test(th_rlock, recursion, .timeout = 10)
{
    cf_rlock r;
    cr_assert_eq(cf_rlock_init(&r), 0);
    cr_assert_eq(cf_rlock_level(&r), 0);
    cr_assert_eq(cf_rlock_acquire(&r), 0);
    cr_assert(cf_rlock_try(&r));
    cr_assert_eq(cf_rlock_acquire_timed(&r, 0), 0, "an owner never waits");
    cr_assert_eq(cf_rlock_level(&r), 3);
    cr_assert(cf_rlock_is_owned(&r));
    cr_assert_eq(cf_rlock_destroy(&r), -EBUSY);
    for (unsigned level = 3; level > 0; level--) {
        cr_assert_eq(cf_rlock_level(&r), level);
        cr_assert_eq(cf_rlock_release(&r), 0);
    }
    cr_assert_not(cf_rlock_is_owned(&r));
    cr_assert_eq(cf_rlock_release(&r), -EPERM, "one release too many");
    cr_assert_eq(cf_rlock_destroy(&r), 0);
}

Test(th_rlock, release_unowned_is_eperm, .timeout = 10)
{
    cf_rlock r;
    cf_rlock_init(&r);
    cr_assert_eq(cf_rlock_release(&r), -EPERM);
    cr_assert_eq(cf_rlock_acquire(&r), 0);
    cr_assert_eq(cf_rlock_level(&r), 1, "the failed release left no trace");
    cf_rlock_release(&r);
}

struct rlock_probe {
    cf_rlock *r;
    int release;
    bool tried;
    int timed;
    bool owned;
    unsigned level;
};

static void *rlock_probe_run(void *arg)
{
    struct rlock_probe *p = arg;
    p->release = cf_rlock_release(p->r);
    p->tried = cf_rlock_try(p->r);
    p->timed = cf_rlock_acquire_timed(p->r, 0.02);
    p->owned = cf_rlock_is_owned(p->r);
    p->level = cf_rlock_level(p->r);
    return NULL;
}

/* lock_tests.py RLockTests.test_different_thread: a non-owner can neither
 * release nor acquire it. */
Test(th_rlock, non_owner, .timeout = 10)
{
    cf_rlock r;
    struct rlock_probe p = {.r = &r};
    cf_rlock_init(&r);
    cf_rlock_acquire(&r);
    cf_rlock_acquire(&r);
    rlock_in_thread(rlock_probe_run, &p);
    cr_assert_eq(p.release, -EPERM);
    cr_assert_not(p.tried);
    cr_assert_eq(p.timed, -ETIMEDOUT);
    cr_assert_not(p.owned);
    cr_assert_eq(p.level, 0);
    cr_assert_eq(cf_rlock_level(&r), 2, "untouched by the other thread");
    cf_rlock_release(&r);
    cf_rlock_release(&r);
}

static void *rlock_take_nested(void *arg)
{
    cf_rlock *r = arg;
    intptr_t ok = cf_rlock_acquire_timed(r, 10) == 0 && cf_rlock_acquire(r) == 0 &&
                  cf_rlock_level(r) == 2 && cf_rlock_release(r) == 0 && cf_rlock_release(r) == 0;
    return (void *)ok;
}

Test(th_rlock, free_after_last_release, .timeout = 10)
{
    cf_rlock r;
    cf_rlock_init(&r);
    cf_rlock_acquire(&r);
    cf_rlock_acquire(&r);
    cf_rlock_release(&r);
    cf_rlock_release(&r);
    cr_assert_eq((intptr_t)rlock_in_thread(rlock_take_nested, &r), 1);
    cr_assert_eq(cf_rlock_destroy(&r), 0);
}

/* The recursion level is an unsigned int: past UINT_MAX is -EAGAIN. The
 * test sets the private level near the top rather than looping 4e9 times. */
Test(th_rlock, recursion_overflow, .timeout = 10)
{
    cf_rlock r;
    cf_rlock_init(&r);
    cf_rlock_acquire(&r);
    r.count = UINT_MAX;
    cr_assert_eq(cf_rlock_acquire(&r), -EAGAIN);
    cr_assert_not(cf_rlock_try(&r));
    cr_assert_eq(cf_rlock_level(&r), UINT_MAX);
    r.count = 1;
    cr_assert_eq(cf_rlock_release(&r), 0);
    cr_assert_not(cf_rlock_is_owned(&r));
}

struct rlock_counter {
    cf_rlock r;
    long value;
};

static void *rlock_count(void *arg)
{
    struct rlock_counter *c = arg;
    for (int i = 0; i < RLOCK_INCREMENTS; i++) {
        cf_rlock_acquire(&c->r);
        cf_rlock_acquire(&c->r); /* a nested helper taking it again */
        c->value++;
        cf_rlock_release(&c->r);
        c->value++;
        cf_rlock_release(&c->r);
    }
    return NULL;
}

Test(th_rlock, nested_counter_under_contention, .timeout = 20)
{
    struct rlock_counter c = {.value = 0};
    pthread_t t[RLOCK_THREADS];
    cf_rlock_init(&c.r);
    for (int i = 0; i < RLOCK_THREADS; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, rlock_count, &c), 0);
    for (int i = 0; i < RLOCK_THREADS; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(c.value, 2L * RLOCK_THREADS * RLOCK_INCREMENTS);
    cr_assert_eq(cf_rlock_destroy(&c.r), 0);
}
