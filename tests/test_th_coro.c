/* tests/test_th_coro.c — cf_sched and cf_coro_* (cookbook 12.12): the
 * round-robin order of tasks that yield (and of tasks spawned by tasks),
 * messages in order with every kind of recv, a task that ends while others
 * wait (and the -ESRCH its name then gives), sleeping in deadline order,
 * -EDEADLK and resuming after it, destroying suspended tasks, 10,000 tasks
 * on one thread with bounded memory, the guard page, switching between
 * deep stacks (the sanitizer runs check the fiber annotations), and every
 * error path. */
#include <cfutures.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define I2P(n) ((void *)(intptr_t)(n))
#define P2I(p) ((intptr_t)(p))

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_SANITIZER 1
#else
#define UNDER_SANITIZER 0
#endif

/* A log the tasks append to, checked against the expected sequence. */
static char trace[4096];

static void note(const char *s)
{
    strncat(trace, s, sizeof trace - strlen(trace) - 1);
}

static void note_num(char tag, long v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%c%ld", tag, v);
    note(buf);
}

static cf_sched *sched; /* the test's scheduler, for the tasks */

static void new_sched(void)
{
    trace[0] = '\0';
    cr_assert_eq(cf_sched_create(&sched, 0), 0);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------ order */

struct stepper {
    const char *name;
    int steps;
};

static void stepper(void *arg)
{
    struct stepper *st = arg;
    for (int i = 0; i < st->steps; i++) {
        note(st->name);
        cr_assert_eq(cf_coro_yield(), 0);
    }
    note(st->name);
    note(".");
}

Test(th_coro, round_robin_order, .timeout = 20)
{
    new_sched();
    struct stepper a = {"a", 3}, b = {"b", 1}, c = {"c", 2};
    cr_assert_eq(cf_coro_spawn(sched, stepper, &a, NULL), 0);
    cr_assert_eq(cf_coro_spawn(sched, stepper, &b, NULL), 0);
    cr_assert_eq(cf_coro_spawn(sched, stepper, &c, NULL), 0);
    cr_assert_eq(cf_sched_count(sched), 3);
    cr_assert_eq(cf_sched_run(sched), 0);
    cr_assert_str_eq(trace, "abcab.cac.a.");
    cr_assert_eq(cf_sched_count(sched), 0);
    cr_assert_eq(cf_sched_destroy(sched), 0);
}

static void parent(void *arg)
{
    static struct stepper kid = {"k", 1};
    (void)arg;
    note("p");
    cr_assert_eq(cf_coro_spawn(sched, stepper, &kid, NULL), 0);
    cr_assert_eq(cf_coro_yield(), 0);
    note("p");
}

/* A task spawned by a task joins the end of the ready line; the scheduler
 * runs again after it returned. */
Test(th_coro, spawn_from_a_task_and_run_again, .timeout = 20)
{
    new_sched();
    struct stepper a = {"a", 2};
    cr_assert_eq(cf_coro_spawn(sched, parent, NULL, NULL), 0);
    cr_assert_eq(cf_coro_spawn(sched, stepper, &a, NULL), 0);
    cr_assert_eq(cf_sched_run(sched), 0);
    cr_assert_str_eq(trace, "pakpak.a.");
    cr_assert_eq(cf_sched_run(sched), 0, "nothing left to run");
    cr_assert_eq(cf_coro_spawn(sched, stepper, &a, NULL), 0);
    cr_assert_eq(cf_sched_run(sched), 0);
    cr_assert_str_eq(trace, "pakpak.a.aaa.");
    cr_assert_eq(cf_sched_destroy(sched), 0);
}

/* --------------------------------------------------------- messages */

static cf_coro_id receiver_id;

static void receiver(void *arg)
{
    (void)arg;
    void *m = I2P(-1);
    cr_assert_eq(cf_coro_recv(&m, 0), CF_EEMPTY, "nothing sent yet");
    cr_assert_eq(P2I(m), -1, "*msg left alone");
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(cf_coro_recv(&m, CF_FOREVER), 0);
        note_num('r', P2I(m));
    }
    cr_assert_eq(cf_coro_recv(&m, 0.02), -ETIMEDOUT);
    note("T");
    /* A timed recv answered early, then an untimed one: the stale timer
     * of the first must not end the second. */
    cr_assert_eq(cf_coro_recv(&m, 0.05), 0);
    note_num('r', P2I(m));
    cr_assert_eq(cf_coro_recv(&m, CF_FOREVER), 0, "woken by a stale timer");
    note_num('r', P2I(m));
}

