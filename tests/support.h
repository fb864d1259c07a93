/* tests/support.h — helpers shared by the test files (see support.c). */
#ifndef CFUTURES_TESTS_SUPPORT_H
#define CFUTURES_TESTS_SUPPORT_H

#include <cfutures.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* How long any wait on a file or a condition polls before giving up: a
 * liveness bound below every test's .timeout, never a timing assertion. */
#define SUPPORT_LIVENESS_MS 15000

/* ------------------------------------------------------------ files */

/* Sleeps ms milliseconds, resuming after signals. */
void support_sleep_ms(long ms);
/* Creates path if it does not exist; false if it cannot. */
bool support_touch(const char *path);
bool support_file_exists(const char *path);
/* Polls for path; false if it did not appear within SUPPORT_LIVENESS_MS. */
bool support_wait_file(const char *path);
/* The size of path, 0 if it does not exist. */
off_t support_file_size(const char *path);
/* Makes a fresh directory under /tmp into dir (asserts). */
void support_make_dir(char *dir, size_t size);
/* Removes dir and the files in it. */
void support_remove_dir(const char *dir);

/* Into path: the program `name` in the directory `up` levels above the
 * one holding this test binary (0: beside it), where make builds the
 * tools the tests run; skips the test when it is not there (asserts on
 * the rest). */
void support_tool_path(char *path, size_t size, int up, const char *name);

/* ------------------------------------------------------------ gates */

/* The gate task, [dir, k]: appends one byte to dir/ran, creates
 * dir/started-k, waits for dir/go (SUPPORT_LIVENESS_MS at most), returns k.
 * Registered as "support_gate". */
int support_gate(const msgpack_object *args, msgpack_packer *out);
/* support_gate's waiting part, for tasks that do something else once the
 * gate opens: 0 once dir/go exists (k in *k if k is not NULL), else the
 * cf_task_fail() code to return. */
int support_gate_hold(const msgpack_object *args, int64_t *k);
/* Creates dir/go; false if it cannot (for threads that must not assert). */
bool support_gate_try_open(const char *dir);
/* Creates dir/go (asserts). */
void support_gate_open(const char *dir);
/* Submits support_gate(dir, k) to ex (asserts). */
cf_future *support_submit_gate(cf_executor *ex, const char *dir, int64_t k);
/* The same, then waits until a worker has started it (dir/started-k). */
cf_future *support_block_worker(cf_executor *ex, const char *dir, int64_t k);

/* ------------------------------------------------------------ tasks */

/* [x, y] -> x * y. Registered as "support_mul". */
int support_mul(const msgpack_object *args, msgpack_packer *out);
/* [n] -> n * n. Registered as "support_square". */
int support_square(const msgpack_object *args, msgpack_packer *out);

/* ---------------------------------------------------- msgpack values */

/* Packs one of the values that no scalar fast path reads (msgpack-c must
 * unpack them): 0 the nested array [1, [2, "x"]], 1 the map {"a": 1},
 * 2 an ext of type 7 holding "abc". Returns the packer's last result. */
int support_pack_container(msgpack_packer *pk, int which);

/* ------------------------------------------------------- large bytes */

/* A byte at position i of the test pattern (differs along a buffer). */
unsigned char support_pattern(size_t i);
/* An order-sensitive digest of n bytes. */
uint64_t support_digest(const unsigned char *b, size_t n);
/* [bin] -> [length, support_digest]: the worker saw every byte; fails
 * unless the arguments are exactly one binary. Registered as
 * "support_bin_digest". */
int support_bin_digest(const msgpack_object *args, msgpack_packer *out);
/* Asserts that result o is support_bin_digest's of b[0..n). */
void support_expect_digest(const msgpack_object *o, const unsigned char *b, size_t n);
/* Descriptors this process holds open. */
int support_open_fds(void);

/* ----------------------------------------------------------- stderr */

/* Sends this process's stderr (fd 2, and so what processes forked later
 * write there) to a temporary file until support_stderr_end, which
 * restores it and copies what was written into buf (NUL-terminated,
 * truncated to size - 1). For tests of what the library prints, so that a
 * passing run prints nothing; works under the criterion shim, which has no
 * cr_redirect_stderr. Asserts on failure. */
void support_stderr_begin(void);
void support_stderr_end(char *buf, size_t size);

/* -------------------------------------------------------- processes */

/* Alive and not a zombie. */
bool support_process_running(pid_t pid);
/* Objects of process `pid`'s pools still named in /dev/shm. */
int support_shm_entries_of(pid_t pid);
/* Children of this process whose name starts with `prefix`; the first one
 * found goes to *first (if not NULL). */
int support_children_named(const char *prefix, pid_t *first);
/* Sends sig to a worker of one of this process's pools, found by pid (from
 * cf_executor_worker_stats, say), and never to anything else: a pid read
 * from a slot may name a worker that died and a pid the kernel has given
 * to another process since (pid_max is 32768 here, and another suite may
 * be forking). Signals through a pidfd, after checking that the process
 * is a cf-worker whose fork server is this process's child. Returns 0,
 * -ESRCH (gone, or not our worker) or -errno. */
int support_kill_worker(pid_t pid, int sig);
/* Kills (SIGKILL) the fork server of this process's one process pool;
 * asserts that there is exactly one; returns its pid. */
pid_t support_kill_forkserver(void);

/* ------------------------------------------------------------ pools */

/* A new process pool (asserts); ring_bytes 0 for the default. */
cf_executor *support_new_pool(int workers, size_t ring_bytes);

/* The fixture: a pool in support_pool, and gate directories from
 * support_gate_new() that support_teardown opens and removes. */
extern cf_executor *support_pool;
void support_start_pool(int workers);
/* .init: support_start_pool(2). */
void support_setup(void);
/* .fini: opens every gate (so no worker stays blocked), releases
 * support_pool, removes the gate directories; runs after a failed
 * assertion too. */
void support_teardown(void);
/* A new closed gate directory, removed by support_teardown (asserts). */
const char *support_gate_new(void);
/* Submits support_mul(x, y) to support_pool (asserts). */
cf_future *support_submit_mul(int64_t x, int64_t y);

/* ------------------------------------------------- stand-alone futures */

/* Sets f's result to the msgpack integer v; cf_future_set_result's code. */
int support_set_i64(cf_future *f, int64_t v);
/* New stand-alone futures in a given state (asserts). */
cf_future *support_pending(void);
cf_future *support_running(void);
cf_future *support_cancelled(void);
cf_future *support_failed(void); /* -EIO, "OSError" */
cf_future *support_succeeded(int64_t v);
void support_release_all(cf_future **fs, size_t n);

#endif
