/* Ordered multi-lock acquire (threading/lock_order.c), the Python
 * Cookbook's recipe 12.5: one global order whatever order the caller
 * names the locks, a per-thread record that turns an out-of-order nested
 * acquire into CF_ELOCKORDER, and dining philosophers that finish. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>

#include <cfutures.h>

#define ORDER_PHILOSOPHERS 5
#define ORDER_MEALS 2000
#define ORDER_ROUNDS 10000

static void order_init(cf_lock *locks, int n)
{
    for (int i = 0; i < n; i++)
        cr_assert_eq(cf_lock_init(&locks[i]), 0);
}

Test(th_lock_order, any_named_order, .timeout = 10)
{
    cf_lock l[3];
    order_init(l, 3);
    cf_lock *want[] = {&l[2], &l[0], &l[1]};
    cf_lock *give[] = {&l[1], &l[2], &l[0]};
    cr_assert_eq(cf_lock_acquire_ordered(want, 3), 0);
    for (int i = 0; i < 3; i++)
        cr_assert(cf_lock_locked(&l[i]));
    cr_assert_eq(cf_lock_ordered_held(), 3);
    cr_assert_eq(cf_lock_release_ordered(give, 3), 0);
    for (int i = 0; i < 3; i++)
        cr_assert_not(cf_lock_locked(&l[i]));
    cr_assert_eq(cf_lock_ordered_held(), 0);
}

Test(th_lock_order, empty_set, .timeout = 10)
{
    cr_assert_eq(cf_lock_acquire_ordered(NULL, 0), 0);
    cr_assert_eq(cf_lock_release_ordered(NULL, 0), 0);
    cr_assert_eq(cf_lock_ordered_held(), 0);
}

Test(th_lock_order, bad_arguments, .timeout = 10)
{
    cf_lock l[2];
    order_init(l, 2);
    cf_lock *with_null[] = {&l[0], NULL};
    cf_lock *dup[] = {&l[1], &l[0], &l[1]};
    cr_assert_eq(cf_lock_acquire_ordered(NULL, 1), -EINVAL);
    cr_assert_eq(cf_lock_acquire_ordered(with_null, 2), -EINVAL);
    cr_assert_eq(cf_lock_acquire_ordered(dup, 3), -EINVAL);
    cr_assert_not(cf_lock_locked(&l[0]), "nothing acquired on error");
    cr_assert_not(cf_lock_locked(&l[1]));
    cr_assert_eq(cf_lock_ordered_held(), 0);
    cr_assert_eq(cf_lock_release_ordered(NULL, 1), -EINVAL);
    cr_assert_eq(cf_lock_acquire_ordered(dup, 2), 0);
    cr_assert_eq(cf_lock_release_ordered(dup, 3), -EINVAL);
    cr_assert_eq(cf_lock_release_ordered(with_null, 2), -EINVAL);
    cr_assert_eq(cf_lock_ordered_held(), 2, "nothing released on error");
    cr_assert_eq(cf_lock_release_ordered(dup, 2), 0);
}

/* The cookbook's example: holding y, asking for x (ranked lower) would
 * deadlock against a thread that holds x and asks for y. */
Test(th_lock_order, violation_detected, .timeout = 10)
{
    cf_lock x, y, z;
    cf_lock_init(&x);
    cf_lock_init(&y);
    cf_lock_init(&z);
    cf_lock *px[] = {&x}, *py[] = {&y}, *pz[] = {&z}, *pxz[] = {&z, &x};
    cr_assert_eq(cf_lock_acquire_ordered(py, 1), 0);
    cr_assert_eq(cf_lock_acquire_ordered(px, 1), CF_ELOCKORDER);
    cr_assert_eq(cf_lock_acquire_ordered(pxz, 2), CF_ELOCKORDER, "x is below y");
    cr_assert_not(cf_lock_locked(&x), "refused acquires take nothing");
    cr_assert_not(cf_lock_locked(&z));
    cr_assert_eq(cf_lock_ordered_held(), 1);
    cr_assert_eq(cf_lock_acquire_ordered(pz, 1), 0, "above y is fine");
    cr_assert_eq(cf_lock_ordered_held(), 2);
    cr_assert_eq(cf_lock_release_ordered(pz, 1), 0);
    cr_assert_eq(cf_lock_release_ordered(py, 1), 0);
    cr_assert_eq(cf_lock_acquire_ordered(px, 1), 0, "nothing held: any lock");
    cr_assert_eq(cf_lock_release_ordered(px, 1), 0);
    cr_assert_str_neq(cf_strerror(CF_ELOCKORDER), "unknown error");
}

