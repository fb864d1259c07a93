/* threading/coro.c — cf_sched and its tasks (cfutures/coro.h): the
 * cookbook's round-robin of generators, as stackful coroutines on one
 * thread.
 *
 * Owns the scheduler: its slot table (task names), the ready FIFO, the
 * heap of sleepers, and each task's stack mapping, at the top of which
 * lives the task's own struct coro (so a task is one mmap and nothing
 * else, until it is sent a message). Takes no lock: everything runs on
 * the one thread inside cf_sched_run, or on one thread while it does not
 * run (coro.h says so). The thread-local `tls_sched` says which scheduler
 * the calling thread is running, so that cf_coro_yield & co. need no
 * argument.
 *
 * Switching: on x86-64, a dozen instructions of our own (coro_switch
 * below: push the callee-saved registers, swap stack pointers, pop);
 * elsewhere, or with -DCF_CORO_UCONTEXT, glibc's swapcontext, which also
 * saves and restores the signal mask: two system calls per switch, about
 * 1 us each on the virtual machines this was measured on, against a few
 * ns (docs/architecture.md has the figures and why not stackless). The
 * signal mask is the thread's either way: a task that changes it changes
 * it for the tasks after it. Every switch goes through
 * the scheduler's own context: task -> scheduler -> next task, so the run
 * loop can free a task that ended and sleep when nothing is ready. The
 * sanitizers must be told about each switch: ASan with
 * __sanitizer_start/finish_switch_fiber (else it takes the new stack for
 * a stack overflow or reports false stack-use-after-return), TSan with
 * __tsan_switch_to_fiber (else it mixes the shadow stacks of tasks).
 *
 * Names: a cf_coro_id is (generation << 32) | (slot + 1). A slot is
 * reused after its task ends, with the next generation, so an old name
 * never reaches a new task. Stale heap entries (a timed recv answered by
 * a message, a task that ended) are recognised by name and wait_seq and
 * skipped when they come up.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cfutures.h>

#include "ipc/clock.h"

/* ------------------------------------------------------- sanitizers */

#if defined(__SANITIZE_ADDRESS__)
#define CORO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CORO_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define CORO_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CORO_TSAN 1
#endif
#endif

#ifdef CORO_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef CORO_TSAN
#include <sanitizer/tsan_interface.h>
#endif

#if defined(__x86_64__) && !defined(CF_CORO_UCONTEXT)
#define CORO_ASM 1
/* Saves the callee-saved registers (and the SSE and x87 control words,
 * which the ABI also makes callee-saved) on the current stack, stores the
 * stack pointer in *save, switches to the stack `to` saved the same way
 * (or laid out so by spawn) and restores from it. */
void cf__coro_switch(void **save, void *to);
__asm__(".text\n"
        ".globl cf__coro_switch\n"
        ".hidden cf__coro_switch\n"
        ".type cf__coro_switch,@function\n"
        "cf__coro_switch:\n"
        "    pushq %rbp\n"
        "    pushq %rbx\n"
        "    pushq %r12\n"
        "    pushq %r13\n"
        "    pushq %r14\n"
        "    pushq %r15\n"
        "    subq $8, %rsp\n"
        "    stmxcsr (%rsp)\n"
        "    fnstcw 4(%rsp)\n"
        "    movq %rsp, (%rdi)\n"
        "    movq %rsi, %rsp\n"
        "    ldmxcsr (%rsp)\n"
        "    fldcw 4(%rsp)\n"
        "    addq $8, %rsp\n"
        "    popq %r15\n"
        "    popq %r14\n"
        "    popq %r13\n"
        "    popq %r12\n"
        "    popq %rbx\n"
        "    popq %rbp\n"
        "    ret\n"
        ".size cf__coro_switch, .-cf__coro_switch\n");
#else
#include <ucontext.h>
#endif

/* ------------------------------------------------------------ types */

enum coro_state {
    CORO_READY,    /* in the ready FIFO */
    CORO_RUNNING,  /* the one running now */
    CORO_SLEEPING, /* in the heap, in cf_coro_sleep */
    CORO_WAITING,  /* in cf_coro_recv (and in the heap if timed) */
    CORO_DONE,     /* fn returned; the run loop frees it */
};

