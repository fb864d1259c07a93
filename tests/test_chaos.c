/* Chaos: a map of 100 000 tasks on two workers while another thread
 * SIGKILLs a random worker every 50 ms until the map ends. Every item
 * resolves (a result, or CF_EWORKER reported with its index); with
 * retries every result is correct; nothing hangs; afterwards nothing of
 * the pool is left in /dev/shm or among the processes.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/support.h"

enum { ITEMS = 100000, CHUNK = 100, WORKERS = 2, MAX_PIDS = 4096 };

/* [i] -> i + 1, after ~20 us of work, so that a chunk takes long enough
 * (~2 ms) for kills to land mid-chunk rather than only on idle workers. */
static int chaos_inc(const msgpack_object *args, msgpack_packer *out)
{
    int64_t i;
    struct timespec t0, t;
    if (cf_arg_i64(args, 0, &i) < 0)
        return cf_task_fail("chaos_inc: expected an integer");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do
        clock_gettime(CLOCK_MONOTONIC, &t);
    while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < 20000);
    return msgpack_pack_int64(out, i + 1);
}
CF_TASK(chaos_inc);

struct chaos {
    cf_executor *ex;
    atomic_bool done;
    atomic_int kills;   /* kill() calls that reached a live worker */
    unsigned seed;
    pid_t pids[MAX_PIDS]; /* every worker pid the killer saw */
    int n_pids;
};

static void *killer(void *arg)
{
    struct chaos *c = arg;
    while (!atomic_load(&c->done)) {
        support_sleep_ms(50);
        if (atomic_load(&c->done))
            break;
        cf_worker_stats ws;
        int i = (int)(rand_r(&c->seed) % WORKERS);
        if (cf_executor_worker_stats(c->ex, i, &ws) != 0 || ws.pid <= 0)
            continue;
        bool known = false;
        for (int k = 0; k < c->n_pids && !known; k++)
            known = c->pids[k] == ws.pid;
        if (!known && c->n_pids < MAX_PIDS)
            c->pids[c->n_pids++] = ws.pid;
        /* Never kill(ws.pid): the slot may still name a worker that
         * died, whose pid another process may have by now. */
        if (support_kill_worker(ws.pid, SIGKILL) == 0)
            atomic_fetch_add(&c->kills, 1);
    }
    return NULL;
}

/* Item i is [i]. Half-way, waits (bounded) for a few kills, so that the
 * chaos certainly strikes while the map runs, however fast the machine. */
static int chaos_input(void *arg, size_t index, msgpack_packer *pk)
{
    struct chaos *c = arg;
    if (index >= ITEMS)
        return 0;
    if (index == ITEMS / 2)
        for (int t = 0; t < SUPPORT_LIVENESS_MS && atomic_load(&c->kills) < 3; t++)
            support_sleep_ms(1);
    msgpack_pack_array(pk, 1);
    msgpack_pack_int64(pk, (int64_t)index);
    return 1;
}

/* Alive (not a zombie) and still a cfutures worker. */
static bool worker_alive(pid_t pid)
{
    char path[64], comm[32] = "", state = '?';
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    int n = fscanf(f, "%*d (%31[^)]) %c", comm, &state);
    fclose(f);
    return n == 2 && strncmp(comm, "cf-", 3) == 0 && state != 'Z' && state != 'X';
}

static void chaos_map(int max_retries)
{
    static struct chaos c;
    static unsigned char seen[ITEMS];
    memset(&c, 0, sizeof(c));
    memset(seen, 0, sizeof(seen));
    c.seed = (unsigned)getpid();
    cf_process_pool_options o = {.max_workers = WORKERS, .max_retries = max_retries};
    int rc = cf_process_pool_create(&c.ex, &o);
    cr_assert_eq(rc, 0, "pool create: %s", cf_strerror(rc));

    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, killer, &c), 0);
    cf_map *m;
    cf_map_options mo = {.timeout = CF_FOREVER, .chunksize = CHUNK};
    cr_assert_eq(cf_map_create(&m, c.ex, "chaos_inc", chaos_input, &c, &mo), 0);
    size_t idx, next = 0, failed = 0;
    const msgpack_object *r;
    while ((rc = cf_map_next(m, &idx, &r)) != CF_EEMPTY) {
        cr_assert(rc == 0 || rc == CF_EWORKER, "item %zu: %s (%s)", idx, cf_strerror(rc),
                  cf_map_error_message(m));
        cr_assert_eq(idx, next, "items come in input order");
        cr_assert_lt(idx, ITEMS);
        cr_assert_eq(seen[idx], 0, "item %zu twice", idx);
        seen[idx] = 1;
        next++;
        if (rc == 0) {
            int64_t v;
            cr_assert_eq(cf_obj_i64(r, &v), 0);
            cr_assert_eq(v, (int64_t)idx + 1, "item %zu", idx);
        } else {
            failed++;
            cr_assert(strstr(cf_map_error_message(m), "killed by SIGKILL"), "item %zu: %s",
                      idx, cf_map_error_message(m));
        }
    }
    atomic_store(&c.done, true);
    pthread_join(t, NULL);
    cf_map_release(m);
    cr_assert_eq(next, ITEMS, "every item resolved");
    cr_assert_geq(atomic_load(&c.kills), 3);
    if (max_retries >= 1000)
        cr_assert_eq(failed, 0, "with retries every result is correct");
    cr_assert_eq(failed % CHUNK, 0, "a lost record costs whole chunks (%zu items)", failed);

    cf_stats st;
    cr_assert_eq(cf_executor_stats(c.ex, &st), 0);
    cr_assert_geq(st.worker_deaths, 1);
    cr_assert_eq(st.failed_worker * CHUNK, failed);
    cr_assert_eq(st.in_flight, 0);
    cr_assert_eq(st.queued, 0);
    cr_log_info("chaos: %d kills, %llu deaths, %llu retried, %zu items failed",
            atomic_load(&c.kills), (unsigned long long)st.worker_deaths,
            (unsigned long long)st.retried, failed);

    /* Still a working pool. */
    cf_future *f;
    int64_t v;
    cr_assert_eq(cf_submit_named(c.ex, "chaos_inc", CF_FOREVER, &f, "i", (int64_t)41), 0);
    cr_assert_eq(cf_future_result_i64(f, CF_FOREVER, &v), 0);
    cr_assert_eq(v, 42);
    cf_future_release(f);

    cf_executor_release(c.ex);
    cr_assert_eq(support_shm_entries_of(getpid()), 0, "nothing of ours left in /dev/shm");
    cr_assert_eq(support_children_named("cf-", NULL), 0, "no fork server left");
    for (int k = 0; k < c.n_pids; k++)
        cr_assert(!worker_alive(c.pids[k]), "worker %d still runs", (int)c.pids[k]);
}

Test(chaos, map_under_sigkill_without_retries, .timeout = 120)
{
    chaos_map(0);
}

Test(chaos, map_under_sigkill_with_retries, .timeout = 120)
{
    chaos_map(1000);
}
