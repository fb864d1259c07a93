/* The thread pool backend: registered tasks and native functions run on
 * threads of this process.
 *
 * Owns the queue of futures not yet taken and the threads, started lazily
 * by submit. User threads submit, cancel and shut down; pool threads take
 * futures from the queue, run them (workers/execute.c, or
 * executor/native.c for a cf_submit_fn future) and complete them, running
 * their done-callbacks.
 *
 * The queue is lock-free for submitters (common/mpsc_queue.h, linked
 * through f->qnode, each entry holding one reference; the thread that
 * runs a future drops its record): a submit is an atomic add
 * and an atomic swap, and takes `mu` only to start a thread, to wake a
 * sleeping one or to wait for room. Threads take one future at a time
 * under `take_mu`. A submitter first reserves its place (adds to
 * `pushed`), then pushes; a taker adds to `taken`. What is queued or on
 * its way is the difference (queued()): max_pending, shutdown and a
 * thread's decision to sleep or to exit all read it, so none of them can
 * miss a future on its way (a thread that sees a place reserved and
 * nothing to pop waits for the push, a few instructions away).
 *
 * Cache lines: a submit writes only lines no thread of the pool touches
 * while it has work (`pushed`, the queue's tail), besides the future it
 * hands over. A taker learns of work from the queue itself, not from the
 * counts, and reads `pushed` only on its way to sleep or to exit. One
 * count changed by submitters and takers alike (the first version) moved
 * between their cores on every task: perf put 45% of a submitter's time
 * on its atomic add.
 *
 * Sleeping follows the same rule as before the queue went lock-free: at
 * most one thread is woken (or spinning, see spin) at a time on the
 * submitters' behalf, and a thread that takes a future and leaves more
 * queued wakes the next. The counts a submitter reads without `mu` (idle,
 * wakes, spinning, room_waiters) are paired with the counts in
 * sequentially consistent order: a thread counts itself idle and then
 * reads queued(); a submitter adds to `pushed` and then reads `idle`. One
 * of the two sees the other.
 *
 * A thread that catches up with a stream of submits (it took futures with
 * more queued behind them, found the queue empty, and the next push came
 * at once) sleeps a few microseconds before it takes again (hold), so
 * that it takes what gathered meanwhile rather than each future the
 * moment it is pushed. Not when the submitter waits for results between
 * bursts. A submitter out of room, a thread about to block on our futures
 * and shutdown end a hold early.
 *
 * Lock order: mu, then a future's mu; take_mu alone. No task, callback or
 * future completion runs with either held.
 *
 * Cancellation is Python's: a cancelled future stays queued, and the
 * thread that takes it finds it cannot mark it running and drops it. A
 * thread of the pool waiting on a queued future claims it the same way
 * (marks it running), gives its place back (place_freed, so that a full
 * queue does not stay full behind futures already run) and runs it
 * itself; the queue's entry is dropped when it comes out, or when the
 * pool is destroyed.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>

#include "common/mpsc_queue.h"
#include "executor/initializer.h"
#include "ipc/cpu.h"
#include "executor/executor.h"
#include "executor/future_internal.h"
#include "executor/future_queue.h"
#include "ipc/clock.h"
#include "ipc/futex_lock.h"
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
/* How often a submitter waiting for room looks again unwoken. */
#define ROOM_RECHECK_NS 1000000
/* How long the spinning thread, having just caught up with a stream of
 * submits, sleeps before it looks at the queue again (hold), and the
 * timer slack of the pool's threads that keeps it that short (the
 * kernel's default for a thread is 50 us). */
#define HOLD_NS 5000
#define TIMER_SLACK_NS 1000
/* ... and only after this many takes that left more queued: a short burst
 * (a few tasks, then a wait for them) is no stream, and its next burst
 * should not wait for a hold to end. */
#define HOLD_AFTER 16
/* ... and only when the next push comes within this time of catching up. */
#define STREAM_GAP_NS 1000

struct thread_pool {
    cf_executor base;
    int max_workers;
    size_t max_pending;
    char *prefix;
    struct cf__initializer init; /* name NULL: none */

