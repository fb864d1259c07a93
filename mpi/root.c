/* The MPI pool's root: an executor backend (executor/executor.h) whose
 * "workers" are the serving ranks.
 *
 * Owns the queue of futures not yet sent (executor/future_queue.h: a FIFO
 * through f->inflight_next, each holding one reference and its record, as
 * in the thread pool), and one progress thread, the only thread that calls
 * MPI from creation until it exits. The progress thread takes futures off the
 * queue in batches (the records as the generic layer packed them, behind a
 * small header each: mpi/wire.h), sends each batch to a serving rank that
 * has room (credits: at most `credits` batches' worth of records in flight
 * per rank), receives batches of RESULT records and completes the futures
 * (running their done-callbacks on the progress thread, as the process
 * pool's collector does).
 *
 * User threads submit, cancel and shut down under `mu`. Lock order: pool
 * mu, then a future's mu. No MPI call, task or callback runs with mu held.
 * The in-flight table, the per-rank counts of records in flight and the
 * list of sends in progress belong to the progress thread alone.
 *
 * A future is marked running when it goes into a batch: from then on it
 * can no longer be cancelled (the rank may be running it). Cancelling a
 * queued one marks it cancelled and leaves it queued; the progress thread
 * drops it when it comes up, as the thread pool does.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "executor/executor.h"
#include "executor/future_internal.h"
#include "executor/future_queue.h"
#include "executor/pool_table.h"
#include "ipc/clock.h"
#include "mpi/mpi_internal.h"
#include "serialize/record.h"

/* Rounds of polling MPI with nothing to do before the progress thread
 * starts to sleep between polls (MPI cannot wake a condition variable),
 * and the longest such sleep. */
#define SPIN_ROUNDS 100
#define MAX_NAP_NS 1000000

struct rank_state {
    int workers;
    int pid;
    size_t inflight;        /* records sent, results not back (progress thread) */
    _Atomic uint64_t tasks; /* records sent in all */
};

struct out_msg {
    struct cf__mpi_buf buf;
    MPI_Request *reqs;
    MPI_Status *statuses; /* MPICH's headers reject MPI_STATUSES_IGNORE here */
    size_t nreq;
    struct out_msg *next;
};

struct mpi_pool {
    cf_executor base;
    struct cf__mpi_config c;
    struct rank_state *ranks; /* [c.size]; the root's slot unused */
    int serving;              /* c.size - 1 */
    int total_workers;

    pthread_mutex_t mu;
    pthread_cond_t work_cv;   /* the progress thread sleeps here */
    pthread_cond_t room_cv;   /* queue below max_pending, shutdown or broken */
    pthread_cond_t joined_cv;
    struct cf__future_queue q; /* futures not yet sent */
    int room_waiters;
    bool sleeping;            /* the progress thread waits on work_cv */
    bool shutdown;
    bool broken;
    char broken_msg[160];
    bool joining, joined;
    pthread_t thread;

    /* Progress thread only. */
    struct cf__pool_table inflight;
    size_t outstanding;     /* records on the ranks, results not back (with
                               futures that timed out here meanwhile) */
    uint64_t next_deadline; /* earliest task_deadline in the table (UINT64_MAX: none) */
    struct out_msg *sends;
    msgpack_zone *zone;
    int next_rank; /* round robin start */

    _Atomic uint64_t in_flight; /* sent, not yet completed (stats) */
};

/* The pool whose progress thread this is (done-callbacks run there). */
static _Thread_local struct mpi_pool *current_pool;

static struct mpi_pool *pool_of(cf_executor *ex)
{
    return (struct mpi_pool *)ex;
}

/* ------------------------------------------------------------ queue */

static void push_locked(struct mpi_pool *p, cf_future *f)
{
    cf__future_queue_push(&p->q, f);
}

/* With mu held: detaches up to n futures from the head of the queue. */
static cf_future *pop_locked(struct mpi_pool *p, size_t n)
{
    cf_future *first = cf__future_queue_take(&p->q, n);
    if (first && p->room_waiters)
        pthread_cond_broadcast(&p->room_cv);
    return first;
}

/* ------------------------------------------------- progress thread */

/* Marks the pool broken (the first reason stays) and fails what is queued
 * and in flight. Progress thread only (it owns the in-flight table). */
