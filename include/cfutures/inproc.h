/** @file
 * cfutures: in-process work at C speed, and the event-loop handle.
 * Included by <cfutures.h>; do not include it on its own.
 *
 * Native submit: a plain `void *fn(void *arg)`, as with pthread_create,
 * libuv's uv_queue_work or GLib's GThreadPool: no registration, no msgpack.
 * It returns the same cf_future as cf_submit (cf_wait, cf_as_completed,
 * done-callbacks, cf_future_cancel while queued, cf_executor_shutdown all
 * work on it, mixed freely with msgpack futures). Only executors that run
 * tasks in this process accept it (the thread pool); a process pool refuses
 * with -ENOTSUP, since a pointer means nothing in another process.
 *
 * Event-loop handle: a program built around libuv, GLib or epoll cannot
 * block in cf_future_result, and done-callbacks run on a pool thread. Each
 * executor offers a descriptor (cf_executor_loop_fd) that is readable while
 * loop callbacks (cf_future_add_loop_callback) of completed futures wait;
 * the loop's thread runs them with cf_executor_run_loop_callbacks, so a loop
 * program needs no lock. Every backend has it (the generic layer owns it).
 */
#ifndef CFUTURES_INPROC_H
#define CFUTURES_INPROC_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A native task: runs on a pool thread with the `arg` given to
 * cf_submit_fn; its return value is the future's result. */
typedef void *(*cf_native_fn)(void *arg);

/** Submits fn(arg) to an in-process executor. `arg` is passed as is (NULL
 * is fine) and must stay valid until the task ran. On success *out holds one
 * reference to the future, whose result is what fn returned (read it with
 * cf_future_result_ptr or cf_future_result_intptr; cf_future_result sees it
 * as a msgpack int64). Blocks while the queue is full, like cf_submit.
 * Returns 0, -EINVAL (ex, fn or out NULL), -ENOTSUP (ex runs tasks in other
 * processes: a process pool), CF_ESHUTDOWN, CF_EBROKEN, -ENOMEM, or a
 * negated errno when no thread could start. Thread-safe. */
CF_API int cf_submit_fn(cf_executor *ex, cf_native_fn fn, void *arg, cf_future **out);

/** The same for n calls fn(args[i]) (args NULL: every argument NULL), queued
 * under one lock hold per queue-full of room, so that a stream of many
 * small tasks costs the submitter less. out[0..n) receive the futures.
 * Returns n when all were queued; a smaller count k > 0 when an error
 * (CF_ESHUTDOWN, CF_EBROKEN, a thread that could not start) stopped it
 * after k (out[k..n) are then NULL); or, when none was queued, -EINVAL
 * (ex, fn or out NULL, n > INT_MAX), -ENOTSUP, -ENOMEM (none allocated:
 * out untouched beyond NULLs) or the error. n 0 returns 0. Thread-safe. */
CF_API int cf_submit_fn_batch(cf_executor *ex, cf_native_fn fn, void *const *args, size_t n,
                              cf_future **out);

/** @{ */
/** Waits like cf_future_result and stores the result as a pointer or an
 * integer: what a native task returned, or an integer result of a msgpack
 * task (CF_ETYPE for any other type, or an integer that does not fit).
 * Returns 0, -EINVAL (NULL), -ETIMEDOUT, CF_ECANCELLED, or the task's error. */
CF_API int cf_future_result_ptr(cf_future *f, double timeout, void **out);
CF_API int cf_future_result_intptr(cf_future *f, double timeout, intptr_t *out);
/** @} */

/** The executor's event-loop descriptor: an eventfd (close-on-exec,
 * non-blocking) readable while loop callbacks of completed futures wait
 * to be run. Watch it for reading (uv_poll_start with UV_READABLE,
 * g_unix_fd_add with G_IO_IN, epoll EPOLLIN); never read or close it.
 * Created on first use and the same for the executor's life; valid until
 * cf_executor_release, which makes it readable once more (a poller wakes)
 * and then closes it: stop watching it before releasing. Returns the
 * descriptor (>= 0), -EINVAL, or -EMFILE/-ENFILE/-ENOMEM. Thread-safe. */
CF_API int cf_executor_loop_fd(cf_executor *ex);

/** Arranges for fn(f, arg) to run on the thread that calls
 * cf_executor_run_loop_callbacks(loop), once f is done (finished, failed or
 * cancelled). `loop` is any executor: usually f's own, but a future of
 * another executor (or a stand-alone one) may report to it too. Never runs
 * fn in the caller, even if f is already done: it is queued and the
 * descriptor becomes readable. Holds a reference to f until fn has run.
 * fn's return is reported on stderr when non-zero, as for done-callbacks.
 * Returns 0, -EINVAL (NULL), -ENOMEM, -EMFILE/-ENFILE (no descriptor could
 * be made) or CF_ESHUTDOWN (loop is being released). Thread-safe. */
CF_API int cf_future_add_loop_callback(cf_future *f, cf_executor *loop, cf_done_fn fn,
                                       void *arg);

/** Runs, on the calling thread, every loop callback whose future completed
 * before this call, in completion order, and clears the descriptor
 * (callbacks of futures that complete meanwhile, or that the callbacks
 * add, wait for the next call: a burst cannot starve the loop). Returns
 * how many ran (>= 0) or -EINVAL. Meant for one thread (the loop's), but
 * safe from any. cf_executor_release runs the loop callbacks still queued
 * at that point on the releasing thread, so that none is lost (their
 * arguments can be freed); callbacks of futures of other executors that
 * are still pending then are dropped without running when those complete. */
CF_API int cf_executor_run_loop_callbacks(cf_executor *ex);

#ifdef __cplusplus
}
#endif

#endif
