/* The worker process: takes batches of task records from the task ring,
 * runs each task, and pushes one result record per task to the result ring.
 *
 * Runs in a child of the pool's fork server, single-threaded. It writes only
 * its own slot in the shared region: which task ids it took (under the
 * task ring lock, atomically with taking them), each with an entry word it
 * moves TAKEN -> STARTED -> DONE by CAS against the parent's cancels and
 * kills (workers/pool_ipc.h), so that a cancelled record is skipped, a
 * kill only ever ends the record it was meant for, and the parent can
 * tell exactly what a dead worker cost. Running a task record itself is
 * workers/execute.c, shared with the thread pool.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "ipc/clock.h"
#include "ipc/fault.h"
#include "ipc/futex.h"
#include "ipc/segcache.h"
#include "ipc/side.h"
#include "ipc/spill.h"
#include "serialize/record.h"
#include "workers/execute.h"
#include "workers/pool_ipc.h"

struct worker {
    struct cf__pool_ipc *ipc;
    struct cf__worker_slot *slot;
    int index;
    struct cf__spill out;  /* the result record being built (out.sb: its bytes) */
    msgpack_packer pk;
    msgpack_zone *zone;    /* decoded task record; cleared per record */
    struct cf__side pending_side; /* our last large result, until acked */
};

/* Runs under the task ring lock: note the ids taken, before the ring lets
 * anyone see them gone. Each entry's id is written before its word (the
 * parent reads the word, then the id, then CASes the word it read). */
static void claim(void *arg, const struct cf__ring_batch *b)
{
    struct cf__worker_slot *slot = arg;
    uint32_t n = 0;
    uint32_t seq = (atomic_load(&slot->batch_seq) + 1) & (UINT32_MAX >> CF__ENTRY_BITS);
    atomic_store(&slot->batch_seq, seq);
    for (size_t i = 0; i < b->count && n < CF__BATCH_MAX; i++) {
        uint64_t id = 0;
        if (b->recs[i].len >= CF__ID_PREFIX)
            memcpy(&id, b->recs[i].data, sizeof(id));
        atomic_store_explicit(&slot->batch_ids[n], id, memory_order_relaxed);
        atomic_store(&slot->entry[n], CF__ENTRY_WORD(seq, CF__ENTRY_TAKEN));
        n++;
    }
    atomic_store_explicit(&slot->running, 0, memory_order_relaxed);
    atomic_store_explicit(&slot->batch_count, n, memory_order_release);
}

/* Waits until the parent has opened every large result we announced. */
static void wait_acked(struct worker *w)
{
    uint32_t sent = atomic_load(&w->slot->side_sent);
    uint32_t acked;
    while ((acked = atomic_load(&w->slot->side_acked)) != sent)
        cf__futex_wait(&w->slot->side_acked, acked, CF__NO_DEADLINE);
}

/* Waits until the parent has opened our previous large result, so that
 * closing its memfd cannot pull it away from under the parent. */
static void settle_side(struct worker *w)
{
    if (w->pending_side.fd < 0)
        return;
    wait_acked(w);
    cf__side_close(&w->pending_side);
}

/* A result that fits the ring goes inline; a larger one is sealed where it
 * was packed (ipc/spill.h: it is already in a memfd) and announced. */
static void push_result(struct worker *w, uint64_t id)
{
    struct cf__side side = {.fd = -1};
    size_t len = w->out.sb.size;
    int rc;
    if (len + CF__ID_PREFIX <= cf__ring_max_record(&w->ipc->results)) {
        rc = cf__pool_push(&w->ipc->results, id, w->out.sb.data, len, CF__NO_DEADLINE, &side,
                           NULL);
        /* A record that shrank back (a task failed after packing much)
         * may have left a memfd behind: do not keep its memory. */
        cf__spill_reset(&w->out);
    } else {
        settle_side(w);
        rc = cf__spill_seal(&w->out, &side);
        if (rc < 0) {
            /* No memfd for it (out of memory or descriptors): the task's
             * future fails with the reason instead of losing the worker. */
            char msg[128];
            snprintf(msg, sizeof(msg), "worker could not pass a %zu-byte result: %s (%d)", len,
                     cf_strerror(rc), rc);
            cf__record_result_error(&w->pk, id, rc, msg, strlen(msg));
            rc = cf__pool_push(&w->ipc->results, id, w->out.sb.data, w->out.sb.size,
                               CF__NO_DEADLINE, &side, NULL);
            cf__spill_reset(&w->out);
        } else {
            rc = cf__pool_push_side(&w->ipc->results, id, &side, len, CF__NO_DEADLINE, NULL);
            if (rc < 0)
                cf__side_close(&side);
        }
    }
    if (rc < 0)
        _exit(4); /* the parent is gone or the ring is broken */
    if (side.seg) {
        /* A kept segment: the parent holds it now and releases it when done
         * (ipc/segcache.h); nothing of ours to close. */
        cf__side_forget(&side);
        atomic_fetch_add(&w->slot->side_sent, 1);
    } else if (side.fd >= 0) {
        w->pending_side = side;
        atomic_fetch_add(&w->slot->side_sent, 1);
    }
}

