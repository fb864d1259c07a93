/* Fault injection (see fault.h). Only built into the test variant of the
 * library; every process of a pool shares the armed state through one
 * MAP_SHARED page, so a hit count spans the parent's children. */
#ifdef CF_FAULT_INJECTION
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ipc/fault.h"

struct armed {
    _Atomic int point; /* -1: none */
    int action;
    int role;
    unsigned nth;
    _Atomic unsigned hits;
    _Atomic long value;
};

/* Atomic: a test may arm a parent-side point while the pool's collector
 * thread is already reading it. */
static struct armed *_Atomic armed;
static enum cf__fault_role my_role = CF__ROLE_PARENT;
static long pending_value; /* for the next cf__fault_arm */

void cf__fault_set_value(long value)
{
    pending_value = value;
}

long cf__fault_value(void)
{
    return armed ? atomic_load(&armed->value) : 0;
}

int cf__fault_arm(enum cf__fault_point point, enum cf__fault_action action, unsigned nth,
                  enum cf__fault_role role)
{
    if (point >= CF__FAULT_POINTS || nth == 0 || action < CF__FAULT_CRASH ||
        action > CF__FAULT_ERROR_ALL)
        return -EINVAL;
    if (!armed) {
        void *page = mmap(NULL, sizeof(*armed), PROT_READ | PROT_WRITE,
                          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (page == MAP_FAILED)
            return -errno;
        armed = page;
    }
    atomic_store(&armed->point, -1);
    armed->action = action;
    atomic_store(&armed->value, pending_value);
    armed->role = role;
    armed->nth = nth;
    atomic_store(&armed->hits, 0);
    atomic_store(&armed->point, (int)point);
    return 0;
}

void cf__fault_disarm(void)
{
    if (armed)
        atomic_store(&armed->point, -1);
}

void cf__fault_set_role(enum cf__fault_role role)
{
    my_role = role;
}

int cf__fault_hit(enum cf__fault_point point)
{
    if (!armed || atomic_load(&armed->point) != (int)point || armed->role != (int)my_role)
        return 0;
    unsigned hit = atomic_fetch_add(&armed->hits, 1) + 1;
    if (armed->action == CF__FAULT_ERROR_ALL)
        return hit >= armed->nth;
    if (hit != armed->nth)
        return 0;
    switch (armed->action) {
    case CF__FAULT_CRASH: raise(SIGKILL); break;
    case CF__FAULT_EXIT: _exit(CF__FAULT_EXIT_STATUS);
    default: return 1;
    }
    return 0;
}
#else
/* ISO C forbids an empty translation unit. */
typedef int cf__fault_disabled;
#endif