    struct cf__mpsc_queue q; /* futures pushed and not yet taken */
    _Atomic uint32_t take_mu; /* q's consumer side (ipc/futex_lock.h) */
    /* Places reserved by submitters: futures pushed, pushes on their way,
     * and failed reservations being undone. */
    _Alignas(64) _Atomic size_t pushed;
    /* `taken` as a submitter last read it (a lower bound): room is
     * checked against it, and `taken` read only when it says full. */
    _Atomic size_t taken_seen;
    /* Futures taken out of the queue (or claimed: place_freed). */
    _Alignas(64) _Atomic size_t taken;
    /* Who sleeps: written when a thread sleeps, wakes or spins, read by
     * every submit. */
    _Alignas(64) _Atomic int idle; /* threads asleep on work_cv (changed under mu) */
    _Atomic int wakes;             /* work_cv signals not yet taken up (under mu) */
    _Atomic int room_waiters;      /* submitters asleep on room_cv (under mu) */
    atomic_bool spinning;          /* a thread polls the queue (at most one) */
    /* The hold (see hold), on a line of its own: a blocking wait writes
     * `blocked`, and the line above is read by every submit. */
    _Alignas(64) _Atomic int holding; /* the spinner sleeps in hold() */
    _Atomic uint32_t hold_word;       /* futex it sleeps on; bumped to end it early */
    _Atomic unsigned blocked;         /* waits that blocked on our futures (ever) */
    /* Read by every submit, written rarely. */
    _Alignas(64) _Atomic int started; /* nthreads, for readers without mu */
    atomic_bool shutdown;             /* set under mu */
    atomic_bool broken;               /* set under mu, after broken_msg */
    /* [max_workers]: whether thread k is between taking a task and its
     * result. A flag per thread, each on its own line: one count shared
     * by the threads cost each task two contended atomic operations, and
     * only a submit that may start a thread reads them. */
    struct busy_flag {
        _Alignas(64) atomic_bool on;
    } *busy;

    pthread_mutex_t mu;
    pthread_cond_t work_cv;   /* queued, shutdown or broken */
    pthread_cond_t room_cv;   /* room in the queue, shutdown or broken */
    pthread_cond_t joined_cv; /* threads joined */
    pthread_t *threads; /* [max_workers]; [0..nthreads) started */
    int nthreads;
    char broken_msg[CF__EXECUTE_MESSAGE_MAX + 64];
    bool joining, joined;
};

/* The pool whose thread this is, for -EDEADLK; NULL elsewhere. */
static _Thread_local struct thread_pool *current_pool;

static struct thread_pool *pool_of(cf_executor *ex)
{
    return (struct thread_pool *)ex;
}

static cf_future *future_of(struct cf__mpsc_node *n)
{
    return (cf_future *)((char *)n - offsetof(cf_future, qnode));
}

/* Futures queued or on their way. `taken` is read first: read after
 * `pushed`, it could count takes of pushes made in between. It may count
 * one too many for a moment (a pushing submitter, or a taker that has not
 * added its take yet): threads then stay awake a little longer, never
 * sleep or leave early. */
static size_t queued(struct thread_pool *p)
{
    size_t taken = atomic_load(&p->taken);
    return atomic_load(&p->pushed) - taken;
}

static bool stopping(struct thread_pool *p)
{
    return atomic_load(&p->shutdown) || atomic_load(&p->broken);
}

/* ------------------------------------------------------------ queue */

/* Wakes one sleeping thread for work just pushed, unless one is on its
 * way already (woken, or spinning): that one passes the wake on if it
 * leaves work behind (thread_main), so a stream of submits costs the
 * submitter no futex wake per task. */
static void wake_one(struct thread_pool *p)
{
    if (atomic_load(&p->spinning) || atomic_load(&p->idle) <= atomic_load(&p->wakes))
        return;
    pthread_mutex_lock(&p->mu);
    bool wake = atomic_load(&p->idle) > atomic_load(&p->wakes);
    if (wake)
        atomic_fetch_add(&p->wakes, 1);
    pthread_mutex_unlock(&p->mu);
    /* Signalled with mu dropped, so that the woken thread does not wake
     * only to block on it. The sleeper counted itself idle under mu and
     * sleeps before it drops mu: it is asleep by now. */
    if (wake)
        pthread_cond_signal(&p->work_cv);
}

