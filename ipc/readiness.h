/* ipc/readiness.h — private to the library, never installed: a
 * descriptor that is readable exactly while some condition holds ("this
 * queue has items"), for poll/select/epoll.
 *
 * The owner of a struct cf__readiness (a cf_queue, a cf_pqueue, and the
 * executor's event-loop handle) calls cf__readiness_update under its own
 * lock every time the condition may have changed; the descriptor then
 * follows the condition exactly, with one system call per transition and
 * none otherwise. The struct holds no pointer, so it may live in memory
 * shared across fork (the cf_pqueue case, readiness.c explains why that
 * works); its layout is in <cfutures/queue.h> because cf_queue embeds it.
 */
#ifndef CF_THREADING_READINESS_H
#define CF_THREADING_READINESS_H

#include <cfutures.h>

#include <stdbool.h>

/* Sets r to "no descriptor" (fd -1). Cannot fail. */
void cf__readiness_init(struct cf__readiness *r);
/* Creates the eventfd (non-blocking, close-on-exec) and makes it readable
 * iff `ready`. 0, or -EMFILE / -ENFILE / -ENODEV / -ENOMEM; r is unchanged
 * on failure. r must have no descriptor yet. */
int cf__readiness_open(struct cf__readiness *r, bool ready);
/* Whether r has a descriptor. */
bool cf__readiness_enabled(const struct cf__readiness *r);
/* Makes the descriptor readable iff `ready`; a system call only when that
 * differs from what r last made it. No-op without a descriptor. The caller
 * holds the lock that serialises every update of r. */
void cf__readiness_update(struct cf__readiness *r, bool ready);
/* As update, but without trusting r's record of the descriptor's state
 * (drains it, then sets it if `ready`): for when a process may have died
 * between changing the descriptor and recording that it did. */
void cf__readiness_resync(struct cf__readiness *r, bool ready);
/* Closes the descriptor (in this process) and resets r to "none". */
void cf__readiness_close(struct cf__readiness *r);

#endif
