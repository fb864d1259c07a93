/* Process pool shutdown: idempotence, refusing work afterwards, waiting,
 * cancel_futures, not waiting, shutting down from a done-callback, racing
 * submitters, and leaving no process or shared-memory segment behind.
 *
 * Scenarios ported from CPython's Lib/test/test_concurrent_futures
 * (test_shutdown.py), rewritten for the C API. Running tasks are held on
 * a gate file so that "still running" never depends on speed.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cfutures.h>

#include "support.h"

/* ------------------------------------------------------------ tasks */

/* [n, ms]: sleeps ms milliseconds, returns n + 1. */
static int sd_nap(const msgpack_object *args, msgpack_packer *out)
{
    int64_t n, ms;
    if (cf_arg_i64(args, 0, &n) < 0 || cf_arg_i64(args, 1, &ms) < 0)
        return cf_task_fail("sd_nap: expected n, ms");
    support_sleep_ms((long)ms);
    return msgpack_pack_int64(out, n + 1);
}
CF_TASK(sd_nap);

static void sd_expect_refused(cf_executor *ex)
{
    cf_future *f = NULL;
    cr_assert_eq(cf_submit(ex, support_square, &f, "i", (int64_t)2), CF_ESHUTDOWN);
    cr_assert_eq(cf_submit_named(ex, "support_square", 0, &f, "i", (int64_t)2), CF_ESHUTDOWN);
    cr_assert_eq(cf_submit_raw(ex, "support_square", CF_FOREVER, &f,
                               (const unsigned char[]){0x91, 0x02}, 2),
                 CF_ESHUTDOWN);
    cr_assert_null(f);
}

/* Reads the state letter and parent pid of a process; false if gone. */
static bool sd_proc_stat(pid_t pid, char *state, pid_t *ppid, char *comm, size_t comm_size)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return false;
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    char *open = strchr(buf, '('), *close = strrchr(buf, ')');
    if (!open || !close || close < open)
        return false;
    snprintf(comm, comm_size, "%.*s", (int)(close - open - 1), open + 1);
    int pp;
    if (sscanf(close + 2, "%c %d", state, &pp) != 2)
        return false;
    *ppid = pp;
    return true;
}

/* Lists the processes whose parent is `parent` and whose name starts with
 * `prefix`. Returns how many (at most max). */
static int sd_children(pid_t parent, const char *prefix, pid_t *out, int max)
{
    DIR *d = opendir("/proc");
    int n = 0;
    struct dirent *e;
    cr_assert_not_null(d);
    while ((e = readdir(d))) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0)
            continue;
        char state, comm[64];
        pid_t ppid;
        if (!sd_proc_stat((pid_t)pid, &state, &ppid, comm, sizeof(comm)))
            continue;
        if (ppid == parent && !strncmp(comm, prefix, strlen(prefix)) && n < max)
            out[n++] = (pid_t)pid;
    }
    closedir(d);
    return n;
}

/* Counts this process's mappings of cfutures shm segments, and checks that
 * every one of them is already unlinked. */
static int sd_shm_mappings(bool *all_unlinked)
{
    FILE *fp = fopen("/proc/self/maps", "r");
    char line[1024];
    int n = 0;
    *all_unlinked = true;
    cr_assert_not_null(fp);
    while (fgets(line, sizeof(line), fp)) {
        char *p = strstr(line, "/dev/shm/cfutures-");
        if (!p)
            continue;
        n++;
        if (!strstr(line, "(deleted)"))
            *all_unlinked = false;
        p[strcspn(p, " \n")] = '\0';
        struct stat st;
        if (stat(p, &st) == 0)
            *all_unlinked = false;
    }
    fclose(fp);
    return n;
}

/* ------------------------------------------------------------ tests */