/* Ends the spinner's hold at once (see hold), if it is in one: for a
 * submitter out of room, a thread about to block on our futures
 * (pool_blocking), shutdown and a broken pool. */
static void end_hold(struct thread_pool *p)
{
    if (atomic_load(&p->holding) == 0)
        return;
    atomic_fetch_add(&p->hold_word, 1);
    cf__futex_wake_private((uint32_t *)&p->hold_word, INT32_MAX);
}

/* Reserves up to `want` places (at least one) without waiting. Returns
 * how many (0: the queue is full) or CF_ESHUTDOWN / CF_EBROKEN; *index
 * gets the count of `pushed` before them (the index of the first). */
static long try_reserve(struct thread_pool *p, size_t want, size_t *index)
{
    size_t n = atomic_fetch_add(&p->pushed, want);
    size_t taken = atomic_load_explicit(&p->taken_seen, memory_order_relaxed);
    if (n - taken + want > p->max_pending) {
        /* Full by the old count: look at the real one. */
        taken = atomic_load(&p->taken);
        atomic_store_explicit(&p->taken_seen, taken, memory_order_relaxed);
    }
    /* Places reserved after ours may have been pushed and taken while
     * this thread was away: `taken` can exceed n. A failed try being
     * given back meanwhile makes `ahead` look larger for a moment (then
     * room is looked for again; a poll may see the queue full). */
    size_t ahead = n > taken ? n - taken : 0;
    long rc = atomic_load(&p->broken)         ? CF_EBROKEN
              : atomic_load(&p->shutdown)     ? CF_ESHUTDOWN
              : ahead >= p->max_pending       ? 0
              : p->max_pending - ahead < want ? (long)(p->max_pending - ahead)
                                              : (long)want;
    size_t got = rc > 0 ? (size_t)rc : 0;
    if (got < want)
        atomic_fetch_sub(&p->pushed, want - got);
    *index = n;
    return rc;
}

/* Waits under mu for room (see try_reserve). Returns the places reserved,
 * or CF_ESHUTDOWN, CF_EBROKEN, -EAGAIN (deadline 0: the generic layer makes
 * it CF_EFULL) or -ETIMEDOUT. */
static long reserve_slow(struct thread_pool *p, size_t want, size_t *index,
                         uint64_t deadline_ns)
{
    long rc;
    pthread_mutex_lock(&p->mu);
    /* Counted before the reservation is tried again: a thread that frees
     * a place after that try sees us (see the top of this file). */
    atomic_fetch_add(&p->room_waiters, 1);
    for (;;) {
        if ((rc = try_reserve(p, want, index)) != 0)
            break;
        if (deadline_ns == 0) {
            rc = -EAGAIN;
            break;
        }
        end_hold(p); /* room_waiters counted first: see hold */
        /* Woken when the queue is half empty (room_freed), but never
         * asleep longer than ROOM_RECHECK_NS: when every thread runs a task
         * that waits for this very submitter, the queue never gets there,
         * and the places their takes freed are all there is. */
        uint64_t recheck = cf__now_ns() + ROOM_RECHECK_NS;
        bool last = deadline_ns <= recheck;
        struct timespec ts = cf__deadline_timespec(last ? deadline_ns : recheck);
        int w = pthread_cond_timedwait(&p->room_cv, &p->mu, &ts);
        if (w == ETIMEDOUT && last && (rc = try_reserve(p, want, index)) == 0) {
            rc = -ETIMEDOUT;
            break;
        }
        if (rc != 0)
            break;
    }
    atomic_fetch_sub(&p->room_waiters, 1);
    pthread_mutex_unlock(&p->mu);
    return rc;
}

