/** @file
 * cfutures/mpi.h — the executor across MPI ranks (libcfutures_mpi).
 *
 * Not included by <cfutures.h>: only programs built with an MPI compiler
 * wrapper include it, and they link libcfutures_mpi (pkg-config
 * cfutures-mpi, CMake cfutures::mpi), which holds the whole core library
 * plus this backend. The core library never depends on MPI.
 */
#ifndef CFUTURES_MPI_H
#define CFUTURES_MPI_H

#include <mpi.h>
#include <stddef.h>

#include <cfutures.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @defgroup mpi_pool MPI pool
 * @{
 * The executor of cfutures on the ranks of an MPI job, in comm mode (as
 * the MPICommExecutor of mpi4py): the program is started as
 * mpiexec -n N ./app, every rank calls cf_mpi_pool_create with the same
 * options, the root rank gets an executor and the N-1 others serve its
 * tasks until the root shuts it down. Tasks are found by name on every rank (the same
 * binary registers the same tasks before the call). Everything of
 * cf_executor works on it: cf_submit and its variants, cf_buffer (its
 * bytes are copied once into the task record), cf_map, cf_wait,
 * cf_as_completed, done-callbacks, cancelling pending tasks, shutdown,
 * cf_executor_stats and cf_executor_worker_stats (position i is the i-th
 * serving rank in rank order, the root skipped: its pid and the records
 * sent to it; positions past the serving ranks are -EINVAL). A
 * task_timeout fails the future with -ETIMEDOUT at its deadline: in node
 * mode the rank's pool also kills the worker; in rank mode nothing can
 * interrupt the task, so the rank finishes it (its result is dropped, and
 * a shutdown waits for it). A task still queued on the root when its
 * deadline passes fails when its turn comes, without running.
 * cf_executor_workers
 * counts every serving rank's workers (1 per rank in rank mode).
 *
 * Threads: on the root one progress thread, started by cf_mpi_pool_create
 * and joined by the shutdown that waits, is the only caller of MPI from
 * then on; it talks on a duplicate of the communicator, so the program's
 * own messages never mix with the pool's. That needs
 * MPI_THREAD_SERIALIZED: when MPI is not initialised yet,
 * cf_mpi_pool_create initialises it with MPI_Init_thread asking for
 * MPI_THREAD_SERIALIZED (and finalises it: see below). When the program
 * initialised MPI itself with less (MPI_Init gives MPI_THREAD_SINGLE with
 * Debian's Open MPI and MPICH), every rank returns -ENOTSUP (each decides
 * alone: the level is the same on all, and none waits for another):
 * initialise with MPI_Init_thread(..., MPI_THREAD_SERIALIZED, ...)
 * instead. Between create
 * and cf_executor_release the root's program must make no MPI call of its
 * own unless MPI runs at MPI_THREAD_MULTIPLE. Serving ranks call MPI from
 * the calling thread only.
 *
 * Node mode (workers_per_rank > 0 or CF_MPI_AUTO): each serving rank runs
 * a local process pool (cf_process_pool_create, forked right after MPI
 * start-up, before the rank starts any thread; its workers never call MPI)
 * and feeds it the tasks it receives, so one rank per node
 * (`mpiexec --map-by ppr:1:node`) uses every core of the node through
 * shared memory and MPI carries only batches between nodes. A task that
 * crashes its worker then fails its own future with CF_EWORKER (after
 * max_retries re-runs) and the rank lives on. With workers_per_rank 0 a
 * serving rank runs the tasks itself: a task that crashes kills the rank,
 * and the MPI launcher ends the whole job.
 *
 * A rank that dies: Open MPI and MPICH end the whole job (mpiexec kills
 * every rank). The pool's local workers die with their rank (they are
 * killed when their parent goes) and the shared-memory names are unlinked
 * right after creation, so nothing is left behind.
 */

/** cf_mpi_pool_create returned on a serving rank: it served the root's
 * tasks until the root shut the pool down, and *out is NULL. The program
 * should now end (return from main). */
#define CF_MPI_SERVED 1

/** workers_per_rank: a local process pool of cf_default_workers() workers
 * (the node's CPUs, or CF_WORKERS) on each serving rank. */
#define CF_MPI_AUTO (-1)

/** Options of cf_mpi_pool_create; zero fields take the defaults noted.
 * Every rank must pass the same values. */
typedef struct cf_mpi_pool_options {
    const MPI_Comm *comm;     /**< the ranks to use (NULL: MPI_COMM_WORLD) */
    int root;                 /**< the rank that gets the executor (default 0) */
    int workers_per_rank;     /**< 0: a serving rank runs tasks itself; N > 0 or
                                   CF_MPI_AUTO: a local process pool of N workers */
    const char *initializer;  /**< a registered task run once per rank (0
                                   workers) or once per local worker (node mode) */
    const void *initargs;     /**< its packed msgpack array (NULL: []) */
    size_t initargs_len;      /**< bytes at initargs */
    int max_retries;          /**< node mode: re-runs of a task lost with its
                                   local worker (0: none) */
    int max_tasks_per_child;  /**< node mode: a local worker retires after this
                                   many records (0: never) */
    size_t max_pending;       /**< tasks queued on the root before submit waits
                                   (0: 4096) */
    int batch_records;        /**< most records in one batch (0: 64) */
    int credits;              /**< batches' worth of records in flight per
                                   serving rank (0: 2) */
    size_t split_bytes;       /**< messages longer than this cross in pieces
                                   (0: INT_MAX; tests set it small) */
} cf_mpi_pool_options;
/** Every default of cf_mpi_pool_options (the same as all zero). */
#define CF_MPI_POOL_OPTIONS_INIT {0}

/** Creates the pool; every rank of the communicator calls it (it is
 * collective). Returns 0 on the root with the executor in *out;
 * CF_MPI_SERVED on every other rank once the root has shut the pool down
 * (*out NULL); or a negative code on any rank: -EINVAL (NULL out, a root
 * outside the communicator, workers_per_rank below CF_MPI_AUTO, negative
 * max_retries, max_tasks_per_child, batch_records or credits, an invalid
 * initializer), CF_ENOTASK (initializer not registered on some rank),
 * -ENOTSUP (MPI initialised below MPI_THREAD_SERIALIZED, or a
 * communicator of one rank), -ENOMEM, CF_EBROKEN (an MPI call failed), or
 * what a serving rank's local process pool failed with. The root and the
 * serving ranks agree on failures found in the exchange at start-up: every
 * rank then returns the same code.
 *
 * If MPI was not initialised, this call initialises it (see above) and
 * finalises it: on the root in cf_executor_release, on a serving rank
 * before returning. A program that initialised MPI itself finalises it
 * itself, after cf_executor_release on the root. */
CF_API int cf_mpi_pool_create(cf_executor **out, const cf_mpi_pool_options *opts);

/** @} */

#ifdef __cplusplus
}
#endif

#endif
