/* Thin wrappers over the Linux futex system call for 32-bit words: shared
 * ones, which may live in memory several processes map, and private ones,
 * used within one process only (cheaper: see futex.c).
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

/* The same, but tells the cases apart: 0 only when a cf__futex_wake woke
 * this sleeper (and so was counted in that call's return), -EAGAIN when
 * the value differed or a signal interrupted, -ETIMEDOUT. */
int cf__futex_wait_woken(_Atomic uint32_t *word, uint32_t expected, uint64_t deadline_ns);

/* Wakes up to n sleepers (INT32_MAX: all). Returns how many it woke. */
int cf__futex_wake(_Atomic uint32_t *word, int n);

/* The same for a word no other process waits on or wakes. */
int cf__futex_wait_private(uint32_t *word, uint32_t expected, uint64_t deadline_ns);
void cf__futex_wake_private(uint32_t *word, int n);

#endif
