/* The process pool backend: the parent's side of a pool of forked workers.
 *
 * Threads: user threads submit, cancel and shut down; one collector thread
 * per pool forks the fork server (so that the fork server's
 * PR_SET_PDEATHSIG is tied to a thread that lives as long as the pool),
 * drains the result ring, completes futures (running their done-callbacks),
 * handles worker starts and deaths, and winds the pool down at shutdown.
 *
 * `mu` guards the table of futures in flight and the state flags, and is
 * held around every CAS the parent makes on a worker's batch entries
 * (workers/pool_ipc.h: cancels, timeouts, kills) and around clearing a
 * dead worker's entries. `fs_mu` guards the workers' pidfds and reading
 * the fork server's notes. Lock order: collect_mu, then pool mu, then a
 * future's mu or fs_mu, then a ring lock. Workers are signalled through
 * pidfds only (signal_worker), never by pid number.
 * Nothing blocks on a ring while holding mu: a submitter may wait for room
 * in the task ring, and the collector must stay free to drain results
 * meanwhile.
 *
 * Polling (why the round trip of one task costs microseconds, not three
 * futex wake-ups): a thread about to block on a future of this pool first
 * takes the collector's role for a moment (pool_assist): it polls the
 * result ring and completes what arrives itself, so the worker's push wakes
 * nobody and the waiter needs no wake-up. A worker that runs out of tasks
 * polls the task ring the same way for a moment before it sleeps. Both
 * poll only while the workers running tasks leave a core free, so polling
 * never takes CPU from a task. `collect_mu` makes whoever drains the result
 * ring the only one (records are handled in ring order: a result before
 * the exit of the worker that sent it). A done-callback that waits on a
 * future of this pool does the collector's work itself meanwhile
 * (pool_wait_here), keeping that order through batch frames.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "executor/debug_log.h"
#include "executor/executor.h"
#include "executor/initializer.h"
#include "executor/future_internal.h"
#include "executor/pool_table.h"
#include "ipc/clock.h"
#include "ipc/cpu.h"
#include "ipc/fault.h"
#include "ipc/futex_lock.h"
#include "ipc/futex.h"
#include "ipc/pidfd.h"
#include "ipc/segcache.h"
#include "serialize/record.h"
#include "workers/pool_ipc.h"
#include "workers/registry.h"

#define DEFAULT_RING_BYTES (1u << 20)
#define MAX_WORKERS 1024
/* How long a waiter polls the result ring, and an idle worker the task
 * ring, before sleeping: about the cost of one futex wake-up on a shared
 * virtual machine (tens of microseconds), so polling costs at most about
 * what sleeping would have (the classic spin-then-block bound). */
#define POLL_NS 50000ull

/* Records a waiter took from the result ring but left to the collector
 * (see pool_assist), in ring order. */
struct handoff {
    struct handoff *next;
    size_t len;
    unsigned char data[];
};

/* A batch of result records being handled, and how far: a done-callback
 * that waits on this thread (pool_wait_here) moves the rest of it to the
 * handoff queue, so that the records are handled in ring order however the
 * handling nests. */
struct batch_frame {
    const struct cf__ring_batch *b;
    size_t next;
    struct batch_frame *outer;
};

struct process_pool {
    cf_executor base;
    struct cf__pool_ipc ipc;
    struct cf__initializer init;

    pthread_mutex_t mu;
    pthread_cond_t started_cv; /* collector -> create: fork server is up */
    struct cf__pool_table inflight; /* id -> future, each holding one ref */
    bool shutdown;      /* no more submissions */
    bool tasks_closed;  /* task ring closed: workers are exiting */
    bool broken;
    char broken_msg[1200];
    int live_workers;   /* spawn requested and exit not yet reported */
    int start_state;    /* 0 starting, 1 running, <0 failed (-errno) */
    int max_retries;    /* the default of futures that do not say */
    uint64_t next_deadline; /* earliest task_deadline in flight; UINT64_MAX: none */
    struct {
        uint64_t retried, worker_deaths, deaths_by_signal, retirements, respawns;
        uint64_t *slot_respawns; /* per worker position */
    } stats;
    /* Per worker position: its worker reported WORKER_START (its
     * initializer ran). A worker that exits before that was killed by its
     * initializer (or while running it): the pool is broken, since every
     * replacement would die the same way. Collector only. */
    bool *slot_started;

    /* Futures whose record waits for room in the task ring, pushed by the
     * collector between batches (guarded by mu): tasks of a dead worker
     * queued again, and submissions made from done-callbacks, which run on
     * the collector and must never block on the ring it alone unblocks. */
    cf_future **overflow;
    size_t n_overflow, cap_overflow;

    pthread_t collector;
    /* Held by whoever drains the result ring and handles its records: the
     * collector, or a waiter polling in pool_assist. Guards handoff. */
    pthread_mutex_t collect_mu;
    struct handoff *handoff, **handoff_tail;
    struct batch_frame *frame; /* the batch being handled (collect_mu) */
    msgpack_zone *assist_zone; /* decoding for pool_assist, under collect_mu */
    struct cf__ring_batch assist_batch;
    /* A waiter in pool_assist is registered as the result ring's poller
     * (under collect_mu); a callback it runs that waits (pool_wait_here)
     * unregisters before it sleeps. */
    bool assist_polling;
    int cpus;           /* online CPUs at creation: the polling budget */
    int join_state;     /* 0: running, 1: someone joins, 2: joined */
    pthread_cond_t joined_cv;
    /* ... or known dead when it cannot be reaped. Atomic: the collector
     * and a waiter driving the result ring (pool_wait_here) both check. */
    _Atomic bool forkserver_reaped;
    pid_t forkserver;
    int fs_pidfd;       /* the fork server's pidfd (its HELLO), or -1 */
    int fs_sock;        /* parent's end of the fork server socket */
    /* Per worker position, under fs_mu (which also serialises reading the
     * notes from fs_sock): the pidfd the fork server opened for the
     * worker it forked there and that worker's pid, or -1 and 0. */
    pthread_mutex_t fs_mu;
    int *pidfds;
    pid_t *pidfd_pids;
    bool debug;         /* CF_DEBUG was set at creation: log to stderr */
    unsigned debug_id;  /* the pool's number in those lines */
};

static struct process_pool *pool_of(cf_executor *ex)
{
    return (struct process_pool *)ex;
}

/* The pool whose result records this thread is handling right now (its
 * collector, or a waiter in pool_assist). Done-callbacks may run there, so
 * such a thread must never wait for ring room or for the collector. */
static _Thread_local struct process_pool *tl_collecting;

static bool on_collector(struct process_pool *p)
{
    return tl_collecting == p || pthread_equal(pthread_self(), p->collector);
}

/* Workers running a task right now (their slots, written by the workers). */
static int running_workers(const struct process_pool *p)
{
    int n = 0;
    for (int i = 0; i < p->ipc.nworkers; i++)
        n += atomic_load_explicit(&p->ipc.sh->slots[i].running, memory_order_relaxed) != 0;
    return n;
}

/* The task ring's may_poll, called in a worker about to sleep: poll only
 * when a thread of the parent waits on results by polling (now or a moment
 * ago: it is about to submit the next task, a ping-pong), and the workers
 * running tasks leave a core for it. A parent busy submitting or mapping
 * needs its cores more than a polling worker would save it. (p is the
 * worker's copy of the pool, taken at fork; cpus and the slots' address do
 * not change.) */
static bool worker_may_poll(void *arg)
{
    const struct process_pool *p = arg;
    return cf__ring_polled_within(&p->ipc.results, POLL_NS) &&
           running_workers(p) + 2 <= p->cpus;
}

/* ------------------------------------------------------------ helpers */

/* Wakes the collector so that it re-checks its state (shutdown, the
 * handoff and overflow queues). Never blocks. A WAKE record cannot be
 * missed; when the ring is full there is no room for one, but then the
 * ring has records, and a plain signal makes a sleeping collector find
 * them (it may be asleep with a full ring: pushes made while a waiter
 * polled woke nobody). */
static void wake_collector(struct process_pool *p)
{
    unsigned char rec[CF__ID_PREFIX + 1] = {0};
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int rc = -EAGAIN;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (cf__record_wake(&pk) == 0 && sb.size == 1) {
        rec[CF__ID_PREFIX] = (unsigned char)sb.data[0];
        rc = cf__ring_push(&p->ipc.results, rec, sizeof(rec), 0, NULL);
    }
    msgpack_sbuffer_destroy(&sb);
    if (rc != 0)
        cf__ring_notify(&p->ipc.results);
}

static void send_forkserver(struct process_pool *p, int op, int slot, pid_t pid, int sig)
{
    struct cf__forkserver_request req = {op, slot, pid, sig};
    while (send(p->fs_sock, &req, sizeof(req), MSG_NOSIGNAL) < 0 && errno == EINTR)
        ;
}

/* Drops the segment of f's large arguments once f is done with. `read`:
 * the worker is done reading it (its result arrived), so a kept segment
 * may be reused; otherwise (f failed: timed out, pool broken...) a worker
 * may still hold the task, and a kept segment is given up instead, never
 * written again (ipc/segcache.h). The submitter may still be returning
 * from the push that published f (the result can only exist after that
 * push, but the causality runs through a worker process no sanitizer can
 * see): it then drops the segment itself, and the pool lock orders the
 * two. */
static void drop_side_now(cf_future *f, bool read)
{
    if (read)
        cf__side_close(&f->t->ring->task_side);
    else
        cf__side_abandon(&f->t->ring->task_side);
}

static void drop_task_side(struct process_pool *p, cf_future *f, bool read)
{
    pthread_mutex_lock(&p->mu);
    bool later = f->t->ring->pushing;
    if (later) {
        f->t->ring->side_close_deferred = true;
        f->t->ring->side_reusable = read;
    }
    pthread_mutex_unlock(&p->mu);
    if (!later)
        drop_side_now(f, read);
}

