/** @file
 * cfutures: FIFO, LIFO and priority queues.
 * Included by <cfutures.h>; do not include it on its own. */
#ifndef CFUTURES_QUEUE_H
#define CFUTURES_QUEUE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Python's queue.Queue, LifoQueue and PriorityQueue for `void *` items.
 *
 * The queue borrows its items: it stores the pointers and never frees
 * them, so whoever gets an item owns it again. Any pointer, NULL included,
 * is a valid item (a sentinel may be NULL or the address of a static).
 *
 * Every function is thread-safe except cf_queue_init and cf_queue_destroy,
 * which no other thread may overlap. Timeouts follow the library's rule:
 * 0 tries once, a positive value waits at most that long (one deadline,
 * CLOCK_MONOTONIC), CF_FOREVER (any negative value) waits without limit;
 * NaN is -EINVAL. A wait that times out re-checks once before giving up,
 * so an item that arrives at the deadline is taken.
 *
 * Storage: a bounded queue allocates room for `maxsize` items once, in
 * cf_queue_init. An unbounded queue starts empty and grows its storage with
 * realloc (doubling) when a put finds it full; that is the only allocation
 * after init, and the only way a put returns -ENOMEM. */

/** The order a queue hands out its items in. */
enum cf_queue_kind {
    CF_QUEUE_FIFO,     /**< first in, first out (queue.Queue) */
    CF_QUEUE_LIFO,     /**< last in, first out (queue.LifoQueue) */
    CF_QUEUE_PRIORITY, /**< lowest priority value first, equal values in put
                        * order (queue.PriorityQueue with the cookbook's
                        * (priority, count, item) entries) */
};

/** One stored item; private. */
struct cf__queue_slot {
    void *item;       /**< private */
    int64_t priority; /**< private */
    uint64_t seq; /**< put order, breaks priority ties */
};

/** A readiness descriptor (an eventfd readable exactly while its owner's
 * condition holds); private, shared by cf_queue, cf_pqueue and the
 * executor. No pointers: it may live in process-shared memory. */
struct cf__readiness {
    int32_t fd;   /**< private: the eventfd, -1 for none */
    uint32_t set; /**< private: whether the counter is 1 now */
};

/** A queue. Embed it or allocate it; every field is private. `mu` guards
 * all the others. */
typedef struct cf_queue {
    pthread_mutex_t mu;       /**< private */
    pthread_cond_t not_empty; /**< getters wait here */
    pthread_cond_t not_full;  /**< putters of a bounded queue wait here */
    pthread_cond_t all_done;  /**< joiners wait for unfinished == 0 */
    struct cf__queue_slot *slots; /**< private */
    size_t cap;        /**< slots allocated */
    size_t head;       /**< index of the oldest item (FIFO ring) */
    size_t len;        /**< items stored */
    size_t maxsize;    /**< 0: unbounded */
    size_t unfinished; /**< items put and not yet task_done */
    uint64_t seq;      /**< next put sequence number */
    int kind;          /**< enum cf_queue_kind */
    bool shutdown;     /**< private */
    unsigned getters_waiting; /**< private: threads asleep on not_empty */
    unsigned putters_waiting; /**< private: threads asleep on not_full */
    struct cf__readiness ready; /**< private: cf_queue_fd's descriptor */
} cf_queue;

/** Initialises `q` as a queue of `kind`, bounded to `maxsize` items (0:
 * unbounded). Returns 0, -EINVAL (NULL, unknown kind, maxsize too large to
 * allocate) or -ENOMEM (a bounded queue's storage). Not thread-safe: q must
 * not be in use. */
CF_API int cf_queue_init(cf_queue *q, enum cf_queue_kind kind, size_t maxsize);

/** Frees the storage and closes the descriptor of cf_queue_fd, if any.
 * Items still queued are not freed (they are borrowed): drain them first
 * if they own memory. No thread may be waiting on or using q (nor polling
 * its descriptor: the number may be reused at once). NULL is a no-op. */
CF_API void cf_queue_destroy(cf_queue *q);

/** Puts `item`, waiting for room in a bounded queue (Python's put).
 * Returns 0; CF_ESHUTDOWN when the queue is (or becomes, while waiting)
 * shut down; -ENOMEM when an unbounded queue cannot grow; -EINVAL (q
 * NULL). On failure the caller keeps the item. A priority queue gives the
 * item priority 0. */
CF_API int cf_queue_put(cf_queue *q, void *item);

/** Python's put_nowait: as cf_queue_put, but CF_EFULL at once when a
 * bounded queue is full. */