Test(th_lock_order, reacquire_held_is_violation, .timeout = 10)
{
    cf_lock a;
    cf_lock_init(&a);
    cf_lock *pa[] = {&a};
    cr_assert_eq(cf_lock_acquire_ordered(pa, 1), 0);
    cr_assert_eq(cf_lock_acquire_ordered(pa, 1), CF_ELOCKORDER, "not a self-deadlock");
    cr_assert_eq(cf_lock_release_ordered(pa, 1), 0);
    cr_assert_not(cf_lock_locked(&a));
}

Test(th_lock_order, release_not_held_is_eperm, .timeout = 10)
{
    cf_lock a, b;
    cf_lock_init(&a);
    cf_lock_init(&b);
    cf_lock *pa[] = {&a}, *pab[] = {&a, &b};
    cr_assert_eq(cf_lock_release_ordered(pa, 1), -EPERM);
    cr_assert_eq(cf_lock_acquire_ordered(pa, 1), 0);
    cr_assert_eq(cf_lock_release_ordered(pab, 2), -EPERM);
    cr_assert(cf_lock_locked(&a), "none released when one is not held");
    cr_assert_eq(cf_lock_release_ordered(pa, 1), 0);
}

/* Releasing a lock from the middle of the record keeps the rest, and the
 * order check then compares with the highest one still held. */
Test(th_lock_order, release_subset, .timeout = 10)
{
    cf_lock l[3];
    order_init(l, 3);
    cf_lock *p0[] = {&l[0]}, *p1[] = {&l[1]}, *p2[] = {&l[2]};
    cr_assert_eq(cf_lock_acquire_ordered(p0, 1), 0);
    cr_assert_eq(cf_lock_acquire_ordered(p1, 1), 0);
    cr_assert_eq(cf_lock_acquire_ordered(p2, 1), 0);
    cr_assert_eq(cf_lock_release_ordered(p1, 1), 0);
    cr_assert_not(cf_lock_locked(&l[1]));
    cr_assert(cf_lock_locked(&l[0]));
    cr_assert(cf_lock_locked(&l[2]));
    cr_assert_eq(cf_lock_acquire_ordered(p1, 1), CF_ELOCKORDER, "below l[2]");
    cr_assert_eq(cf_lock_release_ordered(p2, 1), 0);
    cr_assert_eq(cf_lock_acquire_ordered(p1, 1), 0);
    cf_lock *rest[] = {&l[1], &l[0]};
    cr_assert_eq(cf_lock_release_ordered(rest, 2), 0);
    cr_assert_eq(cf_lock_ordered_held(), 0);
}

Test(th_lock_order, too_many_is_e2big, .timeout = 10)
{
    cf_lock l[CF_LOCK_ORDER_MAX + 1];
    cf_lock *p[CF_LOCK_ORDER_MAX + 1];
    order_init(l, CF_LOCK_ORDER_MAX + 1);
    for (int i = 0; i <= CF_LOCK_ORDER_MAX; i++)
        p[i] = &l[i];
    cr_assert_eq(cf_lock_acquire_ordered(p, CF_LOCK_ORDER_MAX + 1), -E2BIG);
    cr_assert_eq(cf_lock_acquire_ordered(p, CF_LOCK_ORDER_MAX), 0);
    cr_assert_eq(cf_lock_acquire_ordered(p + CF_LOCK_ORDER_MAX, 1), -E2BIG);
    cr_assert_eq(cf_lock_ordered_held(), CF_LOCK_ORDER_MAX);
    cr_assert_eq(cf_lock_release_ordered(p, CF_LOCK_ORDER_MAX), 0);
    for (int i = 0; i <= CF_LOCK_ORDER_MAX; i++)
        cr_assert_not(cf_lock_locked(&l[i]));
}

struct order_other {
    cf_lock *lock;
    size_t held;
    int release;
};