static long reserve(struct thread_pool *p, size_t want, size_t *index, uint64_t deadline_ns)
{
    long rc = try_reserve(p, want, index);
    return rc != 0 ? rc : reserve_slow(p, want, index, deadline_ns);
}

/* Gives back reserved places never pushed. */
static void unreserve(struct thread_pool *p, size_t n)
{
    atomic_fetch_sub(&p->pushed, n);
}

/* After a take freed a place: wakes submitters waiting for room once the
 * queue is half empty, not at every take: woken per take, a submitter
 * streaming tasks slept and woke once per task (a futex wake each way),
 * and took one place each time. See reserve_slow for the take that must
 * not wait for half. */
static void room_freed(struct thread_pool *p)
{
    if (atomic_load(&p->room_waiters) == 0 || queued(p) > p->max_pending / 2)
        return;
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->room_cv);
    pthread_mutex_unlock(&p->mu);
}

/* With take_mu held: whether f's place is for the caller to count as
 * taken (true once per future: its popper's or its claimer's). The count
 * itself is added once take_mu is dropped (free_places): inside, the
 * add's cost was most of the time the takers held the lock. */
static bool free_place_locked(cf_future *f)
{
    if (f->place_freed)
        return false;
    f->place_freed = true;
    return true;
}

/* Counts n places as taken, then wakes submitters waiting for room if the
 * queue is now half empty (the add comes before room_freed reads
 * room_waiters: see reserve_slow). */
static void free_places(struct thread_pool *p, size_t n)
{
    if (n)
        atomic_fetch_add(&p->taken, n);
    room_freed(p);
}

/* The oldest queued future, or NULL (none pushed yet; a reserved place
 * may still be on its way: see queued()); *more says whether another
 * seems to follow it. `wait`: wait for take_mu, else give up if another
 * thread holds it (a spinner's poll). */
static cf_future *take(struct thread_pool *p, bool wait, bool *more)
{
    if (wait)
        cf__futex_lock_spin(&p->take_mu);
    else if (!cf__futex_trylock(&p->take_mu))
        return NULL;
    struct cf__mpsc_node *n = cf__mpsc_pop(&p->q);
    bool count = false;
    if (n) {
        count = free_place_locked(future_of(n));
        *more = cf__mpsc_maybe_nonempty(&p->q);
    }
    cf__futex_unlock(&p->take_mu);
    if (!n)
        return NULL;
    free_places(p, count);
    return future_of(n);
}

/* Takes every future pushed, as a list through inflight_next (to
 * complete once no lock is held). */
static cf_future *take_all(struct thread_pool *p)
{
    cf_future *first = NULL, **link = &first;
    size_t n = 0;
    cf__futex_lock_spin(&p->take_mu);
    for (struct cf__mpsc_node *e; (e = cf__mpsc_pop(&p->q));) {
        *link = future_of(e);
        n += free_place_locked(*link);
        link = &(*link)->inflight_next;
    }
    cf__futex_unlock(&p->take_mu);
    *link = NULL;
    if (n)
        atomic_fetch_add(&p->taken, n);
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->room_cv);
    pthread_mutex_unlock(&p->mu);
    return first;
}

/* ---------------------------------------------------------- threads */

struct runner {
    struct thread_pool *p;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_zone *zone;
    char msg[CF__EXECUTE_MESSAGE_MAX];
};

/* A broken pool's answer to future f it took: fails it, unless it ran or
 * runs already (claimed by a waiting pool thread) or was cancelled. Drops
 * the queue's reference. */
static void fail_taken(struct thread_pool *p, cf_future *f)
{
    if (cf__future_mark_running(f))
        cf__future_finish(f, CF_EBROKEN, p->broken_msg, NULL, 0);
    cf_future_release(f);
}

static void fail_list(struct thread_pool *p, cf_future *f)
{
    while (f) {
        cf_future *next = f->inflight_next;
        f->inflight_next = NULL;
        fail_taken(p, f);
        f = next;
    }
}

/* Marks the pool broken (first reason wins) and fails every queued
 * future with CF_EBROKEN. Futures pushed after this by submitters that
 * reserved before it are failed by the threads, which stay until
 * queued() is 0. */
