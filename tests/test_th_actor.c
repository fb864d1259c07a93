/* tests/test_th_actor.c — cf_actor, the cookbook's Actor and Worker
 * (recipe 12.10): messages handled in send order (per sender, with several
 * senders), close finishing queued messages then ending the thread, join
 * with and without timeout, submit returning futures with results
 * (pow(2, 3) -> 8) and errors, calls and messages in one order, a failing
 * handler stopping the actor and failing pending calls, cancellation
 * before a call runs, and every error path.
 *
 * The actor's log is written only on its thread and read after
 * cf_actor_join (which orders the two); a gate call blocks the actor
 * where a test needs mail queued behind it.
 */
#include <cfutures.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#define ITEM(n) ((void *)(intptr_t)(n))
#define NUM(p) ((intptr_t)(p))

enum { LOG_MAX = 4096 };

struct log {
    intptr_t v[LOG_MAX];
    size_t n;
};

static void log_add(struct log *l, intptr_t v)
{
    if (l->n < LOG_MAX)
        l->v[l->n++] = v;
}

static int log_handler(cf_actor *a, void *msg)
{
    log_add(cf_actor_arg(a), NUM(msg));
    return 0;
}

/* A one-shot gate: calls block in it until the test opens it. */
struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool open;
};

static void gate_init(struct gate *g)
{
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->open = false;
}

