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
/* The scheduler state letter of pid from /proc ('S' asleep, 'T' stopped,
 * 'Z' exited, ...), or '?' when it cannot be read. */
char psync_state(pid_t pid);
/* Polls until pid is asleep ('S'), i.e. blocked in a futex wait for the
 * children here, which sleep nowhere else once they said they are ready. */
bool psync_asleep(pid_t pid);
/* pid's voluntary context switches so far (/proc), or -1: each time a
 * sleeping child is woken and goes back to sleep, it grows. */
long psync_switches(pid_t pid);
/* SIGSTOPs pid and waits until it is stopped (asserts); SIGCONTs it. */
void psync_stop(pid_t pid);
void psync_cont(pid_t pid);
/* Polls until pid has exited (a zombie, not reaped) or the limit passes. */
bool psync_exited(pid_t pid);

/* Spawns two children of fn, each of which bumps *ready and then blocks;
 * waits until both did, gives them a moment to block and SIGKILLs the
 * first: returns the other, still waiting. */
pid_t psync_spawn_two_kill_one(int (*fn)(int), _Atomic int *ready);
/* For a wake-up that must reach every waiter (a waiter woken alone could
 * die before re-locking and take the wake-up with it): spawns two children
 * of fn as above, waits until both are asleep, then wake() lets one of them
 * through. Asserts that one exits (reaped, with 0) and that the other was
 * woken too and went back to sleep (one more context switch); returns the
 * other, still waiting. */
pid_t psync_wake_one_wakes_both(int (*fn)(int), _Atomic int *ready, void (*wake)(void));

#endif