static void break_pool(struct mpi_pool *p, const char *why)
{
    pthread_mutex_lock(&p->mu);
    if (!p->broken) {
        snprintf(p->broken_msg, sizeof(p->broken_msg), "%s", why);
        p->broken = true;
    }
    cf_future *lost = pop_locked(p, SIZE_MAX);
    pthread_cond_broadcast(&p->room_cv);
    pthread_mutex_unlock(&p->mu);
    cf__future_list_drain(lost, CF_EBROKEN, p->broken_msg);
    cf_future *f;
    while ((f = cf__pool_table_pop_any(&p->inflight))) {
        atomic_fetch_sub_explicit(&p->in_flight, 1, memory_order_relaxed);
        cf__future_finish(f, CF_EBROKEN, p->broken_msg, NULL, 0);
        cf_future_release(f);
    }
}

/* Appends f's entry to a batch. */
static int add_entry(struct cf__mpi_buf *b, cf_future *f, uint64_t now)
{
    struct cf__mpi_entry e = {
        .record_len = f->t->record_len,
        .max_retries = f->t->retries_left,
    };
    if (f->t->task_deadline) {
        double left = f->t->task_deadline > now ? (double)(f->t->task_deadline - now) / 1e9 : 0;
        e.task_timeout = left > 1e-6 ? left : 1e-6; /* already late: fails at once */
    }
    if (cf__mpi_buf_append(b, &e, sizeof(e)) < 0)
        return -ENOMEM;
    return cf__mpi_buf_append(b, f->t->record, f->t->record_len);
}

/* Sends one batch to rank r from the queue if it has room and the queue
 * holds work. Returns the records sent (0: nothing to send), or < 0. */
static int send_batch(struct mpi_pool *p, int r)
{
    struct rank_state *rs = &p->ranks[r];
    size_t limit = (size_t)p->c.credits * (size_t)p->c.batch_records;
    if (rs->workers > p->c.batch_records)
        limit = (size_t)p->c.credits * (size_t)rs->workers;
    if (rs->inflight >= limit)
        return 0;
    size_t room = limit - rs->inflight;
    pthread_mutex_lock(&p->mu);
    /* Spread what is queued over the ranks rather than fill the first. */
    size_t fair = (p->q.count + (size_t)p->serving - 1) / (size_t)p->serving;
    size_t n = room < (size_t)p->c.batch_records ? room : (size_t)p->c.batch_records;
    if (fair < n)
        n = fair > (size_t)rs->workers ? fair : (size_t)rs->workers;
    if (n > room)
        n = room;
    cf_future *list = pop_locked(p, n);
    pthread_mutex_unlock(&p->mu);
    if (!list)
        return 0;

    struct out_msg *m = calloc(1, sizeof(*m));
    int rc = m ? cf__mpi_buf_reset(&m->buf) : -ENOMEM;
    uint64_t now = cf__now_ns();
    int count = 0;
    for (cf_future *f = list, *next; f; f = next) {
        next = f->inflight_next;
        f->inflight_next = NULL;
        if (rc < 0) {
            cf__future_finish(f, rc, "out of memory making a batch", NULL, 0);
            cf_future_release(f);
            continue;
        }
        if (f->t->task_deadline && f->t->task_deadline <= now) {
            char msg[300];
            snprintf(msg, sizeof(msg), "task %s passed its timeout before it ran", f->t->task);
            cf__future_finish(f, -ETIMEDOUT, msg, NULL, 0); /* no-op if cancelled */
            cf_future_release(f);
            continue;
        }
        if (!cf__future_mark_running(f)) { /* cancelled while queued */
            cf_future_release(f);
            continue;
        }
        int erc = add_entry(&m->buf, f, now);
        if (erc == 0)
            erc = cf__pool_table_insert(&p->inflight, f);
        if (erc < 0) {
            cf__future_finish(f, erc, "out of memory making a batch", NULL, 0);
            cf_future_release(f);
            continue;
        }
        /* The rank has it now; a lost rank ends the job, so no re-send. */
        cf__future_drop_record(f);
        if (f->t->task_deadline && f->t->task_deadline < p->next_deadline)
            p->next_deadline = f->t->task_deadline;
        atomic_fetch_add_explicit(&p->in_flight, 1, memory_order_relaxed);
        count++;
    }
    if (rc < 0 || count == 0) {
        if (m)
            cf__mpi_buf_free(&m->buf);
        free(m);
        return rc < 0 ? rc : 0;
    }
    m->nreq = cf__mpi_pieces(m->buf.len, p->c.split);
    m->reqs = calloc(m->nreq, sizeof(*m->reqs));
    m->statuses = calloc(m->nreq, sizeof(*m->statuses));
    rc = m->reqs && m->statuses ? 0 : -ENOMEM;
    if (rc == 0)
        rc = cf__mpi_isend_framed(&m->buf, r, CF__MPI_TAG_BATCH, p->c.comm, p->c.split, m->reqs);
    if (rc < 0) {
        /* Its futures are in the table: the caller breaks the pool, which
         * fails them. Pieces already started stay with MPI (the job is in
         * trouble anyway); their buffer must outlive them, so it leaks. */
        if (rc == -ENOMEM) {
            cf__mpi_buf_free(&m->buf);
            free(m->reqs);
            free(m->statuses);
            free(m);
        }
        return rc;
    }
    m->next = p->sends;
    p->sends = m;
    rs->inflight += (size_t)count;
    p->outstanding += (size_t)count;
    atomic_fetch_add_explicit(&rs->tasks, (uint64_t)count, memory_order_relaxed);
    return count;
}

