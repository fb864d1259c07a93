/* cf_pbarrier: Python's Barrier (without an action) across processes.
 *
 * Owns the round state in the caller's shared memory, guarded by a robust
 * process-shared mutex, with a futex event count (cf__pcond) for waiters.
 * Any thread of any process may wait, abort or reset. Lock order: only `mx`.
 *
 * Why generations instead of Python's filling/draining states: in Python
 * each released waiter decrements the count on its way out, so a waiter
 * killed after release would leave the barrier draining forever. Here the
 * last arrival ends the round by itself (count = 0, gen++) and a waiter
 * only compares `gen` with the round it joined, so dead waiters cost
 * nothing: a waiter killed while blocked still counts as arrived, and its
 * round completes when the others arrive. A process dying while holding
 * `mx` may leave the round half updated; as in Python when a party fails,
 * the barrier breaks.
 *
 * A round ends either filled (its waiters succeed) or by a reset (they get
 * CF_EBROKEN), and a waiter may look only rounds later (a stopped process),
 * so each outcome is recorded: bit i of `done` tells whether round
 * gen-1-i filled. A waiter more than 64 rounds late falls back on `resets`:
 * if no reset ended any round since it joined, its round filled; otherwise
 * it cannot tell and reports CF_EBROKEN.
 */
#include <errno.h>
#include <math.h>

#include <cfutures.h>

#include "ipc/clock.h"
#include "ipc/pshared.h"

struct pbarrier_state {
    cf__pmutex mx;
    cf__pcond cv;       /* broadcast when a round ends or the barrier breaks */
    uint32_t parties;   /* fixed at init */
    uint32_t count;     /* arrivals in round `gen`; protected by mx */
    uint32_t broken;    /* protected by mx */
    uint32_t resets;    /* rounds ended by reset so far (wrapping); mx */
    uint64_t gen;       /* current round; protected by mx */
    uint64_t done;      /* bit i: round gen-1-i filled (see above); mx */
};

_Static_assert(sizeof(struct pbarrier_state) <= sizeof(((cf_pbarrier *)0)->cf__priv),
               "cf_pbarrier storage too small");
_Static_assert(_Alignof(struct pbarrier_state) <= _Alignof(cf_pbarrier),
               "cf_pbarrier misaligned");

static struct pbarrier_state *state_of(cf_pbarrier *b)
{
    return (struct pbarrier_state *)(void *)b->cf__priv.cf__bytes;
}

static void break_locked(struct pbarrier_state *st)
{
    st->broken = 1;
    cf__pcond_broadcast(&st->cv);
}

/* Checks `b` and locks its state, stored in *stp: 0, -EINVAL or a lock
 * error. A previous holder that died breaks the barrier (see above). */
static int lock_state(cf_pbarrier *b, struct pbarrier_state **stp)
{
    struct pbarrier_state *st;
    int rc;

    if (!b)
        return -EINVAL;
    st = *stp = state_of(b);
    rc = cf__pmutex_lock(&st->mx);
    if (rc == 1)
        break_locked(st);
    return rc < 0 ? rc : 0;
}

int cf_pbarrier_init(cf_pbarrier *b, long long parties)
{
    struct pbarrier_state *st;
    int rc;

    if (!b || parties < 1 || parties > INT32_MAX)
        return -EINVAL;
    st = state_of(b);
    rc = cf__pmutex_init(&st->mx);
    if (rc < 0)
        return rc;
    cf__pcond_init(&st->cv);
    st->parties = (uint32_t)parties;
    st->count = 0;
    st->broken = 0;
    st->resets = 0;
    st->gen = 0;
    st->done = 0;
    return 0;
}

/* Ends round `gen` (mx held): filled, or ended by a reset. */
static void end_round(struct pbarrier_state *st, bool filled)
{
    st->count = 0;
    st->done = st->done << 1 | filled;
    st->resets += !filled;
    st->gen++;
    cf__pcond_broadcast(&st->cv);
}

