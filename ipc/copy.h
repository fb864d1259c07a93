/* Large copies on more than one CPU. One thread's memcpy does not always
 * reach the memory bandwidth of a machine: on the 2-CPU virtual machine of
 * bench/RESULTS.md, 1 GiB copies at 19-20 GB/s on one thread and 24-26
 * GB/s split between two (64 MiB: 17-18 GB/s either way, medians of 15).
 * Large records (ipc/spill.c) are copied once per direction, so this is
 * what bounds a large echo: 1 GiB echoed in 108-113 ms before, 86-93 ms
 * after (0.50x -> 0.64x memcpy; 64 MiB unchanged, within noise).
 *
 * Used by ipc/spill.c for appends into a kept segment's already touched
 * pages. Any thread; no shared state but a cached CPU count. */
#ifndef CF_IPC_COPY_H
#define CF_IPC_COPY_H

#include <stddef.h>

/* Below this many bytes a copy stays on the calling thread: starting and
 * joining a helper thread costs tens of microseconds. */
#define CF__COPY_SPLIT_MIN ((size_t)8 << 20)

/* memcpy(dst, src, n) for buffers that do not overlap. From
 * CF__COPY_SPLIT_MIN bytes on, with more than one CPU to run on, the
 * caller copies one part and short-lived helper threads the others, at
 * most one per CPU and per 4 MiB, and four in all, cut at page boundaries
 * of dst. Helpers block every signal but SIGSEGV and SIGBUS, which their
 * own copy may raise: a source that can fault (a mapping of a file that
 * may shrink) then faults on a helper thread, not the caller's
 * (include/cfutures.h says so for byte arguments).
 * A helper that cannot be started leaves its part to the caller: the copy
 * is always whole when this returns. */
void cf__copy(void *dst, const void *src, size_t n);

/* For tests: the number of parts cf__copy splits n bytes into. */
int cf__copy_parts(size_t n);

#ifdef CF_FAULT_INJECTION
#include <stdbool.h>
/* Test hook: while on, no helper thread can be started (the caller then
 * copies every part itself). */
void cf__copy_fault_no_threads(bool on);
#endif

#endif