/* Completes a future taken out of the table and drops the table's ref. */
static void fail_future(struct process_pool *p, cf_future *f, int err, const char *msg)
{
    drop_task_side(p, f, false);
    cf__future_finish(f, err, msg, NULL, 0);
    cf_future_release(f);
}

/* With mu held: marks the pool broken and takes every future in flight into
 * `out` (to fail once mu is dropped). */
static void break_pool_locked(struct process_pool *p, const char *msg, struct cf__pool_table *out)
{
    if (!p->broken) {
        p->broken = true;
        snprintf(p->broken_msg, sizeof(p->broken_msg), "%s", msg);
    }
    cf__pool_table_move_all(&p->inflight, out);
    p->n_overflow = 0; /* every future in it was in flight: now in `out` */
    if (!p->tasks_closed) {
        p->tasks_closed = true;
        cf__ring_close(&p->ipc.tasks);
    }
}

static void fail_all(struct process_pool *p, struct cf__pool_table *t, int err, const char *msg)
{
    cf_future *f;
    while ((f = cf__pool_table_pop_any(t)))
        fail_future(p, f, err, msg);
}

/* Pushes f's record (or, when it already has a side segment, that
 * segment's descriptor again). */
static int push_task(struct process_pool *p, cf_future *f, uint64_t deadline_ns, uint64_t *pos)
{
    size_t len = f->t->record_len - CF__ID_PREFIX;
    if (f->t->ring->task_side.fd >= 0)
        return cf__pool_push_side(&p->ipc.tasks, f->id, &f->t->ring->task_side, len, deadline_ns, pos);
    return cf__pool_push(&p->ipc.tasks, f->id, f->t->record + CF__ID_PREFIX, len, deadline_ns,
                         &f->t->ring->task_side, pos);
}

/* With mu held. Returns 0 or -ENOMEM. */
static int overflow_append(struct process_pool *p, cf_future *f)
{
    if (p->n_overflow == p->cap_overflow) {
        size_t cap = p->cap_overflow ? p->cap_overflow * 2 : 16;
        cf_future **grown = realloc(p->overflow, cap * sizeof(*grown));
        if (!grown)
            return -ENOMEM;
        p->overflow = grown;
        p->cap_overflow = cap;
    }
    f->t->ring->ring_pos = UINT64_MAX;
    p->overflow[p->n_overflow++] = f;
    return 0;
}

/* With mu held: takes f out of the overflow queue; false if it is not there. */
static bool overflow_remove(struct process_pool *p, cf_future *f)
{
    for (size_t i = 0; i < p->n_overflow; i++) {
        if (p->overflow[i] == f) {
            memmove(&p->overflow[i], &p->overflow[i + 1],
                    (p->n_overflow - i - 1) * sizeof(*p->overflow));
            p->n_overflow--;
            return true;
        }
    }
    return false;
}

/* With mu held: takes f, in flight, out of the table and, if it is there,
 * out of the overflow queue. A task can be both queued again and finished:
 * a worker that died after taking a batch but before the ring's tail moved
 * leaves its records in the ring as well as in its slot (at-least-once
 * delivery), and the first result must not leave a freed future queued. */
static void take_out_locked(struct process_pool *p, cf_future *f)
{
    cf__pool_table_remove(&p->inflight, f->id);
    if (f->t->ring->ring_pos == UINT64_MAX)
        overflow_remove(p, f); /* false: a submitter is still pushing it */
}

/* Collector: pushes what waits in the overflow queue, in order, as long as
 * the ring has room. */
static void drain_overflow(struct process_pool *p)
{
    pthread_mutex_lock(&p->mu);
    size_t done = 0;
    cf_future *failed = NULL;
    int failed_rc = 0;
    while (done < p->n_overflow && !failed) {
        cf_future *f = p->overflow[done];
        uint64_t pos;
        int rc = push_task(p, f, 0, &pos);
        if (rc == -EAGAIN)
            break;
        done++;
        if (rc == 0) {
            f->t->ring->ring_pos = pos;
        } else if (cf__pool_table_remove(&p->inflight, f->id) == f) {
            failed = f;
            failed_rc = rc == -EPIPE ? CF_EBROKEN : rc;
        }
    }
    if (done) {
        memmove(p->overflow, p->overflow + done, (p->n_overflow - done) * sizeof(*p->overflow));
        p->n_overflow -= done;
    }
    pthread_mutex_unlock(&p->mu);
    if (failed)
        fail_future(p, failed, failed_rc, "could not queue the task again");
}

/* A worker to signal: its position and pid (slot -1: none). */
struct victim {
    int slot;
    pid_t pid;
};

/* A worker's pid as its slot says (the fault point lets a test make the
 * parent believe a stranger has it: a pid recycled meanwhile). */
static pid_t slot_pid(struct process_pool *p, int slot)
{
    pid_t pid = atomic_load(&p->ipc.sh->slots[slot].pid);
#ifdef CF_FAULT_INJECTION
    if (CF__FAULT(CF__FAULT_WORKER_PID))
        pid = (pid_t)cf__fault_value();
#endif
    return pid;
}

/* With fs_mu held: takes the notes the fork server sent (pidfds of the
 * workers it forked) into the per-position table. Never blocks. */
static void take_notes_locked(struct process_pool *p)
{
    struct cf__forkserver_note note;
    int fd;
    while (p->fs_sock >= 0 && cf__fs_recv_note(p->fs_sock, &note, &fd, MSG_DONTWAIT) == 0) {
        if (note.op == CF__FS_PIDFD && note.slot >= 0 && note.slot < p->ipc.nworkers) {
            if (p->pidfds[note.slot] >= 0)
                close(p->pidfds[note.slot]);
            p->pidfds[note.slot] = fd;
            p->pidfd_pids[note.slot] = fd >= 0 ? note.pid : 0;
        } else if (fd >= 0) {
            close(fd);
        }
    }
}

/* With mu held: the worker of `slot` to signal, named by the pid of the
 * pidfd the fork server gave us for it when there is one (not by the pid
 * its slot shows, which only the worker vouches for). */
static struct victim victim_of(struct process_pool *p, int slot)
{
    struct victim v = {slot, 0};
    pthread_mutex_lock(&p->fs_mu);
    take_notes_locked(p);
    v.pid = p->pidfds[slot] >= 0 ? p->pidfd_pids[slot] : 0;
    pthread_mutex_unlock(&p->fs_mu);
    if (v.pid <= 0)
        v.pid = slot_pid(p, slot);
    return v;
}

/* Sends sig to a worker through its pidfd, never by pid number: between a
 * worker's death (reaped by the fork server) and the moment we handle it,
 * its pid may belong to someone else. Without a pidfd for it (a kernel
 * before 5.3, or its note not here yet) the fork server, its parent, sends
 * the signal, and only while that pid is still its unreaped child. */
static void signal_worker(struct process_pool *p, const struct victim *v, int sig)
{
    if (v->slot < 0 || v->pid <= 0)
        return;
    pthread_mutex_lock(&p->fs_mu);
    take_notes_locked(p);
    bool sent = false;
    if (p->pidfds[v->slot] >= 0 && p->pidfd_pids[v->slot] == v->pid) {
        int rc = cf__pidfd_signal(p->pidfds[v->slot], sig);
        sent = rc == 0 || rc == -ESRCH; /* -ESRCH: already gone */
    }
    pthread_mutex_unlock(&p->fs_mu);
    if (!sent)
        send_forkserver(p, CF__FS_KILL, v->slot, v->pid, sig);
}

/* A duplicate of the pidfd of the worker with this pid, or -1. */
static int peer_pidfd(struct process_pool *p, pid_t pid)
{
    int dup = -1;
    pthread_mutex_lock(&p->fs_mu);
    take_notes_locked(p);
    for (int i = 0; i < p->ipc.nworkers && dup < 0; i++)
        if (p->pidfds[i] >= 0 && p->pidfd_pids[i] == pid)
            dup = fcntl(p->pidfds[i], F_DUPFD_CLOEXEC, 0);
    pthread_mutex_unlock(&p->fs_mu);
    return dup;
}

/* Where task `id` sits in a worker's batch. */
struct entry_ref {
    int slot, index;
    uint32_t word;
};

/* With mu held: finds task `id` among the batch entries of the workers
 * (other than position `skip`) that are not free or cancelled. Only
 * meaningful once the task's record was taken from the ring: a worker
 * writes its entries before the ring's tail moves, so they are complete
 * by then; what can change meanwhile only goes forward (TAKEN, STARTED,
 * DONE or KILL), and a later batch in that position only overwrites
 * entries whose tasks are done. Ids are unique per pool. */
static bool find_entry(struct process_pool *p, uint64_t id, int skip, struct entry_ref *e)
{
    for (int i = 0; i < p->ipc.nworkers; i++) {
        struct cf__worker_slot *slot = &p->ipc.sh->slots[i];
        if (i == skip)
            continue;
        for (int j = 0; j < CF__BATCH_MAX; j++) {
            uint32_t w = atomic_load(&slot->entry[j]);
            uint32_t st = CF__ENTRY_STATE(w);
            if (st == CF__ENTRY_FREE || st == CF__ENTRY_CANCELLED ||
                atomic_load(&slot->batch_ids[j]) != id)
                continue;
            *e = (struct entry_ref){i, j, w};
            return true;
        }
    }
    return false;
}

enum taken_state {
    TAKEN_SKIPPED = 1, /* it had not started: the worker will skip it */
    TAKEN_RUNNING,     /* a worker runs it (if `kill`: marked KILL, *v set) */
    TAKEN_RAN,         /* it ran: its result is on its way, or it is being killed */
};

/* With mu held: settles a task whose record a worker has taken. If it has
 * not started, it is cancelled in the worker's batch (TAKEN -> CANCELLED),
 * so it never will. If it runs and `kill`, its entry is marked KILL
 * (STARTED -> KILL) and *v names the worker to signal: the worker will not
 * start anything else (see workers/pool_ipc.h), so the signal can only end
 * this task. Each step is one CAS against the worker's own; whoever wins
 * decides, and a lost CAS means the entry moved on: look again. */