static void gate_open(struct gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->open = true;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static void gate_destroy(struct gate *g)
{
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
}

static int gate_call(void *arg, msgpack_packer *out)
{
    struct gate *g = arg;
    pthread_mutex_lock(&g->mu);
    while (!g->open)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
    return msgpack_pack_nil(out);
}

/* ------------------------------------------------------------ messages */

Test(th_actor_messages, handled_in_order, .timeout = 20)
{
    static struct log log;
    cf_actor a;
    log.n = 0;
    cr_assert_eq(cf_actor_start(&a, log_handler, &log), 0);
    cr_assert(cf_actor_is_alive(&a));
    cr_assert_eq(cf_actor_arg(&a), &log);
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(cf_actor_send(&a, ITEM(i)), 0);
    cr_assert_eq(cf_actor_close(&a), 0);
    cr_assert_eq(cf_actor_join(&a, CF_FOREVER), 0);
    cr_assert_not(cf_actor_is_alive(&a));
    cr_assert_eq(cf_actor_error(&a), 0);
    cr_assert_eq(log.n, 1000);
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(log.v[i], i);
    cf_actor_destroy(&a);
}

struct sender {
    cf_actor *a;
    int id, n, rc;
};

static void *sender_main(void *p)
{
    struct sender *s = p;
    for (int i = 0; i < s->n && s->rc == 0; i++)
        s->rc = cf_actor_send(s->a, ITEM(s->id * 10000 + i));
    return NULL;
}

/* Several senders: every message arrives once, each sender's in order. */
Test(th_actor_messages, several_senders_keep_their_order, .timeout = 20)
{
    enum { S = 4, PER = 500 };
    static struct log log;
    cf_actor a;
    pthread_t t[S];
    struct sender s[S];
    int next[S] = {0};
    log.n = 0;
    cr_assert_eq(cf_actor_start(&a, log_handler, &log), 0);
    for (int i = 0; i < S; i++) {
        s[i] = (struct sender){&a, i + 1, PER, 0};
        cr_assert_eq(pthread_create(&t[i], NULL, sender_main, &s[i]), 0);
    }
    for (int i = 0; i < S; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(s[i].rc, 0);
    }
    cr_assert_eq(cf_actor_close(&a), 0);
    cr_assert_eq(cf_actor_join(&a, CF_FOREVER), 0);
    cr_assert_eq(log.n, S * PER);
    for (size_t k = 0; k < log.n; k++) {
        int id = (int)(log.v[k] / 10000) - 1, i = (int)(log.v[k] % 10000);
        cr_assert(id >= 0 && id < S);
        cr_assert_eq(i, next[id], "sender %d: got %d want %d", id, i, next[id]);
        next[id]++;
    }
    cf_actor_destroy(&a);
}

/* close is the sentinel: queued messages are still handled, later ones
 * are refused. */
Test(th_actor_messages, close_finishes_queued_then_refuses, .timeout = 20)
{
    static struct log log;
    struct gate g;
    cf_actor a;
    log.n = 0;
    gate_init(&g);
    cr_assert_eq(cf_actor_start(&a, log_handler, &log), 0);
    cr_assert_eq(cf_actor_submit(&a, gate_call, &g, NULL), 0);
    for (int i = 0; i < 50; i++)
        cr_assert_eq(cf_actor_send(&a, ITEM(i)), 0);
    cr_assert_eq(cf_actor_close(&a), 0);
    cr_assert_eq(cf_actor_close(&a), 0); /* idempotent */
    cr_assert_eq(cf_actor_send(&a, ITEM(99)), CF_ESHUTDOWN);
    cf_future *f = NULL;
    cr_assert_eq(cf_actor_submit(&a, gate_call, &g, &f), CF_ESHUTDOWN);
    cr_assert_null(f);
    cr_assert_eq(cf_actor_join(&a, 0), -ETIMEDOUT); /* held by the gate */
    cr_assert(cf_actor_is_alive(&a));
    gate_open(&g);
    cr_assert_eq(cf_actor_join(&a, CF_FOREVER), 0);
    cr_assert_eq(cf_actor_join(&a, 0), 0); /* again: still 0 */
    cr_assert_eq(log.n, 50);
    for (int i = 0; i < 50; i++)
        cr_assert_eq(log.v[i], i);
    cf_actor_destroy(&a);
    gate_destroy(&g);
}

Test(th_actor_messages, join_times_out_while_running, .timeout = 20)
{
    static struct log log;
    cf_actor a;
    cr_assert_eq(cf_actor_start(&a, log_handler, &log), 0);
    cr_assert_eq(cf_actor_join(&a, 0), -ETIMEDOUT);
    cr_assert_eq(cf_actor_join(&a, 0.02), -ETIMEDOUT);
    cr_assert(cf_actor_is_alive(&a));
    cf_actor_destroy(&a); /* closes and joins */
}

/* A handler may close its own actor; join from the actor is refused. */
struct self_ctl {
    struct log log;
    int join_rc;
};

static int self_close_handler(cf_actor *a, void *msg)
{
    struct self_ctl *c = cf_actor_arg(a);
    log_add(&c->log, NUM(msg));
    if (NUM(msg) == 2) {
        c->join_rc = cf_actor_join(a, 0);
        return cf_actor_close(a);
    }
    return 0;
}

Test(th_actor_messages, handler_closes_its_actor, .timeout = 20)
{
    static struct self_ctl c;
    struct gate g;
    cf_actor a;
    gate_init(&g);
    c.log.n = 0;
    c.join_rc = 1;
    cr_assert_eq(cf_actor_start(&a, self_close_handler, &c), 0);
    cr_assert_eq(cf_actor_submit(&a, gate_call, &g, NULL), 0);
    for (int i = 1; i <= 3; i++) /* 3 is queued before the close: handled */
        cr_assert_eq(cf_actor_send(&a, ITEM(i)), 0);
    gate_open(&g);
    cr_assert_eq(cf_actor_join(&a, CF_FOREVER), 0);
    cr_assert_eq(c.join_rc, -EDEADLK);
    cr_assert_eq(c.log.n, 3);
    cr_assert_eq(cf_actor_send(&a, ITEM(4)), CF_ESHUTDOWN);
    cf_actor_destroy(&a);
    gate_destroy(&g);
}

/* destroy without close handles everything queued first. */
Test(th_actor_messages, destroy_drains, .timeout = 20)
{
    static struct log log;
    cf_actor a;
    log.n = 0;
    cr_assert_eq(cf_actor_start(&a, log_handler, &log), 0);
    for (int i = 0; i < 20; i++)
        cr_assert_eq(cf_actor_send(&a, ITEM(i)), 0);
    cf_actor_destroy(&a);
    cr_assert_eq(log.n, 20);
    cr_assert_eq(log.v[19], 19);
}

/* ------------------------------------------------------------- submit */

struct pow_args {
    int64_t base, exp;
};

static int pow_call(void *arg, msgpack_packer *out)
{
    const struct pow_args *p = arg;
    if (p->exp < 0)
        return cf_task_fail("pow: negative exponent %lld", (long long)p->exp);
    int64_t r = 1;
    for (int64_t i = 0; i < p->exp; i++)
        r *= p->base;
    return msgpack_pack_int64(out, r);
}

Test(th_actor_submit, pow_2_3_is_8, .timeout = 20)
{
    cf_actor a;
    cf_future *f;
    struct pow_args args = {2, 3};
    int64_t v = 0;
    cr_assert_eq(cf_actor_start(&a, NULL, NULL), 0); /* a Worker */
    cr_assert_eq(cf_actor_submit(&a, pow_call, &args, &f), 0);
    cr_assert_eq(cf_future_result_i64(f, CF_FOREVER, &v), 0);
    cr_assert_eq(v, 8);
    cr_assert(cf_future_done(f));
    cf_future_release(f);
    cf_actor_destroy(&a);
}

Test(th_actor_submit, many_results, .timeout = 20)
{
    enum { N = 64 };
    cf_actor a;
    cf_future *f[N];
    struct pow_args args[N];
    cr_assert_eq(cf_actor_start(&a, NULL, NULL), 0);
    for (int i = 0; i < N; i++) {
        args[i] = (struct pow_args){3, i % 20};
        cr_assert_eq(cf_actor_submit(&a, pow_call, &args[i], &f[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        int64_t v, want = 1;
        for (int k = 0; k < i % 20; k++)
            want *= 3;
        cr_assert_eq(cf_future_result_i64(f[i], CF_FOREVER, &v), 0);
        cr_assert_eq(v, want, "3^%d", i % 20);
        cf_future_release(f[i]);
    }
    cf_actor_destroy(&a);
}

Test(th_actor_submit, task_fail_gives_etask_and_message, .timeout = 20)
{
    cf_actor a;
    cf_future *f;
    struct pow_args args = {2, -1};
    cr_assert_eq(cf_actor_start(&a, NULL, NULL), 0);
    cr_assert_eq(cf_actor_submit(&a, pow_call, &args, &f), 0);
    cr_assert_eq(cf_future_error(f, CF_FOREVER), CF_ETASK);
    cr_assert_str_eq(cf_future_error_message(f), "pow: negative exponent -1");
    cr_assert_eq(cf_future_result(f, 0, NULL), CF_ETASK);
    cf_future_release(f);
    cf_actor_destroy(&a);
}

static int erange_call(void *arg, msgpack_packer *out)
{
    (void)arg;
    (void)out;
    return -ERANGE;
}

static int nothing_call(void *arg, msgpack_packer *out)
{
    (void)arg;
    (void)out;
    return 0;
}

static int two_objects_call(void *arg, msgpack_packer *out)
{
    (void)arg;
    msgpack_pack_int(out, 1);
    return msgpack_pack_int(out, 2);
}

Test(th_actor_submit, other_errors, .timeout = 20)
{
    cf_actor a;
    cf_future *f1, *f2, *f3;
    cr_assert_eq(cf_actor_start(&a, NULL, NULL), 0);
    cr_assert_eq(cf_actor_submit(&a, erange_call, NULL, &f1), 0);
    cr_assert_eq(cf_actor_submit(&a, nothing_call, NULL, &f2), 0);
    cr_assert_eq(cf_actor_submit(&a, two_objects_call, NULL, &f3), 0);
    /* CF_ETASK, as the same failures of a task in a pool. */
    cr_assert_eq(cf_future_error(f1, CF_FOREVER), CF_ETASK);
    cr_assert_str_eq(cf_future_error_message(f1), "actor call returned -34");
    cr_assert_eq(cf_future_error(f2, CF_FOREVER), CF_ETASK);
    cr_assert(strstr(cf_future_error_message(f2), "exactly one"));
    cr_assert_eq(cf_future_error(f3, CF_FOREVER), CF_ETASK);
    cf_future_release(f1);
    cf_future_release(f2);
    cf_future_release(f3);
    cr_assert_eq(cf_actor_error(&a), 0); /* a failing call does not stop it */
    cf_actor_destroy(&a);
}

/* Calls and messages share one order. */
struct mixed {
    struct log log;
    cf_actor *a;
};

static int mixed_handler(cf_actor *a, void *msg)
{
    struct mixed *m = cf_actor_arg(a);
    log_add(&m->log, NUM(msg));
    return 0;
}

static int mixed_call(void *arg, msgpack_packer *out)
{
    struct mixed *m = arg;
    log_add(&m->log, -(intptr_t)m->log.n);
    return msgpack_pack_uint64(out, m->log.n);
}

Test(th_actor_submit, calls_and_messages_in_one_order, .timeout = 20)
{
    static struct mixed m;
    cf_actor a;
    cf_future *f[10];
    m.log.n = 0;
    cr_assert_eq(cf_actor_start(&a, mixed_handler, &m), 0);
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(cf_actor_send(&a, ITEM(100 + i)), 0);
        cr_assert_eq(cf_actor_submit(&a, mixed_call, &m, &f[i]), 0);
    }
    cf_actor_destroy(&a);
    cr_assert_eq(m.log.n, 20);
    for (int i = 0; i < 10; i++) {
        int64_t n;
        cr_assert_eq(m.log.v[2 * i], 100 + i);
        cr_assert_eq(m.log.v[2 * i + 1], -(2 * i + 1));
        cr_assert_eq(cf_future_result_i64(f[i], 0, &n), 0);
        cr_assert_eq(n, 2 * i + 2);
        cf_future_release(f[i]);
    }
}

static int count_call(void *arg, msgpack_packer *out)
{
    (*(int *)arg)++;
    return msgpack_pack_nil(out);
}

/* A call cancelled before it starts is skipped; out NULL still runs. */
Test(th_actor_submit, cancel_before_start_skips_call, .timeout = 20)
{
    cf_actor a;
    struct gate g;
    cf_future *gf, *f;
    int runs = 0;
    gate_init(&g);
    cr_assert_eq(cf_actor_start(&a, NULL, NULL), 0);
    cr_assert_eq(cf_actor_submit(&a, gate_call, &g, &gf), 0);
    cr_assert_eq(cf_actor_submit(&a, count_call, &runs, &f), 0);
    cr_assert_eq(cf_actor_submit(&a, count_call, &runs, NULL), 0);
    cr_assert(cf_future_cancel(f));
    gate_open(&g);
    cf_actor_destroy(&a);
    cr_assert_eq(runs, 1);
    cr_assert(cf_future_cancelled(f));
    cr_assert_eq(cf_future_error(f, 0), CF_ECANCELLED);
    cf_future_release(f);
    cf_future_release(gf);
    gate_destroy(&g);
}

/* ----------------------------------------------------- failing handler */

static int fail_on_3(cf_actor *a, void *msg)
{
    log_add(cf_actor_arg(a), NUM(msg));
    return NUM(msg) == 3 ? -EIO : 0;
}

Test(th_actor_failure, handler_error_stops_actor, .timeout = 20)
{
    static struct log log;
    struct gate g;
    cf_actor a;
    cf_future *pending;
    int runs = 0;
    log.n = 0;
    gate_init(&g);
    cr_assert_eq(cf_actor_start(&a, fail_on_3, &log), 0);
    cr_assert_eq(cf_actor_submit(&a, gate_call, &g, NULL), 0);
    for (int i = 1; i <= 5; i++)
        cr_assert_eq(cf_actor_send(&a, ITEM(i)), 0);
    cr_assert_eq(cf_actor_submit(&a, count_call, &runs, &pending), 0);
    gate_open(&g);
    cr_assert_eq(cf_actor_join(&a, CF_FOREVER), 0);
    cr_assert_eq(cf_actor_error(&a), -EIO);
    cr_assert_eq(log.n, 3); /* 4 and 5 dropped unhandled */
    cr_assert_eq(log.v[2], 3);
    cr_assert_eq(cf_future_error(pending, CF_FOREVER), CF_ESHUTDOWN);
    cr_assert_eq(runs, 0);
    cr_assert_eq(cf_actor_send(&a, ITEM(6)), CF_ESHUTDOWN);
    cf_future_release(pending);
    cf_actor_destroy(&a);
    gate_destroy(&g);
}

/* --------------------------------------------------------- error paths */

Test(th_actor_errors, bad_arguments, .timeout = 20)
{
    cf_actor a;
    cf_future *f = NULL;
    cr_assert_eq(cf_actor_start(NULL, log_handler, NULL), -EINVAL);
    cr_assert_eq(cf_actor_send(NULL, ITEM(1)), -EINVAL);
    cr_assert_eq(cf_actor_submit(NULL, count_call, NULL, &f), -EINVAL);
    cr_assert_eq(cf_actor_close(NULL), -EINVAL);
    cr_assert_eq(cf_actor_join(NULL, 0), -EINVAL);
    cr_assert_eq(cf_actor_error(NULL), -EINVAL);
    cr_assert_not(cf_actor_is_alive(NULL));
    cr_assert_null(cf_actor_arg(NULL));
    cf_actor_destroy(NULL);

    cr_assert_eq(cf_actor_start(&a, NULL, NULL), 0);
    cr_assert_eq(cf_actor_send(&a, ITEM(1)), -EINVAL); /* no handler */
    cr_assert_eq(cf_actor_submit(&a, NULL, NULL, &f), -EINVAL);
    cr_assert_null(f);
    cr_assert_eq(cf_actor_join(&a, NAN), -EINVAL);
    cf_actor_destroy(&a);
}