Test(shutdown, idempotent_and_refuses_work, .timeout = 30)
{
    cf_executor *ex = support_new_pool(2, 0);
    cf_future *f;
    int64_t v;
    cr_assert_eq(cf_submit(ex, support_square, &f, "i", (int64_t)6), 0);
    cr_assert_eq(cf_executor_shutdown(ex, CF_WAIT, false), 0);
    /* Waited: done without blocking. */
    cr_assert(cf_future_done(f));
    cr_assert_eq(cf_future_result_i64(f, 0, &v), 0);
    cr_assert_eq(v, 36);
    cf_future_release(f);
    cr_assert_eq(cf_executor_shutdown(ex, CF_WAIT, false), 0);
    cr_assert_eq(cf_executor_shutdown(ex, CF_NOWAIT, true), 0);
    cr_assert_eq(cf_executor_shutdown(ex, CF_WAIT, true), 0);
    sd_expect_refused(ex);
    cr_assert_eq(cf_executor_workers(ex), 2);
    cf_executor_release(ex);
}

Test(shutdown, without_any_task, .timeout = 30)
{
    for (int i = 0; i < 3; i++) {
        cf_executor *ex = support_new_pool(2, 0);
        if (i == 1)
            cr_assert_eq(cf_executor_shutdown(ex, CF_NOWAIT, false), 0);
        if (i == 2)
            cr_assert_eq(cf_executor_shutdown(ex, CF_WAIT, true), 0);
        cf_executor_release(ex);
    }
}

Test(shutdown, wait_completes_pending, .timeout = 30)
{
    enum { N = 60 };
    cf_executor *ex = support_new_pool(2, 0);
    cf_future *fs[N];
    for (int64_t i = 0; i < N; i++)
        cr_assert_eq(cf_submit(ex, sd_nap, &fs[i], "ii", i, (int64_t)(i % 3)), 0);
    cr_assert_eq(cf_executor_shutdown(ex, CF_WAIT, false), 0);
    for (int64_t i = 0; i < N; i++) {
        int64_t v;
        cr_assert(cf_future_done(fs[i]), "future %lld not done after shutdown(wait)",
                  (long long)i);
        cr_assert_eq(cf_future_result_i64(fs[i], 0, &v), 0);
        cr_assert_eq(v, i + 1);
        cf_future_release(fs[i]);
    }
    sd_expect_refused(ex);
    cf_executor_release(ex);
}

/* Both workers held on the gate and more work queued behind them. */
struct sd_scene {
    char dir[64];
    char go[128];
    cf_executor *ex;
    cf_future *running[2];
    cf_future *pending[20];
};

static void sd_scene_start(struct sd_scene *s)
{
    support_make_dir(s->dir, sizeof(s->dir));
    snprintf(s->go, sizeof(s->go), "%s/go", s->dir);
    s->ex = support_new_pool(2, 0);
    s->running[0] = support_block_worker(s->ex, s->dir, 0);
    s->running[1] = support_block_worker(s->ex, s->dir, 1);
    for (int i = 0; i < 20; i++)
        cr_assert_eq(cf_submit(s->ex, support_square, &s->pending[i], "i", (int64_t)i), 0);
}

static void sd_scene_check_cancelled(struct sd_scene *s)
{
    for (int i = 0; i < 20; i++) {
        cr_assert(cf_future_cancelled(s->pending[i]), "pending %d not cancelled", i);
        cr_assert(cf_future_done(s->pending[i]));
        cr_assert_eq(cf_future_result(s->pending[i], 0, NULL), CF_ECANCELLED);
        cr_assert_eq(cf_future_error(s->pending[i], 0), CF_ECANCELLED);
    }
    for (int k = 0; k < 2; k++)
        cr_assert_not(cf_future_cancelled(s->running[k]));
}

static void sd_scene_finish(struct sd_scene *s)
{
    support_touch(s->go);
    for (int k = 0; k < 2; k++) {
        int64_t v;
        cr_assert_eq(cf_future_result_i64(s->running[k], CF_FOREVER, &v), 0, "%s",
                     cf_future_error_message(s->running[k]));
        cr_assert_eq(v, k);
        cf_future_release(s->running[k]);
    }
    for (int i = 0; i < 20; i++)
        cf_future_release(s->pending[i]);
    cf_executor_release(s->ex);
    support_remove_dir(s->dir);
}