/* Whether round `my_gen`, joined when `resets` was `my_resets`, filled
 * (mx held; the round has ended). */
static bool round_filled(const struct pbarrier_state *st, uint64_t my_gen,
                         uint32_t my_resets)
{
    uint64_t age = st->gen - 1 - my_gen;

    if (age < 64)
        return st->done >> age & 1;
    return st->resets == my_resets;
}

/* Sleeps (mx held) until round `my_gen` ends or the barrier breaks.
 * Returns `index`, CF_EBROKEN, or -ENOTRECOVERABLE with mx not held. */
static int await_round(struct pbarrier_state *st, int index, uint64_t deadline)
{
    uint64_t my_gen = st->gen;
    uint32_t my_resets = st->resets;

    for (;;) {
        int died = 0;
        int rc = cf__pcond_wait(&st->cv, &st->mx, deadline, 0, &died);

        if (rc == -ENOTRECOVERABLE)
            return rc;
        if (died)
            break_locked(st);
        /* A round that ended counts even if the barrier broke since. */
        if (st->gen != my_gen)
            return round_filled(st, my_gen, my_resets) ? index : CF_EBROKEN;
        if (st->broken)
            return CF_EBROKEN;
        if (rc == -ETIMEDOUT) {
            break_locked(st);
            return CF_EBROKEN;
        }
    }
}

int cf_pbarrier_wait(cf_pbarrier *b, double timeout)
{
    struct pbarrier_state *st;
    uint64_t deadline;
    int rc, index;

    if (!b || isnan(timeout))
        return -EINVAL;
    deadline = cf__deadline_after(timeout);
    rc = lock_state(b, &st);
    if (rc < 0)
        return rc;
    if (st->broken) {
        rc = CF_EBROKEN;
        goto out_unlock;
    }
    index = (int)st->count++;
    if (st->count == st->parties) {
        end_round(st, true);
        rc = index;
        goto out_unlock;
    }
    rc = await_round(st, index, deadline);
    if (rc == -ENOTRECOVERABLE)
        return rc;
out_unlock:
    cf__pmutex_unlock(&st->mx);
    return rc;
}

int cf_pbarrier_abort(cf_pbarrier *b)
{
    struct pbarrier_state *st;
    int rc = lock_state(b, &st);

    if (rc < 0)
        return rc;
    break_locked(st);
    cf__pmutex_unlock(&st->mx);
    return 0;
}

int cf_pbarrier_reset(cf_pbarrier *b)
{
    struct pbarrier_state *st;
    int rc = lock_state(b, &st);

    if (rc < 0)
        return rc;
    if (st->count > 0) /* end the round in flight: its waiters fail */
        end_round(st, false);
    st->broken = 0;
    cf__pcond_broadcast(&st->cv);
    cf__pmutex_unlock(&st->mx);
    return 0;
}

bool cf_pbarrier_broken(cf_pbarrier *b)
{
    struct pbarrier_state *st;
    bool broken;

    if (!b)
        return false;
    if (lock_state(b, &st) < 0)
        return true; /* unusable is as good as broken */
    broken = st->broken != 0;
    cf__pmutex_unlock(&st->mx);
    return broken;
}

int cf_pbarrier_n_waiting(cf_pbarrier *b)
{
    struct pbarrier_state *st;
    int rc = lock_state(b, &st);

    if (rc < 0)
        return rc;
    /* As Python: nobody counts as waiting on a broken barrier. */
    rc = st->broken ? 0 : (int)st->count;
    cf__pmutex_unlock(&st->mx);
    return rc;
}

int cf_pbarrier_parties(cf_pbarrier *b)
{
    if (!b)
        return -EINVAL;
    return (int)state_of(b)->parties; /* fixed at init: no lock needed */
}

void cf_pbarrier_destroy(cf_pbarrier *b)
{
    if (b)
        cf__pmutex_destroy(&state_of(b)->mx);
}
