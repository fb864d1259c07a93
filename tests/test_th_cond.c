/* cf_cond (threading/cond.c): CPython lock_tests.py ConditionTests
 * scenarios over a cf_lock and a cf_rlock: notify/notify(n)/notify_all
 * counts and order, wait timeouts, wait_for against one deadline,
 * recursion levels restored, and -EPERM when the lock is not held. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include <cfutures.h>

#define COND_WAITERS 5

/* A condition over a lock or an rlock, with what the waiters report. */
struct cond_fix {
    cf_lock lock;
    cf_rlock rlock;
    cf_cond cond;
    bool use_rlock;
    int ready; /* waiters queued: under the lock */
    int woken; /* waiters that returned from wait: under the lock */
    int order[COND_WAITERS];
    int results[COND_WAITERS];
    unsigned levels[COND_WAITERS]; /* rlock level seen after the wait */
    double timeout;
};

struct cond_arg {
    struct cond_fix *f;
    int id;
};

static void cond_fix_init(struct cond_fix *f, bool use_rlock)
{
    *f = (struct cond_fix){.use_rlock = use_rlock, .timeout = CF_FOREVER};
    cf_lock_init(&f->lock);
    cf_rlock_init(&f->rlock);
    if (use_rlock)
        cr_assert_eq(cf_cond_init_rlock(&f->cond, &f->rlock), 0);
    else
        cr_assert_eq(cf_cond_init(&f->cond, &f->lock), 0);
}

static int cond_read(struct cond_fix *f, const int *field)
{
    cf_cond_acquire(&f->cond);
    int v = *field;
    cf_cond_release(&f->cond);
    return v;
}

static void cond_await(struct cond_fix *f, const int *field, int value)
{
    while (cond_read(f, field) < value)
        sched_yield();
}

/* Sleeps a little: not a timing assertion, only a chance for a wrong
 * extra wakeup to show before the count is checked. */
