/* tests/test_th_exchange.c — cf_exchange, the cookbook's pub/sub exchange
 * (recipe 12.12): every subscriber (callback, queue, actor) gets every
 * message in order and in attach order, detach stops delivery at once,
 * the subscribe scope detaches even when its function fails, named
 * exchanges are process-wide, concurrent senders give every subscriber the
 * same order, re-entry is refused, and every error path.
 */
#include <cfutures.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#define ITEM(n) ((void *)(intptr_t)(n))
#define NUM(p) ((intptr_t)(p))

enum { REC_MAX = 8192 };

/* What one subscriber received. Written during deliveries, which the
 * exchange serialises; read by the test after the sends returned. */
struct rec {
    intptr_t v[REC_MAX];
    size_t n;       /* recorded: at most REC_MAX */
    size_t calls;   /* deliveries, recorded or not */
    int fail_with;  /* returned from every delivery */
};

static int rec_fn(void *arg, void *msg)
{
    struct rec *r = arg;
    r->calls++;
    if (r->n < REC_MAX)
        r->v[r->n++] = NUM(msg);
    return r->fail_with;
}

/* Records (subscriber id, message) into one shared log. */
struct tagged {
    struct rec *shared;
    int id;
};

static int tagged_fn(void *arg, void *msg)
{
    struct tagged *t = arg;
    return rec_fn(t->shared, ITEM(t->id * 1000 + NUM(msg)));
}

static void expect_seq(const struct rec *r, intptr_t first, size_t n)
{
    cr_assert_eq(r->n, n, "got %zu messages, want %zu", r->n, n);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(r->v[i], first + (intptr_t)i, "message %zu", i);
}

/* Zeroes r[0..n), inits `ex` and attaches n function subscribers s[i],
 * each recording into r[i]. */
static void init_with_recorders(cf_exchange *ex, cf_subscriber *s, struct rec *r, int n)
{
    memset(r, 0, sizeof(*r) * (size_t)n);
    cr_assert_eq(cf_exchange_init(ex), 0);
    for (int i = 0; i < n; i++) {
        cr_assert_eq(cf_subscriber_init_fn(&s[i], rec_fn, &r[i]), 0);
        cr_assert_eq(cf_exchange_attach(ex, &s[i]), 0);
    }
}

/* ------------------------------------------------------------ delivery */

Test(th_exchange_send, every_subscriber_every_message_in_order, .timeout = 20)
{
    static struct rec r[3];
    cf_exchange ex;
    cf_subscriber s[3];
    init_with_recorders(&ex, s, r, 3);
    cr_assert_eq(cf_exchange_count(&ex), 3);
    for (int m = 0; m < 100; m++)
        cr_assert_eq(cf_exchange_send(&ex, ITEM(m)), 0);
    for (int i = 0; i < 3; i++) {
        expect_seq(&r[i], 0, 100);
        cr_assert_eq(cf_exchange_detach(&ex, &s[i]), 0);
    }
    cr_assert_eq(cf_exchange_destroy(&ex), 0);
}

Test(th_exchange_send, attach_order, .timeout = 20)
{
    static struct rec shared;
    struct tagged t[3];
    cf_exchange ex;
    cf_subscriber s[3];
    memset(&shared, 0, sizeof(shared));
    cr_assert_eq(cf_exchange_init(&ex), 0);
    /* attach 2, 0, 1: delivery follows that order */
    const int order[3] = {2, 0, 1};
    for (int k = 0; k < 3; k++) {
        int i = order[k];
        t[i] = (struct tagged){&shared, i + 1};
        cr_assert_eq(cf_subscriber_init_fn(&s[i], tagged_fn, &t[i]), 0);
        cr_assert_eq(cf_exchange_attach(&ex, &s[i]), 0);
    }
    cr_assert_eq(cf_exchange_send(&ex, ITEM(5)), 0);
    cr_assert_eq(cf_exchange_send(&ex, ITEM(6)), 0);
    const intptr_t want[] = {3005, 1005, 2005, 3006, 1006, 2006};
    cr_assert_eq(shared.n, 6);
    for (int k = 0; k < 6; k++)
        cr_assert_eq(shared.v[k], want[k], "delivery %d", k);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(cf_exchange_detach(&ex, &s[i]), 0);
    cr_assert_eq(cf_exchange_destroy(&ex), 0);
}