Test(shutdown, cancel_futures_nowait, .timeout = 30)
{
    struct sd_scene s;
    sd_scene_start(&s);
    cr_assert_eq(cf_executor_shutdown(s.ex, CF_NOWAIT, true), 0);
    sd_scene_check_cancelled(&s);
    /* The held ones are still running: shutdown did not wait for them. */
    for (int k = 0; k < 2; k++)
        cr_assert_not(cf_future_done(s.running[k]));
    sd_expect_refused(s.ex);
    sd_scene_finish(&s);
}

static void *sd_open_gate_when_cancelled(void *arg)
{
    struct sd_scene *s = arg;
    for (int i = 0; i < SUPPORT_LIVENESS_MS && !cf_future_cancelled(s->pending[19]); i++)
        support_sleep_ms(1);
    support_touch(s->go);
    return NULL;
}

Test(shutdown, cancel_futures_wait, .timeout = 30)
{
    struct sd_scene s;
    pthread_t t;
    sd_scene_start(&s);
    /* The gate opens only once shutdown has cancelled the queue, so the
     * waiting shutdown cannot finish unless it cancelled first. */
    cr_assert_eq(pthread_create(&t, NULL, sd_open_gate_when_cancelled, &s), 0);
    cr_assert_eq(cf_executor_shutdown(s.ex, CF_WAIT, true), 0);
    pthread_join(t, NULL);
    sd_scene_check_cancelled(&s);
    for (int k = 0; k < 2; k++)
        cr_assert(cf_future_done(s.running[k]));
    sd_scene_finish(&s);
}

Test(shutdown, cancel_futures_after_individual_cancel, .timeout = 30)
{
    struct sd_scene s;
    sd_scene_start(&s);
    /* Running ones cannot be cancelled; queued ones can, one at a time. */
    cr_assert_not(cf_future_cancel(s.running[0]));
    cr_assert(cf_future_running(s.running[0]));
    cr_assert(cf_future_cancel(s.pending[3]));
    cr_assert(cf_future_cancel(s.pending[3]), "cancel is idempotent");
    cr_assert_eq(cf_executor_shutdown(s.ex, CF_NOWAIT, true), 0);
    sd_scene_check_cancelled(&s);
    sd_scene_finish(&s);
}

Test(shutdown, nowait_returns_while_running, .timeout = 30)
{
    char dir[64], go[128];
    support_make_dir(dir, sizeof(dir));
    snprintf(go, sizeof(go), "%s/go", dir);
    cf_executor *ex = support_new_pool(2, 0);
    cf_future *r0 = support_block_worker(ex, dir, 0);
    cf_future *r1 = support_block_worker(ex, dir, 1);
    cf_future *q[10];
    for (int i = 0; i < 10; i++)
        cr_assert_eq(cf_submit(ex, support_square, &q[i], "i", (int64_t)(i + 3)), 0);
    cr_assert_eq(cf_executor_shutdown(ex, CF_NOWAIT, false), 0);
    /* Returned with the gate still closed: nothing can have finished. */
    cr_assert_not(cf_future_done(r0));
    cr_assert_not(cf_future_done(r1));
    for (int i = 0; i < 10; i++)
        cr_assert_not(cf_future_done(q[i]));
    sd_expect_refused(ex);
    support_touch(go);
    /* Release joins the pool; everything queued before shutdown ran. */
    cf_executor_release(ex);
    int64_t v;
    cr_assert_eq(cf_future_result_i64(r0, 0, &v), 0);
    cr_assert_eq(v, 0);
    cr_assert_eq(cf_future_result_i64(r1, 0, &v), 0);
    cr_assert_eq(v, 1);
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(cf_future_result_i64(q[i], 0, &v), 0);
        cr_assert_eq(v, (int64_t)(i + 3) * (i + 3));
        cf_future_release(q[i]);
    }
    cf_future_release(r0);
    cf_future_release(r1);
    support_remove_dir(dir);
}

struct sd_cb {
    cf_executor *ex;
    atomic_int rc;
    atomic_int ran;
    atomic_int submit_rc;
};