static void break_pool(struct thread_pool *p, const char *why)
{
    pthread_mutex_lock(&p->mu);
    if (!atomic_load(&p->broken)) {
        snprintf(p->broken_msg, sizeof(p->broken_msg), "%s", why);
        atomic_store(&p->broken, true);
    }
    pthread_cond_broadcast(&p->work_cv);
    pthread_cond_broadcast(&p->room_cv);
    pthread_mutex_unlock(&p->mu);
    end_hold(p);
    /* broken_msg is written once, before broken is set, under mu (held by
     * us above): it no longer changes. */
    fail_list(p, take_all(p));
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
        cf__record_decode(f->t->record + CF__ID_PREFIX, f->t->record_len - CF__ID_PREFIX, r->zone, &rec);
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

/* Runs f, which this thread marked running. */
static void run_claimed(struct runner *r, cf_future *f)
{
    if (f->native)
        cf__native_run(f); /* cf_submit_fn: no record to decode */
    else
        run_one(r, f);
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

/* The spinning thread has run a stream of futures (HOLD_AFTER takes
 * since its last spin left more queued) and found the queue empty: the
 * submitter is just ahead of it. Taking each future the moment it was
 * pushed kept the takers on the lines the submitter writes next (the
 * queue's tail, the future pushed before), and a spinning thread took CPU
 * time from the submitter on two cores: a stream of trivial tasks ran
 * 30-45% slower than when this thread first sleeps a moment and then
 * takes what has gathered.
 *
 * Only in a stream: a submitter that waits for each burst's results would
 * find its next burst waiting for the hold to end (a wake from it costs
 * 10-20 us here). So no hold after a lone future (a round trip never
 * leaves more queued) or a short burst (HOLD_AFTER), when nothing is
 * pushed within STREAM_GAP_NS of catching up (the burst has ended; the
 * next is taken the moment it comes), or when a thread blocked on our
 * futures during the stream (pool_blocking). Cut short by end_hold. */
static void hold(struct thread_pool *p, unsigned blocked_then)
{
    uint32_t seq = atomic_load(&p->hold_word);
    atomic_fetch_add(&p->holding, 1);
    /* Read after counting ourselves: a submitter that counts itself a room
     * waiter after this read then sees `holding` (end_hold); one that did
     * before is seen here. The same for stopping and for a blocking wait
     * (pool_blocking adds to `blocked`, then looks at `holding`). */
    if (atomic_load(&p->room_waiters) == 0 && !stopping(p) &&
        atomic_load(&p->blocked) == blocked_then)
        cf__futex_wait_private((uint32_t *)&p->hold_word, seq, cf__now_ns() + HOLD_NS);
    atomic_fetch_sub(&p->holding, 1);
}

/* With the queue empty: becomes the pool's one spinning thread for up to
 * SPIN_NS, polling the queue. Returns a future it took meanwhile (*more
 * as for take), or NULL: another thread spins already, the pool stops, or
 * nothing came. A submitter counts the spinner as a wake on its way (see
 * wake_one). after_stream: this thread has just caught up with what looked
 * like a stream (thread_main), with the count of blocking waits then in
 * blocked_then; if the next push comes at once, it holds first (hold). */
static cf_future *spin(struct thread_pool *p, bool *more, bool after_stream,
                       unsigned blocked_then)
{
    bool no = false;
    if (!atomic_compare_exchange_strong(&p->spinning, &no, true))
        return NULL;
    uint64_t start = cf__now_ns(), end = start + SPIN_NS;
    cf_future *f = NULL;
    for (unsigned i = 1; !stopping(p); i++) {
        /* The queue's tail, not the counts: a look at a count the
         * submitter writes pulled its line away from it at every task
         * (the tail moves once per push anyway). */
        if (cf__mpsc_pushed_since_empty(&p->q)) {
            /* Pushed right after we caught up: the submitter is still at
             * it, a stream (see hold). After a burst, the next one comes
             * later, and is taken at once. */
            if (after_stream && cf__now_ns() - start < STREAM_GAP_NS) {
                after_stream = false;
                hold(p, blocked_then);
            }
            if ((f = take(p, false, more)))
                break;
        }
        /* Polled every few pauses, not every one: each look pulls the
         * line the submitter writes next away from it. */
        for (int k = 0; k < 8; k++)
            cf__cpu_relax();
        if (i % 8 != 0)
            continue;
        if (cf__now_ns() >= end)
            break;
        /* A spinner that shares its core with the submitter it waits for
         * would take half of that core from it: let it run. */
        sched_yield();
    }
    /* Before this thread counts itself idle (sleep): see wake_one. */
    atomic_store(&p->spinning, false);
    /* A submitter that pushed while we still looked like the spinner did
     * not wake anyone: we run f, so pass that wake on. (Its add to
     * `pushed` came before its look at `spinning`, which came before our
     * store: this read sees it.) */
    if (f && !*more)
        *more = queued(p) > 0;
    return f;
}

/* With the queue empty: sleeps until something is queued or the pool
 * stops (or a spurious wake: the caller looks again). */
static void sleep_for_work(struct thread_pool *p)
{
    pthread_mutex_lock(&p->mu);
    /* Counted before queued() is read: a submitter that reserves after
     * this read sees us idle (see the top of this file). */
    atomic_fetch_add(&p->idle, 1);
    bool nothing = queued(p) == 0;
    if (nothing && !stopping(p))
        pthread_cond_wait(&p->work_cv, &p->mu);
    atomic_fetch_sub(&p->idle, 1);
    if (atomic_load(&p->wakes) > 0)
        atomic_fetch_sub(&p->wakes, 1);
    pthread_mutex_unlock(&p->mu);
    if (!nothing)
        sched_yield(); /* a push on its way: let its submitter finish it */
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
    /* A hold (HOLD_NS) would last 50 us more with the kernel's default
     * timer slack for a thread: long enough for a burst's last futures to
     * wait for it. Tasks run here sleep as precisely. */
    prctl(PR_SET_TIMERSLACK, TIMER_SLACK_NS);
    msgpack_sbuffer_init(&r.sb);
    msgpack_packer_init(&r.pk, &r.sb, msgpack_sbuffer_write);
    r.zone = msgpack_zone_new(4096);
    /* A thread that cannot run would count as free for ever: better to
     * say so on every future than to let them wait. Either way it stays
     * in the loop below, which then fails what is still queued or on its
     * way, and leaves once nothing is. */
    if (!r.zone)
        break_pool(p, "out of memory starting a pool thread");
    else
        run_initializer(&r);
    /* Takes since the last spin that left more queued, and the count of
     * blocking waits when the first of them was made (see hold). */
    unsigned streak = 0, blocked_then = 0;
    for (;;) {
        bool more = false;
        cf_future *f = take(p, true, &more);
        if (f && more && streak++ == 0)
            blocked_then = atomic_load_explicit(&p->blocked, memory_order_relaxed);
        if (!f) {
            /* Shut down or broken with nothing left, not even a place a
             * submitter reserved before it saw the flag. */
            if (stopping(p) && queued(p) == 0)
                break;
            /* A wait that blocked since blocked_then stops the hold in
             * hold() itself. */
            bool after_stream = streak >= HOLD_AFTER;
            streak = 0;
            if (!(f = spin(p, &more, after_stream, blocked_then))) {
                sleep_for_work(p);
                continue;
            }
        }
        /* More queued: pass the wake on to one sleeping thread. */
        if (more)
            wake_one(p);
        atomic_store_explicit(&p->busy[sa.index].on, true, memory_order_relaxed);
        if (atomic_load(&p->broken)) { /* pushed by a submitter that reserved before */
            fail_taken(p, f);
        } else {
            if (cf__future_mark_running(f)) {
                run_claimed(&r, f);
                /* Run: nobody reads the record again. A large one is freed
                 * now rather than with the future (a small one lives in
                 * it). Only the runner may: a claimer may be decoding it. */
                cf__future_drop_record(f);
            }
            cf_future_release(f);
        }
        /* Free only now: see run_one. */
        atomic_store_explicit(&p->busy[sa.index].on, false, memory_order_relaxed);
    }
    if (r.zone)
        msgpack_zone_free(r.zone);
    msgpack_sbuffer_destroy(&r.sb);
    return NULL;
}

/* The executor's wait_here op (executor.h): a thread of this pool (a task,
 * or a done-callback run after one) is about to wait on futures of its
 * own pool. Were every thread to wait on tasks still queued, nobody would
 * run them: so this thread claims each awaited future of this pool still
 * pending (marks it running, as a taking thread would) and runs it
 * itself, in the order given, until ready() holds or the deadline passes
 * (a task run here runs to its end, whatever the deadline). The queue's
 * entry stays, and is dropped by the thread that takes it. One another
 * thread is running is waited for as usual. Any other thread: 0 at once.
 * Returns 0, or -ENOMEM. */
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
        cf_executor *owner;
        if (!cf__future_pending_owner(fs[i], false, &owner) || !owner)
            continue;
        atomic_fetch_sub(&owner->calls, 1);
        if (owner != ex || atomic_load(&p->broken) || !cf__future_mark_running(fs[i]))
            continue;
        /* Claimed: its place is free now (a submit this task makes next
         * must not find the queue full of futures already run). */
        cf__futex_lock_spin(&p->take_mu);
        bool count = free_place_locked(fs[i]);
        cf__futex_unlock(&p->take_mu);
        free_places(p, count);
        run_claimed(&r, fs[i]);
        cf__future_drop_record(fs[i]);
    }
    msgpack_zone_free(r.zone);
    msgpack_sbuffer_destroy(&r.sb);
    return 0;
}