static void sender(void *arg)
{
    (void)arg;
    note("s");
    /* Three at once: they arrive in order. */
    for (int i = 1; i <= 3; i++)
        cr_assert_eq(cf_coro_send(sched, receiver_id, I2P(i)), 0);
    cr_assert_eq(cf_coro_sleep(0.04), 0); /* past the receiver's 20 ms */
    cr_assert_eq(cf_coro_send(sched, receiver_id, I2P(4)), 0);
    cr_assert_eq(cf_coro_sleep(0.15), 0); /* past the stale 50 ms timer */
    cr_assert_eq(cf_coro_send(sched, receiver_id, I2P(5)), 0);
}

Test(th_coro, messages, .timeout = 20)
{
    cf_coro_id sender_id;
    new_sched();
    cr_assert_eq(cf_coro_spawn(sched, receiver, NULL, &receiver_id), 0);
    cr_assert_eq(cf_coro_spawn(sched, sender, NULL, &sender_id), 0);
    cr_assert_neq(receiver_id, 0);
    cr_assert_neq(receiver_id, sender_id);
    cr_assert_eq(cf_sched_run(sched), 0);
    cr_assert_str_eq(trace, "sr1r2r3Tr4r5");
    cr_assert_eq(cf_sched_destroy(sched), 0);
}

/* Many messages to one task: the mailbox grows and keeps the order; and a
 * task may send to itself. */
static void hoarder(void *arg)
{
    long *sum = arg;
    void *m;
    cr_assert_eq(cf_coro_send(sched, cf_coro_self(), I2P(1000)), 0);
    for (int i = 0; i < 1000; i++) {
        cr_assert_eq(cf_coro_recv(&m, 0), 0);
        cr_assert_eq(P2I(m), i, "in send order");
        *sum += P2I(m);
    }
    cr_assert_eq(cf_coro_recv(&m, 0), 0);
    cr_assert_eq(P2I(m), 1000, "its own message, last");
    cr_assert_eq(cf_coro_recv(&m, 0), CF_EEMPTY);
}

Test(th_coro, sent_before_run_in_order, .timeout = 20)
{
    cf_coro_id id;
    long sum = 0;
    new_sched();
    cr_assert_eq(cf_coro_spawn(sched, hoarder, &sum, &id), 0);
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(cf_coro_send(sched, id, I2P(i)), 0, "from outside, before run");
    cr_assert_eq(cf_sched_run(sched), 0);
    cr_assert_eq(sum, 999 * 1000 / 2);
    cr_assert_eq(cf_coro_send(sched, id, NULL), -ESRCH, "it has ended");
    cr_assert_eq(cf_sched_destroy(sched), 0);
}

/* --------------------------------------- a task ends while others wait */

static cf_coro_id waiter_ids[2], short_id;

static void waiter(void *arg)
{
    void *m;
    cr_assert_eq(cf_coro_recv(&m, CF_FOREVER), 0);
    note_num('w', (long)P2I(arg));
    note_num('=', P2I(m));
}

static void short_lived(void *arg)
{
    (void)arg;
    note("x");
}

static void late_sender(void *arg)
{
    (void)arg;
    cr_assert_eq(cf_coro_yield(), 0); /* short_lived ends meanwhile */
    cr_assert_eq(cf_coro_send(sched, short_id, I2P(9)), -ESRCH, "ended: its name is dead");
    cr_assert_eq(cf_sched_count(sched), 3, "two waiters and me");
    cr_assert_eq(cf_coro_send(sched, waiter_ids[1], I2P(2)), 0);
    cr_assert_eq(cf_coro_sleep(0.01), 0);
    cr_assert_eq(cf_coro_send(sched, waiter_ids[0], I2P(1)), 0);
    note("L");
}