static void *order_other_run(void *arg)
{
    struct order_other *o = arg;
    cf_lock *p[] = {o->lock};
    o->held = cf_lock_ordered_held();
    o->release = cf_lock_release_ordered(p, 1);
    return NULL;
}

/* The record is per thread: another thread holds nothing and cannot
 * release through it what this thread acquired. */
Test(th_lock_order, record_is_per_thread, .timeout = 10)
{
    cf_lock a;
    pthread_t t;
    struct order_other o = {.lock = &a};
    cf_lock_init(&a);
    cf_lock *pa[] = {&a};
    cr_assert_eq(cf_lock_acquire_ordered(pa, 1), 0);
    cr_assert_eq(pthread_create(&t, NULL, order_other_run, &o), 0);
    pthread_join(t, NULL);
    cr_assert_eq(o.held, 0);
    cr_assert_eq(o.release, -EPERM);
    cr_assert(cf_lock_locked(&a));
    cr_assert_eq(cf_lock_release_ordered(pa, 1), 0);
}

struct order_pair {
    cf_lock *first, *second;
    long *counter;
    int errors;
};

static void *order_pair_run(void *arg)
{
    struct order_pair *p = arg;
    cf_lock *set[] = {p->first, p->second};
    for (int i = 0; i < ORDER_ROUNDS; i++) {
        if (cf_lock_acquire_ordered(set, 2) != 0) {
            p->errors++;
            continue;
        }
        (*p->counter)++;
        if (cf_lock_release_ordered(set, 2) != 0)
            p->errors++;
    }
    return NULL;
}

/* Two threads naming the same two locks in opposite orders: with plain
 * acquires this is the classic deadlock; here both finish. */
Test(th_lock_order, opposite_orders_do_not_deadlock, .timeout = 20)
{
    cf_lock x, y;
    long counter = 0;
    pthread_t t[2];
    cf_lock_init(&x);
    cf_lock_init(&y);
    struct order_pair p[2] = {{&x, &y, &counter, 0}, {&y, &x, &counter, 0}};
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, order_pair_run, &p[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(p[0].errors + p[1].errors, 0);
    cr_assert_eq(counter, 2L * ORDER_ROUNDS);
}

struct order_table {
    cf_lock forks[ORDER_PHILOSOPHERS];
    long fork_uses[ORDER_PHILOSOPHERS]; /* each under its fork */
};

struct order_philosopher {
    struct order_table *table;
    int seat;
    int meals;
    int errors;
};

static void *order_dine(void *arg)
{
    struct order_philosopher *p = arg;
    int left = p->seat, right = (p->seat + 1) % ORDER_PHILOSOPHERS;
    cf_lock *forks[] = {&p->table->forks[left], &p->table->forks[right]};
    while (p->meals < ORDER_MEALS) {
        if (cf_lock_acquire_ordered(forks, 2) != 0) {
            p->errors++;
            return NULL;
        }
        p->table->fork_uses[left]++;
        p->table->fork_uses[right]++;
        p->meals++;
        if (cf_lock_release_ordered(forks, 2) != 0)
            p->errors++;
    }
    return NULL;
}

/* Every philosopher takes left then right by name; the last one's pair
 * wraps around, which deadlocks with plain acquires. */
Test(th_lock_order, dining_philosophers, .timeout = 20)
{
    struct order_table table = {.fork_uses = {0}};
    struct order_philosopher p[ORDER_PHILOSOPHERS];
    pthread_t t[ORDER_PHILOSOPHERS];
    order_init(table.forks, ORDER_PHILOSOPHERS);
    for (int i = 0; i < ORDER_PHILOSOPHERS; i++) {
        p[i] = (struct order_philosopher){.table = &table, .seat = i};
        cr_assert_eq(pthread_create(&t[i], NULL, order_dine, &p[i]), 0);
    }
    for (int i = 0; i < ORDER_PHILOSOPHERS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < ORDER_PHILOSOPHERS; i++) {
        cr_assert_eq(p[i].errors, 0);
        cr_assert_eq(p[i].meals, ORDER_MEALS);
        /* Each fork is shared by two neighbours. */
        cr_assert_eq(table.fork_uses[i], 2L * ORDER_MEALS);
        cr_assert_not(cf_lock_locked(&table.forks[i]));
    }
}
