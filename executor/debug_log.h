/* CF_DEBUG=1: one line on stderr per worker start, death, respawn and per
 * pool shutdown, for people watching a pool from outside.
 *
 * A pool reads the environment once, at creation (cf__debug_enabled), and
 * keeps the answer; the lines are written by the pool's collector thread,
 * each with a single write(2) so that lines from concurrent pools never
 * interleave. Every line starts "cfutures[<pid>] pool <n>: " where <pid>
 * is the process owning the pool and <n> numbers the pools it created.
 */
#ifndef CF_EXECUTOR_DEBUG_LOG_H
#define CF_EXECUTOR_DEBUG_LOG_H

#include <stdbool.h>

/* True when CF_DEBUG is set to something other than "", "0". */
bool cf__debug_enabled(void);

/* A process-wide pool number (1, 2, ...) for the log lines. Thread-safe. */
unsigned cf__debug_pool_number(void);

/* Writes "cfutures[<pid>] pool <pool>: <message>\n" to stderr (truncated
 * to one 512-byte line). */
void cf__debug_log(unsigned pool, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
