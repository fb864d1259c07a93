/** @file
 * cfutures: actors and pub/sub exchanges.
 * Included by <cfutures.h>; do not include it on its own. */
#ifndef CFUTURES_ACTOR_H
#define CFUTURES_ACTOR_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include <cfutures/queue.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ================================================================ actors
 *
 * The Python Cookbook's Actor and Worker (recipe 12.10): a thread that
 * owns a mailbox (an unbounded FIFO cf_queue) and handles its messages one
 * at a time, in the order they were sent. Messages are `void *` and
 * borrowed: the actor passes each one to the handler and keeps nothing.
 */

/** An actor (Python Cookbook 12.10), caller-allocated; see the functions below. */
typedef struct cf_actor cf_actor;

/** Handles one message on the actor's thread. Return 0 to go on; a
 * negative code stops the actor: its thread ends, cf_actor_error reports
 * the code, messages still queued are dropped unhandled and pending
 * submissions fail with CF_ESHUTDOWN. */
typedef int (*cf_actor_fn)(cf_actor *a, void *msg);

/** A call run on the actor's thread by cf_actor_submit: packs exactly one
 * msgpack object into `out` and returns 0, or returns a negative code
 * (cf_task_fail("...") gives CF_ETASK with that message). */
typedef int (*cf_actor_call_fn)(void *arg, msgpack_packer *out);

/** An actor. Embed it or allocate it; every field is private. */
struct cf_actor {
    cf_queue mailbox; /**< user messages (tag 0) and calls (tag 1) */
    pthread_t thread; /**< private */
    cf_actor_fn handler; /**< read-only once started */
    void *arg;           /**< read-only once started */
    pthread_mutex_t mu;  /**< guards the fields below */
    pthread_cond_t ended_cv; /**< private */
    bool ended;  /**< the thread has returned from its loop */
    bool joined; /**< pthread_join done */
    int error;   /**< the handler's stopping code, or 0 */
};

/** Initialises `a` and starts its thread (the cookbook's start()).
 * `handler` receives the messages given to cf_actor_send; it may be NULL
 * for an actor used only through cf_actor_submit (the cookbook's Worker).
 * `arg` is returned by cf_actor_arg. Returns 0, -EINVAL (a NULL), -ENOMEM
 * or -EAGAIN (no thread). On failure nothing needs destroying. */
CF_API int cf_actor_start(cf_actor *a, cf_actor_fn handler, void *arg);

/** The `arg` given to cf_actor_start. Thread-safe. */
CF_API void *cf_actor_arg(const cf_actor *a);

/** Queues `msg` for the handler (never blocks). Returns 0; CF_ESHUTDOWN
 * after cf_actor_close or once the actor stopped; -EINVAL (a NULL, or an
 * actor without a handler); -ENOMEM. The caller keeps ownership of msg
 * on failure; on success it passes to the handler. Thread-safe. */
CF_API int cf_actor_send(cf_actor *a, void *msg);

/** Queues a call of fn(arg, packer) on the actor's thread and returns a
 * future for its result in *out (one reference, the caller's to release;
 * `out` may be NULL to ignore the result). The future turns running when
 * the call starts (cancelling it before then skips the call), then holds
 * the packed object, or CF_ETASK, as a task's future would: with the
 * cf_task_fail message, "actor call returned <value>" for any other
 * non-zero return, or when fn did not pack exactly one object. Returns 0,
 * CF_ESHUTDOWN (closed or stopped: *out is untouched), -EINVAL, -ENOMEM.
 * `arg` is borrowed until the call has run. Calls and messages are handled
 * in the order they were queued. Thread-safe. */
CF_API int cf_actor_submit(cf_actor *a, cf_actor_call_fn fn, void *arg, cf_future **out);

/** Closes the mailbox (the cookbook's ActorExit sentinel): later sends and
 * submits return CF_ESHUTDOWN; the actor handles what is already queued,
 * then its thread ends. Idempotent. Returns 0 or -EINVAL. Thread-safe,
 * also from the handler. */
CF_API int cf_actor_close(cf_actor *a);

/** Waits up to `timeout` for the actor's thread to end (it ends after
 * cf_actor_close, or when the handler fails) and reaps it. Returns 0 when
 * it has ended (again 0 on later calls), -ETIMEDOUT, -EINVAL, or -EDEADLK
 * when called from the actor's own thread. Thread-safe. */
CF_API int cf_actor_join(cf_actor *a, double timeout);

/** Whether the actor's thread is still running its loop. */
CF_API bool cf_actor_is_alive(cf_actor *a);

/** The negative code the handler returned to stop the actor, or 0 (still
 * running, or ended by cf_actor_close). */
CF_API int cf_actor_error(cf_actor *a);

/** Closes the actor, waits for its thread and frees the mailbox. Messages
 * are all handled first (calls included); no other thread may use `a`
 * any more. Must not be called from the actor's own thread. NULL is a
 * no-op. */
CF_API void cf_actor_destroy(cf_actor *a);