static void cond_pause(void)
{
    struct timespec ts = {0, 30 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

static void *cond_waiter(void *arg)
{
    struct cond_arg *a = arg;
    struct cond_fix *f = a->f;
    cf_cond_acquire(&f->cond);
    if (f->use_rlock)
        cf_cond_acquire(&f->cond); /* two levels, both released by wait */
    f->ready++;
    int r = cf_cond_wait(&f->cond, f->timeout);
    f->results[a->id] = r;
    f->order[f->woken++] = a->id;
    f->levels[a->id] = cf_rlock_level(&f->rlock);
    if (f->use_rlock)
        cf_cond_release(&f->cond);
    cf_cond_release(&f->cond);
    return NULL;
}

/* Starts the waiters one at a time, so they queue in id order. */
static void cond_start_waiters(struct cond_fix *f, pthread_t *t, struct cond_arg *a)
{
    for (int i = 0; i < COND_WAITERS; i++) {
        a[i] = (struct cond_arg){.f = f, .id = i};
        cr_assert_eq(pthread_create(&t[i], NULL, cond_waiter, &a[i]), 0);
        cond_await(f, &f->ready, i + 1);
    }
}

static void cond_notify(struct cond_fix *f, size_t n)
{
    cf_cond_acquire(&f->cond);
    cr_assert_eq(cf_cond_notify(&f->cond, n), 0);
    cf_cond_release(&f->cond);
}

/* lock_tests.py test_notify: notify(1), then notify(3), then notify_all,
 * each waking exactly that many, oldest first. */
static void cond_notify_counts(bool use_rlock)
{
    struct cond_fix f;
    pthread_t t[COND_WAITERS];
    struct cond_arg a[COND_WAITERS];
    cond_fix_init(&f, use_rlock);
    cond_start_waiters(&f, t, a);

    cond_notify(&f, 0);
    cond_pause();
    cr_assert_eq(cond_read(&f, &f.woken), 0, "notify(0) wakes nobody");
    cond_notify(&f, 1);
    cond_await(&f, &f.woken, 1);
    cond_pause();
    cr_assert_eq(cond_read(&f, &f.woken), 1);
    cond_notify(&f, 3);
    cond_await(&f, &f.woken, 4);
    cond_pause();
    cr_assert_eq(cond_read(&f, &f.woken), 4);
    cf_cond_acquire(&f.cond);
    cr_assert_eq(cf_cond_destroy(&f.cond), -EBUSY, "one still waits");
    cr_assert_eq(cf_cond_notify_all(&f.cond), 0);
    cf_cond_release(&f.cond);
    for (int i = 0; i < COND_WAITERS; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(f.woken, COND_WAITERS);
    /* Oldest first: notify(1) took waiter 0, notify(3) waiters 1..3 (in
     * whatever order they got the lock back), notify_all the last. */
    int mask = 0;
    for (int i = 1; i <= 3; i++)
        mask |= 1 << f.order[i];
    cr_assert_eq(f.order[0], 0);
    cr_assert_eq(mask, 0xe);
    cr_assert_eq(f.order[4], 4);
    for (int i = 0; i < COND_WAITERS; i++) {
        cr_assert_eq(f.results[i], 0, "waiter %d was notified", i);
        cr_assert_eq(f.levels[i], use_rlock ? 2 : 0, "recursion level restored");
    }
    cr_assert_eq(cf_cond_destroy(&f.cond), 0);
}

Test(th_cond, notify_counts_lock, .timeout = 20)
{
    cond_notify_counts(false);
}

Test(th_cond, notify_counts_rlock, .timeout = 20)
{
    cond_notify_counts(true);
}

Test(th_cond, notify_all_wakes_everyone, .timeout = 20)
{
    struct cond_fix f;
    pthread_t t[COND_WAITERS];
    struct cond_arg a[COND_WAITERS];
    cond_fix_init(&f, false);
    cond_start_waiters(&f, t, a);
    cf_cond_acquire(&f.cond);
    cr_assert_eq(cf_cond_notify_all(&f.cond), 0);
    cf_cond_release(&f.cond);
    for (int i = 0; i < COND_WAITERS; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(f.woken, COND_WAITERS);
}

Test(th_cond, notify_without_waiters, .timeout = 10)
{
    struct cond_fix f;
    cond_fix_init(&f, false);
    cond_notify(&f, 1);
    cf_cond_acquire(&f.cond);
    cr_assert_eq(cf_cond_notify_all(&f.cond), 0);
    cr_assert_eq(cf_cond_wait(&f.cond, 0.01), -ETIMEDOUT, "nothing was saved up");
    cf_cond_release(&f.cond);
}

/* lock_tests.py test_timeout: every waiter times out and holds the lock
 * again on return; timed-out waiters leave the queue. */
Test(th_cond, wait_timeout, .timeout = 10)
{
    struct cond_fix f;
    pthread_t t[COND_WAITERS];
    struct cond_arg a[COND_WAITERS];
    cond_fix_init(&f, true);
    f.timeout = 0.05;
    cond_start_waiters(&f, t, a);
    for (int i = 0; i < COND_WAITERS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < COND_WAITERS; i++) {
        cr_assert_eq(f.results[i], -ETIMEDOUT);
        cr_assert_eq(f.levels[i], 2);
    }
    cr_assert_not(cf_rlock_is_owned(&f.rlock));
    cr_assert_eq(cf_cond_destroy(&f.cond), 0, "no waiter left queued");
}

Test(th_cond, wait_zero_times_out_holding_the_lock, .timeout = 10)
{
    struct cond_fix f;
    cond_fix_init(&f, false);
    cf_cond_acquire(&f.cond);
    cr_assert_eq(cf_cond_wait(&f.cond, 0), -ETIMEDOUT);
    cr_assert(cf_lock_locked(&f.lock));
    cr_assert_eq(cf_cond_release(&f.cond), 0);
    cr_assert_eq(cf_lock_release(&f.lock), -EPERM, "released exactly once");
}

struct cond_unowned {
    struct cond_fix *f;
    int wait, wait_for, notify, notify_all;
};

static bool cond_true(void *arg)
{
    (void)arg;
    return true;
}

static bool cond_flag(void *arg)
{
    return *(int *)arg != 0;
}

static void *cond_unowned_run(void *arg)
{
    struct cond_unowned *u = arg;
    u->wait = cf_cond_wait(&u->f->cond, 0);
    u->wait_for = cf_cond_wait_for(&u->f->cond, cond_true, NULL, 0);
    u->notify = cf_cond_notify(&u->f->cond, 1);
    u->notify_all = cf_cond_notify_all(&u->f->cond);
    return NULL;
}

static void cond_check_eperm(struct cond_unowned *u)
{
    cr_assert_eq(u->wait, -EPERM);
    cr_assert_eq(u->wait_for, -EPERM);
    cr_assert_eq(u->notify, -EPERM);
    cr_assert_eq(u->notify_all, -EPERM);
}

/* lock_tests.py test_unacquired_wait / test_unacquired_notify, then the
 * same from a thread while another holds the lock (stricter than Python
 * for a plain Lock, see lock.h). */
static void cond_unowned(bool use_rlock)
{
    struct cond_fix f;
    struct cond_unowned u = {.f = &f};
    pthread_t t;
    cond_fix_init(&f, use_rlock);
    cond_unowned_run(&u);
    cond_check_eperm(&u);
    u = (struct cond_unowned){.f = &f};
    cf_cond_acquire(&f.cond);
    cr_assert_eq(pthread_create(&t, NULL, cond_unowned_run, &u), 0);
    pthread_join(t, NULL);
    cond_check_eperm(&u);
    cr_assert_eq(cf_cond_wait(&f.cond, 0), -ETIMEDOUT, "the holder may");
    cf_cond_release(&f.cond);
}

Test(th_cond, unowned_is_eperm_lock, .timeout = 10)
{
    cond_unowned(false);
}

Test(th_cond, unowned_is_eperm_rlock, .timeout = 10)
{
    cond_unowned(true);
}

Test(th_cond, bad_arguments, .timeout = 10)
{
    struct cond_fix f;
    cf_lock l;
    cf_rlock r;
    cr_assert_eq(cf_cond_init(NULL, &l), -EINVAL);
    cr_assert_eq(cf_cond_init(&f.cond, NULL), -EINVAL);
    cr_assert_eq(cf_cond_init_rlock(NULL, &r), -EINVAL);
    cr_assert_eq(cf_cond_init_rlock(&f.cond, NULL), -EINVAL);
    cr_assert_eq(cf_cond_destroy(NULL), -EINVAL);
    cr_assert_eq(cf_cond_acquire(NULL), -EINVAL);
    cr_assert_eq(cf_cond_release(NULL), -EINVAL);
    cr_assert_eq(cf_cond_wait(NULL, 0), -EINVAL);
    cr_assert_eq(cf_cond_wait_for(NULL, cond_true, NULL, 0), -EINVAL);
    cr_assert_eq(cf_cond_notify(NULL, 1), -EINVAL);
    cr_assert_eq(cf_cond_notify_all(NULL), -EINVAL);
    cond_fix_init(&f, false);
    cf_cond_acquire(&f.cond);
    cr_assert_eq(cf_cond_wait(&f.cond, NAN), -EINVAL);
    cr_assert_eq(cf_cond_wait_for(&f.cond, NULL, NULL, 0), -EINVAL);
    cr_assert_eq(cf_cond_wait_for(&f.cond, cond_true, NULL, NAN), -EINVAL);
    cr_assert(cf_lock_locked(&f.lock), "errors release nothing");
    cf_cond_release(&f.cond);
    cr_assert_eq(cf_cond_release(&f.cond), -EPERM);
}

struct cond_counter {
    struct cond_fix *f;
    int value;
    int target;
    int calls;
};

static bool cond_reached(void *arg)
{
    struct cond_counter *c = arg;
    c->calls++;
    return c->value >= c->target;
}

static void *cond_count_up(void *arg)
{
    struct cond_counter *c = arg;
    for (int i = 0; i < c->target; i++) {
        cf_cond_acquire(&c->f->cond);
        c->value++;
        cf_cond_notify_all(&c->f->cond);
        cf_cond_release(&c->f->cond);
    }
    return NULL;
}

/* lock_tests.py test_waitfor: a predicate that becomes true. */
Test(th_cond, wait_for_predicate, .timeout = 20)
{
    struct cond_fix f;
    struct cond_counter c = {.f = &f, .target = 5};
    pthread_t t;
    cond_fix_init(&f, false);
    cf_cond_acquire(&f.cond);
    cr_assert_eq(pthread_create(&t, NULL, cond_count_up, &c), 0);
    cr_assert_eq(cf_cond_wait_for(&f.cond, cond_reached, &c, CF_FOREVER), 0);
    cr_assert_eq(c.value, 5);
    cr_assert(cf_lock_locked(&f.lock));
    cf_cond_release(&f.cond);
    pthread_join(t, NULL);
}

/* lock_tests.py test_waitfor_timeout: false at the deadline. */
Test(th_cond, wait_for_timeout, .timeout = 10)
{
    struct cond_fix f;
    int flag = 0;
    cond_fix_init(&f, true);
    cf_cond_acquire(&f.cond);
    cr_assert_eq(cf_cond_wait_for(&f.cond, cond_flag, &flag, 0.05), -ETIMEDOUT);
    cr_assert_eq(cf_cond_wait_for(&f.cond, cond_flag, &flag, 0), -ETIMEDOUT);
    flag = 1;
    cr_assert_eq(cf_cond_wait_for(&f.cond, cond_flag, &flag, 0), 0, "true at once");
    cr_assert_eq(cf_rlock_level(&f.rlock), 1);
    cf_cond_release(&f.cond);
}

/* Notifications that do not make the predicate true: wait_for keeps
 * waiting against the same deadline and reports the last value. */
struct cond_watch {
    struct cond_counter *c;
    int calls;
};

static bool cond_never(void *arg)
{
    struct cond_watch *w = arg;
    w->calls++;
    return w->c->value >= 1000;
}

Test(th_cond, wait_for_false_after_notifies, .timeout = 20)
{
    struct cond_fix f;
    struct cond_counter bump = {.f = &f, .target = 3};
    struct cond_watch w = {.c = &bump};
    pthread_t t;
    cond_fix_init(&f, false);
    cf_cond_acquire(&f.cond);
    cr_assert_eq(pthread_create(&t, NULL, cond_count_up, &bump), 0);
    cr_assert_eq(cf_cond_wait_for(&f.cond, cond_never, &w, 0.3), -ETIMEDOUT);
    cr_assert_geq(w.calls, 2, "evaluated before and after waiting");
    cf_cond_release(&f.cond);
    pthread_join(t, NULL);
    cr_assert_eq(bump.value, 3);
}

struct cond_rlock_probe {
    struct cond_fix *f;
    int flag;
    int got;
};

static void *cond_rlock_setter(void *arg)
{
    struct cond_rlock_probe *p = arg;
    /* Possible only if the waiter gave up every recursion level. */
    p->got = cf_rlock_acquire_timed(&p->f->rlock, 15);
    p->flag = 1;
    cf_cond_notify(&p->f->cond, 1);
    cf_rlock_release(&p->f->rlock);
    return NULL;
}

Test(th_cond, wait_with_rlock_restores_level, .timeout = 20)
{
    struct cond_fix f;
    struct cond_rlock_probe p = {.f = &f};
    pthread_t t;
    cond_fix_init(&f, true);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(cf_rlock_acquire(&f.rlock), 0);
    cr_assert_eq(pthread_create(&t, NULL, cond_rlock_setter, &p), 0);
    cr_assert_eq(cf_cond_wait_for(&f.cond, cond_flag, &p.flag, CF_FOREVER), 0);
    cr_assert_eq(cf_rlock_level(&f.rlock), 3);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(cf_rlock_release(&f.rlock), 0);
    cr_assert_eq(cf_rlock_release(&f.rlock), -EPERM);
    pthread_join(t, NULL);
    cr_assert_eq(p.got, 0);
}

#define COND_ITEMS 20000
#define COND_SLOTS 8

struct cond_buffer {
    struct cond_fix *f;
    long slots[COND_SLOTS];
    int head, count;
    long consumed_sum;
    int consumed;
    int failures; /* wait_for errors, checked by the test thread */
};

static bool cond_has_room(void *arg)
{
    return ((struct cond_buffer *)arg)->count < COND_SLOTS;
}

static bool cond_has_item(void *arg)
{
    return ((struct cond_buffer *)arg)->count > 0;
}

static void *cond_produce(void *arg)
{
    struct cond_buffer *b = arg;
    for (long v = 1; v <= COND_ITEMS; v++) {
        cf_cond_acquire(&b->f->cond);
        if (cf_cond_wait_for(&b->f->cond, cond_has_room, b, CF_FOREVER) != 0)
            b->failures++;
        b->slots[(b->head + b->count++) % COND_SLOTS] = v;
        cf_cond_notify_all(&b->f->cond);
        cf_cond_release(&b->f->cond);
    }
    return NULL;
}

static void *cond_consume(void *arg)
{
    struct cond_buffer *b = arg;
    for (int i = 0; i < COND_ITEMS; i++) {
        cf_cond_acquire(&b->f->cond);
        if (cf_cond_wait_for(&b->f->cond, cond_has_item, b, CF_FOREVER) != 0)
            b->failures++;
        b->consumed_sum += b->slots[b->head];
        b->head = (b->head + 1) % COND_SLOTS;
        b->count--;
        b->consumed++;
        cf_cond_notify_all(&b->f->cond);
        cf_cond_release(&b->f->cond);
    }
    return NULL;
}

/* A bounded buffer on one condition, two producers and two consumers:
 * every item arrives exactly once. */
Test(th_cond, bounded_buffer_under_contention, .timeout = 20)
{
    struct cond_fix f;
    struct cond_buffer b = {.f = &f};
    pthread_t t[4];
    cond_fix_init(&f, false);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, i < 2 ? cond_produce : cond_consume, &b), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    long expected = 2L * ((long)COND_ITEMS * (COND_ITEMS + 1) / 2);
    cr_assert_eq(b.consumed, 2 * COND_ITEMS);
    cr_assert_eq(b.consumed_sum, expected);
    cr_assert_eq(b.count, 0);
    cr_assert_eq(b.failures, 0);
}
