/* The executor's event-loop handle: cf_executor_loop_fd,
 * cf_future_add_loop_callback, cf_executor_run_loop_callbacks.
 *
 * Owns struct cf__loop, one per executor, made on first use and installed
 * in ex->loop with a compare-and-swap: a FIFO of loop callbacks whose
 * futures completed, and a readiness descriptor (ipc/readiness.h,
 * the same eventfd mechanism as cf_queue_fd; it depends only on the public
 * header, so the executor layer uses it where it is) that is readable
 * exactly while that FIFO is not empty.
 *
 * A loop callback is a node holding a reference to its future and one to
 * the loop, registered on the future as an ordinary done-callback
 * (deliver): the completing thread (a pool thread, the collector, a
 * canceller) only appends the node and raises the descriptor; the loop's
 * thread runs the user's function. The loop is reference-counted apart
 * from its executor so that a future of another executor completing after
 * this one was released finds a closed loop, not freed memory.
 *
 * `mu` guards head/tail/closed and every update of `ready`. Lock order: a
 * future's mu is never held here (done-callbacks run with no lock held);
 * no user function runs with mu held.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "executor/executor.h"
#include "ipc/readiness.h"

struct loop_node {
    struct cf__loop *loop;
    cf_future *f;
    cf_done_fn fn;
    void *arg;
    struct loop_node *next;
};

struct cf__loop {
    _Atomic int refs; /* the executor's, plus one per node */
    pthread_mutex_t mu;
    struct cf__readiness ready;
    struct loop_node *head, *tail; /* completed, not yet run */
    bool closed;                   /* the executor was released */
};

static void loop_unref(struct cf__loop *l)
{
    if (atomic_fetch_sub_explicit(&l->refs, 1, memory_order_acq_rel) != 1)
        return;
    cf__readiness_close(&l->ready);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

/* ex's loop, made now if it has none. 0 or a negative code. */
static int get_loop(cf_executor *ex, struct cf__loop **out)
{
    struct cf__loop *l = atomic_load_explicit(&ex->loop, memory_order_acquire);
    if (l) {
        *out = l;
        return 0;
    }
    if (!(l = calloc(1, sizeof(*l))))
        return -ENOMEM;
    atomic_init(&l->refs, 1);
    pthread_mutex_init(&l->mu, NULL);
    cf__readiness_init(&l->ready);
    int rc = cf__readiness_open(&l->ready, false);
    if (rc < 0) {
        pthread_mutex_destroy(&l->mu);
        free(l);
        return rc;
    }
    struct cf__loop *expected = NULL;
    if (!atomic_compare_exchange_strong_explicit(&ex->loop, &expected, l, memory_order_acq_rel,
                                                 memory_order_acquire)) {
        loop_unref(l); /* another thread installed one first */
        l = expected;
    }
    *out = l;
    return 0;
}

int cf_executor_loop_fd(cf_executor *ex)
{
    if (!ex)
        return -EINVAL;
    struct cf__loop *l;
    int rc = get_loop(ex, &l);
    return rc < 0 ? rc : l->ready.fd;
}

static void free_node(struct loop_node *n)
{
    cf_future_release(n->f);
    loop_unref(n->loop);
    free(n);
}

/* The done-callback behind every loop callback: runs on whichever thread
 * completes the future, and only queues. */
static int deliver(cf_future *f, void *arg)
{
    (void)f;
    struct loop_node *n = arg;
    struct cf__loop *l = n->loop;
    pthread_mutex_lock(&l->mu);
    bool closed = l->closed;
    if (!closed) {
        n->next = NULL;
        if (l->tail)
            l->tail->next = n;
        else
            l->head = n;
        l->tail = n;
        cf__readiness_update(&l->ready, true);
    }
    pthread_mutex_unlock(&l->mu);
    /* Released with no loop to run it: dropped (documented). The future
     * stays alive through this call (run_callbacks holds a reference). */
    if (closed)
        free_node(n);
    return 0;
}

int cf_future_add_loop_callback(cf_future *f, cf_executor *loop, cf_done_fn fn, void *arg)
{
    if (!f || !loop || !fn)
        return -EINVAL;
    struct cf__loop *l;
    int rc = get_loop(loop, &l);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&l->mu);
    bool closed = l->closed;
    pthread_mutex_unlock(&l->mu);
    if (closed)
        return CF_ESHUTDOWN;
    struct loop_node *n = malloc(sizeof(*n));
    if (!n)
        return -ENOMEM;
    atomic_fetch_add_explicit(&l->refs, 1, memory_order_relaxed);
    *n = (struct loop_node){l, cf_future_retain(f), fn, arg, NULL};
    if ((rc = cf_future_add_done_callback(f, deliver, n)) < 0)
        free_node(n);
    return rc;
}

/* Runs a detached list of nodes on this thread and frees them. */
static int run_list(struct loop_node *n)
{
    int ran = 0;
    while (n) {
        struct loop_node *next = n->next;
        int rc = n->fn(n->f, n->arg);
        if (rc != 0)
            fprintf(stderr, "cfutures: loop callback %p failed: %s (%d)\n",
                    (void *)(uintptr_t)n->fn, cf_strerror(rc), rc);
        free_node(n);
        ran++;
        n = next;
    }
    return ran;
}

/* With mu held: takes the queue and clears the descriptor. */
static struct loop_node *take_all_locked(struct cf__loop *l)
{
    struct loop_node *all = l->head;
    l->head = l->tail = NULL;
    cf__readiness_update(&l->ready, false);
    return all;
}

int cf_executor_run_loop_callbacks(cf_executor *ex)
{
    if (!ex)
        return -EINVAL;
    struct cf__loop *l = atomic_load_explicit(&ex->loop, memory_order_acquire);
    if (!l)
        return 0; /* no loop callback was ever added */
    pthread_mutex_lock(&l->mu);
    struct loop_node *all = take_all_locked(l);
    pthread_mutex_unlock(&l->mu);
    return run_list(all);
}

void cf__executor_loop_close(cf_executor *ex)
{
    struct cf__loop *l = atomic_load_explicit(&ex->loop, memory_order_acquire);
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->closed = true; /* from now on adding fails and completions drop */
    struct loop_node *all = take_all_locked(l);
    /* A thread still polling the descriptor wakes once before it closes
     * (closing alone wakes neither poll() nor epoll_wait()). */
    cf__readiness_update(&l->ready, true);
    pthread_mutex_unlock(&l->mu);
    run_list(all);
    pthread_mutex_lock(&l->mu);
    /* Closed here, not with the last node: the descriptor is documented
     * to be gone once cf_executor_release returns. */
    cf__readiness_close(&l->ready);
    pthread_mutex_unlock(&l->mu);
    atomic_store_explicit(&ex->loop, NULL, memory_order_release);
    loop_unref(l);
}
