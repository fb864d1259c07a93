/* The in-flight table of an executor (executor/pool_table.c): every future
 * inserted is found, removed and drained exactly once, across growth and
 * in one bucket; consecutive ids spread over the buckets; and executors
 * hand out consecutive ids of their own, which its hash relies on. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "executor/future_internal.h"
#include "executor/pool_table.h"
#include "tests/support.h"

enum { N = 5000 };

static cf_future *make(uint64_t id)
{
    cf_future *f;
    cr_assert_eq(cf_future_create(&f), 0);
    f->id = id;
    return f;
}

Test(pool_table, insert_find_remove_across_growth, .timeout = 10)
{
    static cf_future *fs[N];
    struct cf__pool_table t;
    cf__pool_table_init(&t);
    cr_assert_null(cf__pool_table_find(&t, 1), "empty table");
    cr_assert_null(cf__pool_table_remove(&t, 1));
    for (int i = 0; i < N; i++) {
        fs[i] = make((uint64_t)i * 7 + 1);
        cr_assert_eq(cf__pool_table_insert(&t, fs[i]), 0);
    }
    cr_assert_eq(cf__pool_table_count(&t), N);
    for (int i = 0; i < N; i++)
        cr_assert_eq(cf__pool_table_find(&t, (uint64_t)i * 7 + 1), fs[i]);
    cr_assert_null(cf__pool_table_find(&t, 2), "an id never inserted");
    for (int i = 0; i < N; i += 2)
        cr_assert_eq(cf__pool_table_remove(&t, fs[i]->id), fs[i]);
    cr_assert_null(cf__pool_table_remove(&t, fs[0]->id), "removed twice");
    cr_assert_eq(cf__pool_table_count(&t), N / 2);
    cf_future *listed[N];
    cr_assert_eq(cf__pool_table_list(&t, listed, N), N / 2);
    cf__pool_table_free(&t);
    for (int i = 0; i < N; i++)
        cf_future_release(fs[i]);
}

Test(pool_table, drain_pops_each_once, .timeout = 10)
{
    static cf_future *fs[N];
    static int seen[N];
    struct cf__pool_table t, moved;
    cf__pool_table_init(&t);
    cf__pool_table_init(&moved);
    for (int i = 0; i < N; i++) {
        fs[i] = make((uint64_t)i + 1);
        cr_assert_eq(cf__pool_table_insert(&t, fs[i]), 0);
    }
    /* Pop some, then insert them back: they land in buckets the drain's
     * scan has already passed, and must still be drained. */
    cf_future *popped[100];
    for (int i = 0; i < 100; i++)
        cr_assert_not_null(popped[i] = cf__pool_table_pop_any(&t));
    for (int i = 0; i < 100; i++)
        cr_assert_eq(cf__pool_table_insert(&t, popped[i]), 0);
    cf__pool_table_move_all(&t, &moved);
    cr_assert_eq(cf__pool_table_count(&t), 0);
    cr_assert_null(cf__pool_table_pop_any(&t));
    cf_future *f;
    int n = 0;
    while ((f = cf__pool_table_pop_any(&moved))) {
        seen[f->id - 1]++;
        n++;
    }
    cr_assert_eq(n, N);
    for (int i = 0; i < N; i++)
        cr_assert_eq(seen[i], 1, "future %d popped %d times", i, seen[i]);
    cf__pool_table_free(&moved);
    for (int i = 0; i < N; i++)
        cf_future_release(fs[i]);
}

/* The longest chain among the buckets. */
static size_t longest_chain(const struct cf__pool_table *t)
{
    size_t most = 0;
    for (size_t i = 0; i < t->nbuckets; i++) {
        size_t n = 0;
        for (cf_future *f = t->buckets[i]; f; f = f->inflight_next)
            n++;
        most = n > most ? n : most;
    }
    return most;
}

