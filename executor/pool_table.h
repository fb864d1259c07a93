/* A table of futures in flight keyed by task id: a chained hash through
 * cf_future.inflight_next. Not thread-safe: the owner's lock guards it.
 * The table does not count references; its users do.
 */
#ifndef CF_EXECUTOR_POOL_TABLE_H
#define CF_EXECUTOR_POOL_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include <cfutures.h>

struct cf__pool_table {
    cf_future **buckets;
    size_t nbuckets; /* power of two, or 0 before the first insert */
    size_t count;
    size_t scan;     /* pop_any: no entry in buckets below this */
};

void cf__pool_table_init(struct cf__pool_table *t);
void cf__pool_table_free(struct cf__pool_table *t); /* frees buckets, not futures */
/* Returns 0 or -ENOMEM (then f is not in the table). */
int cf__pool_table_insert(struct cf__pool_table *t, cf_future *f);
cf_future *cf__pool_table_find(const struct cf__pool_table *t, uint64_t id);
cf_future *cf__pool_table_remove(struct cf__pool_table *t, uint64_t id);
cf_future *cf__pool_table_pop_any(struct cf__pool_table *t);
size_t cf__pool_table_count(const struct cf__pool_table *t);
/* Copies up to max entries into out; returns how many. */
size_t cf__pool_table_list(const struct cf__pool_table *t, cf_future **out, size_t max);
/* Moves every entry of src into dst (dst must be empty). */
void cf__pool_table_move_all(struct cf__pool_table *src, struct cf__pool_table *dst);

#endif
