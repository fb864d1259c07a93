/* Monotonic time and deadlines, shared by every layer.
 *
 * A deadline is an absolute CLOCK_MONOTONIC time in nanoseconds;
 * CF__NO_DEADLINE means "wait forever". Deadlines, not durations, are passed
 * down so that a wait interrupted and restarted never waits longer in total.
 */
#ifndef CF_IPC_CLOCK_H
#define CF_IPC_CLOCK_H

#include <stdint.h>
#include <time.h>

#define CF__NO_DEADLINE UINT64_MAX

/* Current CLOCK_MONOTONIC time in ns. */
uint64_t cf__now_ns(void);

/* Deadline for a timeout in seconds: negative → CF__NO_DEADLINE, 0 → now
 * (poll), otherwise now + timeout (saturating). */
uint64_t cf__deadline_after(double seconds);

/* Converts a deadline to a struct timespec for CLOCK_MONOTONIC. */
struct timespec cf__deadline_timespec(uint64_t deadline_ns);

#endif
