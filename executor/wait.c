/* cf_wait: Python's concurrent.futures.wait for any set of futures,
 * whichever executors they come from. The caller's thread links one waiter
 * into every pending future and sleeps on it; completing threads report.
 *
 * A future given twice counts once (as in Python). Futures made in a loop
 * mostly come in address order: then duplicates are found by merging the
 * input's few increasing runs, with no table. Otherwise a pointer hash set
 * finds them in one pass (sorting cost more than the rest of a wait on many
 * futures; the set, for 1 M futures, is 16 MB to clear and a cache miss per
 * future: 25-40 ms, a tenth of a thread pool's 1 M trivial tasks).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "executor/executor.h"
#include "executor/future_internal.h"
#include "executor/waiter.h"
#include "ipc/clock.h"

static bool satisfied(enum cf_return_when when, size_t done, size_t failed, size_t total)
{
    switch (when) {
    case CF_FIRST_COMPLETED: return done >= 1 || total == 0;
    case CF_FIRST_EXCEPTION: return failed >= 1 || done == total;
    default: return done == total;
    }
}

/* Futures that were pending when looked at, each with its link: blocks
 * allocated only as pending futures turn up (the first on the stack), so
 * that waiting on many futures that are done already allocates no more
 * than the set. */
#define LINK_BLOCK 32

struct linked {
    cf_future *f;
    struct cf__waiter_link link;
};

struct link_block {
    struct link_block *next;
    size_t used;
    struct linked e[LINK_BLOCK];
};

/* Open addressing, linear probing; capacity a power of two >= 2n, so a
 * probe ends at an empty slot soon. Small sets live on the stack. */
#define STACK_SLOTS 64
#define PREFETCH_AHEAD 8

struct seen {
    cf_future **slots;
    size_t mask;
};

static size_t seen_slot(const struct seen *s, const cf_future *f)
{
    /* Futures are allocated: the low bits carry nothing. */
    uintptr_t h = ((uintptr_t)f >> 4) * (uintptr_t)0x9E3779B97F4A7C15u;
    return (size_t)(h >> 16) & s->mask;
}

/* True when f was not in the set (and is now). */
static bool seen_insert(struct seen *s, cf_future *f)
{
    for (size_t i = seen_slot(s, f);; i = (i + 1) & s->mask) {
        if (!s->slots[i]) {
            s->slots[i] = f;
            return true;
        }
        if (s->slots[i] == f)
            return false;
    }
}

/* At most this many increasing runs are merged; more, and the hash set
 * does the work. */
#define MAX_RUNS 64

/* The merge's heap of runs, keyed by each run's head. */
struct runs {
    cf_future *const *futures;
    size_t pos[MAX_RUNS], end[MAX_RUNS];
    unsigned heap[MAX_RUNS];
    size_t k;
};

static uintptr_t head_of(const struct runs *r, unsigned run)
{
    return (uintptr_t)r->futures[r->pos[run]];
}

static void sift_down(struct runs *r, size_t at)
{
    for (;;) {
        size_t small = at, l = 2 * at + 1, rr = l + 1;
        if (l < r->k && head_of(r, r->heap[l]) < head_of(r, r->heap[small]))
            small = l;
        if (rr < r->k && head_of(r, r->heap[rr]) < head_of(r, r->heap[small]))
            small = rr;
        if (small == at)
            return;
        unsigned t = r->heap[at];
        r->heap[at] = r->heap[small];
        r->heap[small] = t;
        at = small;
    }
}

/* Marks in dup (a bitmap of n bits, zeroed) every futures[i] equal to an
 * earlier one, by merging the input's increasing runs (a heap of their
 * heads: log k per future, memory read in order). False, dup untouched,
 * when the input has more than MAX_RUNS runs. */
static bool mark_duplicates_by_runs(cf_future *const *futures, size_t n, unsigned char *dup)
{
    struct runs r = {.futures = futures, .k = 0};
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || (uintptr_t)futures[i] <= (uintptr_t)futures[i - 1]) {
            if (r.k == MAX_RUNS)
                return false;
            if (r.k)
                r.end[r.k - 1] = i;
            r.pos[r.k] = i;
            r.heap[r.k] = (unsigned)r.k;
            r.k++;
        }
    }
    if (r.k == 0)
        return true;
    r.end[r.k - 1] = n;
    for (size_t at = r.k / 2; at-- > 0;)
        sift_down(&r, at);
    /* Equal futures come out one after the other: all but the copy with
     * the lowest index (the first in the input) are duplicates. */
    uintptr_t last = 0;
    size_t keep = SIZE_MAX;
    while (r.k > 0) {
        unsigned run = r.heap[0];
        size_t i = r.pos[run]++;
        uintptr_t v = (uintptr_t)futures[i];
        if (keep != SIZE_MAX && v == last) {
            size_t later = i > keep ? i : keep;
            dup[later / 8] |= (unsigned char)(1u << (later % 8));
            keep = i < keep ? i : keep;
        } else {
            keep = i;
        }
        last = v;
        if (r.pos[run] == r.end[run])
            r.heap[0] = r.heap[--r.k];
        sift_down(&r, 0);
    }
    return true;
}