Test(th_exchange_send, detach_stops_delivery, .timeout = 20)
{
    static struct rec r[3];
    cf_exchange ex;
    cf_subscriber s[3];
    init_with_recorders(&ex, s, r, 3);
    cr_assert_eq(cf_exchange_send(&ex, ITEM(0)), 0);
    cr_assert_eq(cf_exchange_detach(&ex, &s[1]), 0); /* the middle one */
    cr_assert_eq(cf_exchange_count(&ex), 2);
    cr_assert_eq(cf_exchange_send(&ex, ITEM(1)), 0);
    cr_assert_eq(cf_exchange_detach(&ex, &s[0]), 0); /* the head */
    cr_assert_eq(cf_exchange_send(&ex, ITEM(2)), 0);
    cr_assert_eq(cf_exchange_detach(&ex, &s[2]), 0); /* the last */
    cr_assert_eq(cf_exchange_send(&ex, ITEM(3)), 0); /* nobody: fine */
    expect_seq(&r[0], 0, 2);
    expect_seq(&r[1], 0, 1);
    expect_seq(&r[2], 0, 3);
    /* Re-attached, it goes to the end and receives again. */
    cr_assert_eq(cf_exchange_attach(&ex, &s[1]), 0);
    cr_assert_eq(cf_exchange_send(&ex, ITEM(1)), 0);
    expect_seq(&r[1], 0, 2);
    cr_assert_eq(cf_exchange_detach(&ex, &s[1]), 0);
    cr_assert_eq(cf_exchange_count(&ex), 0);
    cr_assert_eq(cf_exchange_destroy(&ex), 0);
}

static int actor_rec(cf_actor *a, void *msg)
{
    rec_fn(cf_actor_arg(a), msg);
    return 0;
}

Test(th_exchange_send, queue_and_actor_subscribers, .timeout = 20)
{
    static struct rec r;
    cf_exchange ex;
    cf_queue q;
    cf_actor a;
    cf_subscriber sq, sa;
    memset(&r, 0, sizeof(r));
    cr_assert_eq(cf_exchange_init(&ex), 0);
    cr_assert_eq(cf_queue_init(&q, CF_QUEUE_FIFO, 0), 0);
    cr_assert_eq(cf_actor_start(&a, actor_rec, &r), 0);
    cr_assert_eq(cf_subscriber_init_queue(&sq, &q), 0);
    cr_assert_eq(cf_subscriber_init_actor(&sa, &a), 0);
    cr_assert_eq(cf_exchange_attach(&ex, &sq), 0);
    cr_assert_eq(cf_exchange_attach(&ex, &sa), 0);
    for (int m = 0; m < 10; m++)
        cr_assert_eq(cf_exchange_send(&ex, ITEM(m)), 0);
    for (int m = 0; m < 10; m++) {
        void *item;
        cr_assert_eq(cf_queue_try_get(&q, &item), 0);
        cr_assert_eq(NUM(item), m);
    }
    cr_assert(cf_queue_empty(&q));
    cr_assert_eq(cf_exchange_detach(&ex, &sq), 0);
    cr_assert_eq(cf_exchange_detach(&ex, &sa), 0);
    cf_actor_destroy(&a); /* handles everything sent, then joins */
    expect_seq(&r, 0, 10);
    cf_queue_destroy(&q);
    cr_assert_eq(cf_exchange_destroy(&ex), 0);
}

/* A failing subscriber does not stop the others; send reports the first
 * failure. A shut-down queue gives CF_ESHUTDOWN. */
