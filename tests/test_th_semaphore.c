/* tests/test_th_semaphore.c — cf_sem, after CPython's lock_tests.py
 * (BaseSemaphoreTests, SemaphoreTests, BoundedSemaphoreTests): counts,
 * blocking / try / timed acquire, release(n) waking exactly n, contended
 * acquires, bounded over-release refused with the count unchanged, and
 * every error path.
 *
 * Threads are plain pthreads. "Exactly n woke" is checked by waiting until
 * n have, then letting the others run a while and checking no more did:
 * the pause can only hide a bug, never invent one. Nothing asserts on
 * elapsed time.
 */
#include <cfutures.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#define SEM_NTHREADS 10

static void sem_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Polls until *counter reaches want (a liveness bound of ~10 s, within the
 * test's timeout; not a timing assertion). */
static void sem_await_count(atomic_int *counter, int want)
{
    for (int i = 0; i < 10000 && atomic_load(counter) < want; i++)
        sem_sleep_ms(1);
    cr_assert_eq(atomic_load(counter), want, "expected %d acquisitions", want);
}

/* White-box: threads blocked inside the semaphore (private field). */
static unsigned sem_waiters(cf_sem *s)
{
    pthread_mutex_lock(&s->mu);
    unsigned n = s->waiters;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static void sem_await_waiters(cf_sem *s, unsigned want)
{
    for (int i = 0; i < 10000 && sem_waiters(s) < want; i++)
        sem_sleep_ms(1);
    cr_assert_eq(sem_waiters(s), want, "expected %u blocked threads", want);
}

struct sem_ctx {
    cf_sem sem;
    atomic_int acquired;
    atomic_int failed;
    int per_thread; /* acquisitions each thread makes */
};

static void *sem_acquirer(void *arg)
{
    struct sem_ctx *c = arg;
    for (int i = 0; i < c->per_thread; i++) {
        if (cf_sem_acquire(&c->sem) == 0)
            atomic_fetch_add(&c->acquired, 1);
        else
            atomic_fetch_add(&c->failed, 1);
    }
    return NULL;
}

static void *sem_trier(void *arg)
{
    struct sem_ctx *c = arg;
    if (cf_sem_try_acquire(&c->sem))
        atomic_fetch_add(&c->acquired, 1);
    else
        atomic_fetch_add(&c->failed, 1);
    return NULL;
}

static void sem_start(pthread_t *t, int n, void *(*fn)(void *), struct sem_ctx *c)
{
    for (int i = 0; i < n; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, fn, c), 0);
}

static void sem_join(pthread_t *t, int n)
{
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
}

/* ------------------------------------------------------------ semaphore */

Test(th_semaphore, init_rejects_negative_and_null, .timeout = 20)
{
    cf_sem s;
    cr_assert_eq(cf_sem_init(&s, -1), -EINVAL);
    cr_assert_eq(cf_sem_init(&s, LONG_MIN), -EINVAL);
    cr_assert_eq(cf_sem_init(NULL, 1), -EINVAL);
    cr_assert_eq(cf_sem_init_bounded(&s, -1), -EINVAL);
    cr_assert_eq(cf_sem_init_bounded(NULL, 0), -EINVAL);
    cr_assert_eq(cf_sem_init(&s, 0), 0);
    cr_assert_eq(cf_sem_value(&s), 0);
    cr_assert_eq(cf_sem_destroy(&s), 0);
}

Test(th_semaphore, null_arguments, .timeout = 20)
{
    cr_assert_eq(cf_sem_destroy(NULL), -EINVAL);
    cr_assert_eq(cf_sem_acquire(NULL), -EINVAL);
    cr_assert_eq(cf_sem_acquire_timed(NULL, 0), -EINVAL);
    cr_assert_not(cf_sem_try_acquire(NULL));
    cr_assert_eq(cf_sem_release(NULL, 1), -EINVAL);
    cr_assert_eq(cf_sem_value(NULL), -EINVAL);
}

Test(th_semaphore, acquire_counts_down, .timeout = 20)
{
    cf_sem s;
    cr_assert_eq(cf_sem_init(&s, 2), 0);
    cr_assert_eq(cf_sem_acquire(&s), 0);
    cr_assert_eq(cf_sem_value(&s), 1);
    cr_assert_eq(cf_sem_acquire(&s), 0);
    cr_assert_eq(cf_sem_value(&s), 0);
    cr_assert_eq(cf_sem_release(&s, 1), 0);
    cr_assert_eq(cf_sem_value(&s), 1);
    cr_assert_eq(cf_sem_release(&s, 3), 0);
    cr_assert_eq(cf_sem_value(&s), 4);
    cr_assert_eq(cf_sem_destroy(&s), 0);
}

Test(th_semaphore, release_rejects_n_below_one, .timeout = 20)
{
    cf_sem s;
    cr_assert_eq(cf_sem_init(&s, 3), 0);
    cr_assert_eq(cf_sem_release(&s, 0), -EINVAL);
    cr_assert_eq(cf_sem_release(&s, -2), -EINVAL);
    cr_assert_eq(cf_sem_value(&s), 3, "a refused release must not change the count");
    cr_assert_eq(cf_sem_destroy(&s), 0);
}

Test(th_semaphore, release_past_long_max_overflows, .timeout = 20)
{
    cf_sem s;
    cr_assert_eq(cf_sem_init(&s, LONG_MAX - 1), 0);
    cr_assert_eq(cf_sem_release(&s, 1), 0);
    cr_assert_eq(cf_sem_release(&s, 1), -EOVERFLOW);
    cr_assert_eq(cf_sem_release(&s, LONG_MAX), -EOVERFLOW);
    cr_assert_eq(cf_sem_value(&s), LONG_MAX);
    cr_assert_eq(cf_sem_destroy(&s), 0);
}

Test(th_semaphore, try_acquire, .timeout = 20)
{
    cf_sem s;
    cr_assert_eq(cf_sem_init(&s, 2), 0);
    cr_assert(cf_sem_try_acquire(&s));
    cr_assert(cf_sem_try_acquire(&s));
    cr_assert_not(cf_sem_try_acquire(&s));
    cr_assert_eq(cf_sem_value(&s), 0);
    cr_assert_eq(cf_sem_release(&s, 1), 0);
    cr_assert(cf_sem_try_acquire(&s));
    cr_assert_eq(cf_sem_destroy(&s), 0);
}

Test(th_semaphore, timed_acquire_times_out, .timeout = 20)
{
    cf_sem s;
    cr_assert_eq(cf_sem_init(&s, 2), 0);
    cr_assert_eq(cf_sem_acquire_timed(&s, 0), 0);
    cr_assert_eq(cf_sem_acquire_timed(&s, 0.0), 0);
    cr_assert_eq(cf_sem_acquire_timed(&s, 0), -ETIMEDOUT);
    cr_assert_eq(cf_sem_acquire_timed(&s, 0.01), -ETIMEDOUT);
    cr_assert_eq(cf_sem_acquire_timed(&s, NAN), -EINVAL);
    cr_assert_eq(cf_sem_release(&s, 1), 0);
    cr_assert_eq(cf_sem_acquire_timed(&s, 0.01), 0);
    cr_assert_eq(cf_sem_value(&s), 0);
    cr_assert_eq(cf_sem_destroy(&s), 0);
}

static void *sem_timed_acquirer(void *arg)
{
    struct sem_ctx *c = arg;
    if (cf_sem_acquire_timed(&c->sem, 10.0) == 0)
        atomic_fetch_add(&c->acquired, 1);
    else
        atomic_fetch_add(&c->failed, 1);
    return NULL;
}

Test(th_semaphore, timed_acquire_woken_by_release, .timeout = 20)
{
    struct sem_ctx c = {.per_thread = 1};
    pthread_t t[1];
    cr_assert_eq(cf_sem_init(&c.sem, 0), 0);
    sem_start(t, 1, sem_timed_acquirer, &c);
    sem_await_waiters(&c.sem, 1);
    cr_assert_eq(cf_sem_release(&c.sem, 1), 0);
    sem_join(t, 1);
    cr_assert_eq(atomic_load(&c.acquired), 1);
    cr_assert_eq(atomic_load(&c.failed), 0);
    cr_assert_eq(cf_sem_destroy(&c.sem), 0);
}

/* CPython's test_acquire_contended: 10 threads, two acquires each. */
Test(th_semaphore, acquire_contended, .timeout = 20)
{
    struct sem_ctx c = {.per_thread = 2};
    pthread_t t[SEM_NTHREADS];
    cr_assert_eq(cf_sem_init(&c.sem, 7), 0);
    cr_assert_eq(cf_sem_acquire(&c.sem), 0);
    sem_start(t, SEM_NTHREADS, sem_acquirer, &c);
    sem_await_count(&c.acquired, 6);
    sem_sleep_ms(20);
    cr_assert_eq(atomic_load(&c.acquired), 6, "only 6 units were free");
    cr_assert_eq(cf_sem_release(&c.sem, 7), 0);
    sem_await_count(&c.acquired, 13);
    sem_sleep_ms(20);
    cr_assert_eq(atomic_load(&c.acquired), 13);
    cr_assert_eq(cf_sem_release(&c.sem, 2 * SEM_NTHREADS - 13), 0);
    sem_join(t, SEM_NTHREADS);
    cr_assert_eq(atomic_load(&c.acquired), 2 * SEM_NTHREADS);
    cr_assert_eq(atomic_load(&c.failed), 0);
    cr_assert_eq(cf_sem_value(&c.sem), 0);
    cr_assert_eq(cf_sem_destroy(&c.sem), 0);
}

/* CPython's test_multirelease: release(n) lets exactly n blocked threads
 * through. */
Test(th_semaphore, release_n_wakes_n, .timeout = 20)
{
    struct sem_ctx c = {.per_thread = 1};
    pthread_t t[SEM_NTHREADS];
    cr_assert_eq(cf_sem_init(&c.sem, 0), 0);
    sem_start(t, SEM_NTHREADS, sem_acquirer, &c);
    sem_await_waiters(&c.sem, SEM_NTHREADS);
    cr_assert_eq(cf_sem_release(&c.sem, 3), 0);
    sem_await_count(&c.acquired, 3);
    sem_sleep_ms(20);
    cr_assert_eq(atomic_load(&c.acquired), 3);
    cr_assert_eq(sem_waiters(&c.sem), SEM_NTHREADS - 3);
    cr_assert_eq(cf_sem_release(&c.sem, SEM_NTHREADS - 3), 0);
    sem_join(t, SEM_NTHREADS);
    cr_assert_eq(atomic_load(&c.acquired), SEM_NTHREADS);
    cr_assert_eq(cf_sem_value(&c.sem), 0);
    cr_assert_eq(cf_sem_destroy(&c.sem), 0);
}

/* CPython's test_try_acquire_contended: of 10 tries on 3 free units,
 * exactly 3 succeed. */
Test(th_semaphore, try_acquire_contended, .timeout = 20)
{
    struct sem_ctx c = {.per_thread = 1};
    pthread_t t[SEM_NTHREADS];
    cr_assert_eq(cf_sem_init(&c.sem, 4), 0);
    cr_assert_eq(cf_sem_acquire(&c.sem), 0);
    sem_start(t, SEM_NTHREADS, sem_trier, &c);
    sem_join(t, SEM_NTHREADS);
    cr_assert_eq(atomic_load(&c.acquired), 3);
    cr_assert_eq(atomic_load(&c.failed), SEM_NTHREADS - 3);
    cr_assert_eq(cf_sem_value(&c.sem), 0);
    cr_assert_eq(cf_sem_destroy(&c.sem), 0);
}

Test(th_semaphore, destroy_busy_while_waiting, .timeout = 20)
{
    struct sem_ctx c = {.per_thread = 1};
    pthread_t t[1];
    cr_assert_eq(cf_sem_init(&c.sem, 0), 0);
    sem_start(t, 1, sem_acquirer, &c);
    sem_await_waiters(&c.sem, 1);
    cr_assert_eq(cf_sem_destroy(&c.sem), -EBUSY);
    cr_assert_eq(cf_sem_release(&c.sem, 1), 0);
    sem_join(t, 1);
    cr_assert_eq(atomic_load(&c.acquired), 1);
    cr_assert_eq(cf_sem_destroy(&c.sem), 0);
}

/* ---------------------------------------------------- bounded semaphore */

Test(th_bsemaphore, over_release_refused_count_unchanged, .timeout = 20)
{
    cf_sem s;
    cr_assert_eq(cf_sem_init_bounded(&s, 1), 0);
    cr_assert_eq(cf_sem_release(&s, 1), -EOVERFLOW);
    cr_assert_eq(cf_sem_value(&s), 1);
    cr_assert_eq(cf_sem_acquire(&s), 0);
    cr_assert_eq(cf_sem_release(&s, 1), 0);
    cr_assert_eq(cf_sem_release(&s, 1), -EOVERFLOW);
    cr_assert_eq(cf_sem_value(&s), 1);
    cr_assert_eq(cf_sem_destroy(&s), 0);
}

Test(th_bsemaphore, release_n_past_bound_refused_whole, .timeout = 20)
{
    cf_sem s;
    cr_assert_eq(cf_sem_init_bounded(&s, 3), 0);
    cr_assert_eq(cf_sem_acquire(&s), 0);
    cr_assert_eq(cf_sem_acquire(&s), 0);
    cr_assert_eq(cf_sem_value(&s), 1);
    /* 1 + 3 > 3: refused as a whole, not partly applied. */
    cr_assert_eq(cf_sem_release(&s, 3), -EOVERFLOW);
    cr_assert_eq(cf_sem_value(&s), 1);
    cr_assert_eq(cf_sem_release(&s, 2), 0);
    cr_assert_eq(cf_sem_value(&s), 3);
    cr_assert_eq(cf_sem_release(&s, 0), -EINVAL);
    cr_assert_eq(cf_sem_destroy(&s), 0);
}

Test(th_bsemaphore, zero_bound_never_releases, .timeout = 20)
{
    cf_sem s;
    cr_assert_eq(cf_sem_init_bounded(&s, 0), 0);
    cr_assert_not(cf_sem_try_acquire(&s));
    cr_assert_eq(cf_sem_release(&s, 1), -EOVERFLOW);
    cr_assert_eq(cf_sem_value(&s), 0);
    cr_assert_eq(cf_sem_destroy(&s), 0);
}

/* The bound limits the count, not the number of blocked threads: a full
 * bounded semaphore still hands its units to waiters. */
Test(th_bsemaphore, contended_round_trips, .timeout = 20)
{
    struct sem_ctx c = {.per_thread = 1};
    pthread_t t[SEM_NTHREADS];
    cr_assert_eq(cf_sem_init_bounded(&c.sem, 2), 0);
    cr_assert_eq(cf_sem_acquire(&c.sem), 0);
    cr_assert_eq(cf_sem_acquire(&c.sem), 0);
    sem_start(t, SEM_NTHREADS, sem_acquirer, &c);
    sem_await_waiters(&c.sem, SEM_NTHREADS);
    /* Wait for each pair to be taken: releasing again before that could
     * legitimately pass the bound. */
    for (int i = 0; i < SEM_NTHREADS / 2; i++) {
        cr_assert_eq(cf_sem_release(&c.sem, 2), 0);
        sem_await_count(&c.acquired, 2 * (i + 1));
    }
    sem_join(t, SEM_NTHREADS);
    cr_assert_eq(cf_sem_value(&c.sem), 0);
    cr_assert_eq(cf_sem_release(&c.sem, 2), 0);
    cr_assert_eq(cf_sem_release(&c.sem, 1), -EOVERFLOW);
    cr_assert_eq(cf_sem_destroy(&c.sem), 0);
}
