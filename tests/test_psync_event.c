/* Tests for cf_pevent: Python's Event across forked processes. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cfutures.h>

#include "psync_support.h"

struct event_shared {
    cf_pevent ev;
    _Atomic int ready;
};

static struct event_shared *sh;

static void setup(void)
{
    sh = cf_pshared_alloc(sizeof *sh);
    cr_assert_not_null(sh);
    cr_assert_eq(cf_pevent_init(&sh->ev), 0);
}

static void teardown(void)
{
    psync_kill_all();
    if (sh) {
        cf_pevent_destroy(&sh->ev);
        cf_pshared_free(sh, sizeof *sh);
    }
    sh = NULL;
}

static int event_wait_forever(int unused)
{
    (void)unused;
    atomic_fetch_add(&sh->ready, 1);
    return cf_pevent_wait(&sh->ev, CF_FOREVER) ? 0 : 1;
}

static int event_set_it(int unused)
{
    (void)unused;
    return cf_pevent_set(&sh->ev) == 0 ? 0 : 1;
}

Test(psync_event, set_wakes_waiters_in_other_processes, .init = setup, .fini = teardown,
     .timeout = 20)
{
    pid_t pids[3];

    for (int i = 0; i < 3; i++)
        pids[i] = psync_spawn(event_wait_forever, 0);
    cr_assert(psync_eventually_at_least(&sh->ready, 3));
    psync_sleep_ms(20); /* let them block; the test holds either way */
    cr_assert_eq(cf_pevent_set(&sh->ev), 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(psync_reap(pids[i]), 0, "waiter %d", i);
}

Test(psync_event, set_by_child_seen_by_parent, .init = setup, .fini = teardown,
     .timeout = 20)
{
    cr_assert_not(cf_pevent_is_set(&sh->ev));
    cr_assert_eq(psync_reap(psync_spawn(event_set_it, 0)), 0);
    cr_assert(cf_pevent_is_set(&sh->ev));
    cr_assert(cf_pevent_wait(&sh->ev, CF_FOREVER));
}

Test(psync_event, wait_timeout_returns_false, .init = setup, .fini = teardown,
     .timeout = 20)
{
    cr_assert_not(cf_pevent_wait(&sh->ev, 0));
    cr_assert_not(cf_pevent_wait(&sh->ev, 0.02));
    cr_assert_eq(cf_pevent_set(&sh->ev), 0);
    cr_assert(cf_pevent_wait(&sh->ev, 0));
    cr_assert(cf_pevent_wait(&sh->ev, 0.02));
    cr_assert_eq(cf_pevent_clear(&sh->ev), 0);
    cr_assert_not(cf_pevent_is_set(&sh->ev));
    cr_assert_not(cf_pevent_wait(&sh->ev, 0.02));
}

Test(psync_event, waiter_killed_while_blocked, .init = setup, .fini = teardown,
     .timeout = 20)
{
    pid_t a = psync_spawn(event_wait_forever, 0), b = psync_spawn(event_wait_forever, 0);

    cr_assert(psync_eventually_at_least(&sh->ready, 2));
    psync_sleep_ms(20);
    psync_kill(a);
    cr_assert_eq(cf_pevent_set(&sh->ev), 0);
    cr_assert_eq(psync_reap(b), 0);
    /* Later rounds still work. */
    cr_assert_eq(cf_pevent_clear(&sh->ev), 0);
    b = psync_spawn(event_wait_forever, 0);
    cr_assert(psync_eventually_at_least(&sh->ready, 3));
    cr_assert_eq(cf_pevent_set(&sh->ev), 0);
    cr_assert_eq(psync_reap(b), 0);
}

Test(psync_event, null_arguments, .timeout = 20)
{
    cr_assert_eq(cf_pevent_init(NULL), -EINVAL);
    cr_assert_eq(cf_pevent_set(NULL), -EINVAL);
    cr_assert_eq(cf_pevent_clear(NULL), -EINVAL);
    cr_assert_not(cf_pevent_is_set(NULL));
    cr_assert_not(cf_pevent_wait(NULL, 0));
    cf_pevent_destroy(NULL);
}

/* A waiter present at a set returns true even if a clear follows before it
 * runs again (Python's waiters are notified while the flag is set). The
 * waiter is stopped across set+clear, so it cannot look in between. */
Test(psync_event, set_then_clear_still_wakes_waiter, .init = setup, .fini = teardown,
     .timeout = 30)
{
    pid_t pid = psync_spawn(event_wait_forever, 0);

    cr_assert(psync_eventually_at_least(&sh->ready, 1));
    cr_assert(psync_asleep(pid)); /* inside the wait: it saw the flag clear */
    psync_stop(pid);
    cr_assert_eq(cf_pevent_set(&sh->ev), 0);
    cr_assert_eq(cf_pevent_clear(&sh->ev), 0);
    psync_cont(pid);
    cr_assert_eq(psync_reap(pid), 0, "the waiter missed the set");
    cr_assert_not(cf_pevent_is_set(&sh->ev));
}

Test(psync_event, nan_timeout_is_false, .init = setup, .fini = teardown, .timeout = 20)
{
    cr_assert_eq(cf_pevent_set(&sh->ev), 0);
    cr_assert_not(cf_pevent_wait(&sh->ev, NAN), "NaN is refused, even when set");
    cr_assert(cf_pevent_wait(&sh->ev, 0));
}