static int sd_shutdown_from_callback(cf_future *f, void *arg)
{
    struct sd_cb *cb = arg;
    (void)f;
    atomic_store(&cb->rc, cf_executor_shutdown(cb->ex, CF_NOWAIT, false));
    cf_future *g = NULL;
    atomic_store(&cb->submit_rc, cf_submit(cb->ex, support_square, &g, "i", (int64_t)1));
    cf_future_release(g);
    atomic_store(&cb->ran, 1);
    return 0;
}

Test(shutdown, from_done_callback, .timeout = 30)
{
    static struct sd_cb cb;
    char dir[128];
    support_make_dir(dir, sizeof(dir));
    cb.ex = support_new_pool(2, 0);
    atomic_store(&cb.rc, 12345);
    cf_future *f, *others[10];
    /* f finishes (and its callback shuts the pool down) only once the
     * others are all submitted: a nap here raced the submits (seen under
     * ThreadSanitizer on a loaded machine). */
    f = support_submit_gate(cb.ex, dir, 42);
    cr_assert_eq(cf_future_add_done_callback(f, sd_shutdown_from_callback, &cb), 0);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(cf_submit(cb.ex, sd_nap, &others[i], "ii", (int64_t)i, (int64_t)1), 0);
    support_gate_open(dir);
    int64_t v;
    cr_assert_eq(cf_future_result_i64(f, CF_FOREVER, &v), 0);
    cr_assert_eq(v, 42);
    for (int i = 0; i < SUPPORT_LIVENESS_MS && !atomic_load(&cb.ran); i++)
        support_sleep_ms(1);
    cr_assert(atomic_load(&cb.ran), "the callback never ran");
    cr_assert_eq(atomic_load(&cb.rc), 0, "shutdown from a callback: %s",
                 cf_strerror(atomic_load(&cb.rc)));
    cr_assert_eq(atomic_load(&cb.submit_rc), CF_ESHUTDOWN);
    sd_expect_refused(cb.ex);
    cf_executor_release(cb.ex);
    /* Submitted before the shutdown: all ran. */
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(cf_future_result_i64(others[i], 0, &v), 0);
        cr_assert_eq(v, i + 1);
        cf_future_release(others[i]);
    }
    cf_future_release(f);
    support_remove_dir(dir);
}

/* Several threads submit as fast as they can while another shuts down. */
struct sd_racer {
    cf_executor *ex;
    atomic_int *started;
    cf_future *fs[3000];
    int64_t arg[3000];
    int n;
    int last_rc;
};

static void *sd_racer_main(void *p)
{
    struct sd_racer *r = p;
    r->last_rc = 0;
    for (int i = 0; i < 3000; i++) {
        int64_t a = (int64_t)i * 7 + 1;
        int rc = (i & 1) ? cf_submit(r->ex, support_square, &r->fs[r->n], "i", a)
                         : cf_submit_named(r->ex, "support_square", CF_FOREVER, &r->fs[r->n],
                                           "i", a);
        if (rc != 0) {
            r->last_rc = rc;
            break;
        }
        r->arg[r->n++] = a;
        atomic_fetch_add(r->started, 1);
    }
    return NULL;
}

static void sd_race(bool wait, bool cancel)
{
    enum { T = 4 };
    static struct sd_racer racers[T];
    pthread_t th[T];
    atomic_int started = 0;
    cf_executor *ex = support_new_pool(2, 0);
    memset(racers, 0, sizeof(racers));
    for (int t = 0; t < T; t++) {
        racers[t].ex = ex;
        racers[t].started = &started;
        cr_assert_eq(pthread_create(&th[t], NULL, sd_racer_main, &racers[t]), 0);
    }
    for (int i = 0; i < SUPPORT_LIVENESS_MS && atomic_load(&started) < 200; i++)
        support_sleep_ms(1);
    cr_assert_eq(cf_executor_shutdown(ex, wait, cancel), 0);
    for (int t = 0; t < T; t++)
        pthread_join(th[t], NULL);
    int completed = 0, cancelled = 0;
    for (int t = 0; t < T; t++) {
        struct sd_racer *r = &racers[t];
        cr_assert(r->last_rc == 0 || r->last_rc == CF_ESHUTDOWN, "submit failed with %s",
                  cf_strerror(r->last_rc));
        for (int i = 0; i < r->n; i++) {
            int64_t v;
            int rc = cf_future_result_i64(r->fs[i], CF_FOREVER, &v);
            if (rc == CF_ECANCELLED && cancel) {
                cancelled++;
            } else {
                cr_assert_eq(rc, 0, "racer %d future %d: %s", t, i, cf_strerror(rc));
                cr_assert_eq(v, r->arg[i] * r->arg[i]);
                completed++;
            }
            cf_future_release(r->fs[i]);
        }
    }
    cr_assert_geq(completed + cancelled, 200);
    sd_expect_refused(ex);
    cf_executor_release(ex);
}