/* Sends what the ranks have room for. Returns > 0 if it sent anything. */
static int dispatch(struct mpi_pool *p)
{
    int sent = 0;
    for (int k = 0; k < p->c.size; k++) {
        int r = (p->next_rank + k) % p->c.size;
        if (r == p->c.root)
            continue;
        int n = send_batch(p, r);
        if (n < 0)
            return n;
        sent += n;
    }
    p->next_rank = (p->next_rank + 1) % p->c.size;
    return sent;
}

/* Completes the futures of one RESULTS message from rank src. */
static int on_results(struct mpi_pool *p, int src, const unsigned char *buf, size_t len)
{
    size_t off = CF__MPI_FRAME_HEAD;
    while (off < len) {
        uint64_t rl;
        if (len - off < sizeof(rl))
            return CF_EPROTO;
        memcpy(&rl, buf + off, sizeof(rl));
        off += sizeof(rl);
        if (rl > len - off)
            return CF_EPROTO;
        struct cf__record rec;
        int rc = cf__record_decode(buf + off, (size_t)rl, p->zone, &rec);
        off += (size_t)rl;
        if (rc < 0 || rec.type != CF__REC_RESULT) {
            msgpack_zone_clear(p->zone);
            return rc < 0 ? rc : CF_EPROTO;
        }
        /* Every result returns a credit, its future's or that of one that
         * timed out here while the rank ran it. */
        if (p->ranks[src].inflight > 0) {
            p->ranks[src].inflight--;
            p->outstanding--;
        }
        cf_future *f = cf__pool_table_remove(&p->inflight, rec.id);
        if (f) {
            atomic_fetch_sub_explicit(&p->in_flight, 1, memory_order_relaxed);
            if (rec.status < 0) {
                char msg[1200];
                snprintf(msg, sizeof(msg), "%.*s", (int)rec.message_len, rec.message);
                cf__future_finish(f, rec.status, msg, NULL, 0);
            } else {
                cf__future_finish(f, 0, NULL, rec.payload_raw, rec.payload_len);
            }
            cf_future_release(f);
        }
        msgpack_zone_clear(p->zone);
    }
    return 0;
}

/* Receives and handles every RESULTS message that has arrived. Returns
 * > 0 if there was one, or < 0. */
static int poll_results(struct mpi_pool *p)
{
    int got = 0;
    for (;;) {
        int flag = 0;
        MPI_Status st;
        if (MPI_Iprobe(MPI_ANY_SOURCE, CF__MPI_TAG_RESULTS, p->c.comm, &flag, &st) != MPI_SUCCESS)
            return CF_EBROKEN;
        if (!flag)
            return got;
        unsigned char *buf = NULL;
        size_t len = 0;
        int rc = cf__mpi_recv_framed(&st, p->c.comm, &buf, &len);
        if (rc == 0)
            rc = on_results(p, st.MPI_SOURCE, buf, len);
        free(buf);
        if (rc < 0)
            return rc;
        got = 1;
    }
}