struct coro {
#ifdef CORO_ASM
    void *sp; /* saved stack pointer while suspended */
#else
    ucontext_t ctx;
#endif
    cf_coro_fn fn;
    void *arg;
    cf_coro_id id;
    enum coro_state state;
    struct coro *next_ready;
    uint64_t wait_seq; /* bumped by each sleep/recv: older heap entries are stale */
    bool woken_by_timer;
    void **mbox; /* a ring of messages, allocated on the first send */
    size_t mcap, mhead, mlen;
    void *map;      /* the mapping: guard page, stack, this struct */
    size_t map_len;
    void *stack_lo; /* the usable stack: [stack_lo, this struct) */
    size_t stack_len;
#ifdef CORO_ASAN
    void *fake_stack; /* ASan's fake stack of this task while suspended */
#endif
#ifdef CORO_TSAN
    void *tsan_fiber;
#endif
};

struct slot {
    struct coro *c;     /* NULL: free */
    uint32_t gen;       /* of the current or next task in this slot */
    uint32_t next_free; /* slot + 1 of the next free slot, 0: none */
};

struct sleeper {
    uint64_t deadline;
    cf_coro_id id;
    uint64_t seq;
};

struct cf_sched {
    size_t stack_size; /* usable bytes per task */
    size_t page;
    struct slot *slots;
    uint32_t nslots, slots_cap, free_head;
    struct coro *ready_head, *ready_tail;
    struct sleeper *heap;
    size_t hlen, hcap;
    size_t live;
    bool running;
    struct coro *current;
#ifdef CORO_ASM
    void *main_sp;
#else
    ucontext_t main_ctx;
#endif
#ifdef CORO_ASAN
    void *main_fake_stack;
    const void *main_stack_lo;
    size_t main_stack_len;
#endif
#ifdef CORO_TSAN
    void *main_fiber;
#endif
};

static _Thread_local cf_sched *tls_sched;

#define MAX_STACK ((size_t)1 << 30)
#define ID_SLOT(id) ((uint32_t)(id) - 1u)
#define ID_GEN(id) ((uint32_t)((id) >> 32))

/* ------------------------------------------------------- switching */

/* Scheduler -> task c. Returns when c switches back. */
static void switch_to_task(cf_sched *s, struct coro *c)
{
    s->current = c;
    c->state = CORO_RUNNING;
#ifdef CORO_ASAN
    __sanitizer_start_switch_fiber(&s->main_fake_stack, c->stack_lo, c->stack_len);
#endif
#ifdef CORO_TSAN
    __tsan_switch_to_fiber(c->tsan_fiber, 0);
#endif
#ifdef CORO_ASM
    cf__coro_switch(&s->main_sp, c->sp);
#else
    swapcontext(&s->main_ctx, &c->ctx);
#endif
#ifdef CORO_ASAN
    __sanitizer_finish_switch_fiber(s->main_fake_stack, NULL, NULL);
#endif
    s->current = NULL;
}

/* Task c -> scheduler. Returns when the scheduler runs c again, except
 * for a task that ended (state CORO_DONE), which never comes back. */
static void switch_to_sched(cf_sched *s, struct coro *c)
{
#ifdef CORO_ASAN
    /* A task that ended hands ASan NULL, so its fake stack is freed. */
    __sanitizer_start_switch_fiber(c->state == CORO_DONE ? NULL : &c->fake_stack,
                                   s->main_stack_lo, s->main_stack_len);
#endif
#ifdef CORO_TSAN
    __tsan_switch_to_fiber(s->main_fiber, 0);
#endif
#ifdef CORO_ASM
    cf__coro_switch(&c->sp, s->main_sp);
#else
    swapcontext(&c->ctx, &s->main_ctx);
#endif
#ifdef CORO_ASAN
    __sanitizer_finish_switch_fiber(c->fake_stack, NULL, NULL);
#endif
}

/* The first frame of every task, entered by the first switch to it as if
 * called; it finds its task through the thread's scheduler (makecontext
 * cannot pass a pointer portably, and the assembly entry passes none). */
static void trampoline(void)
{
    cf_sched *s = tls_sched;
    struct coro *c = s->current;
#ifdef CORO_ASAN
    __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
    c->fn(c->arg);
    /* The same scheduler, though perhaps run by another call of
     * cf_sched_run (even on another thread) than the one that started c. */
    c->state = CORO_DONE;
    switch_to_sched(s, c);
    abort(); /* unreachable: a finished task is never resumed */
}

/* ----------------------------------------------------- ready, heap */

static void make_ready(cf_sched *s, struct coro *c)
{
    c->state = CORO_READY;
    c->next_ready = NULL;
    if (s->ready_tail)
        s->ready_tail->next_ready = c;
    else
        s->ready_head = c;
    s->ready_tail = c;
}

