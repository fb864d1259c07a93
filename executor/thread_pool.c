/* The thread pool backend: registered tasks run on threads of this process.
 *
 * Owns a FIFO of futures not yet taken (executor/future_queue.h: linked
 * through f->inflight_next, each holding one reference and its record in
 * f->record, which the taking thread drops) and the threads, started
 * lazily by submit. User threads submit, cancel and shut down; pool
 * threads take futures from the queue, run them (workers/execute.c, or
 * executor/native.c for a cf_submit_fn future) and complete them, running
 * their done-callbacks.
 *
 * `mu` guards every field under it. Lock order: pool mu, then a future's
 * mu. No task, callback or future completion runs with mu held.
 *
 * Cancellation is Python's: a cancelled future stays queued, and the
 * thread that takes it finds it cannot mark it running and drops it.
 *
 * Wakes: at most one thread is woken (or spinning, see spin_locked) at a
 * time on the submitters' behalf; a thread that takes a future and leaves
 * more queued wakes the next one.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "executor/initializer.h"
#include "ipc/cpu.h"
#include "executor/executor.h"
#include "executor/future_internal.h"
#include "executor/future_queue.h"
#include "ipc/clock.h"
#include "serialize/record.h"
#include "workers/execute.h"
#include "workers/pool_ipc.h"
#include "workers/registry.h"

#define MAX_WORKERS 4096
#define DEFAULT_MAX_PENDING 4096
#define DEFAULT_PREFIX "cf-thread"
/* How long one idle thread polls the queue before it sleeps: a submitter
 * feeding a stream of short tasks then needs no futex wake per task. */
#define SPIN_NS 50000

struct thread_pool {
    cf_executor base;
    int max_workers;
    size_t max_pending;
    char *prefix;
    struct cf__initializer init; /* name NULL: none */

    pthread_mutex_t mu;
    pthread_cond_t work_cv;   /* queue not empty, shutdown or broken */
    pthread_cond_t room_cv;   /* queue below max_pending, shutdown or broken */
    pthread_cond_t joined_cv; /* threads joined */
    struct cf__future_queue q; /* futures not yet taken */
    pthread_t *threads; /* [max_workers]; [0..nthreads) started */
    int nthreads;
    int busy;         /* threads between taking a task and its result */
    int idle;         /* threads blocked on work_cv */
    int wakes;        /* work_cv signals not yet taken up by a thread */
    int room_waiters; /* submitters blocked on room_cv */
    bool spinning;    /* a thread polls `seq` without mu (at most one) */
    /* Bumped under mu by every push, shutdown and break: what a spinning
     * thread watches. */
    atomic_uint seq;
    bool shutdown;
    bool broken;
    char broken_msg[CF__EXECUTE_MESSAGE_MAX + 64];
    bool joining, joined;
};

/* The pool whose thread this is, for -EDEADLK; NULL elsewhere. */
static _Thread_local struct thread_pool *current_pool;

static struct thread_pool *pool_of(cf_executor *ex)
{
    return (struct thread_pool *)ex;
}

/* ------------------------------------------------------------ queue */

static void push_locked(struct thread_pool *p, cf_future *f)
{
    cf__future_queue_push(&p->q, f);
    atomic_fetch_add_explicit(&p->seq, 1, memory_order_release);
}

static cf_future *pop_locked(struct thread_pool *p)
{
    return cf__future_queue_take(&p->q, 1);
}

/* With mu held: takes the whole queue (to complete once mu is dropped). */
static cf_future *take_all_locked(struct thread_pool *p)
{
    cf_future *all = cf__future_queue_take(&p->q, SIZE_MAX);
    pthread_cond_broadcast(&p->room_cv);
    return all;
}

/* ---------------------------------------------------------- threads */

struct runner {
    struct thread_pool *p;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_zone *zone;
    char msg[CF__EXECUTE_MESSAGE_MAX];
};

/* Marks the pool broken (first reason wins) and fails every queued
 * future with CF_EBROKEN. */
static void break_pool(struct thread_pool *p, const char *why)
{
    pthread_mutex_lock(&p->mu);
    if (!p->broken) {
        snprintf(p->broken_msg, sizeof(p->broken_msg), "%s", why);
        p->broken = true;
    }
    cf_future *lost = take_all_locked(p);
    atomic_fetch_add_explicit(&p->seq, 1, memory_order_release);
    pthread_cond_broadcast(&p->work_cv);
    pthread_mutex_unlock(&p->mu);
    /* broken_msg is written once, before broken is set, under mu (held by
     * us above): it no longer changes. */
    cf__future_list_drain(lost, CF_EBROKEN, p->broken_msg);
}

