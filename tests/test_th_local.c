/* tests/test_th_local.c — cf_local, after CPython's test_threading_local:
 * each thread sees its own value, the destructor runs at thread exit with
 * that thread's value (and only for non-NULL values), replacing a value
 * does not destroy the old one (pthread semantics, see the header), and
 * the error paths.
 */
#include <cfutures.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

enum { THLO_N = 8 };

/* Destructor calls, per slot: the destructor receives &thlo_slots[i]. */
static int thlo_slots[THLO_N];
static atomic_int thlo_dtor_calls[THLO_N];
static atomic_int thlo_dtor_total;

static void thlo_reset(void)
{
    for (int i = 0; i < THLO_N; i++)
        atomic_store(&thlo_dtor_calls[i], 0);
    atomic_store(&thlo_dtor_total, 0);
}

static void thlo_dtor(void *value)
{
    int *slot = value;
    ptrdiff_t i = slot - thlo_slots;

    atomic_fetch_add(&thlo_dtor_total, 1);
    if (i >= 0 && i < THLO_N)
        atomic_fetch_add(&thlo_dtor_calls[i], 1);
}

struct thlo_job {
    cf_local *l;
    int index;
    pthread_barrier_t *all_set; /* every thread has set before any checks */
    bool fresh_was_null, own_value_ok;
    int set_rc;
};

static void thlo_set_and_check(void *arg)
{
    struct thlo_job *j = arg;

    j->fresh_was_null = cf_local_get(j->l) == NULL;
    j->set_rc = cf_local_set(j->l, &thlo_slots[j->index]);
    if (j->all_set)
        pthread_barrier_wait(j->all_set);
    j->own_value_ok = cf_local_get(j->l) == &thlo_slots[j->index];
}

static void thlo_run(struct thlo_job *jobs, int n)
{
    cf_thread t[THLO_N];

    for (int i = 0; i < n; i++) {
        cr_assert_eq(cf_thread_init(&t[i], NULL, thlo_set_and_check, &jobs[i]), 0);
        cr_assert_eq(cf_thread_start(&t[i]), 0);
    }
    for (int i = 0; i < n; i++) {
        cr_assert_eq(cf_thread_join(&t[i], CF_FOREVER), 0);
        cf_thread_destroy(&t[i]);
    }
}

Test(th_local, values_are_per_thread, .timeout = 20)
{
    cf_local l;
    pthread_barrier_t b;
    struct thlo_job jobs[THLO_N];
    int main_value = 42;

    thlo_reset();
    cr_assert_eq(cf_local_init(&l, NULL), 0);
    cr_assert_null(cf_local_get(&l));
    cr_assert_eq(cf_local_set(&l, &main_value), 0);
    pthread_barrier_init(&b, NULL, THLO_N);
    for (int i = 0; i < THLO_N; i++)
        jobs[i] = (struct thlo_job){.l = &l, .index = i, .all_set = &b, .set_rc = 1};
    thlo_run(jobs, THLO_N);
    for (int i = 0; i < THLO_N; i++) {
        cr_assert(jobs[i].fresh_was_null, "thread %d saw another thread's value", i);
        cr_assert_eq(jobs[i].set_rc, 0);
        cr_assert(jobs[i].own_value_ok, "thread %d lost its value", i);
    }
    cr_assert_eq(cf_local_get(&l), &main_value, "the threads did not touch main's value");
    pthread_barrier_destroy(&b);
    cf_local_destroy(&l);
}

Test(th_local, destructor_runs_at_exit_with_value, .timeout = 20)
{
    cf_local l;
    struct thlo_job jobs[THLO_N];

    thlo_reset();
    cr_assert_eq(cf_local_init(&l, thlo_dtor), 0);
    for (int i = 0; i < THLO_N; i++)
        jobs[i] = (struct thlo_job){.l = &l, .index = i};
    thlo_run(jobs, THLO_N); /* join returns after the thread's destructors */
    for (int i = 0; i < THLO_N; i++)
        cr_assert_eq(atomic_load(&thlo_dtor_calls[i]), 1, "slot %d", i);
    cr_assert_eq(atomic_load(&thlo_dtor_total), THLO_N);
    cf_local_destroy(&l);
}

static cf_local *thlo_shared;

static void thlo_set_then_clear(void *arg)
{
    (void)arg;
    cf_local_set(thlo_shared, &thlo_slots[0]);
    cf_local_set(thlo_shared, NULL);
}

static void thlo_replace(void *arg)
{
    (void)arg;
    cf_local_set(thlo_shared, &thlo_slots[1]);
    cf_local_set(thlo_shared, &thlo_slots[2]);
}

static void thlo_run_one(cf_thread_fn fn)
{
    cf_thread t;

    cr_assert_eq(cf_thread_init(&t, NULL, fn, NULL), 0);
    cr_assert_eq(cf_thread_start(&t), 0);
    cr_assert_eq(cf_thread_join(&t, CF_FOREVER), 0);
    cf_thread_destroy(&t);
}