/* ============================================================ exchanges
 *
 * The cookbook's pub/sub Exchange (recipe 12.12). An exchange holds a
 * list of subscribers in attach order; cf_exchange_send hands a message to
 * each of them in that order.
 *
 * Sends on one exchange are serialised (its mutex is held while the
 * message is delivered), so every subscriber sees the messages of an
 * exchange in the same order, and once cf_exchange_detach returns the
 * subscriber receives nothing more and may be freed. A delivery must
 * therefore not block on something only another sender of the same
 * exchange can release; a callback that calls attach, detach or send on
 * the exchange delivering to it gets -EDEADLK. Sending to another
 * exchange from a callback is allowed as long as no two exchanges do so in
 * opposite directions.
 */

/** A publish/subscribe exchange (Python Cookbook 12.12), caller-allocated. */
typedef struct cf_exchange cf_exchange;
/** A subscriber of an exchange, caller-allocated (see struct cf_subscriber). */
typedef struct cf_subscriber cf_subscriber;

/** A subscriber callback: receives each message (borrowed for the call).
 * A negative return is reported by cf_exchange_send. */
typedef int (*cf_subscriber_fn)(void *arg, void *msg);

/** A subscriber: a callback, a queue or an actor. Caller-allocated (no
 * malloc on attach); every field is private. Attached to at most one
 * exchange at a time; `ex` and the links are guarded by that exchange's
 * mutex. */
struct cf_subscriber {
    cf_subscriber_fn fn; /**< private */
    void *arg;           /**< private */
    cf_queue *queue;     /**< private */
    cf_actor *actor;     /**< private */
    cf_exchange *ex;     /**< private */
    cf_subscriber *prev; /**< private */
    cf_subscriber *next; /**< private */
};

/** @{ */
/** Initialise a detached subscriber that calls fn(arg, msg) / puts each
 * message on `q` (cf_queue_put: waits while a bounded queue is full) /
 * sends each message to actor `a` (cf_actor_send). The queue or actor is
 * borrowed and must outlive the subscription. Return 0 or -EINVAL. */
CF_API int cf_subscriber_init_fn(cf_subscriber *s, cf_subscriber_fn fn, void *arg);
CF_API int cf_subscriber_init_queue(cf_subscriber *s, cf_queue *q);
CF_API int cf_subscriber_init_actor(cf_subscriber *s, cf_actor *a);
/** @} */

/** An exchange. Embed it or allocate it; every field is private. */
struct cf_exchange {
    pthread_mutex_t mu;  /**< private */
    cf_subscriber *head; /**< attach order; guarded by mu */
    cf_subscriber *tail; /**< private */
    size_t count;               /**< guarded by mu */
    bool named;                 /**< from cf_exchange_get; never destroyed */
    char *name;                 /**< named exchanges only */
    cf_exchange *next_named;    /**< registry link; guarded by its lock */
};

/** Process-wide named exchanges (the cookbook's get_exchange): returns in
 * *out the exchange called `name`, created on first use. The same name
 * always gives the same exchange; it lives until the process exits and
 * must not be destroyed. Returns 0, -EINVAL (NULL, empty name or longer
 * than 255 bytes) or -ENOMEM. Thread-safe. */
CF_API int cf_exchange_get(const char *name, cf_exchange **out);

/** @{ */
/** A caller-allocated, unnamed exchange. init returns 0 or -EINVAL;
 * destroy returns 0, -EBUSY while subscribers are attached, or -EINVAL
 * (NULL or a named exchange). Not thread-safe. */
CF_API int cf_exchange_init(cf_exchange *ex);
CF_API int cf_exchange_destroy(cf_exchange *ex);
/** @} */

/** Attaches `s` at the end of the list. Returns 0, -EINVAL (NULL,
 * uninitialised subscriber, or already attached to an exchange) or
 * -EDEADLK (from a delivery of this exchange). Borrows s until detached.
 * Thread-safe. */
CF_API int cf_exchange_attach(cf_exchange *ex, cf_subscriber *s);

/** Detaches `s`; from then on it gets no message. Returns 0, -EINVAL (NULL,
 * or s is not attached to ex: Python's KeyError) or -EDEADLK.
 * Thread-safe. */
CF_API int cf_exchange_detach(cf_exchange *ex, cf_subscriber *s);

/** Number of attached subscribers. */
CF_API size_t cf_exchange_count(cf_exchange *ex);

/** Delivers `msg` (borrowed) to every attached subscriber, in attach order.
 * A failing subscriber does not stop delivery to the others. Returns 0,
 * the first negative code a subscriber gave (a callback's return,
 * CF_ESHUTDOWN from a shut-down queue or closed actor, ...), -EINVAL, or
 * -EDEADLK (from a delivery of this exchange). Thread-safe. */
CF_API int cf_exchange_send(cf_exchange *ex, void *msg);

/** The cookbook's `with exchange.subscribe(*tasks):` scope: attaches
 * subs[0..n), runs fn(ex, arg), then detaches them all whatever fn
 * returned. Returns fn's return, or the attach error (then fn has not
 * run and the subscribers attached so far are detached again). */
CF_API int cf_exchange_subscribe(cf_exchange *ex, cf_subscriber *const *subs, size_t n,
                                 int (*fn)(cf_exchange *ex, void *arg), void *arg);

#ifdef __cplusplus
}
#endif

#endif