static struct coro *pop_ready(cf_sched *s)
{
    struct coro *c = s->ready_head;
    if (c) {
        s->ready_head = c->next_ready;
        if (!s->ready_head)
            s->ready_tail = NULL;
    }
    return c;
}

static bool sleeper_before(const struct sleeper *a, const struct sleeper *b)
{
    return a->deadline < b->deadline;
}

static int heap_push(cf_sched *s, struct sleeper e)
{
    if (s->hlen == s->hcap) {
        size_t cap = s->hcap ? s->hcap * 2 : 64;
        struct sleeper *h = realloc(s->heap, cap * sizeof(*h));
        if (!h)
            return -ENOMEM;
        s->heap = h;
        s->hcap = cap;
    }
    size_t i = s->hlen++;
    s->heap[i] = e;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!sleeper_before(&s->heap[i], &s->heap[p]))
            break;
        struct sleeper t = s->heap[i];
        s->heap[i] = s->heap[p];
        s->heap[p] = t;
        i = p;
    }
    return 0;
}

static void heap_pop(cf_sched *s)
{
    struct sleeper *h = s->heap;
    h[0] = h[--s->hlen];
    for (size_t i = 0;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < s->hlen && sleeper_before(&h[l], &h[m]))
            m = l;
        if (r < s->hlen && sleeper_before(&h[r], &h[m]))
            m = r;
        if (m == i)
            break;
        struct sleeper t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

/* The live task named id, or NULL. */
static struct coro *lookup(cf_sched *s, cf_coro_id id)
{
    uint32_t slot = ID_SLOT(id);
    if (id == 0 || slot >= s->nslots || s->slots[slot].gen != ID_GEN(id))
        return NULL;
    struct coro *c = s->slots[slot].c;
    return c && c->state != CORO_DONE ? c : NULL;
}

/* Readies every sleeper whose deadline has passed; drops stale entries. */
static void wake_due(cf_sched *s, uint64_t now)
{
    while (s->hlen > 0 && s->heap[0].deadline <= now) {
        struct sleeper e = s->heap[0];
        heap_pop(s);
        struct coro *c = lookup(s, e.id);
        if (!c || c->wait_seq != e.seq ||
            (c->state != CORO_SLEEPING && c->state != CORO_WAITING))
            continue;
        c->woken_by_timer = true;
        make_ready(s, c);
    }
}

/* Drops stale entries from the top, so that the top is a real sleeper. */
static bool next_deadline(cf_sched *s, uint64_t *deadline)
{
    while (s->hlen > 0) {
        struct sleeper *e = &s->heap[0];
        struct coro *c = lookup(s, e->id);
        if (c && c->wait_seq == e->seq &&
            (c->state == CORO_SLEEPING || c->state == CORO_WAITING)) {
            *deadline = e->deadline;
            return true;
        }
        heap_pop(s);
    }
    return false;
}

/* -------------------------------------------------- create, destroy */

int cf_sched_create(cf_sched **out, size_t stack_size)
{
    if (!out)
        return -EINVAL;
    if (stack_size == 0)
        stack_size = CF_CORO_STACK_DEFAULT;
    if (stack_size < CF_CORO_STACK_MIN || stack_size > MAX_STACK)
        return -EINVAL;
    cf_sched *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->page = (size_t)sysconf(_SC_PAGESIZE);
    s->stack_size = (stack_size + s->page - 1) / s->page * s->page;
    *out = s;
    return 0;
}

/* Unmaps a task's stack (its struct coro with it) and frees its mailbox;
 * its slot becomes free under the next generation. */
static void free_task(cf_sched *s, struct coro *c)
{
    uint32_t slot = ID_SLOT(c->id);
    if (c->state != CORO_DONE)
        s->live--;
    free(c->mbox);
#ifdef CORO_TSAN
    __tsan_destroy_fiber(c->tsan_fiber);
#endif
    void *map = c->map;
    size_t len = c->map_len;
#ifdef CORO_ASAN
    /* A task suspended mid-call leaves its frames' redzones poisoned;
     * memory mapped here later must not inherit them. */
    ASAN_UNPOISON_MEMORY_REGION(map, len);
#endif
    munmap(map, len);
    s->slots[slot].c = NULL;
    s->slots[slot].gen++;
    if (s->slots[slot].gen == 0)
        s->slots[slot].gen = 1;
    s->slots[slot].next_free = s->free_head;
    s->free_head = slot + 1;
}

int cf_sched_destroy(cf_sched *s)
{
    if (!s)
        return 0;
    if (s->running)
        return -EBUSY;
    for (uint32_t i = 0; i < s->nslots; i++)
        if (s->slots[i].c)
            free_task(s, s->slots[i].c);
    free(s->slots);
    free(s->heap);
    free(s);
    return 0;
}

size_t cf_sched_count(cf_sched *s)
{
    return s ? s->live : 0;
}

/* ------------------------------------------------------------ spawn */

/* A free slot index, growing the table if need be; -ENOMEM. */
static int64_t take_slot(cf_sched *s)
{
    if (s->free_head) {
        uint32_t i = s->free_head - 1;
        s->free_head = s->slots[i].next_free;
        return i;
    }
    if (s->nslots == s->slots_cap) {
        uint32_t cap = s->slots_cap ? s->slots_cap * 2 : 64;
        if (cap > UINT32_MAX / 2)
            return -ENOMEM;
        struct slot *t = realloc(s->slots, cap * sizeof(*t));
        if (!t)
            return -ENOMEM;
        s->slots = t;
        s->slots_cap = cap;
    }
    s->slots[s->nslots] = (struct slot){NULL, 1, 0};
    return s->nslots++;
}

static void give_back_slot(cf_sched *s, uint32_t i)
{
    s->slots[i].next_free = s->free_head;
    s->free_head = i + 1;
}

int cf_coro_spawn(cf_sched *s, cf_coro_fn fn, void *arg, cf_coro_id *id)
{
    if (!s || !fn)
        return -EINVAL;
    int64_t slot = take_slot(s);
    if (slot < 0)
        return (int)slot;
    /* One mapping: [guard page][stack ... ][struct coro], the struct at
     * the top, where the stack starts (it grows down, away from it). They
     * share a page, so a task whose stack stays under about 3 KiB touches
     * one page in all. */
    size_t len = s->page + (s->stack_size + sizeof(struct coro) + s->page - 1) / s->page * s->page;
    void *map = mmap(NULL, len, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (map == MAP_FAILED)
        goto give_back;
    if (mprotect(map, s->page, PROT_NONE) != 0)
        goto unmap;
    uintptr_t at = ((uintptr_t)map + len - sizeof(struct coro)) & ~(uintptr_t)63;
    struct coro *c = (struct coro *)at;
    memset(c, 0, sizeof(*c));
    c->map = map;
    c->map_len = len;
    c->stack_lo = (char *)map + s->page;
    c->stack_len = (size_t)((char *)c - (char *)c->stack_lo);
    c->fn = fn;
    c->arg = arg;
    c->id = ((uint64_t)s->slots[slot].gen << 32) | (uint64_t)(slot + 1);
#ifdef CORO_ASM
    /* The frame cf__coro_switch pops, below a zero return address for
     * trampoline (which never returns): control words, r15..r12, rbx,
     * rbp (0 ends backtraces), then trampoline as the address `ret`
     * takes. trampoline then starts with rsp = top - 8, as after a call
     * from a 16-byte-aligned stack. */
    uintptr_t top = (uintptr_t)c & ~(uintptr_t)15;
    uint64_t *f = (uint64_t *)(top - 72);
    uint32_t mxcsr;
    uint16_t fpucw;
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    __asm__ volatile("fnstcw %0" : "=m"(fpucw));
    f[0] = mxcsr | (uint64_t)fpucw << 32;
    for (int i = 1; i <= 6; i++)
        f[i] = 0; /* r15 r14 r13 r12 rbx rbp */
    f[7] = (uint64_t)(uintptr_t)trampoline;
    f[8] = 0;
    c->sp = f;
#else
    if (getcontext(&c->ctx) != 0)
        goto unmap;
    c->ctx.uc_stack.ss_sp = c->stack_lo;
    c->ctx.uc_stack.ss_size = c->stack_len;
    c->ctx.uc_link = NULL; /* trampoline never returns */
    makecontext(&c->ctx, trampoline, 0);
#endif
#ifdef CORO_TSAN
    c->tsan_fiber = __tsan_create_fiber(0);
#endif
    s->slots[slot].c = c;
    s->live++;
    make_ready(s, c);
    if (id)
        *id = c->id;
    return 0;
unmap:
    munmap(map, len);
give_back:
    give_back_slot(s, (uint32_t)slot);
    return -ENOMEM;
}

/* -------------------------------------------------------------- run */

int cf_sched_run(cf_sched *s)
{
    if (!s)
        return -EINVAL;
    if (tls_sched || s->running)
        return -EBUSY;
    s->running = true;
    tls_sched = s;
#ifdef CORO_ASAN
    /* Where this thread's own stack is, for the switches back to it. */
    pthread_attr_t attr;
    void *lo = NULL;
    size_t len = 0;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        pthread_attr_getstack(&attr, &lo, &len);
        pthread_attr_destroy(&attr);
    }
    s->main_stack_lo = lo;
    s->main_stack_len = len;
#endif
#ifdef CORO_TSAN
    s->main_fiber = __tsan_get_current_fiber();
#endif
    int rc = 0;
    while (s->live > 0) {
        if (s->hlen > 0)
            wake_due(s, cf__now_ns());
        struct coro *c = pop_ready(s);
        if (!c) {
            uint64_t deadline;
            if (!next_deadline(s, &deadline)) {
                rc = -EDEADLK; /* all wait for messages nobody can send */
                break;
            }
            struct timespec ts = cf__deadline_timespec(deadline);
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
            continue;
        }
        switch_to_task(s, c);
        if (c->state == CORO_DONE) {
            s->live--;
            free_task(s, c);
        }
    }
    tls_sched = NULL;
    s->running = false;
    return rc;
}

/* ------------------------------------------------ inside a task */

static struct coro *self(cf_sched **s)
{
    *s = tls_sched;
    return *s ? (*s)->current : NULL;
}

cf_coro_id cf_coro_self(void)
{
    cf_sched *s;
    struct coro *c = self(&s);
    return c ? c->id : 0;
}

int cf_coro_yield(void)
{
    cf_sched *s;
    struct coro *c = self(&s);
    if (!c)
        return -EPERM;
    make_ready(s, c);
    switch_to_sched(s, c);
    return 0;
}

/* Suspends c in `state` until `deadline` (CF__NO_DEADLINE: until made
 * ready by a message). Returns 0 or -ENOMEM (no room in the heap: then it
 * does not suspend). */
static int suspend(cf_sched *s, struct coro *c, enum coro_state state, uint64_t deadline)
{
    c->wait_seq++;
    c->woken_by_timer = false;
    if (deadline != CF__NO_DEADLINE) {
        int rc = heap_push(s, (struct sleeper){deadline, c->id, c->wait_seq});
        if (rc < 0)
            return rc;
    }
    c->state = state;
    switch_to_sched(s, c);
    return 0;
}

int cf_coro_sleep(double seconds)
{
    cf_sched *s;
    struct coro *c = self(&s);
    if (isnan(seconds) || seconds < 0)
        return -EINVAL;
    if (!c)
        return -EPERM;
    if (seconds == 0)
        return cf_coro_yield();
    return suspend(s, c, CORO_SLEEPING, cf__deadline_after(seconds));
}

static void *mbox_take(struct coro *c)
{
    void *m = c->mbox[c->mhead];
    c->mhead = c->mhead + 1 == c->mcap ? 0 : c->mhead + 1;
    c->mlen--;
    return m;
}

int cf_coro_recv(void **msg, double timeout)
{
    cf_sched *s;
    struct coro *c = self(&s);
    if (!msg || isnan(timeout))
        return -EINVAL;
    if (!c)
        return -EPERM;
    if (c->mlen == 0) {
        if (timeout == 0)
            return CF_EEMPTY;
        uint64_t deadline = timeout < 0 ? CF__NO_DEADLINE : cf__deadline_after(timeout);
        int rc = suspend(s, c, CORO_WAITING, deadline);
        if (rc < 0)
            return rc;
        if (c->mlen == 0)
            return -ETIMEDOUT;
    }
    *msg = mbox_take(c);
    return 0;
}

int cf_coro_send(cf_sched *s, cf_coro_id to, void *msg)
{
    if (!s)
        return -EINVAL;
    struct coro *c = lookup(s, to);
    if (!c)
        return -ESRCH;
    if (c->mlen == c->mcap) {
        size_t cap = c->mcap ? c->mcap * 2 : 8;
        if (cap > SIZE_MAX / sizeof(void *))
            return -ENOMEM;
        void **m = malloc(cap * sizeof(*m));
        if (!m)
            return -ENOMEM;
        for (size_t i = 0; i < c->mlen; i++)
            m[i] = c->mbox[(c->mhead + i) % c->mcap];
        free(c->mbox);
        c->mbox = m;
        c->mcap = cap;
        c->mhead = 0;
    }
    size_t at = c->mhead + c->mlen;
    c->mbox[at >= c->mcap ? at - c->mcap : at] = msg;
    c->mlen++;
    if (c->state == CORO_WAITING) {
        c->wait_seq++; /* its timer, if any, is stale now */
        make_ready(s, c);
    }
    return 0;
}