/* Runs the initializer; false (and the pool broken) when it failed. */
static bool run_initializer(struct runner *r)
{
    struct thread_pool *p = r->p;
    if (!p->init.name)
        return true;
    msgpack_object args = {.type = MSGPACK_OBJECT_NIL};
    size_t off = 0;
    int rc = CF_EPROTO;
    if (msgpack_unpack((const char *)p->init.args, p->init.len, &off, r->zone, &args) ==
        MSGPACK_UNPACK_SUCCESS) {
        r->sb.size = 0;
        rc = cf__execute_task(&r->sb, &r->pk, p->init.name, strlen(p->init.name), &args, r->msg,
                              sizeof(r->msg));
    } else {
        snprintf(r->msg, sizeof(r->msg), "its arguments could not be unpacked");
    }
    msgpack_zone_clear(r->zone);
    if (rc == 0)
        return true;
    char why[sizeof(p->broken_msg)];
    snprintf(why, sizeof(why), "initializer '%s' failed: %s", p->init.name, r->msg);
    break_pool(p, why);
    return false;
}

/* Decodes and runs f's record, then completes f (running its
 * done-callbacks). The thread counts as free again only after that, as in
 * Python (whose idle semaphore is released after set_result ran the
 * callbacks): a callback that submits and waits then gets a thread of its
 * own instead of queueing behind itself. */
static void run_one(struct runner *r, cf_future *f)
{
    struct cf__record rec;
    size_t value_off = 0;
    int status =
        cf__record_decode(f->record + CF__ID_PREFIX, f->record_len - CF__ID_PREFIX, r->zone, &rec);
    if (status == 0)
        status =
            cf__execute_record(&r->sb, &r->pk, f->id, &rec, &value_off, r->msg, sizeof(r->msg));
    else
        snprintf(r->msg, sizeof(r->msg), "could not read the task record: %s (%d)",
                 cf_strerror(status), status);
    msgpack_zone_clear(r->zone);
    if (status == 0)
        cf__future_finish(f, 0, NULL, r->sb.data + value_off, r->sb.size - value_off);
    else
        cf__future_finish(f, status, r->msg, NULL, 0);
}

static void set_thread_name(const struct thread_pool *p, int k)
{
    char name[16];
    snprintf(name, sizeof(name), "%s_%d", p->prefix, k);
    pthread_setname_np(pthread_self(), name);
}

struct start_arg {
    struct thread_pool *p;
    int index;
};

/* With mu held and the queue empty: becomes the pool's one spinning
 * thread for up to SPIN_NS, polling `seq` with mu dropped. A submitter
 * counts the spinner as a wake on its way (see pool_submit). */
static void spin_locked(struct thread_pool *p)
{
    unsigned old = atomic_load_explicit(&p->seq, memory_order_relaxed);
    p->spinning = true;
    pthread_mutex_unlock(&p->mu);
    uint64_t end = cf__now_ns() + SPIN_NS;
    for (unsigned i = 1;; i++) {
        if (atomic_load_explicit(&p->seq, memory_order_acquire) != old)
            break;
        cf__cpu_relax();
        if (i % 64 == 0 && cf__now_ns() >= end)
            break;
    }
    pthread_mutex_lock(&p->mu);
    p->spinning = false;
}