Test(th_exchange_send, failures_reported_delivery_goes_on, .timeout = 20)
{
    static struct rec r[3];
    cf_exchange ex;
    cf_queue q;
    cf_subscriber s[3], sq;
    init_with_recorders(&ex, s, r, 3);
    r[0].fail_with = -EIO;
    r[1].fail_with = -ENOSPC;
    cr_assert_eq(cf_queue_init(&q, CF_QUEUE_FIFO, 0), 0);
    cr_assert_eq(cf_exchange_send(&ex, ITEM(0)), -EIO);
    for (int i = 0; i < 3; i++)
        expect_seq(&r[i], 0, 1);
    cr_assert_eq(cf_exchange_detach(&ex, &s[0]), 0);
    cr_assert_eq(cf_exchange_detach(&ex, &s[1]), 0);
    cr_assert_eq(cf_subscriber_init_queue(&sq, &q), 0);
    cr_assert_eq(cf_exchange_attach(&ex, &sq), 0);
    cr_assert_eq(cf_queue_shutdown(&q, false), 0);
    cr_assert_eq(cf_exchange_send(&ex, ITEM(1)), CF_ESHUTDOWN);
    expect_seq(&r[2], 0, 2);
    cr_assert_eq(cf_exchange_detach(&ex, &s[2]), 0);
    cr_assert_eq(cf_exchange_detach(&ex, &sq), 0);
    cf_queue_destroy(&q);
    cr_assert_eq(cf_exchange_destroy(&ex), 0);
}

/* ------------------------------------------------------ subscribe scope */

struct scope_ctl {
    int sends;
    int ret;
    size_t count_inside;
};

static int scope_body(cf_exchange *ex, void *arg)
{
    struct scope_ctl *c = arg;
    c->count_inside = cf_exchange_count(ex);
    for (int m = 0; m < c->sends; m++)
        if (cf_exchange_send(ex, ITEM(m)) != 0)
            return -EPIPE;
    return c->ret;
}

static void scope_case(int ret)
{
    static struct rec r[2];
    cf_exchange ex;
    cf_subscriber s[2];
    cf_subscriber *subs[2] = {&s[0], &s[1]};
    struct scope_ctl c = {5, ret, 0};
    memset(r, 0, sizeof(r));
    cr_assert_eq(cf_exchange_init(&ex), 0);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(cf_subscriber_init_fn(&s[i], rec_fn, &r[i]), 0);
    cr_assert_eq(cf_exchange_subscribe(&ex, subs, 2, scope_body, &c), ret);
    cr_assert_eq(c.count_inside, 2);
    cr_assert_eq(cf_exchange_count(&ex), 0);
    cr_assert_eq(cf_exchange_send(&ex, ITEM(99)), 0);
    for (int i = 0; i < 2; i++) {
        expect_seq(&r[i], 0, 5);
        cr_assert_eq(cf_exchange_detach(&ex, &s[i]), -EINVAL); /* gone */
    }
    cr_assert_eq(cf_exchange_destroy(&ex), 0);
}

Test(th_exchange_scope, detaches_after_success, .timeout = 20)
{
    scope_case(0);
}

Test(th_exchange_scope, detaches_when_fn_fails, .timeout = 20)
{
    scope_case(-EIO);
}

/* An attach failure inside the scope: fn does not run, the subscribers
 * attached so far are detached again. */