Test(th_coro, a_task_ends_while_others_wait, .timeout = 20)
{
    new_sched();
    cr_assert_eq(cf_coro_spawn(sched, waiter, I2P(0), &waiter_ids[0]), 0);
    cr_assert_eq(cf_coro_spawn(sched, waiter, I2P(1), &waiter_ids[1]), 0);
    cr_assert_eq(cf_coro_spawn(sched, short_lived, NULL, &short_id), 0);
    cr_assert_eq(cf_coro_spawn(sched, late_sender, NULL, NULL), 0);
    cr_assert_eq(cf_sched_run(sched), 0);
    cr_assert_str_eq(trace, "xw1=2Lw0=1");
    /* The slot of an ended task is reused, under a new name. */
    cf_coro_id fresh;
    cr_assert_eq(cf_coro_spawn(sched, short_lived, NULL, &fresh), 0);
    cr_assert_neq(fresh, short_id);
    cr_assert_eq(cf_coro_send(sched, short_id, NULL), -ESRCH, "the old name stays dead");
    cr_assert_eq(cf_coro_send(sched, fresh, NULL), 0);
    cr_assert_eq(cf_sched_destroy(sched), 0);
}

/* Every task left waits for a message nobody can send: -EDEADLK, and the
 * scheduler can be fed from outside and run again. */
Test(th_coro, deadlock_then_resume, .timeout = 20)
{
    new_sched();
    cr_assert_eq(cf_coro_spawn(sched, waiter, I2P(0), &waiter_ids[0]), 0);
    cr_assert_eq(cf_coro_spawn(sched, short_lived, NULL, NULL), 0);
    cr_assert_eq(cf_sched_run(sched), -EDEADLK);
    cr_assert_eq(cf_sched_count(sched), 1);
    cr_assert_eq(cf_coro_send(sched, waiter_ids[0], I2P(5)), 0);
    cr_assert_eq(cf_sched_run(sched), 0);
    cr_assert_str_eq(trace, "xw0=5");
    cr_assert_eq(cf_sched_destroy(sched), 0);
}

/* ----------------------------------------------------------- sleeping */

static void sleeper(void *arg)
{
    long ms = (long)P2I(arg);
    double t0 = now_s();
    cr_assert_eq(cf_coro_sleep(ms / 1000.0), 0);
    cr_assert_geq(now_s() - t0, ms / 1000.0 - 1e-6, "slept at least %ld ms", ms);
    note_num('z', ms);
}

static void busy(void *arg)
{
    (void)arg;
    for (int i = 0; i < 3; i++) {
        note("b");
        cr_assert_eq(cf_coro_sleep(0), 0, "0 yields");
    }
}

Test(th_coro, sleeping_in_deadline_order, .timeout = 20)
{
    new_sched();
    cr_assert_eq(cf_coro_spawn(sched, sleeper, I2P(90), NULL), 0);
    cr_assert_eq(cf_coro_spawn(sched, sleeper, I2P(30), NULL), 0);
    cr_assert_eq(cf_coro_spawn(sched, sleeper, I2P(60), NULL), 0);
    cr_assert_eq(cf_coro_spawn(sched, busy, NULL, NULL), 0);
    cr_assert_eq(cf_sched_run(sched), 0);
    cr_assert_str_eq(trace, "bbbz30z60z90");
    cr_assert_eq(cf_sched_destroy(sched), 0);
}

/* ----------------------------------------------- destroy, deep stacks */

/* Deep frames with live arrays on every level, suspended mid-way: the
 * switches must keep each stack's contents (and, under ASan, its shadow)
 * to itself, and destroy must unmap stacks suspended deep inside. */
static long deep(int level, long seed)
{
    volatile char frame[512];
    for (size_t i = 0; i < sizeof frame; i++)
        frame[i] = (char)(seed + (long)i);
    long sum = 0;
    if (level > 0) {
        sum = deep(level - 1, seed + 1);
    } else {
        cr_assert_eq(cf_coro_yield(), 0);
        void *m;
        cf_coro_recv(&m, CF_FOREVER); /* the "forever" ones never return */
    }
    for (size_t i = 0; i < sizeof frame; i++)
        sum += frame[i] == (char)(seed + (long)i);
    return sum;
}

