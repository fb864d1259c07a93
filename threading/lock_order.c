/* Ordered multi-lock acquire, the Python Cookbook's recipe 12.5: every
 * caller takes its locks in one global order (the rank cf_lock_init gives
 * each lock), so callers of this API cannot deadlock with each other.
 *
 * Owns: each thread's list of the locks it holds through this API, a
 * thread-local array kept sorted by rank (so its last entry is the
 * highest). Only its own thread touches it: no lock protects it.
 * Lock order: by rank, ascending; released from the highest down. A nested
 * acquire that would take a lock ranked at or below the highest one held
 * is refused with CF_ELOCKORDER: that is the edge of a potential cycle.
 */
#include <cfutures.h>

#include <errno.h>

static _Thread_local struct {
    cf_lock *held[CF_LOCK_ORDER_MAX];
    size_t n;
} mine;

static int check_args(cf_lock *const *locks, size_t n)
{
    if (!locks)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!locks[i])
            return -EINVAL;
        for (size_t j = 0; j < i; j++)
            if (locks[j] == locks[i])
                return -EINVAL;
    }
    return 0;
}

/* Appends the new locks after the held ones and insertion-sorts the new
 * part by rank: n is small, and no allocation is needed. */
static void stage(cf_lock *const *locks, size_t n)
{
    cf_lock **part = mine.held + mine.n;
    for (size_t i = 0; i < n; i++) {
        size_t j = i;
        for (; j > 0 && part[j - 1]->order > locks[i]->order; j--)
            part[j] = part[j - 1];
        part[j] = locks[i];
    }
}

int cf_lock_acquire_ordered(cf_lock *const *locks, size_t n)
{
    if (n == 0)
        return 0;
    int r = check_args(locks, n);
    if (r < 0)
        return r;
    if (n > CF_LOCK_ORDER_MAX - mine.n)
        return -E2BIG;
    stage(locks, n);
    /* Staged entries are not counted until the order check passes. */
    if (mine.n > 0 && mine.held[mine.n - 1]->order >= mine.held[mine.n]->order)
        return CF_ELOCKORDER;
    for (size_t i = 0; i < n; i++)
        cf_lock_acquire(mine.held[mine.n + i]);
    mine.n += n;
    return 0;
}

static bool listed(const cf_lock *lock, cf_lock *const *locks, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (locks[i] == lock)
            return true;
    return false;
}

int cf_lock_release_ordered(cf_lock *const *locks, size_t n)
{
    if (n == 0)
        return 0;
    int r = check_args(locks, n);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++)
        if (!listed(locks[i], mine.held, mine.n))
            return -EPERM;
    /* From the top down, compacting the survivors as we go. */
    size_t keep = 0;
    cf_lock *kept[CF_LOCK_ORDER_MAX];
    for (size_t i = mine.n; i-- > 0;) {
        if (listed(mine.held[i], locks, n))
            cf_lock_release(mine.held[i]);
        else
            kept[keep++] = mine.held[i];
    }
    for (size_t i = 0; i < keep; i++)
        mine.held[i] = kept[keep - 1 - i];
    mine.n = keep;
    return 0;
}

size_t cf_lock_ordered_held(void)
{
    return mine.n;
}