CF_API int cf_queue_try_put(cf_queue *q, void *item);

/** Python's put(item, timeout=t): as cf_queue_put, waiting at most
 * `timeout`: -ETIMEDOUT when a positive timeout passes with the queue
 * still full, CF_EFULL when timeout is 0. */
CF_API int cf_queue_put_timed(cf_queue *q, void *item, double timeout);

/** As cf_queue_put_timed with an explicit priority: a priority queue
 * releases lower values first, equal values in put order. FIFO and LIFO
 * queues ignore the priority for ordering but hand it back to
 * cf_queue_get_priority (so it can tag items). */
CF_API int cf_queue_put_priority(cf_queue *q, void *item, int64_t priority, double timeout);

/** Takes the next item into *item, waiting for one (Python's get).
 * Returns 0; CF_ESHUTDOWN when the queue is shut down and empty (a
 * non-immediate shutdown lets getters drain what was queued first);
 * -EINVAL (NULL argument). */
CF_API int cf_queue_get(cf_queue *q, void **item);

/** Python's get_nowait: CF_EEMPTY at once when there is no item. */
CF_API int cf_queue_try_get(cf_queue *q, void **item);

/** Python's get(timeout=t): -ETIMEDOUT when a positive timeout passes with
 * the queue still empty, CF_EEMPTY when timeout is 0. */
CF_API int cf_queue_get_timed(cf_queue *q, void **item, double timeout);

/** As cf_queue_get_timed, also storing the item's priority (the one given
 * to cf_queue_put_priority, 0 for the other puts) when `priority` is not
 * NULL. */
CF_API int cf_queue_get_priority(cf_queue *q, void **item, int64_t *priority, double timeout);

/** Items queued now (approximate by the time the caller looks, as in
 * Python). 0 for NULL. */
CF_API size_t cf_queue_qsize(cf_queue *q);
/** @{ */
/** Whether the queue holds no item / a bounded queue holds maxsize items
 * (an unbounded queue is never full). */
CF_API bool cf_queue_empty(cf_queue *q);
CF_API bool cf_queue_full(cf_queue *q);
/** @} */

/** Tells the queue that one item taken earlier is processed (Python's
 * task_done). Returns 0, or -EINVAL when called more times than items were
 * put (Python's ValueError) or q is NULL. */
CF_API int cf_queue_task_done(cf_queue *q);

/** Waits until every item ever put has been task_done (or discarded by an
 * immediate shutdown). Returns 0 or -EINVAL. */
CF_API int cf_queue_join(cf_queue *q);
/** The same, giving up with -ETIMEDOUT after `timeout` (0: only checks). */
CF_API int cf_queue_join_timed(cf_queue *q, double timeout);

/** Shuts the queue down (Python 3.13): later puts, and puts waiting now,
 * return CF_ESHUTDOWN; gets return the items still queued, then
 * CF_ESHUTDOWN. With `immediate`, the queued items are discarded at once
 * (they count as task_done for join; the queue does not free them) and
 * every waiting getter also returns CF_ESHUTDOWN. Idempotent; a later
 * immediate shutdown still discards. Returns 0 or -EINVAL. */
CF_API int cf_queue_shutdown(cf_queue *q, bool immediate);

/** Whether cf_queue_shutdown was called. */
CF_API bool cf_queue_is_shutdown(cf_queue *q);

/** A descriptor for poll/select/epoll (the cookbook's recipe 12.13,
 * "polling multiple thread queues"): readable exactly while the queue holds
 * items, and for good once it is shut down (a get then returns at once,
 * with an item or CF_ESHUTDOWN). So one thread can wait on several queues
 * and sockets together, then take from whichever is readable with
 * cf_queue_try_get (which may still find it empty if another consumer was
 * quicker: readiness is a hint between threads, exact within one).
 *
 * The first call creates the descriptor (an eventfd, close-on-exec); later
 * calls return the same one. Queues never asked for it pay nothing: puts
 * and gets touch it only on the empty <-> non-empty transitions, one system
 * call each. The queue owns it: never read, write or close it, and stop
 * polling it before cf_queue_destroy, which closes it. Level-triggered
 * poll and epoll work; with EPOLLET, drain the queue before waiting again.
 *
 * Returns the descriptor (>= 0), -EINVAL (q NULL), or what eventfd failed
 * with (-EMFILE, -ENFILE, -ENOMEM, -ENODEV); a failed call may be
 * retried. */
CF_API int cf_queue_fd(cf_queue *q);

#ifdef __cplusplus
}
#endif

#endif