Test(th_exchange_scope, attach_failure_unwinds, .timeout = 20)
{
    static struct rec r[3];
    cf_exchange ex, other;
    cf_subscriber s[3];
    cf_subscriber *subs[3] = {&s[0], &s[1], &s[2]};
    struct scope_ctl c = {1, 0, 12345};
    memset(r, 0, sizeof(r));
    cr_assert_eq(cf_exchange_init(&ex), 0);
    cr_assert_eq(cf_exchange_init(&other), 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(cf_subscriber_init_fn(&s[i], rec_fn, &r[i]), 0);
    cr_assert_eq(cf_exchange_attach(&other, &s[2]), 0); /* busy elsewhere */
    cr_assert_eq(cf_exchange_subscribe(&ex, subs, 3, scope_body, &c), -EINVAL);
    cr_assert_eq(c.count_inside, 12345); /* fn never ran */
    cr_assert_eq(cf_exchange_count(&ex), 0);
    cr_assert_eq(cf_exchange_count(&other), 1);
    cr_assert_eq(cf_exchange_detach(&other, &s[2]), 0);
    /* The same subscriber listed twice also fails the scope. */
    subs[1] = &s[0];
    cr_assert_eq(cf_exchange_subscribe(&ex, subs, 2, scope_body, &c), -EINVAL);
    cr_assert_eq(cf_exchange_count(&ex), 0);
    /* An empty scope just runs fn. */
    c.sends = 0;
    cr_assert_eq(cf_exchange_subscribe(&ex, NULL, 0, scope_body, &c), 0);
    cr_assert_eq(c.count_inside, 0);
    cr_assert_eq(cf_exchange_destroy(&ex), 0);
    cr_assert_eq(cf_exchange_destroy(&other), 0);
}

/* --------------------------------------------------------------- named */

Test(th_exchange_named, same_name_same_exchange, .timeout = 20)
{
    static struct rec r;
    cf_exchange *a, *b, *c;
    cf_subscriber s;
    memset(&r, 0, sizeof(r));
    cr_assert_eq(cf_exchange_get("th_exchange_spam", &a), 0);
    cr_assert_eq(cf_exchange_get("th_exchange_spam", &b), 0);
    cr_assert_eq(cf_exchange_get("th_exchange_eggs", &c), 0);
    cr_assert_eq(a, b);
    cr_assert_neq(a, c);
    cr_assert_eq(cf_subscriber_init_fn(&s, rec_fn, &r), 0);
    cr_assert_eq(cf_exchange_attach(a, &s), 0);
    cr_assert_eq(cf_exchange_send(b, ITEM(0)), 0);
    cr_assert_eq(cf_exchange_send(c, ITEM(7)), 0); /* not subscribed */
    expect_seq(&r, 0, 1);
    cr_assert_eq(cf_exchange_destroy(a), -EINVAL); /* lives until exit */
    cr_assert_eq(cf_exchange_detach(b, &s), 0);
}

static void *get_named(void *p)
{
    cf_exchange **out = p;
    if (cf_exchange_get("th_exchange_race", out) != 0)
        *out = NULL;
    return NULL;
}

Test(th_exchange_named, created_once_under_concurrency, .timeout = 20)
{
    enum { T = 8 };
    pthread_t t[T];
    cf_exchange *got[T];
    for (int i = 0; i < T; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, get_named, &got[i]), 0);
    for (int i = 0; i < T; i++)
        pthread_join(t[i], NULL);
    cr_assert_not_null(got[0]);
    for (int i = 1; i < T; i++)
        cr_assert_eq(got[i], got[0]);
}

