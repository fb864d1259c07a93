/* Monotonic clock and absolute deadlines.
 *
 * Owns nothing shared: pure functions over CLOCK_MONOTONIC, callable from any
 * thread or process, async-signal-safe (clock_gettime is). No locks.
 */
#include "ipc/clock.h"

#define NS_PER_SEC 1000000000ull

uint64_t cf__now_ns(void)
{
    struct timespec ts;

    /* CLOCK_MONOTONIC cannot fail with a valid pointer on Linux. */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

uint64_t cf__deadline_after(double seconds)
{
    uint64_t now;
    double ns;

    /* NaN compares false with everything: treat it like "forever" rather
     * than converting it to an integer (undefined behaviour). Decided
     * before reading the clock: waiting forever is the common case. */
    if (seconds != seconds || seconds < 0)
        return CF__NO_DEADLINE;
    now = cf__now_ns();
    if (seconds == 0)
        return now;
    ns = seconds * 1e9;
    /* Saturate: a huge timeout is "forever", and the double → integer
     * conversion below must stay in range. */
    if (ns >= (double)(CF__NO_DEADLINE - now))
        return CF__NO_DEADLINE;
    return now + (uint64_t)ns;
}

struct timespec cf__deadline_timespec(uint64_t deadline_ns)
{
    struct timespec ts;

    ts.tv_sec = (time_t)(deadline_ns / NS_PER_SEC);
    ts.tv_nsec = (long)(deadline_ns % NS_PER_SEC);
    return ts;
}