/* Frees the batches whose sends completed. Returns > 0 if any did. */
static int reap_sends(struct mpi_pool *p)
{
    int done = 0;
    for (struct out_msg **pp = &p->sends; *pp;) {
        struct out_msg *m = *pp;
        int flag = 0;
        if (MPI_Testall((int)m->nreq, m->reqs, &flag, m->statuses) != MPI_SUCCESS)
            return CF_EBROKEN;
        if (!flag) {
            pp = &m->next;
            continue;
        }
        *pp = m->next;
        cf__mpi_buf_free(&m->buf);
        free(m->reqs);
        free(m->statuses);
        free(m);
        done = 1;
    }
    return done;
}

/* Fails the futures in flight whose task_timeout passed. The rank goes on
 * running the task (nothing interrupts it in rank mode; in node mode its
 * pool kills the worker at the same deadline): its late result is
 * ignored, and its credit comes back with it. */
static void expire(struct mpi_pool *p)
{
    uint64_t now = cf__now_ns();
    if (now < p->next_deadline)
        return;
    size_t n = cf__pool_table_count(&p->inflight);
    cf_future **all = n ? malloc(n * sizeof(*all)) : NULL;
    if (n && !all) {
        p->next_deadline = now + 10000000ull; /* out of memory: try again soon */
        return;
    }
    n = cf__pool_table_list(&p->inflight, all, n);
    uint64_t next = UINT64_MAX;
    for (size_t i = 0; i < n; i++) {
        cf_future *f = all[i];
        if (!f->t->task_deadline)
            continue;
        if (f->t->task_deadline > now) {
            next = f->t->task_deadline < next ? f->t->task_deadline : next;
            continue;
        }
        cf__pool_table_remove(&p->inflight, f->id);
        atomic_fetch_sub_explicit(&p->in_flight, 1, memory_order_relaxed);
        char msg[300];
        snprintf(msg, sizeof(msg), "task %s passed its timeout on a serving rank", f->t->task);
        cf__future_finish(f, -ETIMEDOUT, msg, NULL, 0);
        cf_future_release(f);
    }
    free(all);
    p->next_deadline = next;
}

static void nap_locked(struct mpi_pool *p, uint64_t ns)
{
    struct timespec ts = cf__deadline_timespec(cf__now_ns() + ns);
    p->sleeping = true;
    pthread_cond_timedwait(&p->work_cv, &p->mu, &ts);
    p->sleeping = false;
}

static void *progress_main(void *arg)
{
    struct mpi_pool *p = arg;
    current_pool = p;
    pthread_setname_np(pthread_self(), "cf-mpi-progress");
    unsigned idle = 0;
    for (;;) {
        int rc = 0, did = 0;
        if (!p->broken) {
            if ((rc = dispatch(p)) > 0)
                did = 1;
            if (rc >= 0 && (rc = poll_results(p)) > 0)
                did = 1;
            if (rc >= 0 && (rc = reap_sends(p)) > 0)
                did = 1;
            if (rc >= 0)
                expire(p);
            if (rc < 0) {
                char why[128];
                snprintf(why, sizeof(why), "the MPI pool's progress thread failed: %s (%d)",
                         cf_strerror(rc), rc);
                break_pool(p, why);
            }
        }
        bool busy = p->outstanding > 0 || p->sends;
        pthread_mutex_lock(&p->mu);
        if (p->broken) {
            cf_future *lost = pop_locked(p, SIZE_MAX);
            if (lost) {
                pthread_mutex_unlock(&p->mu);
                cf__future_list_drain(lost, CF_EBROKEN, p->broken_msg);
                continue;
            }
        }
        if (p->shutdown && !p->q.head && (!busy || p->broken)) {
            pthread_mutex_unlock(&p->mu);
            break;
        }
        if (did) {
            idle = 0;
            pthread_mutex_unlock(&p->mu);
            continue;
        }
        if (!busy && !p->q.head) {
            /* Nothing can arrive over MPI: sleep until a submit. */
            p->sleeping = true;
            pthread_cond_wait(&p->work_cv, &p->mu);
            p->sleeping = false;
            idle = 0;
        } else if (++idle > SPIN_ROUNDS) {
            uint64_t ns = 1000ull << (idle - SPIN_ROUNDS < 10 ? idle - SPIN_ROUNDS : 10);
            nap_locked(p, ns < MAX_NAP_NS ? ns : MAX_NAP_NS);
        } else {
            pthread_mutex_unlock(&p->mu);
            sched_yield();
            continue;
        }
        pthread_mutex_unlock(&p->mu);
    }
    /* Every result is in (or the pool is broken): release the ranks. */
    if (!p->broken)
        for (int r = 0; r < p->c.size; r++)
            if (r != p->c.root)
                MPI_Send(NULL, 0, MPI_BYTE, r, CF__MPI_TAG_STOP, p->c.comm);
    return NULL;
}

