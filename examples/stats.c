/* Introspection: cf_executor_stats and cf_executor_worker_stats on a pool
 * that ran ten good tasks, one that fails and one whose worker is killed
 * (it sends itself SIGKILL; the pool forks a replacement).
 *
 * The counts printed on stdout are the same on every run; which worker ran
 * what, pids and busy times vary and go to stderr.
 */
#include <signal.h>
#include <stdio.h>
#include <time.h>

#include <cfutures.h>

#define GOOD 10

static int stats_square(const msgpack_object *args, msgpack_packer *out)
{
    int64_t n;
    if (cf_arg_i64(args, 0, &n) < 0)
        return cf_task_fail("stats_square: expected an integer");
    nanosleep(&(struct timespec){0, 2000000}, NULL); /* 2 ms: some busy time */
    return msgpack_pack_int64(out, n * n);
}
CF_TASK(stats_square);

static int stats_fail(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    (void)out;
    return cf_task_fail("stats_fail always fails");
}
CF_TASK(stats_fail);

static int stats_crash(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    (void)out;
    raise(SIGKILL); /* the worker dies running this task */
    return 0;
}
CF_TASK(stats_crash);

static void print_workers(cf_executor *pool, const char *when)
{
    fprintf(stderr, "workers %s:\n", when);
    for (int i = 0; i < cf_executor_workers(pool); i++) {
        cf_worker_stats ws;
        if (cf_executor_worker_stats(pool, i, &ws) == 0)
            fprintf(stderr, "  worker %d: pid %-7d tasks %-3llu busy %7.3f ms  respawns %llu\n",
                    i, ws.pid, (unsigned long long)ws.tasks, (double)ws.busy_ns / 1e6,
                    (unsigned long long)ws.respawns);
    }
}

int main(void)
{
    cf_executor *pool;
    cf_future *fs[GOOD + 2];
    int rc = cf_process_pool_create(&pool, &(cf_process_pool_options){.max_workers = 2});
    if (rc < 0) {
        fprintf(stderr, "pool: %s\n", cf_strerror(rc));
        return 1;
    }
    for (int i = 0; i < GOOD && rc == 0; i++)
        rc = cf_submit(pool, stats_square, &fs[i], "i", (int64_t)i);
    if (rc == 0)
        rc = cf_submit(pool, stats_fail, &fs[GOOD], "");
    if (rc == 0)
        rc = cf_submit(pool, stats_crash, &fs[GOOD + 1], "");
    if (rc < 0) {
        fprintf(stderr, "submit: %s\n", cf_strerror(rc));
        return 1;
    }
    int64_t sum = 0;
    for (int i = 0; i < GOOD + 2; i++) {
        int64_t v;
        int err = cf_future_result_i64(fs[i], CF_FOREVER, &v);
        if (err == 0)
            sum += v;
        else
            printf("task %d failed: %s\n", i, cf_strerror(err));
        cf_future_release(fs[i]);
    }
    printf("sum of the good squares: %lld\n", (long long)sum);

    /* The crashed task's future fails as soon as its worker's death is
     * known; the death is counted and the replacement forked just after:
     * wait for that before reading the totals (bounded, 10 s). */
    cf_stats st;
    for (int tries = 0; tries < 1000; tries++) {
        if (cf_executor_stats(pool, &st) == 0 && st.respawns >= 1)
            break;
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    }
    print_workers(pool, "while running");

    /* After a waiting shutdown every counter is final. */
    cf_executor_shutdown(pool, CF_WAIT, false);
    cf_executor_stats(pool, &st);
    printf("workers:          %d\n", st.workers);
    printf("submitted:        %llu\n", (unsigned long long)st.submitted);
    printf("completed:        %llu\n", (unsigned long long)st.completed);
    printf("failed:           %llu (task %llu, worker %llu, timeout %llu)\n",
           (unsigned long long)st.failed, (unsigned long long)st.failed_task,
           (unsigned long long)st.failed_worker, (unsigned long long)st.failed_timeout);
    printf("cancelled:        %llu\n", (unsigned long long)st.cancelled);
    printf("retried:          %llu\n", (unsigned long long)st.retried);
    printf("queued/in flight: %llu/%llu\n", (unsigned long long)st.queued,
           (unsigned long long)st.in_flight);
    printf("worker deaths:    %llu (%llu of them killed by a signal)\n",
           (unsigned long long)st.worker_deaths, (unsigned long long)st.deaths_by_signal);
    printf("respawns:         %llu\n", (unsigned long long)st.respawns);
    uint64_t tasks = 0, respawns = 0;
    for (int i = 0; i < st.workers; i++) {
        cf_worker_stats ws;
        if (cf_executor_worker_stats(pool, i, &ws) == 0) {
            tasks += ws.tasks;
            respawns += ws.respawns;
        }
    }
    /* The killed task never finished, so no worker counts it. */
    printf("tasks run by the workers: %llu, respawns over the positions: %llu\n",
           (unsigned long long)tasks, (unsigned long long)respawns);
    print_workers(pool, "after shutdown");
    cf_executor_release(pool);
    return 0;
}