static void deep_task(void *arg)
{
    long *out = arg;
    *out = deep(20, (long)(intptr_t)out);
}

Test(th_coro, destroy_suspended_deep_stacks, .timeout = 20)
{
    long out[8] = {0};
    new_sched();
    cf_coro_id id[8];
    for (int i = 0; i < 8; i++)
        cr_assert_eq(cf_coro_spawn(sched, deep_task, &out[i], &id[i]), 0);
    cr_assert_eq(cf_sched_run(sched), -EDEADLK);
    /* Wake half of them: they unwind 21 frames each and check them. */
    for (int i = 0; i < 8; i += 2)
        cr_assert_eq(cf_coro_send(sched, id[i], NULL), 0);
    cr_assert_eq(cf_sched_run(sched), -EDEADLK);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(out[i], i % 2 == 0 ? 21 * 512 : 0, "task %d", i);
    cr_assert_eq(cf_sched_count(sched), 4);
    cr_assert_eq(cf_sched_destroy(sched), 0, "four still suspended 21 frames deep");
}

/* A longjmp out of deep frames inside a task, then a large frame over
 * the same stack: ASan unpoisons the frames a longjmp skips only if it
 * knows which stack it is on (the fiber annotations); otherwise it
 * ignores the request ("stack type: default", the thread's stack) and the
 * skipped frames' redzones are reported as an overflow by the next big
 * frame. */
static jmp_buf escape;

static __attribute__((noinline)) void jump_out(int level)
{
    volatile char frame[64];
    frame[0] = (char)level;
    if (level == 0)
        longjmp(escape, 1);
    if (level > 1000)
        return;
    jump_out(level - 1);
    frame[1] = frame[0];
}

static __attribute__((noinline)) long big_frame(void)
{
    volatile char wide[8192];
    long sum = 0;
    for (size_t i = 0; i < sizeof wide; i++)
        wide[i] = (char)i;
    for (size_t i = 0; i < sizeof wide; i++)
        sum += wide[i];
    return sum;
}

static void longjmp_task(void *arg)
{
    long *out = arg;
    cr_assert_eq(cf_coro_yield(), 0); /* run on a stack switched back to */
    if (setjmp(escape) == 0)
        jump_out(30);
    cr_assert_eq(cf_coro_yield(), 0);
    *out = big_frame();
}

Test(th_coro, longjmp_inside_a_task, .timeout = 20)
{
    long out[2] = {0, 0};
    new_sched();
    cr_assert_eq(cf_coro_spawn(sched, longjmp_task, &out[0], NULL), 0);
    cr_assert_eq(cf_coro_spawn(sched, longjmp_task, &out[1], NULL), 0);
    cr_assert_eq(cf_sched_run(sched), 0);
    cr_assert_eq(out[0], out[1]);
    cr_assert_neq(out[0], 0);
    cr_assert_eq(cf_sched_destroy(sched), 0);
}

/* ---------------------------------------------------- 10,000 tasks */

/* TSan keeps a thread state of over a megabyte per fiber: it runs fewer,
 * and does not judge their memory. */
#ifdef __SANITIZE_THREAD__
#define MANY 500
#define JUDGE_RSS 0
#else
#define MANY 10000
#define JUDGE_RSS 1
#endif