Test(th_exchange_named, bad_names, .timeout = 20)
{
    char long_name[300];
    cf_exchange *ex = NULL;
    memset(long_name, 'x', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    cr_assert_eq(cf_exchange_get(NULL, &ex), -EINVAL);
    cr_assert_eq(cf_exchange_get("", &ex), -EINVAL);
    cr_assert_eq(cf_exchange_get(long_name, &ex), -EINVAL);
    cr_assert_eq(cf_exchange_get("th_exchange_x", NULL), -EINVAL);
    cr_assert_null(ex);
    long_name[255] = '\0'; /* 255 bytes: the longest allowed */
    cr_assert_eq(cf_exchange_get(long_name, &ex), 0);
    cr_assert_not_null(ex);
}

/* ------------------------------------------------------------ threads */

struct sender {
    cf_exchange *ex;
    int id, n, rc;
};

static void *sender_main(void *p)
{
    struct sender *s = p;
    for (int i = 0; i < s->n && s->rc == 0; i++)
        s->rc = cf_exchange_send(s->ex, ITEM(s->id * 100000 + i));
    return NULL;
}

/* Concurrent senders: both subscribers see all messages, in one and the
 * same order, each sender's own messages in its order. */
Test(th_exchange_threads, concurrent_senders_one_order, .timeout = 20)
{
    enum { S = 4, PER = 1000 };
    static struct rec r[2];
    cf_exchange ex;
    cf_subscriber sub[2];
    pthread_t t[S];
    struct sender snd[S];
    int next[S] = {0};
    init_with_recorders(&ex, sub, r, 2);
    for (int i = 0; i < S; i++) {
        snd[i] = (struct sender){&ex, i + 1, PER, 0};
        cr_assert_eq(pthread_create(&t[i], NULL, sender_main, &snd[i]), 0);
    }
    for (int i = 0; i < S; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(snd[i].rc, 0);
    }
    cr_assert_eq(r[0].n, S * PER);
    cr_assert_eq(r[1].n, S * PER);
    cr_assert_eq(memcmp(r[0].v, r[1].v, sizeof(intptr_t) * S * PER), 0);
    for (size_t k = 0; k < r[0].n; k++) {
        int id = (int)(r[0].v[k] / 100000) - 1, i = (int)(r[0].v[k] % 100000);
        cr_assert(id >= 0 && id < S);
        cr_assert_eq(i, next[id]++);
    }
    for (int i = 0; i < 2; i++)
        cr_assert_eq(cf_exchange_detach(&ex, &sub[i]), 0);
    cr_assert_eq(cf_exchange_destroy(&ex), 0);
}

/* Attach/detach racing with a sender: after detach returns, the
 * subscriber's count never moves again. */
struct churn {
    cf_exchange *ex;
    _Atomic int stop;
};

static void *churn_sender(void *p)
{
    struct churn *c = p;
    while (!c->stop)
        cf_exchange_send(c->ex, ITEM(1));
    return NULL;
}

Test(th_exchange_threads, detach_is_final_under_sends, .timeout = 20)
{
    static struct rec r;
    cf_exchange ex;
    cf_subscriber s;
    pthread_t t;
    struct churn c = {&ex, 0};
    memset(&r, 0, sizeof(r));
    cr_assert_eq(cf_exchange_init(&ex), 0);
    cr_assert_eq(cf_subscriber_init_fn(&s, rec_fn, &r), 0);
    cr_assert_eq(pthread_create(&t, NULL, churn_sender, &c), 0);
    for (int i = 0; i < 200; i++) {
        cr_assert_eq(cf_exchange_attach(&ex, &s), 0);
        cr_assert_eq(cf_exchange_detach(&ex, &s), 0);
        size_t before = r.calls; /* no delivery can be in flight now */
        cr_assert_eq(cf_exchange_count(&ex), 0);
        cr_assert_eq(r.calls, before);
    }
    /* Attached again until at least one message arrives, so the test
     * shows deliveries did happen while attached. Each time it stays
     * attached a millisecond: a bare attach/detach spin could starve the
     * sender of attached moments on a loaded machine (a review saw it spin
     * for minutes). Bounded, so a hang fails instead. */
    /* Deliveries, not records: the first loop may fill the record
     * (REC_MAX), after which r.n no longer moves (seen under TSan). */
    size_t before = r.calls;
    bool delivered = false;
    for (int i = 0; i < 15000 && !delivered; i++) {
        cr_assert_eq(cf_exchange_attach(&ex, &s), 0);
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
        cr_assert_eq(cf_exchange_detach(&ex, &s), 0);
        delivered = r.calls > before;
    }
    cr_assert(delivered, "no message arrived while attached");
    c.stop = 1;
    pthread_join(t, NULL);
    size_t final = r.calls;
    cr_assert_eq(cf_exchange_send(&ex, ITEM(2)), 0);
    cr_assert_eq(r.calls, final);
    cr_assert_eq(cf_exchange_destroy(&ex), 0);
}

/* ------------------------------------------------------------ re-entry */

struct reentry {
    cf_exchange *self, *other;
    cf_subscriber *extra;
    int attach_rc, detach_rc, send_rc, other_rc;
};

static int reentry_fn(void *arg, void *msg)
{
    struct reentry *e = arg;
    (void)msg;
    e->attach_rc = cf_exchange_attach(e->self, e->extra);
    e->detach_rc = cf_exchange_detach(e->self, e->extra);
    e->send_rc = cf_exchange_send(e->self, ITEM(1));
    e->other_rc = cf_exchange_send(e->other, ITEM(2));
    return 0;
}

Test(th_exchange_errors, reentry_is_edeadlk, .timeout = 20)
{
    static struct rec r;
    cf_exchange ex, other;
    cf_subscriber s, extra, in_other;
    struct reentry e = {&ex, &other, &extra, 1, 1, 1, 1};
    memset(&r, 0, sizeof(r));
    cr_assert_eq(cf_exchange_init(&ex), 0);
    cr_assert_eq(cf_exchange_init(&other), 0);
    cr_assert_eq(cf_subscriber_init_fn(&s, reentry_fn, &e), 0);
    cr_assert_eq(cf_subscriber_init_fn(&extra, rec_fn, &r), 0);
    cr_assert_eq(cf_subscriber_init_fn(&in_other, rec_fn, &r), 0);
    cr_assert_eq(cf_exchange_attach(&ex, &s), 0);
    cr_assert_eq(cf_exchange_attach(&other, &in_other), 0);
    cr_assert_eq(cf_exchange_send(&ex, ITEM(0)), 0);
    cr_assert_eq(e.attach_rc, -EDEADLK);
    cr_assert_eq(e.detach_rc, -EDEADLK);
    cr_assert_eq(e.send_rc, -EDEADLK);
    cr_assert_eq(e.other_rc, 0);
    expect_seq(&r, 2, 1); /* only the other exchange's message */
    cr_assert_eq(cf_exchange_detach(&ex, &s), 0);
    cr_assert_eq(cf_exchange_detach(&other, &in_other), 0);
    cr_assert_eq(cf_exchange_destroy(&ex), 0);
    cr_assert_eq(cf_exchange_destroy(&other), 0);
}

/* --------------------------------------------------------- error paths */

Test(th_exchange_errors, bad_arguments, .timeout = 20)
{
    static struct rec r;
    cf_exchange ex;
    cf_subscriber s, blank;
    cf_queue q;
    cf_actor a;
    memset(&blank, 0, sizeof(blank));
    cr_assert_eq(cf_subscriber_init_fn(NULL, rec_fn, &r), -EINVAL);
    cr_assert_eq(cf_subscriber_init_fn(&s, NULL, &r), -EINVAL);
    cr_assert_eq(cf_subscriber_init_queue(&s, NULL), -EINVAL);
    cr_assert_eq(cf_subscriber_init_queue(NULL, &q), -EINVAL);
    cr_assert_eq(cf_subscriber_init_actor(&s, NULL), -EINVAL);
    cr_assert_eq(cf_subscriber_init_actor(NULL, &a), -EINVAL);
    cr_assert_eq(cf_exchange_init(NULL), -EINVAL);
    cr_assert_eq(cf_exchange_destroy(NULL), -EINVAL);
    cr_assert_eq(cf_exchange_attach(NULL, &s), -EINVAL);
    cr_assert_eq(cf_exchange_detach(NULL, &s), -EINVAL);
    cr_assert_eq(cf_exchange_send(NULL, ITEM(0)), -EINVAL);
    cr_assert_eq(cf_exchange_count(NULL), 0);

    cr_assert_eq(cf_exchange_init(&ex), 0);
    cr_assert_eq(cf_subscriber_init_fn(&s, rec_fn, &r), 0);
    cr_assert_eq(cf_exchange_attach(&ex, NULL), -EINVAL);
    cr_assert_eq(cf_exchange_attach(&ex, &blank), -EINVAL); /* no target */
    cr_assert_eq(cf_exchange_detach(&ex, &s), -EINVAL);     /* not attached */
    cr_assert_eq(cf_exchange_attach(&ex, &s), 0);
    cr_assert_eq(cf_exchange_attach(&ex, &s), -EINVAL); /* twice */
    cr_assert_eq(cf_exchange_count(&ex), 1);
    cr_assert_eq(cf_exchange_destroy(&ex), -EBUSY);
    cr_assert_eq(cf_exchange_subscribe(NULL, NULL, 0, scope_body, NULL), -EINVAL);
    cr_assert_eq(cf_exchange_subscribe(&ex, NULL, 1, scope_body, NULL), -EINVAL);
    cr_assert_eq(cf_exchange_subscribe(&ex, NULL, 0, NULL, NULL), -EINVAL);
    cr_assert_eq(cf_exchange_detach(&ex, &s), 0);
    cr_assert_eq(cf_exchange_detach(&ex, &s), -EINVAL); /* twice */
    cr_assert_eq(cf_exchange_destroy(&ex), 0);
}
