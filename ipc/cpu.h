/* The pause a spin-wait loop makes between two looks at a shared word: it
 * tells the CPU (and a sibling hyperthread) that this is a spin. Used by
 * every bounded spin in the library. */
#ifndef CF_IPC_CPU_H
#define CF_IPC_CPU_H

#include <stdatomic.h>

static inline void cf__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#else
    atomic_signal_fence(memory_order_seq_cst);
#endif
}

#endif