/* --------------------------------------------------------- operations */

/* With mu held: waits until the queue has room (see thread_pool.c). */
static int wait_room_locked(struct mpi_pool *p, uint64_t deadline_ns)
{
    struct timespec ts = cf__deadline_timespec(deadline_ns);
    for (;;) {
        if (p->broken)
            return CF_EBROKEN;
        if (p->shutdown)
            return CF_ESHUTDOWN;
        /* A done-callback that submits runs on the progress thread: waiting
         * there for room would wait for itself. */
        if (p->q.count < p->c.max_pending || current_pool == p)
            return 0;
        if (deadline_ns == 0)
            return -EAGAIN;
        p->room_waiters++;
        int w = deadline_ns == CF__NO_DEADLINE ? pthread_cond_wait(&p->room_cv, &p->mu)
                                               : pthread_cond_timedwait(&p->room_cv, &p->mu, &ts);
        p->room_waiters--;
        if (w == ETIMEDOUT && !p->broken && !p->shutdown && p->q.count >= p->c.max_pending)
            return -ETIMEDOUT;
    }
}

static int pool_submit(cf_executor *ex, cf_future *f, unsigned char *record, size_t len,
                       uint64_t deadline_ns)
{
    struct mpi_pool *p = pool_of(ex);
    f->t->record = record; /* freed with the future whether or not queued */
    f->t->record_len = len;
    pthread_mutex_lock(&p->mu);
    int rc = wait_room_locked(p, deadline_ns);
    if (rc == 0) {
        push_locked(p, cf_future_retain(f));
        if (p->sleeping)
            pthread_cond_signal(&p->work_cv);
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

static bool pool_cancel(cf_executor *ex, cf_future *f)
{
    (void)ex;
    /* Pending means still queued here (a batch marks it running); the
     * progress thread drops the cancelled entry when it comes up. */
    return cf__future_mark_cancelled(f);
}

static int join_progress(struct mpi_pool *p)
{
    if (current_pool == p)
        return -EDEADLK;
    pthread_mutex_lock(&p->mu);
    if (p->joining) {
        while (!p->joined)
            pthread_cond_wait(&p->joined_cv, &p->mu);
        pthread_mutex_unlock(&p->mu);
        return 0;
    }
    p->joining = true;
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    pthread_mutex_lock(&p->mu);
    p->joined = true;
    pthread_cond_broadcast(&p->joined_cv);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

static int pool_shutdown(cf_executor *ex, bool wait, bool cancel_futures)
{
    struct mpi_pool *p = pool_of(ex);
    pthread_mutex_lock(&p->mu);
    p->shutdown = true;
    cf_future *cancelled = cancel_futures ? pop_locked(p, SIZE_MAX) : NULL;
    pthread_cond_broadcast(&p->room_cv);
    pthread_cond_signal(&p->work_cv);
    pthread_mutex_unlock(&p->mu);
    cf__future_list_drain(cancelled, 0, NULL);
    return wait ? join_progress(p) : 0;
}

static void free_pool(struct mpi_pool *p)
{
    cf__pool_table_free(&p->inflight);
    if (p->zone)
        msgpack_zone_free(p->zone);
    free(p->ranks);
    free(p);
}

static void pool_destroy(cf_executor *ex)
{
    struct mpi_pool *p = pool_of(ex);
    /* cf_executor_release joined the progress thread: MPI is ours again. */
    while (p->sends) { /* only after a break: complete or abandon them */
        struct out_msg *m = p->sends;
        p->sends = m->next;
        for (size_t i = 0; i < m->nreq; i++)
            if (m->reqs[i] != MPI_REQUEST_NULL)
                MPI_Request_free(&m->reqs[i]);
        cf__mpi_buf_free(&m->buf);
        free(m->reqs);
        free(m->statuses);
        free(m);
    }
    MPI_Comm_free(&p->c.comm);
    if (p->c.own_mpi)
        MPI_Finalize();
    pthread_cond_destroy(&p->joined_cv);
    pthread_cond_destroy(&p->room_cv);
    pthread_cond_destroy(&p->work_cv);
    pthread_mutex_destroy(&p->mu);
    free_pool(p);
}

static int pool_workers(const cf_executor *ex)
{
    return ((const struct mpi_pool *)ex)->total_workers;
}

static void pool_stats(cf_executor *ex, cf_stats *out)
{
    struct mpi_pool *p = pool_of(ex);
    pthread_mutex_lock(&p->mu);
    out->queued = p->q.count;
    pthread_mutex_unlock(&p->mu);
    out->in_flight = out->queued + atomic_load_explicit(&p->in_flight, memory_order_relaxed);
}

/* Position i: the i-th serving rank in rank order (the root skipped). */
static int pool_worker_stats(cf_executor *ex, int index, cf_worker_stats *out)
{
    struct mpi_pool *p = pool_of(ex);
    if (index >= p->serving)
        return -EINVAL;
    int r = index < p->c.root ? index : index + 1;
    *out = (cf_worker_stats){
        .pid = p->ranks[r].pid,
        .tasks = atomic_load_explicit(&p->ranks[r].tasks, memory_order_relaxed),
    };
    return 0;
}

static const struct cf__executor_ops mpi_pool_ops = {
    .submit = pool_submit,
    .cancel = pool_cancel,
    .refresh_running = NULL, /* marked running when it goes into a batch */
    .shutdown = pool_shutdown,
    .destroy = pool_destroy,
    .workers = pool_workers,
    .stats = pool_stats,
    .worker_stats = pool_worker_stats,
};

/* ------------------------------------------------------------ creation */

int cf__mpi_root_start(cf_executor **out, const struct cf__mpi_config *c,
                       const struct cf__mpi_hello *hellos)
{
    struct mpi_pool *p = cf__executor_alloc(sizeof(*p));
    if (!p) {
        cf__mpi_send_start(c, -ENOMEM);
        return -ENOMEM;
    }
    p->base.ops = &mpi_pool_ops;
    p->base.spill_above = 0; /* records stay in memory: MPI carries them */
    cf__executor_init_ids(&p->base);
    p->c = *c;
    p->serving = c->size - 1;
    p->ranks = calloc((size_t)c->size, sizeof(*p->ranks));
    p->zone = msgpack_zone_new(4096);
    cf__pool_table_init(&p->inflight);
    p->next_deadline = UINT64_MAX;
    if (!p->ranks || !p->zone) {
        free_pool(p);
        cf__mpi_send_start(c, -ENOMEM);
        return -ENOMEM;
    }
    for (int r = 0; r < c->size; r++) {
        if (r == c->root)
            continue;
        p->ranks[r].workers = hellos[r].workers > 0 ? hellos[r].workers : 1;
        p->ranks[r].pid = hellos[r].pid;
        p->total_workers += p->ranks[r].workers;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&p->work_cv, &attr);
    pthread_cond_init(&p->room_cv, &attr);
    pthread_cond_init(&p->joined_cv, &attr);
    pthread_condattr_destroy(&attr);
    /* Set up: tell the ranks to serve, then hand MPI to the progress
     * thread (from here on no other thread of ours calls MPI). */
    int rc = cf__mpi_send_start(c, 0);
    if (rc == 0 && (rc = -pthread_create(&p->thread, NULL, progress_main, p)) < 0)
        for (int r = 0; r < c->size; r++) /* they serve nothing and return */
            if (r != c->root)
                MPI_Send(NULL, 0, MPI_BYTE, r, CF__MPI_TAG_STOP, c->comm);
    if (rc < 0) {
        pthread_cond_destroy(&p->joined_cv);
        pthread_cond_destroy(&p->room_cv);
        pthread_cond_destroy(&p->work_cv);
        pthread_mutex_destroy(&p->mu);
        free_pool(p);
        return rc;
    }
    *out = &p->base;
    return 0;
}