/* A free entry for one more linked future; NULL when out of memory. */
static struct linked *next_entry(struct link_block **tail)
{
    if ((*tail)->used == LINK_BLOCK) {
        struct link_block *b = malloc(sizeof(*b));
        if (!b)
            return NULL;
        b->next = NULL;
        b->used = 0;
        (*tail)->next = b;
        *tail = b;
    }
    return &(*tail)->e[(*tail)->used++];
}

/* Unlinks every linked future; returns how many are done now (late
 * completions included). Frees the blocks after the first. */
static size_t unlink_all(struct cf__waiter *w, struct link_block *first)
{
    size_t done = 0;
    for (struct link_block *b = first, *next; b; b = next) {
        next = b->next;
        for (size_t i = 0; i < b->used; i++) {
            cf__waiter_unlink(w, b->e[i].f);
            done += cf_future_done(b->e[i].f);
        }
        if (b != first)
            free(b);
    }
    return done;
}

/* What a wait_here loop (executor.h) asks of cf_wait: whether the
 * condition holds now. */
struct wait_state {
    struct cf__waiter *w;
    enum cf_return_when when;
    size_t done, failed, total; /* done when linked */
};

static bool wait_satisfied(void *arg)
{
    struct wait_state *ws = arg;
    pthread_mutex_lock(&ws->w->mu);
    bool ok = satisfied(ws->when, ws->done + ws->w->n_done, ws->failed + ws->w->n_failed,
                        ws->total);
    pthread_mutex_unlock(&ws->w->mu);
    return ok;
}

int cf_wait(cf_future *const *futures, size_t n, enum cf_return_when when, double timeout,
            bool *done_mask)
{
    if ((n && !futures) ||
        (when != CF_FIRST_COMPLETED && when != CF_FIRST_EXCEPTION && when != CF_ALL_COMPLETED))
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!futures[i])
            return -EINVAL;
    uint64_t deadline = cf__deadline_after(timeout);

    cf_future *stack_slots[STACK_SLOTS];
    struct seen set = {stack_slots, STACK_SLOTS - 1};
    unsigned char *dup = NULL; /* the merge's answer, when it could give one */
    if (n > STACK_SLOTS / 2) {
        if (!(dup = calloc((n + 7) / 8, 1)))
            return -ENOMEM;
        if (!mark_duplicates_by_runs(futures, n, dup)) {
            free(dup);
            dup = NULL;
        }
    }
    if (dup) {
        set.slots = NULL; /* not used */
    } else if (n > STACK_SLOTS / 2) {
        size_t cap = STACK_SLOTS;
        while (cap < 2 * n)
            cap *= 2;
        if (!(set.slots = calloc(cap, sizeof(*set.slots))))
            return -ENOMEM;
        set.mask = cap - 1;
    } else {
        memset(stack_slots, 0, sizeof(stack_slots));
    }
    struct cf__waiter w;
    int rc = cf__waiter_init(&w, false);
    if (rc < 0) {
        if (set.slots != stack_slots)
            free(set.slots);
        free(dup);
        return rc;
    }

    struct link_block first = {.next = NULL, .used = 0}, *tail = &first;
    size_t total = 0, done = 0, failed = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (dup) {
            if (dup[i / 8] & (1u << (i % 8)))
                continue;
        } else {
            /* A large set is one cache miss per insert: fetch ahead. */
            if (i + PREFETCH_AHEAD < n)
                __builtin_prefetch(&set.slots[seen_slot(&set, futures[i + PREFETCH_AHEAD])], 1);
            if (!seen_insert(&set, futures[i]))
                continue;
        }
        total++;
        struct linked *e = next_entry(&tail);
        if (!e) {
            rc = -ENOMEM;
            break;
        }
        bool f_failed = false;
        e->f = futures[i];
        if (cf__waiter_link(&w, e->f, &e->link, &f_failed)) {
            tail->used--; /* done already: not linked, entry unused */
            done++;
            failed += f_failed;
        }
    }
    struct wait_state ws = {&w, when, done, failed, total};
    if (rc == 0 && cf__tl_completing && !wait_satisfied(&ws))
        rc = cf__executor_wait_here(futures, n, wait_satisfied, &ws, deadline);
    if (rc == 0 && timeout != 0 && !wait_satisfied(&ws))
        cf__executor_blocking(futures, n); /* about to sleep: a hint */
    if (rc == 0) {
        struct timespec ts = cf__deadline_timespec(deadline);
        pthread_mutex_lock(&w.mu);
        while (!satisfied(when, done + w.n_done, failed + w.n_failed, total)) {
            if (deadline == CF__NO_DEADLINE)
                pthread_cond_wait(&w.cv, &w.mu);
            else if (pthread_cond_timedwait(&w.cv, &w.mu, &ts) == ETIMEDOUT)
                break;
        }
        pthread_mutex_unlock(&w.mu);
    }
    /* Report the state as it is now, which may include late completions:
     * the futures done when looked at stay done. */
    size_t count = done + unlink_all(&w, &first);
    if (rc == 0 && done_mask)
        for (size_t i = 0; i < n; i++)
            done_mask[i] = cf_future_done(futures[i]);
    cf__waiter_destroy(&w);
    if (set.slots != stack_slots)
        free(set.slots);
    free(dup);
    return rc < 0 ? rc : (int)count;
}