static void *thread_main(void *arg)
{
    struct start_arg sa = *(struct start_arg *)arg;
    free(arg);
    struct runner r = {.p = sa.p};
    struct thread_pool *p = sa.p;
    current_pool = p;
    cf__tl_completing++; /* tasks and callbacks here may wait: pool_wait_here */
    set_thread_name(p, sa.index);
    msgpack_sbuffer_init(&r.sb);
    msgpack_packer_init(&r.pk, &r.sb, msgpack_sbuffer_write);
    r.zone = msgpack_zone_new(4096);
    /* A thread that cannot run would count as free for ever: better to
     * say so on every future than to let them wait. */
    if (!r.zone) {
        break_pool(p, "out of memory starting a pool thread");
        goto out_free;
    }
    if (!run_initializer(&r))
        goto out_free;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        bool spun = false;
        while (!p->q.head && !p->shutdown && !p->broken) {
            if (!spun && !p->spinning) {
                spun = true;
                spin_locked(p);
                continue;
            }
            p->idle++;
            pthread_cond_wait(&p->work_cv, &p->mu);
            p->idle--;
            if (p->wakes > 0)
                p->wakes--;
        }
        cf_future *f = p->broken ? NULL : pop_locked(p);
        if (!f)
            break; /* shut down with the queue empty, or broken */
        /* Submitters blocked on a full queue wake when it is half empty,
         * not at every take: woken per take, a submitter streaming tasks
         * slept and woke once per task (a futex wake each way). But when no
         * other thread is there to take the next task (none idle or
         * spinning), the queue may not move again until a task ends, and
         * a task may be waiting for that very submitter: one of them is
         * woken for the place this take freed. */
        if (p->room_waiters && p->q.count <= p->max_pending / 2)
            pthread_cond_broadcast(&p->room_cv);
        else if (p->room_waiters && p->idle == 0 && !p->spinning)
            pthread_cond_signal(&p->room_cv);
        /* More queued: pass the wake on to one sleeping thread. */
        if (p->q.head && p->idle > 0 && p->wakes == 0 && !p->spinning) {
            p->wakes++;
            pthread_cond_signal(&p->work_cv);
        }
        p->busy++;
        pthread_mutex_unlock(&p->mu);
        if (cf__future_mark_running(f)) {
            if (f->native)
                cf__native_run(f); /* cf_submit_fn: no record to decode */
            else
                run_one(&r, f);
        }
        /* Taken: nobody reads the record again. A large one is freed now
         * rather than with the future (a small one lives inside it). */
        cf__future_drop_record(f);
        cf_future_release(f);
        pthread_mutex_lock(&p->mu);
        p->busy--; /* free only now: see run_one */
    }
    pthread_mutex_unlock(&p->mu);
out_free:
    if (r.zone)
        msgpack_zone_free(r.zone);
    msgpack_sbuffer_destroy(&r.sb);
    return NULL;
}

/* With mu held: takes f out of the queue; false if it is not queued. */
static bool unqueue_locked(struct thread_pool *p, cf_future *f)
{
    if (!cf__future_queue_remove(&p->q, f))
        return false;
    if (p->room_waiters)
        pthread_cond_signal(&p->room_cv);
    return true;
}

/* The executor's wait_here op (executor.h): a thread of this pool (a task,
 * or a done-callback run after one) is about to wait on futures of its
 * own pool. Were every thread to wait on tasks still queued, nobody would
 * run them: so this thread takes each awaited future still in the queue
 * and runs it itself, in the order given, until ready() holds or the
 * deadline passes (a task run here runs to its end, whatever the
 * deadline). One another thread is running is waited for as usual. Any
 * other thread: 0 at once. Returns 0, or -ENOMEM. */
static int pool_wait_here(cf_executor *ex, cf_future *const *fs, size_t n, bool (*ready)(void *),
                          void *arg, uint64_t deadline_ns)
{
    struct thread_pool *p = pool_of(ex);
    if (current_pool != p)
        return 0;
    /* A runner of its own: the task this thread was running may be
     * packing its result into the thread's own. */
    struct runner r = {.p = p};
    if (!(r.zone = msgpack_zone_new(4096)))
        return -ENOMEM;
    msgpack_sbuffer_init(&r.sb);
    msgpack_packer_init(&r.pk, &r.sb, msgpack_sbuffer_write);
    for (size_t i = 0; i < n && !ready(arg) && cf__now_ns() < deadline_ns; i++) {
        pthread_mutex_lock(&p->mu);
        bool mine = unqueue_locked(p, fs[i]);
        pthread_mutex_unlock(&p->mu);
        if (!mine)
            continue;
        /* As thread_main does with a future it takes. */
        if (cf__future_mark_running(fs[i])) {
            if (fs[i]->native)
                cf__native_run(fs[i]);
            else
                run_one(&r, fs[i]);
        }
        cf__future_drop_record(fs[i]);
        cf_future_release(fs[i]);
    }
    msgpack_zone_free(r.zone);
    msgpack_sbuffer_destroy(&r.sb);
    return 0;
}