static long rss_kib(void)
{
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    cr_assert_not_null(f);
    cr_assert_eq(fscanf(f, "%ld %ld", &pages, &rss), 2);
    fclose(f);
    return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

static long many_rounds, peak_kib;

static void many(void *arg)
{
    long i = (long)P2I(arg);
    for (int r = 0; r < 3; r++) {
        if (r == 0 && i == MANY - 1)
            peak_kib = rss_kib(); /* every task is alive and has run */
        many_rounds++;
        cf_coro_yield();
    }
}

Test(th_coro, ten_thousand_on_one_thread, .timeout = 120)
{
    new_sched();
    long before = rss_kib();
    for (long i = 0; i < MANY; i++)
        cr_assert_eq(cf_coro_spawn(sched, many, I2P(i), NULL), 0, "task %ld", i);
    cr_assert_eq(cf_sched_count(sched), MANY);
    cr_assert_eq(cf_sched_run(sched), 0);
    cr_assert_eq(many_rounds, 3L * MANY);
    long per = (peak_kib - before) * 1024 / MANY;
    fprintf(stderr, "th_coro: %d coroutines on one thread, RSS %ld KiB -> %ld KiB: %ld bytes each\n",
            MANY, before, peak_kib, per);
    /* Bounded: far below the 68 KiB each one has mapped. */
    if (JUDGE_RSS)
        cr_assert_lt(per, 24 * 1024, "%ld bytes per coroutine", per);
    cr_assert_eq(cf_sched_destroy(sched), 0);
}

/* ------------------------------------------------------- guard page */

static volatile long overflow_limit = 1L << 30; /* never reached */

static long overflow(long n)
{
    volatile char pad[1024];
    pad[0] = (char)n;
    if (n >= overflow_limit)
        return n;
    return overflow(n + 1) + pad[0];
}

static void overflow_task(void *arg)
{
    (void)arg;
    overflow(0);
}

/* Under the sanitizers the overflow is theirs to report; the guard page is
 * what this checks, so it runs in the plain build. */
Test(th_coro, stack_overflow_hits_the_guard_page, .timeout = 20, .signal = SIGSEGV,
     .disabled = UNDER_SANITIZER)
{
    new_sched();
    cr_assert_eq(cf_coro_spawn(sched, overflow_task, NULL, NULL), 0);
    cf_sched_run(sched);
}

/* ------------------------------------------------------------ errors */

static int nested_rc, destroy_rc;

static void misuse(void *arg)
{
    cf_sched *other = arg;
    nested_rc = cf_sched_run(other);
    destroy_rc = cf_sched_destroy(sched);
    cr_assert_eq(cf_sched_run(sched), -EBUSY, "itself");
    void *m;
    cr_assert_eq(cf_coro_recv(NULL, 0), -EINVAL);
    cr_assert_eq(cf_coro_recv(&m, NAN), -EINVAL);
    cr_assert_eq(cf_coro_sleep(-1), -EINVAL);
    cr_assert_eq(cf_coro_sleep(NAN), -EINVAL);
}

Test(th_coro, errors, .timeout = 20)
{
    cf_sched *other;
    void *m;
    cr_assert_eq(cf_sched_create(NULL, 0), -EINVAL);
    cr_assert_eq(cf_sched_create(&other, CF_CORO_STACK_MIN - 1), -EINVAL);
    cr_assert_eq(cf_sched_create(&other, (size_t)1 << 40), -EINVAL);
    cr_assert_eq(cf_sched_destroy(NULL), 0);
    cr_assert_eq(cf_sched_run(NULL), -EINVAL);
    cr_assert_eq(cf_sched_count(NULL), 0);

    /* Not from a task. */
    cr_assert_eq(cf_coro_yield(), -EPERM);
    cr_assert_eq(cf_coro_sleep(0.01), -EPERM);
    cr_assert_eq(cf_coro_recv(&m, 0), -EPERM);
    cr_assert_eq(cf_coro_self(), 0);

    new_sched();
    cr_assert_eq(cf_sched_create(&other, CF_CORO_STACK_MIN), 0);
    cr_assert_eq(cf_coro_spawn(NULL, short_lived, NULL, NULL), -EINVAL);
    cr_assert_eq(cf_coro_spawn(sched, NULL, NULL, NULL), -EINVAL);
    cr_assert_eq(cf_coro_send(NULL, 1, NULL), -EINVAL);
    cr_assert_eq(cf_coro_send(sched, 0, NULL), -ESRCH);
    cr_assert_eq(cf_coro_send(sched, 12345, NULL), -ESRCH);
    cr_assert_eq(cf_coro_send(sched, ((uint64_t)7 << 32) | 1, NULL), -ESRCH);
    cr_assert_eq(cf_coro_spawn(sched, misuse, other, NULL), 0);
    cr_assert_eq(cf_coro_send(sched, ((uint64_t)7 << 32) | 1, NULL), -ESRCH,
                 "a live slot under another generation");
    cr_assert_eq(cf_sched_run(sched), 0);
    cr_assert_eq(nested_rc, -EBUSY, "one scheduler per thread at a time");
    cr_assert_eq(destroy_rc, -EBUSY, "destroy from its own task");
    cr_assert_eq(cf_sched_destroy(other), 0);
    cr_assert_eq(cf_sched_destroy(sched), 0);
}

/* No room for another stack: -ENOMEM, and the scheduler goes on. The
 * sanitizers reserve far more address space than any limit set here. */
Test(th_coro, spawn_without_memory, .timeout = 20, .disabled = UNDER_SANITIZER)
{
    struct rlimit old, low;
    new_sched();
    struct stepper a = {"a", 1};
    cr_assert_eq(getrlimit(RLIMIT_AS, &old), 0);
    low = old;
    low.rlim_cur = 64 * 1024 * 1024; /* below what 1,000 stacks map */
    cr_assert_eq(setrlimit(RLIMIT_AS, &low), 0);
    int rc = 0, n = 0;
    while (n < 1000 && (rc = cf_coro_spawn(sched, stepper, &a, NULL)) == 0)
        n++;
    cr_assert_eq(setrlimit(RLIMIT_AS, &old), 0);
    cr_assert_eq(rc, -ENOMEM, "after %d spawns", n);
    cr_assert_eq(cf_sched_count(sched), (size_t)n);
    cr_assert_eq(cf_sched_run(sched), 0);
    cr_assert_eq(cf_sched_destroy(sched), 0);
}

/* No memory to note a wake-up time: a timed recv (and a sleep) returns
 * -ENOMEM at once and the task goes on. The address-space limit is set to
 * what the process maps already, after every task is spawned, so the
 * first growth of the deadline heap that needs fresh memory fails. */
#define TIMED 20000

static cf_coro_id timed_ids[TIMED];
static int timed_enomem, timed_woken, sleep_rc = 1;
static struct rlimit timed_old;

static void timed_waiter(void *arg)
{
    void *m;
    (void)arg;
    int rc = cf_coro_recv(&m, 100);
    if (rc == -ENOMEM) {
        timed_enomem++;
        if (sleep_rc == 1)
            sleep_rc = cf_coro_sleep(100);
    } else if (rc == 0) {
        timed_woken++;
    }
}

static void timed_releaser(void *arg)
{
    (void)arg;
    cr_assert_eq(setrlimit(RLIMIT_AS, &timed_old), 0);
    for (int i = 0; i < TIMED; i++) {
        int rc = cf_coro_send(sched, timed_ids[i], NULL);
        cr_assert(rc == 0 || rc == -ESRCH, "task %d: %d", i, rc);
    }
}

static long vm_size(void)
{
    long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    cr_assert_not_null(f);
    cr_assert_eq(fscanf(f, "%ld", &pages), 1);
    fclose(f);
    return pages * sysconf(_SC_PAGESIZE);
}

Test(th_coro, timed_waits_without_memory, .timeout = 60, .disabled = UNDER_SANITIZER)
{
    new_sched();
    for (int i = 0; i < TIMED; i++)
        cr_assert_eq(cf_coro_spawn(sched, timed_waiter, NULL, &timed_ids[i]), 0);
    cr_assert_eq(cf_coro_spawn(sched, timed_releaser, NULL, NULL), 0);
    cr_assert_eq(getrlimit(RLIMIT_AS, &timed_old), 0);
    struct rlimit low = timed_old;
    low.rlim_cur = (rlim_t)vm_size();
    cr_assert_eq(setrlimit(RLIMIT_AS, &low), 0);
    int rc = cf_sched_run(sched);
    setrlimit(RLIMIT_AS, &timed_old);
    cr_assert_eq(rc, 0);
    cr_assert_gt(timed_enomem, 0, "the heap never failed to grow");
    cr_assert_eq(sleep_rc, -ENOMEM);
    cr_assert_eq(timed_enomem + timed_woken, TIMED, "every task ended one way or the other");
    cr_assert_eq(cf_sched_destroy(sched), 0);
}
