/* tests/test_th_thread.c — cf_thread, after CPython's ThreadTests in
 * Lib/test/test_threading.py: start twice, join with a timeout on a
 * blocked thread, is_alive transitions, idents and names, many threads,
 * joins from other threads, and every error path.
 *
 * "Still running" is made deterministic with a gate the thread blocks on
 * until the test opens it; nothing asserts on elapsed time.
 */
#include <cfutures.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------- helpers */

struct thth_gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool open;
    int waiting; /* threads blocked in thth_gate_pass */
};

static void thth_gate_init(struct thth_gate *g)
{
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->open = false;
    g->waiting = 0;
}

static void thth_gate_pass(struct thth_gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->waiting++;
    pthread_cond_broadcast(&g->cv);
    while (!g->open)
        pthread_cond_wait(&g->cv, &g->mu);
    g->waiting--;
    pthread_mutex_unlock(&g->mu);
}

static void thth_gate_open(struct thth_gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->open = true;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

/* Waits until n threads are blocked at the gate. */
static void thth_gate_await(struct thth_gate *g, int n)
{
    pthread_mutex_lock(&g->mu);
    while (g->waiting < n)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

static void thth_gate_destroy(struct thth_gate *g)
{
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
}

static void thth_incr(void *arg)
{
    atomic_fetch_add((atomic_int *)arg, 1);
}

static void thth_block(void *arg)
{
    thth_gate_pass(arg);
}

/* ----------------------------------------------------------- basics */

Test(th_thread, runs_function_with_arg, .timeout = 20)
{
    cf_thread t;
    atomic_int n = 0;

    cr_assert_eq(cf_thread_init(&t, "runner", thth_incr, &n), 0);
    cr_assert_eq(cf_thread_start(&t), 0);
    cr_assert_eq(cf_thread_join(&t, CF_FOREVER), 0);
    cr_assert_eq(atomic_load(&n), 1);
    cr_assert_eq(cf_thread_destroy(&t), 0);
}

Test(th_thread, start_twice_is_einval, .timeout = 20)
{
    cf_thread t;
    atomic_int n = 0;

    cr_assert_eq(cf_thread_init(&t, NULL, thth_incr, &n), 0);
    cr_assert_eq(cf_thread_start(&t), 0);
    cr_assert_eq(cf_thread_start(&t), -EINVAL);
    cr_assert_eq(cf_thread_join(&t, CF_FOREVER), 0);
    cr_assert_eq(cf_thread_start(&t), -EINVAL, "a finished thread cannot restart");
    cr_assert_eq(atomic_load(&n), 1, "the function ran once");
    cf_thread_destroy(&t);
}

Test(th_thread, bad_arguments, .timeout = 20)
{
    cf_thread t;
    atomic_int n = 0;

    cr_assert_eq(cf_thread_init(NULL, "x", thth_incr, &n), -EINVAL);
    cr_assert_eq(cf_thread_init(&t, "x", NULL, &n), -EINVAL);
    cr_assert_eq(cf_thread_start(NULL), -EINVAL);
    cr_assert_eq(cf_thread_join(NULL, 0), -EINVAL);
    cr_assert_eq(cf_thread_destroy(NULL), -EINVAL);
    cr_assert_not(cf_thread_is_alive(NULL));
    cr_assert_eq(cf_thread_ident(NULL), 0);
    cr_assert_eq(cf_thread_native_id(NULL), 0);
    cr_assert_str_eq(cf_thread_name(NULL), "");

    cr_assert_eq(cf_thread_init(&t, "x", thth_incr, &n), 0);
    cr_assert_eq(cf_thread_start(&t), 0);
    cr_assert_eq(cf_thread_join(&t, NAN), -EINVAL);
    cr_assert_eq(cf_thread_join(&t, CF_FOREVER), 0);
    cf_thread_destroy(&t);
}

Test(th_thread, join_never_started_is_einval, .timeout = 20)
{
    cf_thread t;
    atomic_int n = 0;

    cr_assert_eq(cf_thread_init(&t, NULL, thth_incr, &n), 0);
    cr_assert_eq(cf_thread_join(&t, 0), -EINVAL);
    cr_assert_eq(cf_thread_join(&t, CF_FOREVER), -EINVAL);
    cr_assert_not(cf_thread_is_alive(&t));
    cr_assert_eq(cf_thread_ident(&t), 0, "no ident before start");
    cr_assert_eq(cf_thread_destroy(&t), 0, "destroying an unstarted thread is fine");
    cr_assert_eq(atomic_load(&n), 0);
}

/* ----------------------------------------------------- joining */

Test(th_thread, join_timeout_on_blocked_thread, .timeout = 20)
{
    struct thth_gate g;
    cf_thread t;

    thth_gate_init(&g);
    cr_assert_eq(cf_thread_init(&t, "blocked", thth_block, &g), 0);
    cr_assert_eq(cf_thread_start(&t), 0);
    thth_gate_await(&g, 1);
    cr_assert_eq(cf_thread_join(&t, 0), -ETIMEDOUT);
    cr_assert_eq(cf_thread_join(&t, 0.05), -ETIMEDOUT);
    cr_assert(cf_thread_is_alive(&t), "still alive after a timed-out join");
    thth_gate_open(&g);
    cr_assert_eq(cf_thread_join(&t, CF_FOREVER), 0);
    cr_assert_not(cf_thread_is_alive(&t));
    cr_assert_eq(cf_thread_join(&t, 0), 0, "joining again returns at once");
    cf_thread_destroy(&t);
    thth_gate_destroy(&g);
}

Test(th_thread, is_alive_transitions, .timeout = 20)
{
    struct thth_gate g;
    cf_thread t;

    thth_gate_init(&g);
    cr_assert_eq(cf_thread_init(&t, NULL, thth_block, &g), 0);
    cr_assert_not(cf_thread_is_alive(&t), "not alive before start");
    cr_assert_eq(cf_thread_start(&t), 0);
    cr_assert(cf_thread_is_alive(&t), "alive once start returned");
    thth_gate_open(&g);
    cr_assert_eq(cf_thread_join(&t, CF_FOREVER), 0);
    cr_assert_not(cf_thread_is_alive(&t), "not alive after join");
    cf_thread_destroy(&t);
    thth_gate_destroy(&g);
}

struct thth_self {
    cf_thread t;
    int join_rc;
    int destroy_rc;
    bool current_ok;
};

static void thth_join_self(void *arg)
{
    struct thth_self *s = arg;

    s->current_ok = cf_thread_current() == &s->t;
    s->join_rc = cf_thread_join(&s->t, CF_FOREVER);
    s->destroy_rc = cf_thread_destroy(&s->t);
}

Test(th_thread, join_self_is_edeadlk, .timeout = 20)
{
    struct thth_self s = {.join_rc = 1, .destroy_rc = 1};

    cr_assert_eq(cf_thread_init(&s.t, NULL, thth_join_self, &s), 0);
    cr_assert_eq(cf_thread_start(&s.t), 0);
    cr_assert_eq(cf_thread_join(&s.t, CF_FOREVER), 0);
    cr_assert_eq(s.join_rc, -EDEADLK);
    cr_assert_eq(s.destroy_rc, -EDEADLK);
    cr_assert(s.current_ok, "cf_thread_current names the running thread");
    cr_assert_null(cf_thread_current(), "the test's thread is not a cf_thread");
    cr_assert_eq(cf_thread_destroy(&s.t), 0);
}

struct thth_joiner {
    cf_thread *target;
    int rc;
    bool target_alive_after;
};

static void thth_join_other(void *arg)
{
    struct thth_joiner *j = arg;

    j->rc = cf_thread_join(j->target, CF_FOREVER);
    j->target_alive_after = cf_thread_is_alive(j->target);
}

Test(th_thread, join_from_several_threads, .timeout = 20)
{
    enum { NJ = 4 };
    struct thth_gate g;
    cf_thread target, joiners[NJ];
    struct thth_joiner j[NJ];

    thth_gate_init(&g);
    cr_assert_eq(cf_thread_init(&target, "target", thth_block, &g), 0);
    cr_assert_eq(cf_thread_start(&target), 0);
    for (int i = 0; i < NJ; i++) {
        j[i] = (struct thth_joiner){.target = &target, .rc = 1, .target_alive_after = true};
        cr_assert_eq(cf_thread_init(&joiners[i], NULL, thth_join_other, &j[i]), 0);
        cr_assert_eq(cf_thread_start(&joiners[i]), 0);
    }
    /* The joiners are blocked behind the target, which waits on the gate. */
    for (int i = 0; i < NJ; i++)
        cr_assert_eq(cf_thread_join(&joiners[i], 0), -ETIMEDOUT);
    thth_gate_open(&g);
    for (int i = 0; i < NJ; i++) {
        cr_assert_eq(cf_thread_join(&joiners[i], CF_FOREVER), 0);
        cr_assert_eq(j[i].rc, 0, "joiner %d", i);
        cr_assert_not(j[i].target_alive_after, "joiner %d", i);
        cf_thread_destroy(&joiners[i]);
    }
    cr_assert_eq(cf_thread_join(&target, 0), 0);
    cf_thread_destroy(&target);
    thth_gate_destroy(&g);
}

static void thth_exit_early(void *arg)
{
    atomic_fetch_add((atomic_int *)arg, 1);
    pthread_exit(NULL);
}

Test(th_thread, pthread_exit_still_joins, .timeout = 20)
{
    cf_thread t;
    atomic_int n = 0;

    cr_assert_eq(cf_thread_init(&t, NULL, thth_exit_early, &n), 0);
    cr_assert_eq(cf_thread_start(&t), 0);
    cr_assert_eq(cf_thread_join(&t, CF_FOREVER), 0);
    cr_assert_not(cf_thread_is_alive(&t));
    cr_assert_eq(atomic_load(&n), 1);
    cf_thread_destroy(&t);
}

static void thth_slow_incr(void *arg)
{
    usleep(20000);
    atomic_fetch_add((atomic_int *)arg, 1);
}

Test(th_thread, destroy_joins_a_running_thread, .timeout = 20)
{
    cf_thread t;
    atomic_int n = 0;

    cr_assert_eq(cf_thread_init(&t, NULL, thth_slow_incr, &n), 0);
    cr_assert_eq(cf_thread_start(&t), 0);
    cr_assert_eq(cf_thread_destroy(&t), 0);
    cr_assert_eq(atomic_load(&n), 1, "destroy returned only after the function");
}

/* ------------------------------------------------ idents and names */

struct thth_id {
    struct thth_gate *gate;
    unsigned long seen;
    int native_seen;
    char os_name[32];
};

static void thth_record_id(void *arg)
{
    struct thth_id *r = arg;

    r->seen = cf_thread_get_ident();
    r->native_seen = (int)gettid();
    pthread_getname_np(pthread_self(), r->os_name, sizeof r->os_name);
    if (r->gate)
        thth_gate_pass(r->gate);
}

Test(th_thread, idents_distinct_while_alive, .timeout = 20)
{
    enum { NT = 8 };
    struct thth_gate g;
    cf_thread t[NT];
    struct thth_id r[NT];

    thth_gate_init(&g);
    for (int i = 0; i < NT; i++) {
        r[i] = (struct thth_id){.gate = &g};
        cr_assert_eq(cf_thread_init(&t[i], NULL, thth_record_id, &r[i]), 0);
        cr_assert_eq(cf_thread_start(&t[i]), 0);
        cr_assert_neq(cf_thread_ident(&t[i]), 0, "ident set once start returns");
    }
    thth_gate_await(&g, NT);
    for (int i = 0; i < NT; i++) {
        cr_assert_eq(cf_thread_ident(&t[i]), r[i].seen, "ident matches get_ident in thread");
        cr_assert_eq(cf_thread_native_id(&t[i]), r[i].native_seen);
        cr_assert_neq(cf_thread_ident(&t[i]), cf_thread_get_ident());
        cr_assert_neq(cf_thread_native_id(&t[i]), (int)gettid());
        for (int k = 0; k < i; k++) {
            cr_assert_neq(cf_thread_ident(&t[i]), cf_thread_ident(&t[k]), "%d vs %d", i, k);
            cr_assert_neq(cf_thread_native_id(&t[i]), cf_thread_native_id(&t[k]));
        }
    }
    thth_gate_open(&g);
    for (int i = 0; i < NT; i++) {
        cr_assert_eq(cf_thread_join(&t[i], CF_FOREVER), 0);
        cf_thread_destroy(&t[i]);
    }
    thth_gate_destroy(&g);
}

Test(th_thread, name_is_copied_and_set_in_os, .timeout = 20)
{
    char name[] = "worker-alpha";
    cf_thread t;
    struct thth_id r = {0};

    cr_assert_eq(cf_thread_init(&t, name, thth_record_id, &r), 0);
    name[0] = 'X'; /* init copied it */
    cr_assert_str_eq(cf_thread_name(&t), "worker-alpha");
    cr_assert_eq(cf_thread_start(&t), 0);
    cr_assert_eq(cf_thread_join(&t, CF_FOREVER), 0);
    cr_assert_str_eq(r.os_name, "worker-alpha");
    cf_thread_destroy(&t);
}

Test(th_thread, long_name_truncated, .timeout = 20)
{
    char name[100];
    char expect_full[CF_THREAD_NAME_MAX];
    cf_thread t;
    struct thth_id r = {0};

    for (int i = 0; i < 99; i++)
        name[i] = (char)('a' + i % 26);
    name[99] = '\0';
    memcpy(expect_full, name, CF_THREAD_NAME_MAX - 1);
    expect_full[CF_THREAD_NAME_MAX - 1] = '\0';
    cr_assert_eq(cf_thread_init(&t, name, thth_record_id, &r), 0);
    cr_assert_str_eq(cf_thread_name(&t), expect_full);
    cr_assert_eq(cf_thread_start(&t), 0);
    cr_assert_eq(cf_thread_join(&t, CF_FOREVER), 0);
    cr_assert_eq(strlen(r.os_name), 15);
    cr_assert_eq(strncmp(r.os_name, name, 15), 0, "OS sees %s", r.os_name);
    cf_thread_destroy(&t);
}

Test(th_thread, default_names_distinct, .timeout = 20)
{
    cf_thread a, b;
    atomic_int n = 0;

    cr_assert_eq(cf_thread_init(&a, NULL, thth_incr, &n), 0);
    cr_assert_eq(cf_thread_init(&b, NULL, thth_incr, &n), 0);
    cr_assert_eq(strncmp(cf_thread_name(&a), "Thread-", 7), 0, "%s", cf_thread_name(&a));
    cr_assert_eq(strncmp(cf_thread_name(&b), "Thread-", 7), 0, "%s", cf_thread_name(&b));
    cr_assert_str_neq(cf_thread_name(&a), cf_thread_name(&b));
    cf_thread_destroy(&a);
    cf_thread_destroy(&b);
}

/* ------------------------------------------------------ many threads */

Test(th_thread, many_threads, .timeout = 20)
{
    enum { NT = 100 };
    static cf_thread t[NT];
    atomic_int n = 0;

    for (int i = 0; i < NT; i++) {
        cr_assert_eq(cf_thread_init(&t[i], NULL, thth_incr, &n), 0);
        cr_assert_eq(cf_thread_start(&t[i]), 0, "thread %d", i);
    }
    for (int i = 0; i < NT; i++) {
        cr_assert_eq(cf_thread_join(&t[i], CF_FOREVER), 0);
        cf_thread_destroy(&t[i]);
    }
    cr_assert_eq(atomic_load(&n), NT);
}
