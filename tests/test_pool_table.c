/* The in-flight table of an executor (executor/pool_table.c): every future
 * inserted is found, removed and drained exactly once, across growth. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "executor/future_internal.h"
#include "executor/pool_table.h"

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

/* Ids that share their low bits all land in one bucket (the table hashes
 * by the low bits, since real ids are sequential): chains must still find,
 * remove and drain every one. */
Test(pool_table, ids_in_one_bucket, .timeout = 10)
{
    enum { M = 300 };
    static cf_future *fs[M];
    struct cf__pool_table t;
    cf__pool_table_init(&t);
    for (int i = 0; i < M; i++) {
        fs[i] = make(((uint64_t)i << 32) + 5);
        cr_assert_eq(cf__pool_table_insert(&t, fs[i]), 0);
    }
    for (int i = 0; i < M; i++)
        cr_assert_eq(cf__pool_table_find(&t, ((uint64_t)i << 32) + 5), fs[i]);
    cr_assert_null(cf__pool_table_find(&t, ((uint64_t)M << 32) + 5));
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
