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
/* Page-aligned cuts: no two threads write the same page (or cache line). */
#define CUT_ALIGN ((size_t)4096)

struct part {
    char *dst;
    const char *src;
    size_t n;
};

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
    size_t per = (n / (size_t)parts) & ~(CUT_ALIGN - 1), at = 0;
    for (int i = 0; i < parts; i++) {
        part[i] = (struct part){(char *)dst + at, (const char *)src + at,
                                i == parts - 1 ? n - at : per};
        at += per;
    }

    /* Helpers take no signal meant for the caller's process. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_attr_t attr;
    bool attr_ok = pthread_attr_init(&attr) == 0;
    if (attr_ok)
        pthread_attr_setstacksize(&attr, (size_t)64 << 10);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (int i = 1; i < parts; i++)
        started[i] = pthread_create(&helper[i], attr_ok ? &attr : NULL, copy_part, &part[i]) == 0;
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
