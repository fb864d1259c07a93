/* Process hygiene: no worker outlives its parent and nothing stays in
 * /dev/shm, even when the parent is SIGKILLed mid-work. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cfutures.h>

#include "tests/support.h"

/* Returns [pid, parent pid] of the worker that runs it, then blocks. */
static int life_whoami_block(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    msgpack_pack_array(out, 2);
    msgpack_pack_int(out, getpid());
    msgpack_pack_int(out, getppid());
    return 0;
}
CF_TASK(life_whoami_block);

static int life_sleep(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    sleep(60);
    return msgpack_pack_nil(out);
}
CF_TASK(life_sleep);

/* The child: a pool of 2, both workers busy; reports worker and fork
 * server pids through the pipe, then waits to be killed. */
static void doomed_parent(int fd)
{
    cf_executor *pool;
    cf_future *who[2], *busy[2];
    int32_t pids[3] = {0};
    if (cf_process_pool_create(&pool, &(cf_process_pool_options){.max_workers = 2}) < 0)
        _exit(1);
    for (int i = 0; i < 2; i++) {
        const msgpack_object *r;
        if (cf_submit(pool, life_whoami_block, &who[i], "") < 0 ||
            cf_future_result(who[i], CF_FOREVER, &r) < 0)
            _exit(2);
        pids[i] = (int32_t)r->via.array.ptr[0].via.i64;
        pids[2] = (int32_t)r->via.array.ptr[1].via.i64;
    }
    for (int i = 0; i < 2; i++)
        if (cf_submit(pool, life_sleep, &busy[i], "") < 0)
            _exit(3);
    if (write(fd, pids, sizeof(pids)) != sizeof(pids))
        _exit(4);
    pause();
    _exit(0);
}

Test(lifecycle, workers_die_with_a_killed_parent, .timeout = 30)
{
    int p[2];
    int32_t pids[3];
    cr_assert_eq(pipe(p), 0);
    pid_t child = fork();
    cr_assert_geq(child, 0);
    if (child == 0) {
        close(p[0]);
        doomed_parent(p[1]);
    }
    close(p[1]);
    cr_assert_eq(read(p[0], pids, sizeof(pids)), (ssize_t)sizeof(pids));
    close(p[0]);
    for (int i = 0; i < 3; i++)
        cr_assert(support_process_running(pids[i]), "process %d should be alive before the kill", pids[i]);
    cr_assert_eq(support_shm_entries_of(child), 0, "the segment is unlinked once mapped");
    kill(child, SIGKILL);
    cr_assert_eq(waitpid(child, NULL, 0), child);
    /* Bounded wait (not a timing assertion: the test's own timeout is the
     * limit) for PR_SET_PDEATHSIG to take the fork server and workers. */
    for (int tries = 0; tries < 2500; tries++) {
        if (!support_process_running(pids[0]) && !support_process_running(pids[1]) && !support_process_running(pids[2]))
            break;
        nanosleep(&(struct timespec){0, 2000000}, NULL);
    }
    for (int i = 0; i < 3; i++)
        cr_assert_not(support_process_running(pids[i]), "process %d outlived its parent", pids[i]);
    cr_assert_eq(support_shm_entries_of(child), 0);
}

Test(lifecycle, release_leaves_nothing, .timeout = 30)
{
    cf_executor *pool;
    cf_future *f;
    const msgpack_object *r;
    cr_assert_eq(cf_process_pool_create(&pool, &(cf_process_pool_options){.max_workers = 1}), 0);
    cr_assert_eq(cf_submit(pool, life_whoami_block, &f, ""), 0);
    cr_assert_eq(cf_future_result(f, CF_FOREVER, &r), 0);
    pid_t worker = (pid_t)r->via.array.ptr[0].via.i64;
    pid_t server = (pid_t)r->via.array.ptr[1].via.i64;
    cf_future_release(f);
    cr_assert(support_process_running(worker) && support_process_running(server));
    cf_executor_release(pool);
    /* The fork server is our child and was reaped by release; the worker
     * is its child and exited before it. */
    cr_assert_not(support_process_running(server));
    cr_assert_not(support_process_running(worker));
    cr_assert_eq(support_shm_entries_of(getpid()), 0);
}
