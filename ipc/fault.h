/* Fault injection for tests: named points in the library where a test can
 * make a process crash (SIGKILL itself), exit, or fail, to prove that the
 * pool survives death at the worst moments.
 *
 * Compiled in only with -DCF_FAULT_INJECTION (the test build links such a
 * library variant); otherwise CF__FAULT() is the constant 0 and nothing of
 * this file exists in the library. The armed state lives in one shared
 * anonymous page mapped by cf__fault_arm, so processes forked afterwards
 * (the fork server and its workers) share one hit counter: "the 3rd time
 * any worker gets here" fires exactly once.
 */
#ifndef CF_IPC_FAULT_H
#define CF_IPC_FAULT_H

enum cf__fault_point {
    CF__FAULT_RING_PUSH_LOCKED,  /* a producer holds the ring lock, wrote nothing */
    CF__FAULT_RING_PUSH_PARTIAL, /* a producer wrote half a record, not published */
    CF__FAULT_RING_POP_PARTIAL,  /* a consumer copied records, tail not moved */
    CF__FAULT_WORKER_DECODE,     /* a worker is about to decode a task record */
    CF__FAULT_WORKER_EXECUTE,    /* a worker is about to run a task */
    CF__FAULT_WORKER_ENCODE,     /* a worker packed a result, not yet pushed */
    CF__FAULT_WORKER_SIDE,       /* a worker mapped a large argument */
    CF__FAULT_PARENT_DECODE,     /* the collector is about to decode a result */
    CF__FAULT_SIGNAL_COUNTED,    /* a counted signal counted its wake-up, not sent */
    CF__FAULT_NO_PIDFD,          /* pidfd_open fails with ENOSYS (a kernel before 5.3) */
    CF__FAULT_WORKER_PID,        /* the parent reads a worker's pid from its slot
                                  * (CF__FAULT_ERROR: it reads the armed value
                                  * instead, a stranger's pid) */
    CF__FAULT_POINTS
};

enum cf__fault_action {
    CF__FAULT_CRASH = 1, /* raise(SIGKILL) */
    CF__FAULT_EXIT,      /* _exit(CF__FAULT_EXIT_STATUS) */
    CF__FAULT_ERROR,     /* CF__FAULT() returns 1: the caller fails its step */
    CF__FAULT_ERROR_ALL, /* the same for the nth hit and every later one */
};

enum cf__fault_role { CF__ROLE_PARENT, CF__ROLE_FORKSERVER, CF__ROLE_WORKER };

#define CF__FAULT_EXIT_STATUS 77

#ifdef CF_FAULT_INJECTION
/* Arms `point` to act on the nth time (1-based) a process of `role`
 * reaches it, counted across processes forked after this call. One point
 * armed at a time. Returns 0 or -errno. Test code only. */
int cf__fault_arm(enum cf__fault_point point, enum cf__fault_action action, unsigned nth,
                  enum cf__fault_role role);
void cf__fault_disarm(void);
/* A value the armed point uses (CF__FAULT_WORKER_PID: the pid); set it
 * before arming. */
void cf__fault_set_value(long value);
long cf__fault_value(void);
/* Sets the role of the calling process (the fork server and workers do). */
void cf__fault_set_role(enum cf__fault_role role);
/* Crashes or exits here when armed for this hit; 1 for CF__FAULT_ERROR. */
int cf__fault_hit(enum cf__fault_point point);
#define CF__FAULT(point) cf__fault_hit(point)
#define CF__FAULT_ROLE(role) cf__fault_set_role(role)
#else
#define CF__FAULT(point) ((void)(point), 0)
#define CF__FAULT_ROLE(role) ((void)0)
#endif

#endif