/* How many of the first n threads are busy. A hint: a thread may turn
 * free or busy meanwhile, as Python's idle count may. */
static int count_busy(struct thread_pool *p, int n)
{
    int busy = 0;
    for (int k = 0; k < n; k++)
        busy += atomic_load_explicit(&p->busy[k].on, memory_order_relaxed);
    return busy;
}

/* Before pushing the future whose place is `index` (see try_reserve):
 * starts a thread unless a started one is free for it. Fails only when no
 * thread runs at all. */
static int ensure_thread(struct thread_pool *p, size_t index)
{
    int started = atomic_load_explicit(&p->started, memory_order_relaxed);
    if (started >= p->max_workers)
        return 0;
    /* The futures ahead of this one, by the real `taken` (the submitter's
     * last look may be old: it would start threads nobody needs). */
    size_t taken = atomic_load(&p->taken);
    size_t before = index > taken ? index - taken : 0;
    if ((size_t)(started - count_busy(p, started)) > before)
        return 0;
    pthread_mutex_lock(&p->mu);
    /* Reserved before shutdown, but the threads are being joined: none
     * may start now, and the place is given back. */
    int rc = p->joining && p->nthreads == 0 ? CF_ESHUTDOWN : 0;
    if (p->nthreads < p->max_workers && !p->joining &&
        (size_t)(p->nthreads - count_busy(p, p->nthreads)) <= before) {
        struct start_arg *sa = malloc(sizeof(*sa));
        rc = sa ? 0 : -ENOMEM;
        if (sa) {
            *sa = (struct start_arg){p, p->nthreads};
            rc = -pthread_create(&p->threads[p->nthreads], NULL, thread_main, sa);
        }
        if (rc == 0)
            atomic_store(&p->started, ++p->nthreads);
        else
            free(sa);
        if (p->nthreads > 0)
            rc = 0;
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

/* --------------------------------------------------------- operations */

/* Queues fs[0..n) (each gains the queue's reference) into places reserved
 * for them, the first at `index` (see try_reserve); n > 0. */
static int push_reserved(struct thread_pool *p, cf_future *const *fs, size_t n, size_t index)
{
    for (size_t i = 0; i < n; i++) {
        int rc = ensure_thread(p, index + i);
        if (rc < 0) {
            unreserve(p, n);
            return rc;
        }
    }
    for (size_t i = 0; i < n; i++) {
        cf_future_retain(fs[i]);
        if (i + 1 < n)
            atomic_store_explicit(&fs[i]->qnode.next, &fs[i + 1]->qnode, memory_order_relaxed);
    }
    cf__mpsc_push_chain(&p->q, &fs[0]->qnode, &fs[n - 1]->qnode);
    wake_one(p);
    return 0;
}

static int submit_future(struct thread_pool *p, cf_future *f, uint64_t deadline_ns)
{
    size_t index;
    long rc = reserve(p, 1, &index, deadline_ns);
    return rc < 0 ? (int)rc : push_reserved(p, &f, 1, index);
}

static int pool_submit(cf_executor *ex, cf_future *f, unsigned char *record, size_t len,
                       uint64_t deadline_ns)
{
    struct thread_pool *p = pool_of(ex);
    /* Freed with the future whether or not it is queued. */
    f->t->record = record;
    f->t->record_len = len;
    return submit_future(p, f, deadline_ns);
}

/* cf_submit_fn's future: queued like any other, with no record. */
static int pool_submit_native(cf_executor *ex, cf_future *f, uint64_t deadline_ns)
{
    return submit_future(pool_of(ex), f, deadline_ns);
}

/* cf_submit_fn_batch: as many futures as there is room for per push (one
 * atomic swap), and one wake per push (the woken thread passes it on). */
static int pool_submit_native_batch(cf_executor *ex, cf_future *const *fs, size_t n,
                                    size_t *queued)
{
    struct thread_pool *p = pool_of(ex);
    size_t i = 0;
    int rc = 0;
    while (i < n) {
        size_t index;
        long got = reserve(p, n - i, &index, CF__NO_DEADLINE);
        if (got < 0 || (rc = push_reserved(p, fs + i, (size_t)got, index)) < 0) {
            rc = got < 0 ? (int)got : rc;
            break;
        }
        i += (size_t)got;
    }
    *queued = i;
    return rc;
}

/* The blocking op (executor.h): a thread waits for results of ours. Its
 * submits come in bursts with waits between, not as a stream: no hold
 * until the next stream without a wait (thread_main), and none now (the
 * add comes before end_hold's look at `holding`: see hold). */
static void pool_blocking(cf_executor *ex)
{
    struct thread_pool *p = pool_of(ex);
    atomic_fetch_add(&p->blocked, 1);
    end_hold(p);
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
    atomic_store(&p->shutdown, true);
    pthread_cond_broadcast(&p->work_cv);
    pthread_cond_broadcast(&p->room_cv);
    pthread_mutex_unlock(&p->mu);
    end_hold(p);
    if (cancel_futures)
        cf__future_list_drain(take_all(p), 0, NULL);
    return wait ? join_threads(p) : 0;
}

static void pool_destroy(cf_executor *ex)
{
    struct thread_pool *p = pool_of(ex);
    /* cf_executor_release joined the threads. What is still in the queue
     * was claimed and run by a waiting pool thread (its place freed, so
     * no thread waited for it): drop the queue's references. */
    for (struct cf__mpsc_node *e; (e = cf__mpsc_pop(&p->q));)
        cf_future_release(future_of(e));
    pthread_cond_destroy(&p->joined_cv);
    pthread_cond_destroy(&p->room_cv);
    pthread_cond_destroy(&p->work_cv);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p->busy);
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
    .blocking = pool_blocking,
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
    size_t busy_size = (size_t)p->max_workers * sizeof(*p->busy);
    if ((p->busy = aligned_alloc(_Alignof(struct busy_flag), busy_size)))
        memset(p->busy, 0, busy_size);
    if (!p->prefix || !p->threads || !p->busy)
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
    struct thread_pool *p = cf__executor_alloc(sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->base.ops = &thread_pool_ops;
    cf__executor_init_ids(&p->base);
    if ((rc = copy_options(p, opts)) < 0)
        goto out_free;
    pthread_mutex_init(&p->mu, NULL);
    cf__mpsc_init(&p->q);
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
    free(p->busy);
    free(p->prefix);
    cf__initializer_free(&p->init);
    free(p);
    return rc;
}