/* With mu held, before queueing one more future: starts a thread unless a
 * started one is free for it. Fails only when no thread runs at all. */
static int adjust_threads_locked(struct thread_pool *p)
{
    int free_threads = p->nthreads - p->busy;
    if ((size_t)free_threads > p->q.count || p->nthreads >= p->max_workers)
        return 0;
    struct start_arg *sa = malloc(sizeof(*sa));
    int rc = sa ? 0 : -ENOMEM;
    if (sa) {
        *sa = (struct start_arg){p, p->nthreads};
        rc = -pthread_create(&p->threads[p->nthreads], NULL, thread_main, sa);
    }
    if (rc == 0) {
        p->nthreads++;
        return 0;
    }
    free(sa);
    return p->nthreads > 0 ? 0 : rc;
}

/* --------------------------------------------------------- operations */

/* With mu held: waits until the queue has room. 0, CF_ESHUTDOWN,
 * CF_EBROKEN, -EAGAIN (deadline 0: the generic layer makes it CF_EFULL)
 * or -ETIMEDOUT. */
static int wait_room_locked(struct thread_pool *p, uint64_t deadline_ns)
{
    struct timespec ts = cf__deadline_timespec(deadline_ns);
    for (;;) {
        if (p->broken)
            return CF_EBROKEN;
        if (p->shutdown)
            return CF_ESHUTDOWN;
        if (p->q.count < p->max_pending)
            return 0;
        if (deadline_ns == 0)
            return -EAGAIN;
        p->room_waiters++;
        int w = deadline_ns == CF__NO_DEADLINE ? pthread_cond_wait(&p->room_cv, &p->mu)
                                               : pthread_cond_timedwait(&p->room_cv, &p->mu, &ts);
        p->room_waiters--;
        if (w == ETIMEDOUT && !p->broken && !p->shutdown && p->q.count >= p->max_pending)
            return -ETIMEDOUT;
    }
}

