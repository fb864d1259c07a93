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

/* One per worker position. Written by the worker that holds the position,
 * read by the parent after that worker died (so nothing here needs a lock:
 * the fork server reports the death only after the worker is gone). */
struct cf__worker_slot {
    _Alignas(64) _Atomic int32_t pid;
    _Atomic uint32_t batch_count; /* ids taken in the last pop (under the ring lock) */
    _Atomic uint32_t running;     /* 1 + index in the batch of the task now running */
    _Atomic uint32_t side_sent;   /* large results announced ... */
    _Atomic uint32_t side_acked;  /* ... and opened by the parent (futex word) */
    _Atomic uint64_t tasks;       /* records run in this position, every worker */
    _Atomic uint64_t busy_ns;     /* time spent running them */
    uint64_t batch_ids[CF__BATCH_MAX];
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
    int32_t op; /* CF__FS_SPAWN or CF__FS_STOP */
    int32_t slot;
};
#define CF__FS_SPAWN 1
#define CF__FS_STOP 2

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
