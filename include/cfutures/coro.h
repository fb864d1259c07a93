/** @file
 * cfutures: coroutines on one thread (the cookbook's recipe 12.12, "using
 * generators as an alternative to threads").
 * Included by <cfutures.h>; do not include it on its own. */
#ifndef CFUTURES_CORO_H
#define CFUTURES_CORO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A cooperative round-robin scheduler: many tasks on the thread that calls
 * cf_sched_run, each with its own small stack, each running until it
 * yields (cf_coro_yield), waits for a message (cf_coro_recv) or sleeps
 * (cf_coro_sleep) — where a thread would block — and then the next ready
 * task runs. Ready tasks run in the order they became ready (first in,
 * first out), so tasks that only yield take strict turns. No task is ever
 * interrupted, so tasks need no locks among themselves.
 *
 * One thread at a time: every function on a scheduler, and on its tasks,
 * is called from the thread running cf_sched_run (from inside its tasks),
 * or, while it does not run, from any one thread (to spawn the first
 * tasks and send them their first messages). The scheduler is not
 * thread-safe; to feed it from other threads, use a queue.
 *
 * A task is a function `fn(arg)` on a stack of its own (mmap'd, with an
 * inaccessible guard page below it, so an overflow faults instead of
 * corrupting memory). It ends when fn returns. It is named by a
 * cf_coro_id, which stays unique for the scheduler's lifetime: a message
 * sent to a task that has ended fails with -ESRCH rather than reaching
 * some newer task. Messages are `void *`, borrowed as in cf_queue: the
 * scheduler stores the pointer and never frees it. */

/** A scheduler; opaque. */
typedef struct cf_sched cf_sched;

/** Names a task; never 0. */
typedef uint64_t cf_coro_id;

/** A task's body. The task ends when it returns. */
typedef void (*cf_coro_fn)(void *arg);

/** Default usable stack of a task (bytes), beside one guard page. */
#define CF_CORO_STACK_DEFAULT (64u * 1024u)
/** Smallest stack a scheduler accepts. */
#define CF_CORO_STACK_MIN (16u * 1024u)

/** Creates a scheduler whose tasks get `stack_size` bytes of stack each
 * (0: CF_CORO_STACK_DEFAULT; rounded up to whole pages). Stacks are
 * reserved, not committed: a task costs the memory it touches. Returns 0,
 * -EINVAL (out NULL, stack_size below CF_CORO_STACK_MIN or above 1 GiB)
 * or -ENOMEM. */
CF_API int cf_sched_create(cf_sched **out, size_t stack_size);

/** Frees the scheduler and every task that has not ended (their stacks
 * are discarded without unwinding: a task waiting for ever owns nothing
 * it expects to free, or is sent a message telling it to end first), and
 * the messages still queued to them (not what they point to). Returns 0
 * (also for NULL) or -EBUSY when called while the scheduler runs (from
 * one of its tasks). */
CF_API int cf_sched_destroy(cf_sched *s);

/** Creates a task running fn(arg), ready to run after the tasks ready now.
 * *id (when id is not NULL) gets its name. May be called from a task.
 * Returns 0, -EINVAL (s or fn NULL) or -ENOMEM (no memory, or no room
 * for another mapping: each task is one mapping plus its guard, and Linux
 * allows about 65530 per process by default). */
CF_API int cf_coro_spawn(cf_sched *s, cf_coro_fn fn, void *arg, cf_coro_id *id);

/** Runs the tasks on the calling thread until every one has ended
 * (returns 0), or until none can run again: every task left waits in
 * cf_coro_recv without a timeout and none is ready or asleep (returns
 * -EDEADLK; send them messages and call again, or destroy). While nothing
 * is ready but some task sleeps, the thread sleeps until the earliest
 * wake-up. Returns -EINVAL (NULL) or -EBUSY (called from a task: one
 * scheduler runs on a thread at a time). */
CF_API int cf_sched_run(cf_sched *s);

/** Tasks spawned and not yet ended. 0 for NULL. */
CF_API size_t cf_sched_count(cf_sched *s);

/** The calling task's name, or 0 when not called from a task. */
CF_API cf_coro_id cf_coro_self(void);

/** Lets every other ready task run once, then continues (Python's
 * `yield` in the recipe's round-robin). Returns 0, or -EPERM when not
 * called from a task. */
CF_API int cf_coro_yield(void);

/** Suspends the calling task for at least `seconds` (CLOCK_MONOTONIC),
 * while the others run; 0 yields. Returns 0, -EINVAL (negative or NaN),
 * -EPERM (not called from a task) or -ENOMEM (no memory to note the
 * wake-up time; the task did not sleep). */
CF_API int cf_coro_sleep(double seconds);

/** Queues `msg` for task `to` (in send order) and makes it ready if it
 * waits in cf_coro_recv. The sender goes on running. May be called from a
 * task or, while the scheduler does not run, from outside. Returns 0,
 * -EINVAL (s NULL), -ESRCH (no such task, or it has ended) or -ENOMEM. */
CF_API int cf_coro_send(cf_sched *s, cf_coro_id to, void *msg);

/** Takes the calling task's next message into *msg, waiting for one while
 * the other tasks run: 0 tries once (CF_EEMPTY), a positive timeout waits
 * at most that long (-ETIMEDOUT), CF_FOREVER without limit. Returns 0,
 * CF_EEMPTY, -ETIMEDOUT, -EINVAL (msg NULL, NaN timeout), -EPERM (not
 * called from a task) or -ENOMEM (a positive timeout and no memory to
 * note it; the task did not wait). */
CF_API int cf_coro_recv(void **msg, double timeout);

#ifdef __cplusplus
}
#endif

#endif
