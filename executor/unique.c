/* Duplicate removal for future arrays: sort pointers, keep first-seen order. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "executor/unique.h"

struct entry {
    uintptr_t ptr;
    size_t index;
};

static int by_ptr_then_index(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    if (x->ptr != y->ptr)
        return x->ptr < y->ptr ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static int by_index(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    return x->index < y->index ? -1 : x->index > y->index;
}

int cf__unique_futures(cf_future *const *in, size_t n, cf_future ***out, size_t *count)
{
    struct entry *e = malloc((n ? n : 1) * sizeof(*e));
    cf_future **res = malloc((n ? n : 1) * sizeof(*res));
    if (!e || !res) {
        free(e);
        free(res);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        e[i] = (struct entry){(uintptr_t)in[i], i};
    qsort(e, n, sizeof(*e), by_ptr_then_index);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || e[i].ptr != e[i - 1].ptr)
            e[k++] = e[i];
    qsort(e, k, sizeof(*e), by_index);
    for (size_t i = 0; i < k; i++)
        res[i] = in[e[i].index];
    free(e);
    *out = res;
    *count = k;
    return 0;
}