/* Executes one decoded TASK or CHUNK record and pushes its RESULT. */
static void execute(struct worker *w, uint64_t id, const struct cf__record *rec)
{
    char msg[CF__EXECUTE_MESSAGE_MAX];
    size_t value_off;
    if (CF__FAULT(CF__FAULT_WORKER_EXECUTE)) {
        w->out.sb.size = 0;
        cf__record_result_error(&w->pk, id, CF_ETASK, "injected fault: execute",
                                sizeof("injected fault: execute") - 1);
        push_result(w, id);
        return;
    }
    (void)cf__execute_record(&w->out.sb, &w->pk, id, rec, &value_off, msg, sizeof(msg));
    if (CF__FAULT(CF__FAULT_WORKER_ENCODE))
        w->out.sb.size = w->out.sb.size > 1 ? w->out.sb.size - 1 : 0; /* a truncated record */
    push_result(w, id);
}

/* Decodes a task record, following a SIDE descriptor to its segment. */
static void handle_record(struct worker *w, const struct cf__ring_record *r)
{
    uint64_t id = 0;
    struct cf__record rec;
    struct cf__side side = {.fd = -1};
    if (r->len < CF__ID_PREFIX)
        return;
    memcpy(&id, r->data, sizeof(id));
    msgpack_zone_clear(w->zone);
    int rc = cf__record_decode(r->data + CF__ID_PREFIX, r->len - CF__ID_PREFIX, w->zone, &rec);
    if (CF__FAULT(CF__FAULT_WORKER_DECODE))
        rc = CF_EPROTO;
    if (rc == 0 && rec.type == CF__REC_SIDE) {
        rc = cf__side_open_at(&side, rec.pid, rec.fd, rec.size, rec.serial, rec.offset, false);
        if (rc == 0 && CF__FAULT(CF__FAULT_WORKER_SIDE))
            rc = CF_EPROTO;
        if (rc == 0) {
            msgpack_zone_clear(w->zone);
            rc = cf__record_decode(side.map, side.size, w->zone, &rec);
        }
    }
    if (rc == 0 && rec.type != CF__REC_TASK && rec.type != CF__REC_CHUNK)
        rc = CF_EPROTO;
    if (rc == 0 && rec.type == CF__REC_CHUNK && rec.payload.type != MSGPACK_OBJECT_ARRAY)
        rc = CF_EPROTO;
    if (rc == 0 && rec.id != id)
        rc = CF_EPROTO;
    if (rc == 0) {
        execute(w, id, &rec);
    } else {
        char msg[128];
        snprintf(msg, sizeof(msg), "worker could not read the task record: %s (%d)",
                 cf_strerror(rc), rc);
        w->out.sb.size = 0;
        cf__record_result_error(&w->pk, id, rc < 0 ? rc : CF_EPROTO, msg, strlen(msg));
        push_result(w, id);
    }
    cf__side_close(&side);
}

/* Runs the pool's initializer, if any, and tells the parent we are up (or
 * why we are not: then this worker exits and the pool is broken). */
static void report_start(struct worker *w)
{
    int status = 0;
    char msg[CF__EXECUTE_MESSAGE_MAX] = "";
    const char *init = w->ipc->init_name;
    if (init) {
        char why[CF__TASK_MESSAGE_MAX];
        msgpack_object args = {.type = MSGPACK_OBJECT_ARRAY};
        size_t off = 0;
        msgpack_zone_clear(w->zone);
        if (w->ipc->init_len)
            msgpack_unpack(w->ipc->init_args, w->ipc->init_len, &off, w->zone, &args);
        w->out.sb.size = 0;
        status = cf__execute_task(&w->out.sb, &w->pk, init, strlen(init), &args, why,
                                  sizeof(why));
        if (status != 0)
            snprintf(msg, sizeof(msg), "initializer '%s' failed: %s", init, why);
    }
    w->out.sb.size = 0;
    cf__record_worker_start(&w->pk, w->index, getpid(), status, msg, strlen(msg));
    push_result(w, 0);
    if (status != 0) {
        fflush(NULL);
        _exit(2);
    }
}

/* Workers do batch work: under SCHED_BATCH the kernel never lets a worker
 * woken for a task preempt the running submitter (it waits for an idle CPU
 * or the next tick), which otherwise happens on every push to an idle pool
 * once the workers share the submitter's CPU, and halves the submit rate.
 * Only the normal policy is changed: a real-time or SCHED_IDLE parent
 * chose something else on purpose. Best effort: a failure changes nothing. */
static void choose_policy(const struct cf__pool_ipc *ipc)
{
    struct sched_param none = {0};
    if (!ipc->interactive && sched_getscheduler(0) == SCHED_OTHER)
        sched_setscheduler(0, SCHED_BATCH, &none);
}