static enum taken_state settle_taken_locked(struct process_pool *p, uint64_t id, bool kill,
                                            struct victim *v)
{
    struct entry_ref e;
    v->slot = -1;
    v->pid = 0;
    bool skipped = false;
    while (find_entry(p, id, -1, &e)) {
        _Atomic uint32_t *word = &p->ipc.sh->slots[e.slot].entry[e.index];
        uint32_t seq = e.word >> CF__ENTRY_BITS;
        switch (CF__ENTRY_STATE(e.word)) {
        case CF__ENTRY_TAKEN:
            /* Cancelled; but look on: a worker that died inside its pop
             * leaves a TAKEN entry while the record stayed in the ring,
             * where another worker may have taken (and started) it. Its
             * entry decides; every TAKEN one is cancelled on the way. */
            if (atomic_compare_exchange_strong(word, &e.word,
                                               CF__ENTRY_WORD(seq, CF__ENTRY_CANCELLED)))
                skipped = true;
            continue;
        case CF__ENTRY_STARTED:
            if (!kill)
                return TAKEN_RUNNING;
            if (atomic_compare_exchange_strong(word, &e.word,
                                               CF__ENTRY_WORD(seq, CF__ENTRY_KILL))) {
                *v = victim_of(p, e.slot);
                return TAKEN_RUNNING;
            }
            continue;
        default:
            return TAKEN_RAN;
        }
    }
    /* Not listed (any more): it ran and its worker moved on to another
     * batch, unless we just cancelled its only entries. */
    return skipped ? TAKEN_SKIPPED : TAKEN_RAN;
}

/* With mu held: whether a worker has started task `id`, whose record was
 * taken from the ring. */
static bool started_locked(struct process_pool *p, uint64_t id)
{
    /* Every entry naming it: a dead worker's stale TAKEN entry (see
     * settle_taken_locked) must not hide another worker's STARTED one. */
    bool listed = false;
    for (int i = 0; i < p->ipc.nworkers; i++) {
        struct cf__worker_slot *slot = &p->ipc.sh->slots[i];
        for (int j = 0; j < CF__BATCH_MAX; j++) {
            uint32_t st = CF__ENTRY_STATE(atomic_load(&slot->entry[j]));
            if (st == CF__ENTRY_FREE || st == CF__ENTRY_CANCELLED ||
                atomic_load(&slot->batch_ids[j]) != id)
                continue;
            if (st != CF__ENTRY_TAKEN)
                return true;
            listed = true;
        }
    }
    return !listed;
}

/* With mu held: takes f out of flight wherever it is. Returns 1 if it had
 * not started (it never will), 2 if a worker had started it (then *v names
 * the worker to kill, when this call marked it), 0 if it was not in
 * flight. */
static int withdraw_locked(struct process_pool *p, cf_future *f, struct victim *v)
{
    v->slot = -1;
    v->pid = 0;
    if (cf__pool_table_find(&p->inflight, f->id) != f)
        return 0;
    int where;
    if (f->t->ring->ring_pos == UINT64_MAX) {
        if (!overflow_remove(p, f))
            return 0; /* a submitter is pushing it right now */
        where = 1;
    } else if (cf__ring_cancel(&p->ipc.tasks, f->t->ring->ring_pos) == 0) {
        where = 1;
    } else {
        where = settle_taken_locked(p, f->id, true, v) == TAKEN_SKIPPED ? 1 : 2;
    }
    cf__pool_table_remove(&p->inflight, f->id);
    return where;
}

/* Fails every future whose task_deadline has passed; a worker running one
 * is killed (and replaced), the rest of its batch queued again. */
static void expire_deadlines(struct process_pool *p)
{
    uint64_t now = cf__now_ns();
    pthread_mutex_lock(&p->mu);
    if (now < p->next_deadline) {
        pthread_mutex_unlock(&p->mu);
        return;
    }
    size_t n = cf__pool_table_count(&p->inflight), k = 0;
    cf_future **all = malloc((n ? n : 1) * sizeof(*all));
    struct victim *victims = malloc((n ? n : 1) * sizeof(*victims));
    bool *started = malloc((n ? n : 1) * sizeof(*started));
    n = all && victims && started ? cf__pool_table_list(&p->inflight, all, n) : 0;
    uint64_t next = UINT64_MAX;
    int where;
    for (size_t i = 0; i < n; i++) {
        cf_future *f = all[i];
        if (!f->t->task_deadline)
            continue;
        if (f->t->task_deadline > now) {
            next = f->t->task_deadline < next ? f->t->task_deadline : next;
        } else if ((where = withdraw_locked(p, f, &victims[k]))) {
            started[k] = where == 2;
            all[k++] = f; /* compacts in place: k <= i */
        }
    }
    p->next_deadline = all && victims && started ? next : now + 10000000ull; /* OOM: retry soon */
    pthread_mutex_unlock(&p->mu);
    for (size_t i = 0; i < k; i++) {
        char msg[400];
        if (victims[i].slot >= 0)
            snprintf(msg, sizeof(msg), "task %s passed its timeout; worker %d was killed",
                     all[i]->t->task, (int)victims[i].pid);
        else if (started[i])
            snprintf(msg, sizeof(msg), "task %s passed its timeout as it finished",
                     all[i]->t->task);
        else
            snprintf(msg, sizeof(msg), "task %s passed its timeout before it ran",
                     all[i]->t->task);
        fail_future(p, all[i], -ETIMEDOUT, msg);
        signal_worker(p, &victims[i], SIGKILL); /* after the future is settled */
    }
    free(all);
    free(victims);
    free(started);
}

/* ---------------------------------------------------------- collector */

static void ack_side(struct process_pool *p, int32_t pid)
{
    for (int i = 0; i < p->ipc.nworkers; i++) {
        struct cf__worker_slot *s = &p->ipc.sh->slots[i];
        if (atomic_load(&s->pid) == pid) {
            atomic_fetch_add(&s->side_acked, 1);
            cf__futex_wake(&s->side_acked, INT32_MAX);
            return;
        }
    }
}

static void on_result(struct process_pool *p, const struct cf__record *rec, struct cf__side *side)
{
    pthread_mutex_lock(&p->mu);
    cf_future *f = cf__pool_table_find(&p->inflight, rec->id);
    if (f)
        take_out_locked(p, f);
    pthread_mutex_unlock(&p->mu);
    if (!f)
        return; /* cancelled meanwhile, or a duplicate after a re-queue */
    drop_task_side(p, f, true);
    if (rec->status < 0) {
        char msg[1200];
        snprintf(msg, sizeof(msg), "%.*s", (int)rec->message_len, rec->message);
        cf__future_finish(f, rec->status, msg, NULL, 0);
    } else if (side && side->map) {
        size_t off = (size_t)(rec->payload_raw - (const unsigned char *)side->map);
        cf__future_finish_side(f, side, off, rec->payload_len);
    } else {
        cf__future_finish(f, 0, NULL, rec->payload_raw, rec->payload_len);
    }
    cf_future_release(f);
}

static void describe_exit(char *buf, size_t size, pid_t pid, int status, const char *task)
{
    char how[64];
    if (WIFSIGNALED(status))
        snprintf(how, sizeof(how), "killed by SIG%s", sigabbrev_np(WTERMSIG(status))
                                                          ? sigabbrev_np(WTERMSIG(status))
                                                          : "?");
    else
        snprintf(how, sizeof(how), "exited with status %d", WEXITSTATUS(status));
    snprintf(buf, size, "worker %d %s while running %s", (int)pid, how, task);
}

static bool tasks_closed(struct process_pool *p)
{
    pthread_mutex_lock(&p->mu);
    bool closed = p->tasks_closed;
    pthread_mutex_unlock(&p->mu);
    return closed;
}

static void describe_status(char *buf, size_t size, int status)
{
    if (WIFSIGNALED(status))
        snprintf(buf, size, "killed by SIG%s",
                 sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "?");
    else
        snprintf(buf, size, "exited with status %d", WEXITSTATUS(status));
}

/* A worker exited before its WORKER_START record: its initializer killed
 * it (abort, exit, a signal; exit(0) too: a worker only exits on its own
 * after it started). Every replacement would run the same initializer, so
 * instead of forking for ever the pool is broken, with a message naming
 * the initializer and how it died. (A worker killed from outside while
 * its initializer ran looks the same, and breaks the pool as well.) */
static void break_for_initializer(struct process_pool *p, const struct cf__record *rec)
{
    char how[64], msg[400];
    struct cf__pool_table lost;
    if (tasks_closed(p))
        return; /* shutting down: nothing more will be forked anyway */
    describe_status(how, sizeof(how), rec->wait_status);
    snprintf(msg, sizeof(msg), "initializer '%s' killed its worker (pid %d): %s%s", p->init.name,
             (int)rec->pid, how,
             WIFEXITED(rec->wait_status) && WEXITSTATUS(rec->wait_status) == 0
                 ? " (exit() in an initializer is a death)"
                 : "");
    if (p->debug)
        cf__debug_log(p->debug_id, "%s", msg);
    cf__pool_table_init(&lost);
    pthread_mutex_lock(&p->mu);
    break_pool_locked(p, msg, &lost);
    pthread_mutex_unlock(&p->mu);
    fail_all(p, &lost, CF_EBROKEN, msg);
    cf__pool_table_free(&lost);
}

/* A worker is gone: the one task it was running fails; tasks it had taken
 * but not started go back to the ring; a replacement is forked. */
