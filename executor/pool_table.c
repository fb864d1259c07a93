/* The in-flight table of an executor (see pool_table.h). Callers hold the
 * executor's lock around every call.
 */
#include <errno.h>
#include <stdlib.h>

#include "executor/future_internal.h"
#include "executor/pool_table.h"

void cf__pool_table_init(struct cf__pool_table *t)
{
    *t = (struct cf__pool_table){NULL, 0, 0, 0};
}

void cf__pool_table_free(struct cf__pool_table *t)
{
    free(t->buckets);
    cf__pool_table_init(t);
}

static size_t bucket_of(const struct cf__pool_table *t, uint64_t id)
{
    /* An executor's ids are consecutive (executor.c counts them per
     * executor) and results come back roughly in submission order: the low
     * bits spread them evenly, neighbouring ids share a cache line of
     * buckets, and lookups walk the array in order, which the prefetcher
     * follows. perf, 8 x 200 k submits, the table's share of all samples:
     * multiplicative hash 4.2%, hashed runs of 8 ids 2.8%, low bits 0.7%. */
    return (size_t)id & (t->nbuckets - 1);
}

static int grow(struct cf__pool_table *t)
{
    size_t n = t->nbuckets ? t->nbuckets * 2 : 64;
    cf_future **b = calloc(n, sizeof(*b));
    if (!b)
        return -ENOMEM;
    struct cf__pool_table bigger = {b, n, 0, 0};
    for (size_t i = 0; i < t->nbuckets; i++) {
        for (cf_future *f = t->buckets[i], *next; f; f = next) {
            next = f->inflight_next;
            size_t k = bucket_of(&bigger, f->id);
            f->inflight_next = b[k];
            b[k] = f;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->nbuckets = n;
    t->scan = 0; /* entries moved to other buckets */
    return 0;
}

int cf__pool_table_insert(struct cf__pool_table *t, cf_future *f)
{
    if (t->count >= t->nbuckets && grow(t) < 0)
        return -ENOMEM;
    size_t k = bucket_of(t, f->id);
    f->inflight_next = t->buckets[k];
    t->buckets[k] = f;
    t->count++;
    if (k < t->scan)
        t->scan = k;
    return 0;
}

cf_future *cf__pool_table_find(const struct cf__pool_table *t, uint64_t id)
{
    if (!t->nbuckets)
        return NULL;
    cf_future *f = t->buckets[bucket_of(t, id)];
    while (f && f->id != id)
        f = f->inflight_next;
    return f;
}

cf_future *cf__pool_table_remove(struct cf__pool_table *t, uint64_t id)
{
    if (!t->nbuckets)
        return NULL;
    cf_future **link = &t->buckets[bucket_of(t, id)];
    while (*link && (*link)->id != id)
        link = &(*link)->inflight_next;
    cf_future *f = *link;
    if (f) {
        *link = f->inflight_next;
        f->inflight_next = NULL;
        t->count--;
    }
    return f;
}

cf_future *cf__pool_table_pop_any(struct cf__pool_table *t)
{
    /* Buckets before `scan` are known empty: draining a table is then one
     * pass, not one pass per entry. */
    for (; t->count && t->scan < t->nbuckets; t->scan++)
        if (t->buckets[t->scan])
            return cf__pool_table_remove(t, t->buckets[t->scan]->id);
    return NULL;
}

size_t cf__pool_table_count(const struct cf__pool_table *t)
{
    return t->count;
}

size_t cf__pool_table_list(const struct cf__pool_table *t, cf_future **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < t->nbuckets && n < max; i++)
        for (cf_future *f = t->buckets[i]; f && n < max; f = f->inflight_next)
            out[n++] = f;
    return n;
}

void cf__pool_table_move_all(struct cf__pool_table *src, struct cf__pool_table *dst)
{
    free(dst->buckets);
    *dst = *src;
    cf__pool_table_init(src);
}
