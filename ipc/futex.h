/* Thin wrappers over the Linux futex system call for 32-bit words that may
 * live in shared memory (so never FUTEX_PRIVATE_FLAG).
 */
#ifndef CF_IPC_FUTEX_H
#define CF_IPC_FUTEX_H

#include <stdatomic.h>
#include <stdint.h>

/* Sleeps while *word == expected, until woken or the absolute monotonic
 * deadline (CF__NO_DEADLINE: none) passes. Returns 0 when woken, when the
 * value differed, or on a signal (callers re-check their predicate), and
 * -ETIMEDOUT when the deadline passed. */
int cf__futex_wait(_Atomic uint32_t *word, uint32_t expected, uint64_t deadline_ns);

/* Wakes up to n sleepers (INT32_MAX: all). */
void cf__futex_wake(_Atomic uint32_t *word, int n);

#endif