static int pool_submit(cf_executor *ex, cf_future *f, unsigned char *record, size_t len,
                       uint64_t deadline_ns)
{
    struct thread_pool *p = pool_of(ex);
    /* Freed with the future whether or not it is queued. */
    f->record = record;
    f->record_len = len;
    pthread_mutex_lock(&p->mu);
    int rc = wait_room_locked(p, deadline_ns);
    if (rc == 0)
        rc = adjust_threads_locked(p);
    if (rc == 0) {
        push_locked(p, cf_future_retain(f));
        /* Wake a sleeping thread only when no thread is on its way to the
         * queue already (woken or spinning): that one passes the wake on
         * if it leaves work behind (thread_main), so a stream of submits
         * costs the submitter no futex wake per task. */
        if (p->idle > 0 && p->wakes == 0 && !p->spinning) {
            p->wakes++;
            pthread_cond_signal(&p->work_cv);
        }
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

/* cf_submit_fn's future: queued like any other, with no record. */
static int pool_submit_native(cf_executor *ex, cf_future *f, uint64_t deadline_ns)
{
    return pool_submit(ex, f, NULL, 0, deadline_ns);
}

/* cf_submit_fn_batch: as many futures as there is room for per lock
 * hold, and one wake per hold (the woken thread passes it on). */
static int pool_submit_native_batch(cf_executor *ex, cf_future *const *fs, size_t n,
                                    size_t *queued)
{
    struct thread_pool *p = pool_of(ex);
    size_t i = 0;
    int rc = 0;
    pthread_mutex_lock(&p->mu);
    while (i < n) {
        if ((rc = wait_room_locked(p, CF__NO_DEADLINE)) < 0)
            break;
        while (i < n && p->q.count < p->max_pending && rc == 0)
            if ((rc = adjust_threads_locked(p)) == 0)
                push_locked(p, cf_future_retain(fs[i++]));
        /* Before waiting for room again: the threads must be awake to
         * make it. */
        if (p->idle > 0 && p->wakes == 0 && !p->spinning) {
            p->wakes++;
            pthread_cond_signal(&p->work_cv);
        }
        if (rc < 0)
            break;
    }
    pthread_mutex_unlock(&p->mu);
    *queued = i;
    return rc;
}

static bool pool_cancel(cf_executor *ex, cf_future *f)
{
    (void)ex;
    /* Pending means no thread took it (taking marks it running under
     * f->mu); the queued entry is dropped by the thread that finds it. */
    return cf__future_mark_cancelled(f);
}

static int join_threads(struct thread_pool *p)
{
    if (current_pool == p)
        return -EDEADLK; /* a task or callback cannot wait for its own thread */
    pthread_mutex_lock(&p->mu);
    if (p->joining) {
        while (!p->joined)
            pthread_cond_wait(&p->joined_cv, &p->mu);
        pthread_mutex_unlock(&p->mu);
        return 0;
    }
    p->joining = true;
    int n = p->nthreads; /* fixed: no thread starts after shutdown */
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < n; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_lock(&p->mu);
    p->joined = true;
    pthread_cond_broadcast(&p->joined_cv);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

static int pool_shutdown(cf_executor *ex, bool wait, bool cancel_futures)
{
    struct thread_pool *p = pool_of(ex);
    pthread_mutex_lock(&p->mu);
    p->shutdown = true;
    cf_future *cancelled = cancel_futures ? take_all_locked(p) : NULL;
    atomic_fetch_add_explicit(&p->seq, 1, memory_order_release);
    pthread_cond_broadcast(&p->work_cv);
    pthread_cond_broadcast(&p->room_cv);
    pthread_mutex_unlock(&p->mu);
    cf__future_list_drain(cancelled, 0, NULL);
    return wait ? join_threads(p) : 0;
}

static void pool_destroy(cf_executor *ex)
{
    struct thread_pool *p = pool_of(ex);
    /* cf_executor_release joined the threads; the queue is empty. */
    pthread_cond_destroy(&p->joined_cv);
    pthread_cond_destroy(&p->room_cv);
    pthread_cond_destroy(&p->work_cv);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p->prefix);
    cf__initializer_free(&p->init);
    free(p);
}

static int pool_workers(const cf_executor *ex)
{
    return ((const struct thread_pool *)ex)->max_workers;
}

static const struct cf__executor_ops thread_pool_ops = {
    .submit = pool_submit,
    .cancel = pool_cancel,
    .refresh_running = NULL, /* a thread marks its future running itself */
    .shutdown = pool_shutdown,
    .destroy = pool_destroy,
    .workers = pool_workers,
    .wait_here = pool_wait_here,
    .submit_native = pool_submit_native,
    .submit_native_batch = pool_submit_native_batch,
};

/* ------------------------------------------------------------ creation */

int cf_thread_pool_default_workers(void)
{
    int cpus = 1;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0) {
        cpus = CPU_COUNT(&set);
    } else {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cpus = n > 0 && n < 1024 ? (int)n : 1;
    }
    return cpus + 4 < 32 ? cpus + 4 : 32;
}

static int check_options(const cf_thread_pool_options *o)
{
    if (!o)
        return 0;
    if (o->max_workers < 0 || o->max_workers > MAX_WORKERS)
        return -EINVAL;
    return cf__initializer_check(o->initializer, o->initargs, o->initargs_len);
}

static int copy_options(struct thread_pool *p, const cf_thread_pool_options *o)
{
    p->max_workers = o && o->max_workers ? o->max_workers : cf_thread_pool_default_workers();
    p->max_pending = o && o->max_pending ? o->max_pending : DEFAULT_MAX_PENDING;
    p->prefix = strdup(o && o->thread_name_prefix ? o->thread_name_prefix : DEFAULT_PREFIX);
    p->threads = calloc((size_t)p->max_workers, sizeof(*p->threads));
    if (!p->prefix || !p->threads)
        return -ENOMEM;
    return o ? cf__initializer_copy(&p->init, o->initializer, o->initargs, o->initargs_len) : 0;
}

int cf_thread_pool_create(cf_executor **out, const cf_thread_pool_options *opts)
{
    if (!out)
        return -EINVAL;
    int rc = check_options(opts);
    if (rc < 0)
        return rc;
    struct thread_pool *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->base.ops = &thread_pool_ops;
    cf__executor_init_ids(&p->base);
    if ((rc = copy_options(p, opts)) < 0)
        goto out_free;
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&p->work_cv, &attr);
    pthread_cond_init(&p->room_cv, &attr);
    pthread_cond_init(&p->joined_cv, &attr);
    pthread_condattr_destroy(&attr);
    *out = &p->base;
    return 0;

out_free:
    free(p->threads);
    free(p->prefix);
    cf__initializer_free(&p->init);
    free(p);
    return rc;
}
