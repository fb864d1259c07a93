/* What the parent, the fork server and the workers of one process pool
 * share: the layout of the shared region and each process's view of it.
 *
 * Region layout: struct cf__pool_shared (one slot per worker), then the task
 * ring (parent -> workers), then the result ring (workers and fork server ->
 * parent). Every ring record's payload starts with an 8-byte task id (0 for
 * records that are not about a task), then one msgpack record
 * (serialize/record.h).
 *
 * The view (struct cf__pool_ipc) lives in the parent's heap; the fork server
 * and workers use their copy-on-write copy of it from the fork.
 */
#ifndef CF_WORKERS_POOL_IPC_H
#define CF_WORKERS_POOL_IPC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ipc/ring.h"
#include "ipc/shm.h"

#define CF__BATCH_MAX 32
#define CF__ID_PREFIX 8 /* bytes of task id before each msgpack record */

/* The state of one entry of a worker's batch, in the low bits of its
 * entry word; the bits above carry the batch's sequence number in its
 * position, so that a compare-and-swap made for one batch can never hit
 * the same index of a later one. Transitions, each one CAS:
 *
 *   TAKEN -> STARTED    the worker, before it starts the record
 *   TAKEN -> CANCELLED  the parent (cancel, timeout): the worker skips it
 *   STARTED -> DONE     the worker, after it pushed the record's result
 *   STARTED -> KILL     the parent (hard cancel, timeout): it then signals
 *                       the worker; a worker that finds KILL when it
 *                       finishes the record kills itself instead of moving
 *                       on, so the signal can only ever end this record
 *
 * Whoever wins a CAS from TAKEN or STARTED decides. */
enum cf__entry_state {
    CF__ENTRY_FREE = 0,
    CF__ENTRY_TAKEN,
    CF__ENTRY_STARTED,
    CF__ENTRY_DONE,
    CF__ENTRY_CANCELLED,
    CF__ENTRY_KILL,
};
#define CF__ENTRY_BITS 3u
#define CF__ENTRY_STATE(w) ((w) & ((1u << CF__ENTRY_BITS) - 1))
#define CF__ENTRY_WORD(seq, state) (((seq) << CF__ENTRY_BITS) | (uint32_t)(state))

/* One per worker position. Written by the worker that holds the position
 * (the entry words by the parent too, only by CAS, see above); read by
 * the parent while the worker runs (to cancel or kill what it runs) and
 * after it died (the fork server reports the death only after the worker
 * is gone, so what the slot lists then is final). */
struct cf__worker_slot {
    _Alignas(64) _Atomic int32_t pid;
    _Atomic uint32_t batch_count; /* ids taken in the last pop (under the ring lock) */
    _Atomic uint32_t running;     /* 1 + index in the batch of the task now running */
    _Atomic uint32_t side_sent;   /* large results announced ... */
    _Atomic uint32_t side_acked;  /* ... and opened by the parent (futex word) */
    _Atomic uint32_t batch_seq;   /* batches taken in this position (entry words) */
    _Atomic uint64_t tasks;       /* records run in this position, every worker */
    _Atomic uint64_t busy_ns;     /* time spent running them */
    _Atomic uint64_t batch_ids[CF__BATCH_MAX];
    _Atomic uint32_t entry[CF__BATCH_MAX]; /* CF__ENTRY_WORD(batch_seq, state) */
};

/* Exit status of a worker that retired after max_tasks_per_child records. */
#define CF__WORKER_RETIRED 0

struct cf__pool_shared {
    uint64_t magic;
    int32_t nworkers;
    int32_t parent_pid;
    struct cf__worker_slot slots[];
};

struct cf__pool_ipc {
    struct cf__shm shm;
    struct cf__pool_shared *sh;
    struct cf__ring tasks;
    struct cf__ring results;
    int nworkers;
    pid_t parent_pid;
    int max_tasks_per_child; /* 0: no limit */
    bool interactive;        /* workers keep the parent's scheduling policy */
    const char *init_name;   /* initializer task or NULL */
    const void *init_args;   /* its packed arguments */
    size_t init_len;
};

/* Size and layout of the region for n workers and rings of ring_bytes. */
size_t cf__pool_region_size(int nworkers, size_t ring_bytes, size_t *tasks_off,
                            size_t *results_off);

/* Worker process body: runs tasks until the task ring closes, then _exit(0). */
_Noreturn void cf__worker_main(struct cf__pool_ipc *ipc, int slot);

/* Fork server body (workers/forkserver.c): never returns. */
_Noreturn void cf__forkserver_main(struct cf__pool_ipc *ipc, int sock);

/* Requests the parent sends the fork server over its socket. */
struct cf__forkserver_request {
    int32_t op; /* CF__FS_SPAWN, CF__FS_STOP or CF__FS_KILL */
    int32_t slot;
    int32_t pid; /* KILL: sent only if this is still the slot's worker */
    int32_t sig;
};
#define CF__FS_SPAWN 1
#define CF__FS_STOP 2
/* Signal the worker of `slot` if it is `pid`: the fork server is its
 * parent and has not reaped it while pids[slot] == pid, so the pid cannot
 * name another process. Used where the parent holds no pidfd for it. */
#define CF__FS_KILL 3

/* Notes the fork server sends the parent over the same socket, each with a
 * pidfd attached (SCM_RIGHTS) when the kernel has them: HELLO (its own,
 * first thing), then PIDFD for every worker it forks, opened before the
 * worker can have been reaped, so it names exactly that worker. */
struct cf__forkserver_note {
    int32_t op; /* CF__FS_HELLO or CF__FS_PIDFD */
    int32_t slot;
    int32_t pid;
};
#define CF__FS_HELLO 1
#define CF__FS_PIDFD 2
/* Sends a note with fd attached (fd < 0: none). flags: MSG_DONTWAIT...
 * Returns 0 or -errno. */
int cf__fs_send_note(int sock, const struct cf__forkserver_note *note, int fd, int flags);
/* Receives one note and its descriptor (*fd -1 if none). Returns 0,
 * -EAGAIN (nothing there with MSG_DONTWAIT), -EPIPE (the fork server's end
 * is closed) or -errno. */
int cf__fs_recv_note(int sock, struct cf__forkserver_note *note, int *fd, int flags);

/* Pushes one record (id prefix + msgpack bytes) into a ring, moving it to a
 * side segment first when it is too big for the ring. `side` receives the
 * segment, which the caller must keep open until the receiver has it.
 * Returns 0, or what cf__ring_pushv / cf__side_create return. */
struct cf__side;
int cf__pool_push(struct cf__ring *ring, uint64_t id, const void *rec, size_t len,
                  uint64_t deadline_ns, struct cf__side *side, uint64_t *pos);
/* Pushes the descriptor of a side segment that already exists (a record
 * queued again keeps its sealed segment: its bytes cannot have changed). */
int cf__pool_push_side(struct cf__ring *ring, uint64_t id, const struct cf__side *side,
                       size_t len, uint64_t deadline_ns, uint64_t *pos);

#endif
