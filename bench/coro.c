/* Coroutines against threads (cookbook 12.12: the cost the recipe
 * avoids): the time of one switch between two coroutines on one thread
 * (cf_coro_yield, through the scheduler) against one hand-off between two
 * threads that take turns through a futex (each wakes the other and sleeps
 * until woken back), and the memory of an idle coroutine against that of
 * an idle thread. Medians of several runs, interleaved; never fails on
 * time. */
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cfutures.h>

#include "bench/bench.h"

static int RUNS = 5;
#define SWITCHES 1000000L
#define HANDOFFS 200000L
#define IDLE_COROS 10000
#define IDLE_THREADS 500

/* ---------------------------------------------------- coroutine switch */

static void yielder(void *arg)
{
    long n = *(long *)arg;
    for (long i = 0; i < n; i++)
        cf_coro_yield();
}

/* Seconds per switch: two tasks yielding to each other SWITCHES times in
 * all (each yield hands the thread to the other task). */
static double coro_switch(void)
{
    cf_sched *s;
    long each = SWITCHES / 2;
    if (cf_sched_create(&s, 0) < 0 || cf_coro_spawn(s, yielder, &each, NULL) < 0 ||
        cf_coro_spawn(s, yielder, &each, NULL) < 0)
        exit(1);
    double t0 = bench_now();
    if (cf_sched_run(s) != 0)
        exit(1);
    double t = bench_now() - t0;
    cf_sched_destroy(s);
    return t / SWITCHES;
}

/* ------------------------------------------------ futex ping-pong */

static _Atomic uint32_t turn;

static void futex_wait(uint32_t expected)
{
    syscall(SYS_futex, &turn, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake(void)
{
    syscall(SYS_futex, &turn, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set); /* best effort */
}

struct player {
    uint32_t me;
    int cpu;
};

static void *play(void *arg)
{
    struct player *p = arg;
    if (p->cpu >= 0)
        pin(p->cpu);
    for (long i = 0; i < HANDOFFS / 2; i++) {
        uint32_t t;
        while ((t = atomic_load(&turn)) != p->me)
            futex_wait(t);
        atomic_store(&turn, p->me ^ 1);
        futex_wake();
    }
    return NULL;
}

/* Seconds per hand-off between two threads on two CPUs (when there are
 * two). */
static double futex_handoff(void)
{
    cpu_set_t set;
    int cpus[2] = {-1, -1}, n = 0;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
            if (CPU_ISSET(c, &set))
                cpus[n++] = c;
    if (n < 2)
        cpus[0] = cpus[1] = -1;
    struct player a = {0, cpus[0]}, b = {1, cpus[1]};
    pthread_t ta, tb;
    atomic_store(&turn, 0);
    double t0 = bench_now();
    pthread_create(&ta, NULL, play, &a);
    pthread_create(&tb, NULL, play, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    return (bench_now() - t0) / HANDOFFS;
}

/* ------------------------------------------------------------ memory */

static long rss_bytes(void)
{
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f || fscanf(f, "%ld %ld", &pages, &rss) != 2)
        exit(1);
    fclose(f);
    return rss * sysconf(_SC_PAGESIZE);
}

static long coro_peak;

static void idle_coro(void *arg)
{
    if (arg)
        coro_peak = rss_bytes(); /* the last one: all have run once */
    cf_coro_yield();
}

static double coro_rss(void)
{
    cf_sched *s;
    if (cf_sched_create(&s, 0) < 0)
        exit(1);
    long before = rss_bytes();
    for (int i = 0; i < IDLE_COROS; i++)
        if (cf_coro_spawn(s, idle_coro, i == IDLE_COROS - 1 ? s : NULL, NULL) < 0)
            exit(1);
    if (cf_sched_run(s) != 0)
        exit(1);
    cf_sched_destroy(s);
    return (double)(coro_peak - before) / IDLE_COROS;
}

static pthread_barrier_t started, release;

static void *idle_thread(void *arg)
{
    pthread_barrier_wait(&started);
    pthread_barrier_wait(&release);
    return arg;
}

static double thread_rss(void)
{
    pthread_t t[IDLE_THREADS];
    pthread_barrier_init(&started, NULL, IDLE_THREADS + 1);
    pthread_barrier_init(&release, NULL, IDLE_THREADS + 1);
    long before = rss_bytes();
    for (int i = 0; i < IDLE_THREADS; i++)
        if (pthread_create(&t[i], NULL, idle_thread, NULL) != 0)
            exit(1);
    pthread_barrier_wait(&started);
    long peak = rss_bytes();
    pthread_barrier_wait(&release);
    for (int i = 0; i < IDLE_THREADS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&started);
    pthread_barrier_destroy(&release);
    return (double)(peak - before) / IDLE_THREADS;
}

int main(void)
{
    RUNS = bench_runs(5);
    double c[RUNS], f[RUNS];
    for (int i = 0; i < RUNS; i++) {
        f[i] = futex_handoff();
        c[i] = coro_switch();
    }
    double coro = bench_median(c, (size_t)RUNS), futex = bench_median(f, (size_t)RUNS);
    char w[160], ours[64], anchor[96], t[64];
    snprintf(w, sizeof w,
             "coroutine switch (yield between two tasks) vs futex ping-pong between two "
             "threads (%d runs; ratio = time futex / coroutine)",
             RUNS);
    bench_fmt(ours, sizeof ours, "%.0f ns", coro * 1e9);
    snprintf(anchor, sizeof anchor, "futex hand-off %s", bench_time(t, sizeof t, futex));
    bench_row(w, ours, anchor, futex / coro, ">= 1x", futex >= coro);

    double cm = coro_rss(), tm = thread_rss();
    snprintf(w, sizeof w,
             "memory of an idle coroutine (%d) vs an idle thread (%d), RSS each; ratio = "
             "thread / coroutine",
             IDLE_COROS, IDLE_THREADS);
    bench_fmt(ours, sizeof ours, "%.1f KiB", cm / 1024);
    bench_fmt(anchor, sizeof anchor, "thread %.1f KiB", tm / 1024);
    bench_row(w, ours, anchor, cm > 0 ? tm / cm : -1, "report", -1);
    return 0;
}