Test(shutdown, race_with_submitters_wait, .timeout = 30)
{
    sd_race(CF_WAIT, false);
}

Test(shutdown, race_with_submitters_cancel, .timeout = 30)
{
    sd_race(CF_WAIT, true);
}

Test(shutdown, race_with_submitters_nowait, .timeout = 30)
{
    sd_race(CF_NOWAIT, true);
}

/* Release from one thread while another keeps submitting until refused. */
static void *sd_release_later(void *p)
{
    cf_executor *ex = p;
    cf_executor_shutdown(ex, CF_NOWAIT, true);
    return NULL;
}

Test(shutdown, shutdown_from_other_thread_while_waiting, .timeout = 30)
{
    cf_executor *ex = support_new_pool(2, 0);
    cf_future *f;
    cr_assert_eq(cf_submit(ex, sd_nap, &f, "ii", (int64_t)1, (int64_t)50), 0);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, sd_release_later, ex), 0);
    /* Either it was taken (and completes) or it was cancelled. */
    int64_t v;
    int rc = cf_future_result_i64(f, CF_FOREVER, &v);
    cr_assert(rc == 0 || rc == CF_ECANCELLED, "%s", cf_strerror(rc));
    if (rc == 0)
        cr_assert_eq(v, 2);
    pthread_join(t, NULL);
    cf_future_release(f);
    cf_executor_release(ex);
}

Test(shutdown, nothing_left_behind, .timeout = 30)
{
    bool unlinked;
    cr_assert_eq(sd_shm_mappings(&unlinked), 0, "a segment is mapped before any pool");
    for (int round = 0; round < 2; round++) {
        cf_executor *ex = support_new_pool(2, 0);
        cf_future *f;
        int64_t v;
        cr_assert_eq(cf_submit(ex, support_square, &f, "i", (int64_t)9), 0);
        cr_assert_eq(cf_future_result_i64(f, CF_FOREVER, &v), 0);
        cr_assert_eq(v, 81);
        cf_future_release(f);

        /* While it runs: its segment is mapped but already unlinked. */
        cr_assert_geq(sd_shm_mappings(&unlinked), 1);
        cr_assert(unlinked, "the pool's segment is still in /dev/shm");

        pid_t fs[4], workers[8];
        cr_assert_eq(sd_children(getpid(), "cf-forkserver", fs, 4), 1);
        int nw = 0;
        for (int i = 0; i < SUPPORT_LIVENESS_MS && nw < 2; i++) {
            nw = sd_children(fs[0], "cf-worker-", workers, 8);
            if (nw < 2)
                support_sleep_ms(1);
        }
        cr_assert_eq(nw, 2, "%d workers under the fork server", nw);

        if (round == 0)
            cr_assert_eq(cf_executor_shutdown(ex, CF_NOWAIT, false), 0);
        cf_executor_release(ex);

        char state, comm[64];
        pid_t ppid;
        cr_assert_not(sd_proc_stat(fs[0], &state, &ppid, comm, sizeof(comm)),
                      "fork server %d still exists (%c %s)", (int)fs[0], state, comm);
        for (int i = 0; i < nw; i++) {
            bool alive = sd_proc_stat(workers[i], &state, &ppid, comm, sizeof(comm));
            cr_assert(!alive || strncmp(comm, "cf-worker-", 10) != 0,
                      "worker %d still exists (%c)", (int)workers[i], state);
        }
        cr_assert_eq(sd_children(getpid(), "cf-", fs, 4), 0);
        cr_assert_eq(sd_shm_mappings(&unlinked), 0, "a segment is still mapped");
    }
}
