/** @file
 * cfutures: the thread pool executor.
 * Included by <cfutures.h>; do not include it on its own.
 *
 * Python's ThreadPoolExecutor over the same registered tasks and the same
 * cf_executor / cf_future API as the process pool: cf_submit,
 * cf_submit_named, cf_submit_raw, cf_map, cf_wait, cf_as_completed,
 * done-callbacks and cf_executor_shutdown work on it unchanged. Tasks run
 * in this process, so a task may touch shared memory of the program (with
 * its own locking); arguments and results are still msgpack.
 *
 * Threads start lazily: a submit starts one only when no started thread is
 * free to take the task and fewer than max_workers run; a free thread is
 * reused. A thread counts as free once its task's result is set and the
 * done-callbacks it runs have returned, as in Python: a callback that
 * submits and waits for the result gets another thread (when fewer than
 * max_workers run) instead of queueing behind itself. A submit made right
 * after waiting for a result may therefore start a second thread. Done-
 * callbacks run on the pool thread that completed the task (or in the
 * caller, see cf_done_fn). A task or callback that waits on a future of
 * its own pool still queued runs that task itself, on its own thread, so
 * a pool whose threads all wait on it does not deadlock (see cf_done_fn).
 *
 * Throughput: a thread that keeps catching up with a stream of submits
 * sleeps 5 us before it takes again, and takes what gathered meanwhile;
 * never after a lone task or a short burst, nor while a thread waits for
 * the pool's results. The pool's threads run with a timer slack of 1 us
 * (prctl PR_SET_TIMERSLACK; the kernel's default is 50 us), which tasks
 * and the threads or processes they start inherit: their own timed sleeps
 * end closer to their deadlines.
 */
#ifndef CFUTURES_THREAD_POOL_H
#define CFUTURES_THREAD_POOL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Options of cf_thread_pool_create; zero fields take the defaults noted
 * (`cf_thread_pool_options to = {0};` is every default). */
typedef struct cf_thread_pool_options {
    int max_workers;     /**< 1..4096; 0: cf_thread_pool_default_workers() */
    const char *thread_name_prefix; /**< threads are "<prefix>_<k>", k from 0,
                                     * cut to 15 bytes; NULL: "cf-thread" */
    const char *initializer; /**< a registered task run once in each thread
                              * before its first task; NULL: none */
    const void *initargs;    /**< its packed msgpack array (NULL: []) */
    size_t initargs_len;     /**< bytes at initargs */
    size_t max_pending;  /**< tasks queued and not yet taken by a thread
                          * before submit waits for room; 0: 4096 */
} cf_thread_pool_options;
/** Every default of cf_thread_pool_options (the same as all zero). */
#define CF_THREAD_POOL_OPTIONS_INIT {0}

/** Python's default: min(32, CPUs this process may run on + 4). Always
 * >= 5. Thread-safe. */
CF_API int cf_thread_pool_default_workers(void);

/** Creates a thread pool (no thread runs until the first submit). opts
 * NULL: every default; otherwise every field as documented above. Borrows
 * opts (the strings and initargs are copied). Returns 0 with *out holding
 * the executor (free it with cf_executor_release), -EINVAL (out NULL,
 * max_workers < 0 or > 4096, initargs not one msgpack value), CF_ENOTASK
 * (initializer not registered) or -ENOMEM. Thread-safe.
 *
 * On the pool:
 *  - submit blocks while max_pending tasks wait (timeout 0: CF_EFULL at
 *    once; -ETIMEDOUT after a positive timeout; CF_ESHUTDOWN when the pool
 *    shuts down meanwhile; with several threads submitting to a queue one
 *    place from full, a submit that does not wait may find it full while
 *    another's failed try is being given back); CF_ESHUTDOWN after
 *    shutdown; CF_EBROKEN once
 *    an initializer failed; a negated errno if no thread could be started
 *    at all. Thread-safe, also from a task or a done-callback.
 *  - an initializer failing (any non-zero return) breaks the pool: every
 *    queued future fails with CF_EBROKEN and a message naming the
 *    initializer and its error; tasks already running finish.
 *  - cf_future_cancel succeeds while the task waits in the queue; a task
 *    a thread has taken is running and cannot be cancelled.
 *  - cf_executor_shutdown(wait, cancel_futures): queued tasks still run
 *    unless cancel_futures; with wait, it joins every thread, and returns
 *    -EDEADLK when called from one of this pool's threads (a task or a
 *    done-callback), having still shut the pool down.
 *  - cf_executor_workers gives max_workers, not the threads started. */
CF_API int cf_thread_pool_create(cf_executor **out, const cf_thread_pool_options *opts);

#ifdef __cplusplus
}
#endif

#endif