Test(th_local, no_destructor_for_null, .timeout = 20)
{
    cf_local l;

    thlo_reset();
    cr_assert_eq(cf_local_init(&l, thlo_dtor), 0);
    thlo_shared = &l;
    thlo_run_one(thlo_set_then_clear);
    cr_assert_eq(atomic_load(&thlo_dtor_total), 0);
    cf_local_destroy(&l);
}

Test(th_local, replace_does_not_destroy_old_value, .timeout = 20)
{
    cf_local l;

    thlo_reset();
    cr_assert_eq(cf_local_init(&l, thlo_dtor), 0);
    thlo_shared = &l;
    thlo_run_one(thlo_replace);
    cr_assert_eq(atomic_load(&thlo_dtor_calls[1]), 0, "the replaced value stays the caller's");
    cr_assert_eq(atomic_load(&thlo_dtor_calls[2]), 1, "the last value is destroyed");
    cr_assert_eq(atomic_load(&thlo_dtor_total), 1);
    cf_local_destroy(&l);
}

static cf_local *thlo_pair[2];
static bool thlo_pair_ok;

static void thlo_set_both(void *arg)
{
    (void)arg;
    cf_local_set(thlo_pair[0], &thlo_slots[3]);
    cf_local_set(thlo_pair[1], &thlo_slots[4]);
    thlo_pair_ok = cf_local_get(thlo_pair[0]) == &thlo_slots[3] &&
                   cf_local_get(thlo_pair[1]) == &thlo_slots[4];
}

Test(th_local, two_locals_independent, .timeout = 20)
{
    cf_local a, b;

    thlo_reset();
    cr_assert_eq(cf_local_init(&a, thlo_dtor), 0);
    cr_assert_eq(cf_local_init(&b, NULL), 0);
    thlo_pair[0] = &a;
    thlo_pair[1] = &b;
    thlo_pair_ok = false;
    thlo_run_one(thlo_set_both);
    cr_assert(thlo_pair_ok, "each local kept its own value in the thread");
    cr_assert_eq(atomic_load(&thlo_dtor_calls[3]), 1, "a's destructor ran for a's value");
    cr_assert_eq(atomic_load(&thlo_dtor_calls[4]), 0, "b has no destructor");
    cr_assert_null(cf_local_get(&a));
    cr_assert_null(cf_local_get(&b));
    cf_local_destroy(&a);
    cf_local_destroy(&b);
}

static void thlo_set_on_plain_pthread(void *arg)
{
    cf_local_set(thlo_shared, arg);
}

static void *thlo_pthread_body(void *arg)
{
    thlo_set_on_plain_pthread(arg);
    return NULL;
}

Test(th_local, works_on_plain_pthreads, .timeout = 20)
{
    cf_local l;
    pthread_t p;

    thlo_reset();
    cr_assert_eq(cf_local_init(&l, thlo_dtor), 0);
    thlo_shared = &l;
    cr_assert_eq(pthread_create(&p, NULL, thlo_pthread_body, &thlo_slots[5]), 0);
    cr_assert_eq(pthread_join(p, NULL), 0);
    cr_assert_eq(atomic_load(&thlo_dtor_calls[5]), 1);
    cf_local_destroy(&l);
}

Test(th_local, errors_and_destroy, .timeout = 20)
{
    cf_local l;
    int v = 1;

    cr_assert_eq(cf_local_init(NULL, NULL), -EINVAL);
    cr_assert_eq(cf_local_set(NULL, &v), -EINVAL);
    cr_assert_null(cf_local_get(NULL));
    cf_local_destroy(NULL); /* no-op */

    cr_assert_eq(cf_local_init(&l, NULL), 0);
    cr_assert_eq(cf_local_set(&l, &v), 0);
    cr_assert_eq(cf_local_get(&l), &v);
    cf_local_destroy(&l);
    cr_assert_null(cf_local_get(&l), "destroyed: no value");
    cr_assert_eq(cf_local_set(&l, &v), -EINVAL, "destroyed: set refused");
    cf_local_destroy(&l); /* twice is harmless */
}

/* A destructor runs on the exiting thread, after its function returned:
 * joining that thread from there must still be refused, not deadlock. */
static atomic_int thlo_join_rc_in_dtor;

static void thlo_joining_dtor(void *value)
{
    (void)value;
    atomic_store(&thlo_join_rc_in_dtor, cf_thread_join(cf_thread_current(), CF_FOREVER));
}

static void thlo_set_slot6(void *arg)
{
    (void)arg;
    cf_local_set(thlo_shared, &thlo_slots[6]);
}

Test(th_local, destructor_joining_own_thread_is_edeadlk, .timeout = 20)
{
    cf_local l;

    atomic_store(&thlo_join_rc_in_dtor, 1);
    cr_assert_eq(cf_local_init(&l, thlo_joining_dtor), 0);
    thlo_shared = &l;
    thlo_run_one(thlo_set_slot6);
    cr_assert_eq(atomic_load(&thlo_join_rc_in_dtor), -EDEADLK);
    cf_local_destroy(&l);
}