static void on_worker_exit(struct process_pool *p, const struct cf__record *rec)
{
    struct cf__worker_slot *slot = &p->ipc.sh->slots[rec->slot];
    bool started = p->slot_started[rec->slot];
    p->slot_started[rec->slot] = false;
    if (!started && p->init.name)
        break_for_initializer(p, rec);
    uint32_t n = atomic_load(&slot->batch_count);
    if (n > CF__BATCH_MAX)
        n = CF__BATCH_MAX; /* written by another process: never trust it */
    bool retired = WIFEXITED(rec->wait_status) &&
                   WEXITSTATUS(rec->wait_status) == CF__WORKER_RETIRED && n == 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t id = atomic_load(&slot->batch_ids[i]);
        uint32_t state = CF__ENTRY_STATE(atomic_load(&slot->entry[i]));
        struct entry_ref elsewhere;
        pthread_mutex_lock(&p->mu);
        cf_future *f = cf__pool_table_find(&p->inflight, id);
        /* Left alone: a task that is not this worker's to settle. Its
         * result is on its way (DONE); or it was never really taken (the
         * worker died in the ring's pop before the tail moved: its record
         * is still in the ring, and stays pending there, where a cancel
         * still finds it; queueing it again would make a copy that a
         * cancel cannot reach); or another worker took it since. */
        bool leave = f && (state == CF__ENTRY_DONE ||
                           (state == CF__ENTRY_TAKEN &&
                            ((f->t->ring->ring_pos != UINT64_MAX &&
                              !cf__ring_taken(&p->ipc.tasks, f->t->ring->ring_pos)) ||
                             find_entry(p, id, rec->slot, &elsewhere))));
        if (leave)
            f = NULL;
        bool requeued = false;
        bool ran = state != CF__ENTRY_TAKEN; /* STARTED: it was running */
        bool retry = f && ran && f->t->retries_left > 0;
        if (f && (!ran || retry) && !p->tasks_closed) {
            /* Never started (or may run again): queue it again. Through the
             * overflow queue: the collector must not wait for ring room. */
            requeued = overflow_append(p, f) == 0;
            if (requeued && retry) {
                f->t->retries_left--;
                p->stats.retried++;
            }
        }
        if (f && !requeued)
            take_out_locked(p, f);
        pthread_mutex_unlock(&p->mu);
        if (f && !requeued) {
            char msg[512];
            describe_exit(msg, sizeof(msg), rec->pid, rec->wait_status, f->t->task);
            fail_future(p, f, CF_EWORKER, msg);
        }
    }
    /* Under mu: a cancel looking for a task in this slot sees the dead
     * worker's entries or none, never half of them. */
    pthread_mutex_lock(&p->mu);
    for (int j = 0; j < CF__BATCH_MAX; j++)
        atomic_store(&slot->entry[j], CF__ENTRY_FREE);
    atomic_store(&slot->batch_count, 0);
    atomic_store(&slot->running, 0);
    atomic_store(&slot->pid, 0);
    pthread_mutex_unlock(&p->mu);
    pthread_mutex_lock(&p->fs_mu);
    take_notes_locked(p);
    if (p->pidfds[rec->slot] >= 0 && p->pidfd_pids[rec->slot] == rec->pid) {
        close(p->pidfds[rec->slot]);
        p->pidfds[rec->slot] = -1;
        p->pidfd_pids[rec->slot] = 0;
    }
    pthread_mutex_unlock(&p->fs_mu);
    /* A worker killed while polling made pushes skip their wake-ups, and
     * one killed after being woken but before taking the lock swallowed
     * that wake-up: pass them on to the survivors. */
    cf__ring_forget_poller(&p->ipc.tasks, rec->pid);
    cf__seg_forget_pid(rec->pid); /* its kept segments: unmap what we no longer use */
    /* One killed inside a signal (a pass-on in the task ring, a push to
     * the result ring) may have counted a wake-up it never sent, which
     * would make later signals skip a sleeper (ipc/pshared.h). The fork
     * server repairs the result ring as it reports the death; the task
     * ring is ours to repair. */
    cf__ring_forget_notifier(&p->ipc.tasks);
    cf__ring_wake_all(&p->ipc.tasks);
    if (cf__ring_closed(&p->ipc.tasks) && !tasks_closed(p)) {
        /* Closed by a reader that found it corrupt: nothing can be trusted
         * in it any more, and respawning would only spin. */
        struct cf__pool_table lost;
        cf__pool_table_init(&lost);
        pthread_mutex_lock(&p->mu);
        break_pool_locked(p, "the task ring was found corrupted", &lost);
        pthread_mutex_unlock(&p->mu);
        fail_all(p, &lost, CF_EBROKEN, "the task ring was found corrupted");
        cf__pool_table_free(&lost);
    }
    pthread_mutex_lock(&p->mu);
    if (p->debug) {
        char how[64];
        int st = rec->wait_status;
        if (WIFSIGNALED(st))
            snprintf(how, sizeof(how), "killed by SIG%s",
                     sigabbrev_np(WTERMSIG(st)) ? sigabbrev_np(WTERMSIG(st)) : "?");
        else
            snprintf(how, sizeof(how), "exit status %d", WEXITSTATUS(st));
        cf__debug_log(p->debug_id, "worker %d (pid %d) %s (%s)", (int)rec->slot, (int)rec->pid,
                      p->tasks_closed ? "exited" : retired ? "retired" : "died", how);
    }
    p->live_workers--;
    if (!p->tasks_closed && retired) {
        p->stats.retirements++;
    } else if (!p->tasks_closed) {
        p->stats.worker_deaths++;
        p->stats.deaths_by_signal += WIFSIGNALED(rec->wait_status);
    }
    bool respawn = !p->tasks_closed && !p->broken;
    if (respawn) {
        p->live_workers++;
        p->stats.respawns++;
        p->stats.slot_respawns[rec->slot]++;
    }
    uint64_t slot_respawns = p->stats.slot_respawns[rec->slot];
    pthread_mutex_unlock(&p->mu);
    if (respawn && p->debug)
        cf__debug_log(p->debug_id, "worker %d respawning (respawns in that position: %llu)",
                      (int)rec->slot, (unsigned long long)slot_respawns);
    if (respawn)
        send_forkserver(p, CF__FS_SPAWN, rec->slot, 0, 0);
}

static void on_worker_start(struct process_pool *p, const struct cf__record *rec)
{
    if (p->debug)
        cf__debug_log(p->debug_id, rec->status == 0 ? "worker %d (pid %d) started%s%.*s"
                                                    : "worker %d (pid %d) failed to start%s%.*s",
                      (int)rec->slot, (int)rec->pid, rec->status == 0 ? "" : ": ",
                      (int)rec->message_len, rec->message);
    if (rec->status == 0) {
        if (rec->slot >= 0 && rec->slot < p->ipc.nworkers && rec->pid != p->forkserver)
            p->slot_started[rec->slot] = true;
        return;
    }
    char msg[1200];
    struct cf__pool_table lost;
    cf__pool_table_init(&lost);
    snprintf(msg, sizeof(msg), "%.*s", (int)rec->message_len, rec->message);
    pthread_mutex_lock(&p->mu);
    break_pool_locked(p, msg, &lost);
    if (rec->pid == p->forkserver)
        p->live_workers--; /* the fork failed: no exit will be reported */
    pthread_mutex_unlock(&p->mu);
    fail_all(p, &lost, CF_EBROKEN, msg);
    cf__pool_table_free(&lost);
}

static void handle_record(struct process_pool *p, const struct cf__ring_record *r,
                          msgpack_zone *zone)
{
    struct cf__record rec;
    struct cf__side side = {.fd = -1};
    if (r->len < CF__ID_PREFIX)
        return;
    msgpack_zone_clear(zone);
    int rc = cf__record_decode(r->data + CF__ID_PREFIX, r->len - CF__ID_PREFIX, zone, &rec);
    if (CF__FAULT(CF__FAULT_PARENT_DECODE))
        rc = CF_EPROTO;
    if (rc == 0 && rec.type == CF__REC_SIDE) {
        /* Through the worker's pidfd, not its pid number (ipc/side.h). */
        int peer = peer_pidfd(p, rec.pid);
        cf__side_trust_peer(rec.pid, peer);
        rc = cf__side_open_at(&side, rec.pid, rec.fd, rec.size, rec.serial, rec.offset, true);
        cf__side_trust_peer(0, -1);
        if (peer >= 0)
            close(peer);
        ack_side(p, rec.pid); /* whether or not it opened: the sender may close */
        if (rc == 0) {
            uint64_t id;
            memcpy(&id, r->data, sizeof(id));
            msgpack_zone_clear(zone);
            rc = cf__record_decode(side.map, side.size, zone, &rec);
            /* The segment must hold the record the ring announced (not,
             * say, an older one through a stale view). */
            if (rc == 0 && rec.type == CF__REC_RESULT && rec.id != id)
                rc = CF_EPROTO;
        }
    }
    if (rc != 0) {
        /* A result we cannot read: fail the future it named, if any. */
        static const char gone[] = "the worker died before its result could be read";
        static const char garbage[] = "malformed result record";
        bool died = rc == -ENOENT || rc == -ESRCH;
        uint64_t id;
        memcpy(&id, r->data, sizeof(id));
        rec = (struct cf__record){.type = CF__REC_RESULT, .id = id,
                                  .status = died ? CF_EWORKER : CF_EPROTO,
                                  .message = died ? gone : garbage,
                                  .message_len = (uint32_t)(died ? sizeof(gone) : sizeof(garbage)) - 1};
    }
    switch (rec.type) {
    case CF__REC_RESULT: on_result(p, &rec, &side); break;
    case CF__REC_WORKER_START: on_worker_start(p, &rec); break;
    case CF__REC_WORKER_EXIT:
        if (rec.slot < p->ipc.nworkers)
            on_worker_exit(p, &rec);
        break;
    default: break; /* WAKE: only re-check the shutdown state */
    }
    cf__side_close(&side);
}

/* After each batch: closes the task ring once shutdown has nothing left in
 * flight, and says whether the pool is fully wound down. */
