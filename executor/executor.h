/* The executor interface: one future type, a small table of backend
 * operations (the process pool now; a thread pool and MPI later).
 *
 * The generic layer (executor.c) validates arguments, assigns task ids,
 * packs the task record and hands it to the backend, which takes
 * ownership of the record bytes.
 */
#ifndef CF_EXECUTOR_EXECUTOR_H
#define CF_EXECUTOR_EXECUTOR_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <cfutures.h>

struct cf__executor_ops {
    /* Queues the record (TASK or CHUNK) for f; takes `record` (malloc'd) on
     * success and on failure alike. Waits for room until deadline_ns. */
    int (*submit)(cf_executor *ex, cf_future *f, unsigned char *record, size_t len,
                  uint64_t deadline_ns);
    /* Cancels f if no worker took it: true when cancelled (and notified). */
    bool (*cancel)(cf_executor *ex, cf_future *f);
    /* Marks f running if a worker took it. */
    void (*refresh_running)(cf_executor *ex, cf_future *f);
    int (*shutdown)(cf_executor *ex, bool wait, bool cancel_futures);
    void (*destroy)(cf_executor *ex);
    int (*workers)(const cf_executor *ex);
    /* Optional (NULL: not supported). cancel_running interrupts a task a
     * worker is running; stats fills the backend's fields of *out (the
     * generic counters are already there); worker_stats one position. */
    bool (*cancel_running)(cf_executor *ex, cf_future *f);
    void (*stats)(cf_executor *ex, cf_stats *out);
    int (*worker_stats)(cf_executor *ex, int index, cf_worker_stats *out);
    /* Optional: called by a thread about to block on pending f. The
     * backend may spend a short, bounded time completing futures on this
     * thread (the process pool polls its result ring), and returns when f
     * is done or it gives up; the caller then waits as usual. */
    void (*assist)(cf_executor *ex, cf_future *f, uint64_t deadline_ns);
    /* Optional: a thread is about to block until futures of ex complete
     * (a wait on one future, cf_wait, as_completed). The thread pool
     * learns from it that its submitters wait for results, and stops
     * holding its threads back (executor/thread_pool.c, hold). */
    void (*blocking)(cf_executor *ex);
    /* Optional: a thread is about to block until ready(arg) holds or
     * deadline_ns passes, on futures fs[0..n) (one at least is pending and
     * of this executor). If this thread is one that completes the
     * executor's futures (where its done-callbacks run: the process pool's
     * collector, a thread pool's thread), blocking could wait for itself:
     * the backend then does the work on this thread instead until ready()
     * holds or the deadline passes, and returns 0 (the caller then waits
     * as usual and finds it ready, or times out), or returns -EDEADLK when
     * it cannot. Returns 0 at once for any other thread. Called only while
     * cf__tl_completing is set. */
    int (*wait_here)(cf_executor *ex, cf_future *const *fs, size_t n, bool (*ready)(void *),
                     void *arg, uint64_t deadline_ns);
    /* Optional (NULL: -ENOTSUP): queues a native future (f->native, its
     * call in f->result.call, no record) like submit does a record.
     * Only backends that run tasks in this process have it. */
    int (*submit_native)(cf_executor *ex, cf_future *f, uint64_t deadline_ns);
    /* Optional (NULL: -ENOTSUP): queues fs[0..n) in order, waiting for
     * room as needed; stores how many it queued (each then holds the
     * backend's reference) and returns 0 or why it stopped. */
    int (*submit_native_batch)(cf_executor *ex, cf_future *const *fs, size_t n,
                               size_t *queued);
};

/* Non-zero while this thread completes futures of some executor (a
 * backend raises it around that work): only then may a wait need
 * wait_here, so every other wait skips the check at the cost of one
 * thread-local read. */
extern _Thread_local int cf__tl_completing;

/* Before a thread blocks on fs[0..n) until ready(arg) or deadline_ns: lets
 * the executor of a pending future among them that this thread completes
 * do the work here (wait_here above). Returns 0 (then wait as usual) or
 * the backend's -EDEADLK / -ENOMEM. */
int cf__executor_wait_here(cf_future *const *fs, size_t n, bool (*ready)(void *), void *arg,
                           uint64_t deadline_ns);

/* Before a thread blocks on fs[0..n): tells the executors of the first
 * pending futures among them (the blocking op above). Looks at a few
 * futures only (64 at most, 16 of them pending), whatever n: a hint,
 * never a cost that grows with n. */
void cf__executor_blocking(cf_future *const *fs, size_t n);

