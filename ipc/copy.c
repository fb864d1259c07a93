/* Large copies on more than one CPU (ipc/copy.h). */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "ipc/copy.h"

#define MAX_PARTS 4
#define PART_MIN ((size_t)4 << 20)
/* Cuts fall on page boundaries of the destination: no two threads write
 * the same page (or cache line). */
#define CUT_ALIGN ((uintptr_t)4096)

struct part {
    char *dst;
    const char *src;
    size_t n;
};

#ifdef CF_FAULT_INJECTION
static _Atomic bool no_threads;
void cf__copy_fault_no_threads(bool on)
{
    atomic_store(&no_threads, on);
}
#define FAULT_NO_THREAD() atomic_load(&no_threads)
#else
#define FAULT_NO_THREAD() false
#endif

static int cpus(void)
{
    static _Atomic int cached; /* 0: not read yet */
    int n = atomic_load_explicit(&cached, memory_order_relaxed);
    if (n == 0) {
        cpu_set_t set;
        n = sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0
                ? CPU_COUNT(&set)
                : 1;
        atomic_store_explicit(&cached, n, memory_order_relaxed);
    }
    return n;
}

int cf__copy_parts(size_t n)
{
    if (n < CF__COPY_SPLIT_MIN)
        return 1;
    size_t parts = n / PART_MIN;
    if (parts > (size_t)cpus())
        parts = (size_t)cpus();
    return parts > MAX_PARTS ? MAX_PARTS : parts < 1 ? 1 : (int)parts;
}

static void *copy_part(void *arg)
{
    struct part *p = arg;
    memcpy(p->dst, p->src, p->n);
    return NULL;
}

void cf__copy(void *dst, const void *src, size_t n)
{
    int parts = cf__copy_parts(n);
    if (parts == 1) {
        memcpy(dst, src, n);
        return;
    }
    struct part part[MAX_PARTS];
    pthread_t helper[MAX_PARTS];
    bool started[MAX_PARTS] = {false};
    uintptr_t d = (uintptr_t)dst;
    size_t at = 0;
    for (int i = 0; i < parts; i++) {
        /* Part i ends at the page boundary of dst at or below i+1 shares
         * of n (parts are at least 4 MiB: every cut moves forward). */
        size_t end = i == parts - 1
                         ? n
                         : (size_t)(((d + n / (size_t)parts * (size_t)(i + 1)) & ~(CUT_ALIGN - 1)) -
                                    d);
        part[i] = (struct part){(char *)dst + at, (const char *)src + at, end - at};
        at = end;
    }

    /* Helpers take no signal meant for the caller's process, except the
     * ones their own copy may raise (a source mapped from a file that
     * shrank): blocked, those would kill the process outright. They are
     * delivered on the helper then, where a handler that longjmps back to
     * the caller cannot work: the header tells callers so. */
    sigset_t all, old;
    sigfillset(&all);
    sigdelset(&all, SIGSEGV);
    sigdelset(&all, SIGBUS);
    pthread_attr_t attr;
    bool attr_ok = pthread_attr_init(&attr) == 0;
    if (attr_ok)
        pthread_attr_setstacksize(&attr, (size_t)64 << 10);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (int i = 1; i < parts; i++)
        started[i] = !FAULT_NO_THREAD() &&
                     pthread_create(&helper[i], attr_ok ? &attr : NULL, copy_part, &part[i]) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (attr_ok)
        pthread_attr_destroy(&attr);

    copy_part(&part[0]);
    for (int i = 1; i < parts; i++) {
        if (started[i])
            pthread_join(helper[i], NULL);
        else
            copy_part(&part[i]);
    }
}
