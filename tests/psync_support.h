/* tests/psync_support.h — forked children for the process-shared tests
 * (see psync_support.c). */
#ifndef CFUTURES_TESTS_PSYNC_SUPPORT_H
#define CFUTURES_TESTS_PSYNC_SUPPORT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* At most this many children alive at once per test. */
#define PSYNC_MAX_KIDS 16
/* How long a wait for a child or a flag polls before giving up: a liveness
 * bound below every test's .timeout, never a timing assertion. */
#define PSYNC_LIVENESS_NS (10ull * 1000000000ull)

/* Sleeps ms milliseconds. */
void psync_sleep_ms(long ms);
/* Forks a child running fn(arg) and exiting with its return value; the
 * child dies with the test process (PR_SET_PDEATHSIG). Asserts. */
pid_t psync_spawn(int (*fn)(int), int arg);
/* Waits (bounded) for pid; returns its exit code, or -1 when it was killed
 * by a signal or did not end in time. */
int psync_reap(pid_t pid);
/* The same, returning the raw wait status (or -1 when it did not end). */
int psync_reap_status(pid_t pid);
/* SIGKILLs pid and reaps it. */
void psync_kill(pid_t pid);
/* Kills and reaps every child still alive: for a suite's .fini. */
void psync_kill_all(void);
/* Polls until *flag >= want or the liveness limit passes. */
bool psync_eventually_at_least(_Atomic int *flag, int want);
/* Polls until cond() or the liveness limit passes. */
bool psync_eventually(bool (*cond)(void));

#endif