/* Counters every executor keeps alike: submissions here, completions by
 * future.c as each future of this executor completes. */
/* Completions are counted in one of CF__COUNTER_SLOTS lines chosen by the
 * completing thread's CPU, and summed when read: one shared line, changed
 * by every thread that completes futures, moved between their cores at
 * every task (perf: 8% of a thread pool running trivial tasks). */
#define CF__COUNTER_SLOTS 16
struct cf__completion_counts {
    _Alignas(64) _Atomic uint64_t completed, failed, failed_task, failed_worker,
        failed_timeout, cancelled;
};
struct cf__executor_counters {
    _Atomic uint64_t submitted;
    struct cf__completion_counts slot[CF__COUNTER_SLOTS];
};

struct cf_executor {
    const struct cf__executor_ops *ops;
    _Atomic int calls; /* cancel/running calls in progress through a future */
    struct cf__executor_counters counters;
    /* Records (id prefix included) longer than this are packed straight
     * into a memfd and handed to the backend sealed, as f->t->ring->task_side
     * (ipc/spill.h); 0: never. The process pool sets its task ring's
     * largest record. */
    size_t spill_above;
    _Atomic uint64_t next_task_id; /* cf__executor_init_ids */
    /* The event-loop handle (executor/loop.c), made on first use; NULL
     * until then. Backends leave it zero. */
    struct cf__loop *_Atomic loop;
};

/* executor/loop.c: runs the loop callbacks still queued and closes the
 * loop's descriptor; cf_executor_release calls it once every future of ex
 * is done, before the backend's destroy. */
void cf__executor_loop_close(cf_executor *ex);

/* executor/native.c: what a native future runs (its call lives in
 * f->result.call); completes f with fn's return. Backends call it
 * instead of decoding a record when f->native is set. */
void cf__native_run(cf_future *f);

/* A backend's struct (which starts with its cf_executor), zeroed, at the
 * 64-byte alignment its per-line counters need (calloc gives 16); free()
 * frees it. NULL when out of memory. */
void *cf__executor_alloc(size_t size);

/* Gives a new executor its range of task ids (executor.c); call once,
 * before its first submit. */
void cf__executor_init_ids(cf_executor *ex);

/* Counts the completion of a future of ex (called once per future). */
void cf__executor_count_completion(cf_executor *ex, int state, int error);

/* Dispatch helpers used by future.c, with the owner read under f->mu. */
bool cf__executor_cancel(cf_executor *ex, cf_future *f);
void cf__executor_refresh_running(cf_executor *ex, cf_future *f);

/* Packs and submits a record for a fresh future. `pack_payload` packs the
 * args object (TASK) or the items array (CHUNK). Used by cf_submit* and
 * cf_map. */
typedef int (*cf__pack_fn)(msgpack_packer *pk, void *arg);
/* Inside a cf__pack_fn: why the record's writer refused bytes (-EMFILE,
 * -ENOSPC... from its memfd), or 0 when it did not or cannot say. */
int cf__executor_pack_error(const msgpack_packer *pk);
int cf__executor_submit_packed(cf_executor *ex, bool chunk, const char *task,
                               const cf_submit_options *opts, cf__pack_fn pack_payload,
                               void *arg, cf_future **out);

/* A TASK record packed now and submitted later: the record of a cf_buffer
 * (executor/buffer.c), whose bytes the caller fills in place in between.
 * pack_later packs it (pack_payload may reserve bytes with
 * cf__executor_reserve); submit_later hands it to the backend like
 * cf__executor_submit_packed and frees pr whatever the outcome (check the
 * options first: cf__executor_check_options, 0 or -EINVAL, NULL is valid);
 * drop_later frees an unsubmitted one. */
struct cf__packed_record;
int cf__executor_pack_later(cf_executor *ex, const char *task, cf__pack_fn pack_payload,
                            void *arg, struct cf__packed_record **out);
int cf__executor_submit_later(cf_executor *ex, struct cf__packed_record *pr,
                              const cf_submit_options *opts, cf_future **out);
void cf__executor_drop_later(struct cf__packed_record *pr);
int cf__executor_check_options(const cf_submit_options *opts);

/* For a pack_payload callback: appends len bytes left for the caller to
 * write (their content is undefined until then) and returns where they
 * are, or NULL (the packer failed; stop packing). The bytes stay where
 * they are until the record is submitted or dropped: no later append may
 * follow a reservation. */
void *cf__executor_reserve(msgpack_packer *pk, size_t len);

#endif