/* Consecutive ids, as one executor hands them out (executor.c), spread
 * one per bucket; ids spaced by 2 or 3 (two or three tables' worth of
 * submits interleaved, were ids not per executor) still do well. The
 * bound is loose: the table keeps at most one entry per bucket on
 * average. */
Test(pool_table, consecutive_ids_spread, .timeout = 30)
{
    enum { M = 20000 };
    static cf_future *fs[M];
    uint64_t spacings[] = {1, 2, 3};
    for (size_t k = 0; k < sizeof(spacings) / sizeof(spacings[0]); k++) {
        struct cf__pool_table t;
        cf__pool_table_init(&t);
        for (int i = 0; i < M; i++) {
            fs[i] = make(((uint64_t)7 << 40) + 1 + (uint64_t)i * spacings[k]);
            cr_assert_eq(cf__pool_table_insert(&t, fs[i]), 0);
        }
        cr_assert_leq(longest_chain(&t), 4, "spacing %llu: a chain of %zu",
                      (unsigned long long)spacings[k], longest_chain(&t));
        for (int i = 0; i < M; i++)
            cr_assert_eq(cf__pool_table_find(&t, fs[i]->id), fs[i]);
        cf__pool_table_free(&t);
        for (int i = 0; i < M; i++)
            cf_future_release(fs[i]);
    }
}

/* Ids in one bucket whatever the hash (equal in every bit the bucket index
 * can read): chains must still find, remove and drain every one. */
Test(pool_table, ids_in_one_bucket, .timeout = 10)
{
    enum { M = 300 };
    static cf_future *fs[M];
    struct cf__pool_table t = {NULL, 0, 0, 0};
    cf_future **one = calloc(1, sizeof(*one));
    cr_assert_not_null(one);
    t.buckets = one, t.nbuckets = 1; /* a one-bucket table: every id collides */
    for (int i = 0; i < M; i++) {
        fs[i] = make((uint64_t)i * 977 + 5);
        /* insert grows at count >= nbuckets: chain by hand past that. */
        fs[i]->inflight_next = t.buckets[0];
        t.buckets[0] = fs[i];
        t.count++;
    }
    for (int i = 0; i < M; i++)
        cr_assert_eq(cf__pool_table_find(&t, (uint64_t)i * 977 + 5), fs[i]);
    cr_assert_null(cf__pool_table_find(&t, (uint64_t)M * 977 + 5));
    for (int i = 0; i < M; i += 3)
        cr_assert_eq(cf__pool_table_remove(&t, fs[i]->id), fs[i]);
    int left = 0;
    while (cf__pool_table_pop_any(&t))
        left++;
    cr_assert_eq(left, M - (M + 2) / 3);
    cf__pool_table_free(&t);
    for (int i = 0; i < M; i++)
        cf_future_release(fs[i]);
}

/* Two executors submitting in turn: each one's ids are consecutive (what
 * the table's hash relies on), and no id is both's. */
Test(pool_table, ids_are_consecutive_per_executor, .timeout = 30)
{
    enum { K = 50 };
    cf_executor *a, *b;
    cf_future *fa[K], *fb[K];
    cr_assert_eq(cf_thread_pool_create(&a, NULL), 0);
    cr_assert_eq(cf_thread_pool_create(&b, NULL), 0);
    for (int i = 0; i < K; i++) {
        cr_assert_eq(cf_submit(a, support_square, &fa[i], "i", (int64_t)i), 0);
        cr_assert_eq(cf_submit(b, support_square, &fb[i], "i", (int64_t)i), 0);
    }
    for (int i = 0; i < K; i++) {
        if (i > 0) {
            cr_assert_eq(fa[i]->id, fa[i - 1]->id + 1);
            cr_assert_eq(fb[i]->id, fb[i - 1]->id + 1);
        }
        for (int j = 0; j < K; j++)
            cr_assert_neq(fa[i]->id, fb[j]->id);
    }
    for (int i = 0; i < K; i++) {
        cf_future_release(fa[i]);
        cf_future_release(fb[i]);
    }
    cf_executor_release(a);
    cf_executor_release(b);
}