static size_t batch_size(const struct worker *w)
{
    /* Take a fair share of what is queued (records are ~64 bytes when
     * small), so that one worker does not hoard a burst of slow tasks. */
    uint64_t queued = cf__ring_bytes_used(&w->ipc->tasks) / 64;
    uint64_t share = queued / (uint64_t)w->ipc->nworkers;
    return share < 1 ? 1 : share > CF__BATCH_MAX ? CF__BATCH_MAX : (size_t)share;
}

_Noreturn void cf__worker_main(struct cf__pool_ipc *ipc, int index)
{
    struct worker w = {.ipc = ipc, .slot = &ipc->sh->slots[index], .index = index};
    char name[16];
    snprintf(name, sizeof(name), "cf-worker-%d", index);
    prctl(PR_SET_NAME, name);
    choose_policy(ipc);
    CF__FAULT_ROLE(CF__ROLE_WORKER);
    atomic_store(&w.slot->pid, (int32_t)getpid());
    atomic_store(&w.slot->batch_count, 0);
    atomic_store(&w.slot->running, 0);
    /* A fresh worker in this slot has no large result outstanding. */
    atomic_store(&w.slot->side_acked, atomic_load(&w.slot->side_sent));
    w.pending_side.fd = -1;
    /* Results the ring can carry stay on the heap; larger ones are packed
     * straight into a memfd (one copy, see ipc/spill.h). */
    cf__spill_init(&w.out, cf__ring_max_record(&ipc->results) - CF__ID_PREFIX, 0);
    cf__spill_set_reuse(&w.out, true);
    msgpack_packer_init(&w.pk, &w.out, cf__spill_write);
    if (!(w.zone = msgpack_zone_new(4096)))
        _exit(5);
    report_start(&w);

    struct cf__ring_batch batch;
    cf__ring_batch_init(&batch);
    int limit = ipc->max_tasks_per_child, status = 0;
    for (int done = 0; !limit || done < limit;) {
        size_t max = batch_size(&w);
        if (limit && max > (size_t)(limit - done))
            max = (size_t)(limit - done); /* retire on time: take no more */
        /* A worker keeping large segments wakes now and then to give them
         * back once idle (ipc/segcache.h); one keeping none sleeps. */
        uint64_t deadline = cf__seg_holding() ? cf__now_ns() + CF__SEG_TICK_NS : CF__NO_DEADLINE;
        int rc = cf__ring_pop(&ipc->tasks, &batch, max, deadline, claim, w.slot);
        if (rc == -ETIMEDOUT) {
            cf__seg_tick();
            continue;
        }
        if (rc < 0) {
            /* -EPIPE: the pool is shutting down; anything else means the
             * ring can no longer be trusted, which the parent must hear. */
            status = rc == -EPIPE ? 0 : 6;
            break;
        }
        uint32_t seq = atomic_load(&w.slot->batch_seq);
        int ran = 0;
        for (size_t i = 0; i < batch.count && i < CF__BATCH_MAX; i++) {
            /* Start it only if the parent has not cancelled it meanwhile
             * (its future is then settled: no result is expected). */
            uint32_t taken = CF__ENTRY_WORD(seq, CF__ENTRY_TAKEN);
            if (!atomic_compare_exchange_strong(&w.slot->entry[i], &taken,
                                                CF__ENTRY_WORD(seq, CF__ENTRY_STARTED)))
                continue;
            ran++;
            uint64_t t0 = cf__now_ns();
            atomic_store_explicit(&w.slot->running, (uint32_t)i + 1, memory_order_release);
            handle_record(&w, &batch.recs[i]);
            atomic_fetch_add_explicit(&w.slot->busy_ns, cf__now_ns() - t0, memory_order_relaxed);
            atomic_fetch_add_explicit(&w.slot->tasks, 1, memory_order_relaxed);
            uint32_t started = CF__ENTRY_WORD(seq, CF__ENTRY_STARTED);
            if (!atomic_compare_exchange_strong(&w.slot->entry[i], &started,
                                                CF__ENTRY_WORD(seq, CF__ENTRY_DONE))) {
                /* KILL: the parent settled this task (timeout, hard
                 * cancel) and its signal is on its way. It must end this
                 * record, never the next one: end here ourselves. */
                raise(SIGKILL);
            }
        }
        /* Only records started count toward max_tasks_per_child: one
         * cancelled in the batch before it started was never run here. */
        done += ran;
        atomic_store_explicit(&w.slot->running, 0, memory_order_release);
        atomic_store_explicit(&w.slot->batch_count, 0, memory_order_release);
    }
    /* Exiting closes our kept segments too (ipc/segcache.h): the parent
     * must have opened every result announced in one, not just the last
     * one-shot segment. */
    wait_acked(&w);
    cf__side_close(&w.pending_side);
    fflush(NULL);
    _exit(status); /* CF__WORKER_RETIRED when the limit was reached */
}