static bool wound_down(struct process_pool *p)
{
    pthread_mutex_lock(&p->mu);
    if (p->shutdown && !p->tasks_closed && cf__pool_table_count(&p->inflight) == 0) {
        p->tasks_closed = true;
        cf__ring_close(&p->ipc.tasks);
    }
    bool done = p->tasks_closed && p->live_workers <= 0;
    pthread_mutex_unlock(&p->mu);
    return done;
}

static int start_forkserver(struct process_pool *p)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return -errno;
    fflush(NULL); /* or the children would flush our buffered output again */
    pid_t pid = fork();
    if (pid < 0) {
        int err = -errno;
        close(sv[0]);
        close(sv[1]);
        return err;
    }
    if (pid == 0) {
        close(sv[0]);
        cf__forkserver_main(&p->ipc, sv[1]);
    }
    close(sv[1]);
    p->forkserver = pid;
    p->fs_sock = sv[0];
    /* Its first note carries its own pidfd: we watch it through that, not
     * through waitpid, which an application's SIGCHLD handling can blind
     * (SIG_IGN reaps it for us, a handler's waitpid(-1) takes its status).
     * No pidfd (an old kernel), or no note (it died first): see
     * check_forkserver. */
    struct pollfd pfd = {p->fs_sock, POLLIN, 0};
    struct cf__forkserver_note note;
    int fd = -1, rc;
    while ((rc = poll(&pfd, 1, 10000)) < 0 && errno == EINTR)
        ;
    if (rc > 0 && cf__fs_recv_note(p->fs_sock, &note, &fd, MSG_DONTWAIT) == 0) {
        if (note.op == CF__FS_HELLO && note.pid == pid)
            p->fs_pidfd = fd;
        else if (fd >= 0)
            close(fd);
    }
    return 0;
}

/* Without a pidfd: the fork server's end of the socket is closed only
 * when it is gone (its workers close their copies). */
static bool forkserver_hung_up(struct process_pool *p)
{
    struct pollfd pfd = {p->fs_sock, 0, 0};
    return poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLHUP | POLLERR));
}

/* Whether the fork server has exited, reaping it when it is still ours to
 * reap (*status then valid, *have_status true). Never blocks. Whatever the
 * application does with SIGCHLD: its death is seen through the pidfd (or,
 * without one, a hung-up socket), and a status someone else took
 * (-ECHILD) only costs the message its detail. */
static bool forkserver_exited(struct process_pool *p, int *status, bool *have_status)
{
    *have_status = false;
    if (p->fs_pidfd >= 0) {
        if (!cf__pidfd_exited(p->fs_pidfd))
            return false;
        *have_status = cf__pidfd_reap(p->fs_pidfd, status) == 0;
        return true;
    }
    pid_t r = waitpid(p->forkserver, status, WNOHANG);
    if (r == p->forkserver) {
        *have_status = true;
        return true;
    }
    return (r < 0 && errno == ECHILD) || forkserver_hung_up(p);
}

/* The fork server exited on its own: it was killed, and its workers with
 * it. The pool cannot run anything any more. */
static void check_forkserver(struct process_pool *p)
{
    int status = 0;
    bool have_status;
    if (atomic_load(&p->forkserver_reaped) || !forkserver_exited(p, &status, &have_status))
        return;
    if (atomic_exchange(&p->forkserver_reaped, true))
        return; /* another thread saw it first and reports it */
    char msg[160];
    struct cf__pool_table lost;
    if (!have_status)
        snprintf(msg, sizeof(msg),
                 "the pool's fork server (pid %d) died (its status was reaped elsewhere)",
                 (int)p->forkserver);
    else
        snprintf(msg, sizeof(msg), "the pool's fork server (pid %d) died: %s",
                 (int)p->forkserver,
                 WIFSIGNALED(status) && sigabbrev_np(WTERMSIG(status))
                     ? sigabbrev_np(WTERMSIG(status))
                     : "exited");
    if (p->debug)
        cf__debug_log(p->debug_id, "%s", msg);
    cf__pool_table_init(&lost);
    pthread_mutex_lock(&p->mu);
    break_pool_locked(p, msg, &lost);
    p->live_workers = 0;
    pthread_mutex_unlock(&p->mu);
    fail_all(p, &lost, CF_EBROKEN, msg);
    cf__pool_table_free(&lost);
}

/* Handles the oldest record handed over, if any. With collect_mu held.
 * Taken off the queue before it is handled: a callback it runs may wait
 * and handle the next ones itself (pool_wait_here). */
static bool run_handoff_one(struct process_pool *p, msgpack_zone *zone)
{
    struct handoff *h = p->handoff;
    if (!h)
        return false;
    p->handoff = h->next;
    if (!p->handoff)
        p->handoff_tail = &p->handoff;
    struct cf__ring_record r = {.len = (uint32_t)h->len, .data = h->data};
    handle_record(p, &r, zone);
    free(h);
    return true;
}

/* Handles what waiters handed over, oldest first. With collect_mu held.
 * True when there was something. */
static bool run_handoff(struct process_pool *p, msgpack_zone *zone)
{
    bool any = false;
    while (run_handoff_one(p, zone))
        any = true;
    return any;
}

/* Handles a batch popped from the result ring, in order, through a frame
 * (see struct batch_frame). With collect_mu held. */
static void handle_batch(struct process_pool *p, const struct cf__ring_batch *b,
                         msgpack_zone *zone)
{
    struct batch_frame fr = {b, 0, p->frame};
    p->frame = &fr;
    while (fr.next < b->count)
        handle_record(p, &b->recs[fr.next++], zone);
    p->frame = fr.outer;
}

/* Collector: what waiters handed over, then one batch from the ring.
 * Returns 0, -EAGAIN when there was nothing (a waiter took it first), or
 * the ring's error. */
static int collect(struct process_pool *p, struct cf__ring_batch *batch, msgpack_zone *zone)
{
    pthread_mutex_lock(&p->collect_mu);
    tl_collecting = p;
    bool any = run_handoff(p, zone);
    int rc = cf__ring_pop(&p->ipc.results, batch, 256, 0, NULL, NULL);
    if (rc == 0)
        handle_batch(p, batch, zone);
    /* What a callback's wait moved out of the batch and left unhandled. */
    any = run_handoff(p, zone) || any;
    tl_collecting = NULL;
    pthread_mutex_unlock(&p->collect_mu);
    if (rc == -EAGAIN || (rc == 0 && batch->count == 0))
        return any ? 0 : -EAGAIN;
    return rc;
}

/* Whether a waiter may handle this record itself: the result of a future
 * with no done-callbacks. Anything else (callbacks, worker starts and
 * exits, whose failures run callbacks) is left to the collector thread, so
 * callbacks keep running there. A callback added after this check, while
 * the result is on its way, runs on the waiting thread instead (documented
 * in cf_future_add_done_callback). */
static bool assist_can_handle(struct process_pool *p, const struct cf__ring_record *r)
{
    struct cf__record rec;
    uint64_t id;
    if (r->len < CF__ID_PREFIX)
        return false;
    msgpack_zone_clear(p->assist_zone);
    if (cf__record_decode(r->data + CF__ID_PREFIX, r->len - CF__ID_PREFIX, p->assist_zone,
                          &rec) != 0 ||
        (rec.type != CF__REC_RESULT && rec.type != CF__REC_SIDE))
        return false;
    memcpy(&id, r->data, sizeof(id));
    pthread_mutex_lock(&p->mu);
    cf_future *f = cf__pool_table_find(&p->inflight, id);
    bool ok = true;
    if (f) {
        cf__futex_lock(&f->mu);
        ok = f->callbacks == NULL;
        cf__futex_unlock(&f->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return ok;
}

/* With collect_mu held. Returns -ENOMEM or 0. */
static int handoff_append(struct process_pool *p, const struct cf__ring_record *r)
{
    struct handoff *h = malloc(sizeof(*h) + r->len);
    if (!h)
        return -ENOMEM;
    h->next = NULL;
    h->len = r->len;
    memcpy(h->data, r->data, r->len);
    *p->handoff_tail = h;
    p->handoff_tail = &h->next;
    return 0;
}

/* Waiter: takes one batch and handles it here, up to the first record it
 * may not handle; that one and the rest go to the collector, in order.
 * True when it stopped (something was handed over, or the ring failed: the
 * collector will see that too). */
static bool assist_batch(struct process_pool *p)
{
    struct cf__ring_batch *b = &p->assist_batch;
    int rc = cf__ring_pop(&p->ipc.results, b, 256, 0, NULL, NULL);
    if (rc != 0)
        return rc != -EAGAIN;
    bool handing = false;
    /* Through a frame: a callback added late may run here and wait
     * (pool_wait_here), taking the rest of the batch with it. */
    struct batch_frame fr = {b, 0, p->frame};
    p->frame = &fr;
    while (fr.next < b->count) {
        const struct cf__ring_record *r = &b->recs[fr.next++];
        if (!handing && assist_can_handle(p, r)) {
            handle_record(p, r, p->assist_zone);
            continue;
        }
        handing = true;
        if (handoff_append(p, r) < 0) {
            /* Out of memory: handle it here after all, but after what was
             * handed over before it, to keep the ring order. */
            run_handoff(p, p->assist_zone);
            handle_record(p, r, p->assist_zone);
        }
    }
    p->frame = fr.outer;
    return handing || p->handoff != NULL;
}

/* More futures in flight than workers: a pipeline kept full (a map's
 * window, a burst of submits) is bound by the throughput of the thread
 * that feeds it, and results then arrive in streams. Handling them on that
 * thread would only move the collector's work onto it; polling pays where
 * latency is the cost, with a few tasks in flight. */
static bool deep_pipeline(struct process_pool *p)
{
    pthread_mutex_lock(&p->mu);
    bool deep = cf__pool_table_count(&p->inflight) > (size_t)p->ipc.nworkers;
    pthread_mutex_unlock(&p->mu);
    return deep;
}

/* The executor's assist op: before blocking on f, poll the result ring for
 * up to POLL_NS and complete what arrives on this thread (see the comment
 * at the top). Only one thread collects at a time, and only while a core is
 * free of running tasks: otherwise the polling would slow the task down. */
static void pool_assist(cf_executor *ex, cf_future *f, uint64_t deadline_ns)
{
    struct process_pool *p = pool_of(ex);
    if (!p->assist_zone || p->cpus < 2 || on_collector(p) || running_workers(p) >= p->cpus ||
        deep_pipeline(p) || pthread_mutex_trylock(&p->collect_mu) != 0)
        return;
    /* Records handed over and not yet handled come before anything in the
     * ring: only the collector may go on from there. */
    if (p->handoff || !cf__ring_poll_begin(&p->ipc.results)) {
        pthread_mutex_unlock(&p->collect_mu);
        return;
    }
    p->assist_polling = true; /* under collect_mu; pool_wait_here may end it */
    struct process_pool *outer = tl_collecting; /* a callback may wait on another pool */
    tl_collecting = p;
    cf__tl_completing++;
    uint64_t end = cf__now_ns() + POLL_NS;
    if (deadline_ns < end)
        end = deadline_ns;
    bool stopped = false;
    for (unsigned i = 1; !stopped; i++) {
        if (cf__ring_has_records(&p->ipc.results)) {
            /* The clock too: results of other tasks may keep coming. */
            stopped = assist_batch(p) || cf_future_done(f) || cf__now_ns() >= end;
        } else if (i % 64 == 0 && (cf__now_ns() >= end || cf_future_done(f) ||
                                   running_workers(p) >= p->cpus)) {
            break; /* (every core busy with a task now: polling would slow them) */
        } else {
            cf__cpu_relax();
        }
    }
    if (p->assist_polling) {
        cf__ring_poll_end(&p->ipc.results);
        p->assist_polling = false;
    }
    cf__tl_completing--;
    tl_collecting = outer;
    /* Pushes made while we polled woke nobody: the collector takes what
     * they left and what was handed over. It must also hear of anything
     * it would have noticed had it handled these records itself: the last
     * future of a shutdown gone (time to wind down), tasks queued in the
     * overflow queue by a callback that ran here. */
    bool wake = p->handoff != NULL || cf__ring_has_records(&p->ipc.results);
    pthread_mutex_unlock(&p->collect_mu);
    pthread_mutex_lock(&p->mu);
    wake = wake || p->shutdown || p->n_overflow > 0;
    pthread_mutex_unlock(&p->mu);
    if (wake)
        wake_collector(p);
}

/* A done-callback moves to the handoff queue the rest of the batch this
 * thread is handling (see struct batch_frame): after what the queue holds,
 * which is older (a frame is popped only once the queue is empty, and only
 * its own records join the queue while it is handled). The batch's loop
 * then ends. All or nothing: -ENOMEM moves none. With collect_mu held. */
static int spill_frame(struct process_pool *p)
{
    struct batch_frame *fr = p->frame;
    if (!fr || fr->next >= fr->b->count)
        return 0;
    struct handoff *first = NULL, **tail = &first;
    for (size_t i = fr->next; i < fr->b->count; i++) {
        const struct cf__ring_record *r = &fr->b->recs[i];
        struct handoff *h = malloc(sizeof(*h) + r->len);
        if (!h) {
            while ((h = first)) {
                first = h->next;
                free(h);
            }
            return -ENOMEM;
        }
        h->next = NULL;
        h->len = r->len;
        memcpy(h->data, r->data, r->len);
        *tail = h;
        tail = &h->next;
    }
    *p->handoff_tail = first;
    p->handoff_tail = tail;
    fr->next = fr->b->count;
    return 0;
}

/* The executor's wait_here op (executor.h): a thread that handles this
 * pool's results (the collector, whose done-callbacks run there, or a
 * waiter in pool_assist running a callback added late) is about to block
 * until ready(arg). Nobody else would complete those futures, so it does
 * the collector's work itself meanwhile: the rest of the batch it was
 * handling, then the result ring, completing futures (and running their
 * callbacks, which may wait in turn) in ring order, and it also pushes
 * the overflow queue (a callback's submits wait there) and fails expired
 * task timeouts. Returns 0 once ready() holds or the deadline passed;
 * -ENOMEM, or -EDEADLK when the result ring failed (nothing more can
 * come). Any other thread: 0 at once (it waits as usual). */
static int pool_wait_here(cf_executor *ex, cf_future *const *fs, size_t n, bool (*ready)(void *),
                          void *arg, uint64_t deadline_ns)
{
    (void)fs;
    (void)n;
    struct process_pool *p = pool_of(ex);
    bool held = tl_collecting == p;
    bool collector = pthread_equal(pthread_self(), p->collector);
    if (!held && !collector)
        return 0;
    msgpack_zone *zone = msgpack_zone_new(4096);
    if (!zone)
        return -ENOMEM;
    struct cf__ring_batch batch;
    cf__ring_batch_init(&batch);
    struct process_pool *outer = tl_collecting;
    if (!held) {
        /* The collector outside collect(): a callback run by a timeout,
         * a cancel or a broken pool. */
        pthread_mutex_lock(&p->collect_mu);
        tl_collecting = p;
    }
    int rc = spill_frame(p);
    while (rc == 0 && !ready(arg)) {
        drain_overflow(p);
        expire_deadlines(p);
        if (run_handoff_one(p, zone))
            continue;
        int prc = cf__ring_pop(&p->ipc.results, &batch, 256, 0, NULL, NULL);
        if (prc == 0) {
            handle_batch(p, &batch, zone);
            continue;
        }
        if (prc != -EAGAIN) {
            rc = -EDEADLK;
            break;
        }
        uint64_t now = cf__now_ns();
        if (now >= deadline_ns)
            break;
        /* Its death fails every future. Not only on the collector: a
         * waiter holding collect_mu here keeps the collector from its own
         * checks for as long as it waits. */
        check_forkserver(p);
        if (p->assist_polling) {
            /* A callback run by pool_assist, still registered as the
             * ring's poller: pushes skip their wake-ups while it is, and
             * this thread is about to sleep. Unregister, then look again
             * (a record pushed meanwhile woke nobody). */
            cf__ring_poll_end(&p->ipc.results);
            p->assist_polling = false;
            continue;
        }
        pthread_mutex_lock(&p->mu);
        uint64_t until = now + (p->n_overflow ? 1000000ull : 100000000ull);
        if (p->next_deadline < until)
            until = p->next_deadline;
        pthread_mutex_unlock(&p->mu);
        cf__ring_wait(&p->ipc.results, until < deadline_ns ? until : deadline_ns);
    }
    if (!held) {
        tl_collecting = outer;
        pthread_mutex_unlock(&p->collect_mu);
    }
    cf__ring_batch_free(&batch);
    msgpack_zone_free(zone);
    return rc;
}

static void *collector_main(void *arg)
{
    struct process_pool *p = arg;
    int rc = start_forkserver(p);
    pthread_mutex_lock(&p->mu);
    p->start_state = rc < 0 ? rc : 1;
    if (rc == 0)
        p->live_workers = p->ipc.nworkers;
    pthread_cond_broadcast(&p->started_cv);
    pthread_mutex_unlock(&p->mu);
    if (rc < 0)
        return NULL;
    /* Done-callbacks run here: a wait in one must not block (wait_here).
     * Raised only now: the fork server, forked above, has no futures. */
    cf__tl_completing++;
    for (int i = 0; i < p->ipc.nworkers; i++)
        send_forkserver(p, CF__FS_SPAWN, i, 0, 0);

    struct cf__ring_batch batch;
    msgpack_zone *zone = msgpack_zone_new(4096);
    bool zone_ok = zone != NULL;
    cf__ring_batch_init(&batch);
    while (zone_ok && !wound_down(p)) {
        drain_overflow(p);
        pthread_mutex_lock(&p->mu);
        bool waiting = p->n_overflow > 0;
        pthread_mutex_unlock(&p->mu);
        /* Wake now and then: to retry the overflow queue, and to notice a
         * fork server that died (its workers die with it, so nobody else
         * would ever tell us). */
        uint64_t deadline = cf__now_ns() + (waiting ? 1000000ull : 250000000ull);
        pthread_mutex_lock(&p->mu);
        if (p->next_deadline < deadline)
            deadline = p->next_deadline;
        pthread_mutex_unlock(&p->mu);
        rc = cf__ring_wait(&p->ipc.results, deadline);
        expire_deadlines(p);
        if (rc == 0 || rc == -EPIPE)
            rc = collect(p, &batch, zone);
        if (rc == -ETIMEDOUT || rc == -EAGAIN) {
            check_forkserver(p);
            cf__seg_tick(); /* idle: give back kept segments nobody uses */
            continue;
        }
        if (rc < 0) {
            struct cf__pool_table lost;
            cf__pool_table_init(&lost);
            pthread_mutex_lock(&p->mu);
            break_pool_locked(p, "the result ring failed", &lost);
            pthread_mutex_unlock(&p->mu);
            fail_all(p, &lost, CF_EBROKEN, "the result ring failed");
            cf__pool_table_free(&lost);
            break;
        }
    }
    cf__ring_batch_free(&batch);
    if (zone)
        msgpack_zone_free(zone);
    send_forkserver(p, CF__FS_STOP, 0, 0, 0);
    if ((rc < 0 && rc != -ETIMEDOUT) || !zone_ok) {
        /* Workers die with it. By pidfd: a fork server someone else
         * reaped may have left its pid to a stranger. */
        if (p->fs_pidfd >= 0)
            (void)cf__pidfd_signal(p->fs_pidfd, SIGKILL);
        else if (!p->forkserver_reaped)
            kill(p->forkserver, SIGKILL);
    }
    /* Wait for it to exit: through its pidfd, so that shutdown never
     * depends on reaping it (an application may have reaped it already:
     * -ECHILD is fine). */
    if (!p->forkserver_reaped && p->fs_pidfd >= 0) {
        cf__pidfd_wait_exit(p->fs_pidfd, -1);
        (void)cf__pidfd_reap(p->fs_pidfd, NULL);
    } else {
        while (!p->forkserver_reaped && waitpid(p->forkserver, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    if (p->debug) {
        pthread_mutex_lock(&p->mu);
        bool broken = p->broken;
        uint64_t respawns = p->stats.respawns, deaths = p->stats.worker_deaths;
        pthread_mutex_unlock(&p->mu);
        cf__debug_log(p->debug_id, "shut down%s (%d workers, %llu deaths, %llu respawns)",
                      broken ? " (broken)" : "", p->ipc.nworkers, (unsigned long long)deaths,
                      (unsigned long long)respawns);
    }
    return NULL;
}

/* --------------------------------------------------------- operations */

static int pool_submit(cf_executor *ex, cf_future *f, unsigned char *record, size_t len,
                       uint64_t deadline_ns)
{
    struct process_pool *p = pool_of(ex);
    f->t->record = record;
    f->t->record_len = len;
    f->t->ring->ring_pos = UINT64_MAX;
    if (f->t->retries_left < 0)
        f->t->retries_left = p->max_retries;
    pthread_mutex_lock(&p->mu);
    int rc = p->broken ? CF_EBROKEN : p->shutdown ? CF_ESHUTDOWN : 0;
    if (rc == 0)
        rc = cf__pool_table_insert(&p->inflight, cf_future_retain(f));
    f->t->ring->pushing = rc == 0;
    bool sooner = rc == 0 && f->t->task_deadline && f->t->task_deadline < p->next_deadline;
    if (sooner)
        p->next_deadline = f->t->task_deadline;
    pthread_mutex_unlock(&p->mu);
    if (rc < 0) {
        if (rc == -ENOMEM)
            cf_future_release(f);
        return rc;
    }
    if (sooner)
        wake_collector(p); /* to sleep no later than this deadline */
    /* A done-callback runs on the collector, the only thread that drains
     * results: waiting there for room in the task ring could wait forever. */
    bool defer = on_collector(p) && deadline_ns != 0;
    uint64_t pos;
    rc = push_task(p, f, defer ? 0 : deadline_ns, &pos);
    pthread_mutex_lock(&p->mu);
    f->t->ring->pushing = false;
    bool close_side = f->t->ring->side_close_deferred, reusable = f->t->ring->side_reusable;
    if (rc == 0) {
        f->t->ring->ring_pos = pos;
    } else if (rc == -EAGAIN && defer && overflow_append(p, f) == 0) {
        rc = 0;
    } else {
        bool mine = cf__pool_table_remove(&p->inflight, f->id) == f;
        if (rc == -EPIPE)
            rc = p->broken ? CF_EBROKEN : CF_ESHUTDOWN;
        if (mine)
            cf_future_release(f);
    }
    pthread_mutex_unlock(&p->mu);
    if (close_side)
        drop_side_now(f, reusable); /* see drop_task_side */
    if (rc < 0)
        wake_collector(p); /* shutdown may have been waiting for this one */
    return rc;
}

static bool pool_cancel_running(cf_executor *ex, cf_future *f)
{
    struct process_pool *p = pool_of(ex);
    struct victim victim;
    pthread_mutex_lock(&p->mu);
    int where = withdraw_locked(p, f, &victim);
    bool wake = where && p->shutdown;
    pthread_mutex_unlock(&p->mu);
    if (!where)
        return cf_future_cancelled(f);
    cf__side_abandon(&f->t->ring->task_side); /* a worker may hold the task */
    cf__future_mark_interrupted(f);
    cf_future_release(f);
    signal_worker(p, &victim, SIGKILL); /* after the future is settled */
    if (wake)
        wake_collector(p);
    return true;
}

static void pool_stats(cf_executor *ex, cf_stats *out)
{
    struct process_pool *p = pool_of(ex);
    pthread_mutex_lock(&p->mu);
    size_t n = cf__pool_table_count(&p->inflight);
    cf_future **all = malloc((n ? n : 1) * sizeof(*all));
    size_t listed = all ? cf__pool_table_list(&p->inflight, all, n) : 0;
    uint64_t queued = 0;
    for (size_t i = 0; i < listed; i++)
        queued += all[i]->t->ring->ring_pos == UINT64_MAX ||
                  !cf__ring_taken(&p->ipc.tasks, all[i]->t->ring->ring_pos);
    out->queued = queued;
    out->in_flight = n;
    out->retried = p->stats.retried;
    out->worker_deaths = p->stats.worker_deaths;
    out->deaths_by_signal = p->stats.deaths_by_signal;
    out->retirements = p->stats.retirements;
    out->respawns = p->stats.respawns;
    pthread_mutex_unlock(&p->mu);
    free(all);
}

static int pool_worker_stats(cf_executor *ex, int index, cf_worker_stats *out)
{
    struct process_pool *p = pool_of(ex);
    struct cf__worker_slot *slot = &p->ipc.sh->slots[index];
    pthread_mutex_lock(&p->mu);
    *out = (cf_worker_stats){
        .pid = atomic_load(&slot->pid),
        .tasks = atomic_load(&slot->tasks),
        .busy_ns = atomic_load(&slot->busy_ns),
        .respawns = p->stats.slot_respawns[index],
    };
    pthread_mutex_unlock(&p->mu);
    return 0;
}

static bool pool_cancel(cf_executor *ex, cf_future *f)
{
    struct process_pool *p = pool_of(ex);
    pthread_mutex_lock(&p->mu);
    bool took = false, taken = false, skipped = false;
    if (cf__pool_table_find(&p->inflight, f->id) == f) {
        if (f->t->ring->ring_pos == UINT64_MAX) {
            took = overflow_remove(p, f); /* else a submitter is pushing it */
        } else {
            int rc = cf__ring_cancel(&p->ipc.tasks, f->t->ring->ring_pos);
            struct victim none;
            took = rc == 0;
            /* Taken into a worker's batch but not started: still pending,
             * and the worker skips it once cancelled there. */
            if (rc == -EALREADY && settle_taken_locked(p, f->id, false, &none) == TAKEN_SKIPPED)
                took = skipped = true;
            taken = !took && rc == -EALREADY;
        }
        if (took)
            cf__pool_table_remove(&p->inflight, f->id);
    }
    bool wake = took && p->shutdown;
    pthread_mutex_unlock(&p->mu);
    if (!took) {
        if (taken)
            cf__future_mark_running(f);
        return cf_future_cancelled(f);
    }
    /* A worker holds a skipped record: give a kept segment up rather than
     * reuse it under that worker's view. */
    if (skipped)
        cf__side_abandon(&f->t->ring->task_side);
    else
        cf__side_close(&f->t->ring->task_side);
    cf__future_mark_cancelled(f);
    cf_future_release(f);
    if (wake)
        wake_collector(p);
    return true;
}

static void pool_refresh_running(cf_executor *ex, cf_future *f)
{
    struct process_pool *p = pool_of(ex);
    pthread_mutex_lock(&p->mu);
    /* Running means started: taken into a batch is not enough. */
    bool started = cf__pool_table_find(&p->inflight, f->id) == f &&
                   f->t->ring->ring_pos != UINT64_MAX && cf__ring_taken(&p->ipc.tasks, f->t->ring->ring_pos) &&
                   started_locked(p, f->id);
    pthread_mutex_unlock(&p->mu);
    if (started)
        cf__future_mark_running(f);
}

/* Cancels every future whose record no worker has taken yet. */
static void cancel_pending(struct process_pool *p)
{
    pthread_mutex_lock(&p->mu);
    size_t n = cf__pool_table_count(&p->inflight), k = 0;
    cf_future **all = malloc((n ? n : 1) * sizeof(*all));
    n = all ? cf__pool_table_list(&p->inflight, all, n) : 0;
    bool *skipped = malloc((n ? n : 1) * sizeof(*skipped));
    n = skipped ? n : 0;
    for (size_t i = 0; i < n; i++) {
        cf_future *f = all[i];
        struct victim none;
        int rc = f->t->ring->ring_pos == UINT64_MAX ? (overflow_remove(p, f) ? 0 : -EBUSY)
                                           : cf__ring_cancel(&p->ipc.tasks, f->t->ring->ring_pos);
        bool skip = rc == -EALREADY && settle_taken_locked(p, f->id, false, &none) == TAKEN_SKIPPED;
        if (rc == 0 || skip) {
            cf__pool_table_remove(&p->inflight, f->id);
            skipped[k] = skip;
            all[k++] = f; /* compacts in place: k <= i */
        }
    }
    pthread_mutex_unlock(&p->mu);
    for (size_t i = 0; i < k; i++) {
        if (skipped[i])
            cf__side_abandon(&all[i]->t->ring->task_side); /* a worker holds the record */
        else
            cf__side_close(&all[i]->t->ring->task_side);
        cf__future_mark_cancelled(all[i]);
        cf_future_release(all[i]);
    }
    free(all);
    free(skipped);
}

/* Joins the collector once; concurrent callers wait for that join. */
static void join_collector(struct process_pool *p)
{
    pthread_mutex_lock(&p->mu);
    if (p->join_state == 0) {
        p->join_state = 1;
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->collector, NULL);
        pthread_mutex_lock(&p->mu);
        p->join_state = 2;
        pthread_cond_broadcast(&p->joined_cv);
    }
    while (p->join_state != 2)
        pthread_cond_wait(&p->joined_cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

static int pool_shutdown(cf_executor *ex, bool wait, bool cancel_futures)
{
    struct process_pool *p = pool_of(ex);
    pthread_mutex_lock(&p->mu);
    p->shutdown = true;
    pthread_mutex_unlock(&p->mu);
    if (cancel_futures)
        cancel_pending(p);
    wake_collector(p);
    if (!wait)
        return 0;
    if (on_collector(p))
        return -EDEADLK; /* a done-callback cannot wait for its own thread */
    join_collector(p);
    return 0;
}

/* What pool_assist and the handoff own (the handoff is empty once the
 * collector has wound down; freed anyway). */
static void free_assist(struct process_pool *p)
{
    struct handoff *h;
    while ((h = p->handoff)) {
        p->handoff = h->next;
        free(h);
    }
    if (p->assist_zone)
        msgpack_zone_free(p->assist_zone);
    cf__ring_batch_free(&p->assist_batch);
    pthread_mutex_destroy(&p->collect_mu);
}

static void pool_destroy(cf_executor *ex)
{
    struct process_pool *p = pool_of(ex);
    join_collector(p);
    cf__seg_trim(); /* kept segments no longer in use: give the memory back */
    for (int i = 0; i < p->ipc.nworkers; i++) {
        /* Exits not reported (a fork server that died took its workers):
         * their views go too. */
        int32_t pid = atomic_load(&p->ipc.sh->slots[i].pid);
        if (pid > 0)
            cf__seg_forget_pid(pid);
    }
    pthread_mutex_lock(&p->fs_mu);
    take_notes_locked(p); /* close the pidfds still on their way */
    pthread_mutex_unlock(&p->fs_mu);
    for (int i = 0; i < p->ipc.nworkers; i++)
        if (p->pidfds[i] >= 0)
            close(p->pidfds[i]);
    if (p->fs_pidfd >= 0)
        close(p->fs_pidfd);
    if (p->fs_sock >= 0)
        close(p->fs_sock);
    pthread_mutex_destroy(&p->fs_mu);
    free(p->pidfds);
    free(p->pidfd_pids);
    cf__pool_table_free(&p->inflight);
    cf__shm_destroy(&p->ipc.shm);
    free_assist(p);
    pthread_cond_destroy(&p->joined_cv);
    pthread_cond_destroy(&p->started_cv);
    pthread_mutex_destroy(&p->mu);
    free(p->overflow);
    free(p->stats.slot_respawns);
    free(p->slot_started);
    cf__initializer_free(&p->init);
    free(p);
}

static int pool_workers(const cf_executor *ex)
{
    return ((const struct process_pool *)ex)->ipc.nworkers;
}

static const struct cf__executor_ops process_pool_ops = {
    .submit = pool_submit,
    .cancel = pool_cancel,
    .refresh_running = pool_refresh_running,
    .shutdown = pool_shutdown,
    .destroy = pool_destroy,
    .workers = pool_workers,
    .cancel_running = pool_cancel_running,
    .stats = pool_stats,
    .worker_stats = pool_worker_stats,
    .assist = pool_assist,
    .wait_here = pool_wait_here,
};

/* ------------------------------------------------------------ creation */

/* CPUs this process may run on. */
static int online_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)(n > MAX_WORKERS ? MAX_WORKERS : n) : 1;
}

int cf_default_workers(void)
{
    const char *env = getenv("CF_WORKERS");
    if (env && *env) {
        char *end;
        errno = 0;
        long n = strtol(env, &end, 10);
        if (!*end && !errno && n >= 1 && n <= MAX_WORKERS)
            return (int)n;
        /* A bare -EINVAL from pool creation would not say which setting
         * is wrong; say it once per process. */
        static atomic_bool said;
        if (!atomic_exchange(&said, true))
            fprintf(stderr, "cfutures: CF_WORKERS=\"%s\" is not a worker count (1..%d): "
                    "pools that take the default fail with -EINVAL\n", env, MAX_WORKERS);
        return -EINVAL;
    }
    return online_cpus();
}

static int check_options(const cf_process_pool_options *o, int *workers, size_t *ring)
{
    /* Zero, like NULL options, takes the default: the struct's docs say
     * that zero fields do, and `= {0}` must not be an error. */
    bool dflt = !o || o->max_workers == 0;
    *workers = dflt ? cf_default_workers() : o->max_workers;
    if (*workers < 0 && dflt)
        return *workers;
    if (*workers <= 0 || *workers > MAX_WORKERS)
        return -EINVAL;
    *ring = o && o->ring_bytes ? o->ring_bytes : DEFAULT_RING_BYTES;
    if (*ring < CF__RING_MIN_CAPACITY || (*ring & (*ring - 1)) || *ring > (1ull << 40))
        return -EINVAL;
    if (o && (o->max_retries < 0 || o->max_tasks_per_child < 0))
        return -EINVAL;
    return o ? cf__initializer_check(o->initializer, o->initargs, o->initargs_len) : 0;
}

static int copy_initializer(struct process_pool *p, const cf_process_pool_options *o)
{
    int rc = o ? cf__initializer_copy(&p->init, o->initializer, o->initargs, o->initargs_len) : 0;
    /* Workers read their copy of it after the fork. */
    p->ipc.init_name = p->init.name;
    p->ipc.init_args = p->init.args;
    p->ipc.init_len = p->init.len;
    return rc;
}

static int map_region(struct process_pool *p, int workers, size_t ring)
{
    size_t tasks_off, results_off;
    size_t size = cf__pool_region_size(workers, ring, &tasks_off, &results_off);
    int rc = cf__shm_create(&p->ipc.shm, size);
    if (rc < 0)
        return rc;
    /* Nobody opens the region by name: the fork server and its workers
     * inherit the mapping. Unlinked at once, it cannot outlive a process
     * that dies before the fork server starts (one did, killed by
     * ThreadSanitizer at its collector thread's creation, and left its
     * region in /dev/shm). */
    cf__shm_unlink(&p->ipc.shm);
    p->ipc.sh = p->ipc.shm.base;
    p->ipc.sh->nworkers = workers;
    p->ipc.sh->parent_pid = getpid();
    p->ipc.nworkers = workers;
    p->ipc.parent_pid = getpid();
    rc = cf__ring_init(&p->ipc.tasks, (char *)p->ipc.shm.base + tasks_off, ring);
    if (rc == 0)
        rc = cf__ring_init(&p->ipc.results, (char *)p->ipc.shm.base + results_off, ring);
    /* Idle workers poll for tasks (see the top of this file); the result
     * ring is polled by waiters only, explicitly (pool_assist). */
    p->ipc.tasks.poll_ns = p->cpus >= 2 ? POLL_NS : 0;
    p->ipc.tasks.may_poll = worker_may_poll;
    p->ipc.tasks.may_poll_arg = p;
    if (rc < 0)
        cf__shm_destroy(&p->ipc.shm);
    return rc;
}

int cf_process_pool_create(cf_executor **out, const cf_process_pool_options *opts)
{
    int workers;
    size_t ring;
    if (!out)
        return -EINVAL;
    int rc = check_options(opts, &workers, &ring);
    if (rc < 0)
        return rc;
    struct process_pool *p = cf__executor_alloc(sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->base.ops = &process_pool_ops;
    cf__executor_init_ids(&p->base);
    p->fs_sock = -1;
    p->next_deadline = UINT64_MAX;
    p->max_retries = opts ? opts->max_retries : 0;
    p->debug = cf__debug_enabled(); /* read once, here */
    p->debug_id = p->debug ? cf__debug_pool_number() : 0;
    p->ipc.max_tasks_per_child = opts ? opts->max_tasks_per_child : 0;
    p->ipc.interactive = opts && opts->interactive_workers;
    p->fs_pidfd = -1;
    if (!(p->stats.slot_respawns = calloc((size_t)workers, sizeof(uint64_t))) ||
        !(p->slot_started = calloc((size_t)workers, sizeof(bool))) ||
        !(p->pidfds = malloc((size_t)workers * sizeof(int))) ||
        !(p->pidfd_pids = calloc((size_t)workers, sizeof(pid_t)))) {
        free(p->stats.slot_respawns);
        free(p->slot_started);
        free(p->pidfds);
        free(p);
        return -ENOMEM;
    }
    for (int i = 0; i < workers; i++)
        p->pidfds[i] = -1;
    pthread_mutex_init(&p->fs_mu, NULL);
    pthread_mutex_init(&p->mu, NULL);
    pthread_mutex_init(&p->collect_mu, NULL);
    pthread_cond_init(&p->started_cv, NULL);
    pthread_cond_init(&p->joined_cv, NULL);
    cf__pool_table_init(&p->inflight);
    p->handoff_tail = &p->handoff;
    p->cpus = online_cpus();
    p->assist_zone = msgpack_zone_new(4096); /* NULL: waiters just sleep */
    cf__ring_batch_init(&p->assist_batch);
    if ((rc = copy_initializer(p, opts)) < 0 || (rc = map_region(p, workers, ring)) < 0)
        goto out_free;
    /* Records the task ring cannot carry are packed straight into a memfd
     * (executor.c, ipc/spill.h) and arrive in pool_submit sealed, in
     * f->t->ring->task_side, with record NULL: push_task sends the segment. */
    p->base.spill_above = cf__ring_max_record(&p->ipc.tasks);
    if ((rc = -pthread_create(&p->collector, NULL, collector_main, p)) < 0)
        goto out_unmap;
    pthread_mutex_lock(&p->mu);
    while (p->start_state == 0)
        pthread_cond_wait(&p->started_cv, &p->mu);
    rc = p->start_state < 0 ? p->start_state : 0;
    pthread_mutex_unlock(&p->mu);
    if (rc < 0) {
        pthread_join(p->collector, NULL);
        goto out_unmap;
    }
    *out = &p->base;
    return 0;

out_unmap:
    cf__shm_destroy(&p->ipc.shm);
out_free:
    free_assist(p);
    pthread_cond_destroy(&p->joined_cv);
    pthread_cond_destroy(&p->started_cv);
    pthread_mutex_destroy(&p->mu);
    cf__pool_table_free(&p->inflight);
    free(p->stats.slot_respawns);
    free(p->slot_started);
    free(p->pidfds);
    free(p->pidfd_pids);
    pthread_mutex_destroy(&p->fs_mu);
    if (p->fs_pidfd >= 0)
        close(p->fs_pidfd);
    if (p->fs_sock >= 0)
        close(p->fs_sock);
    cf__initializer_free(&p->init);
    free(p);
    return rc;
}
