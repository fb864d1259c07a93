/* The scheduling policy of process-pool workers
 * (cf_process_pool_options.interactive_workers): by default a worker that
 * inherits SCHED_OTHER runs under SCHED_BATCH; interactive workers keep
 * the parent's policy; a parent that chose another policy keeps it in its
 * workers. The task reports sched_getscheduler() from inside the worker. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support.h"

static int wp_policy(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    return msgpack_pack_int64(out, sched_getscheduler(0));
}
CF_TASK(wp_policy);

/* The policy one task saw, in a pool made with `o`; -1 if a call failed.
 * No assertions here: it also runs on a thread of its own. */
static int64_t worker_policy(const cf_process_pool_options *o)
{
    cf_executor *pool;
    cf_future *f;
    int64_t policy = -1;
    if (cf_process_pool_create(&pool, o) < 0)
        return -1;
    if (cf_submit(pool, wp_policy, &f, "") == 0) {
        if (cf_future_result_i64(f, CF_FOREVER, &policy) < 0)
            policy = -1;
        cf_future_release(f);
    }
    cf_executor_release(pool);
    return policy;
}

/* Whether a process may switch to SCHED_BATCH here (a seccomp filter may
 * forbid it; the pool then leaves the policy alone). */
static bool batch_allowed(void)
{
    struct sched_param none = {0};
    int status;
    pid_t pid = fork();
    if (pid == 0)
        _exit(sched_setscheduler(0, SCHED_BATCH, &none) == 0 ? 0 : 1);
    return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
           WEXITSTATUS(status) == 0;
}

Test(worker_policy, default_is_batch, .timeout = 30)
{
    if (sched_getscheduler(0) != SCHED_OTHER)
        cr_skip_test("this test process does not run under SCHED_OTHER");
    if (!batch_allowed())
        cr_skip_test("this machine forbids SCHED_BATCH");
    cf_process_pool_options o = {.max_workers = 1};
    cr_assert_eq(worker_policy(&o), SCHED_BATCH);
    cr_assert_eq(worker_policy(NULL), SCHED_BATCH, "NULL options are the defaults");
}

Test(worker_policy, interactive_keeps_the_parents, .timeout = 30)
{
    cf_process_pool_options o = {.max_workers = 1, .interactive_workers = true};
    cr_assert_eq(worker_policy(&o), sched_getscheduler(0));
}

/* Runs in a thread of its own: a thread that switches to SCHED_IDLE may
 * not leave it again without privilege, and the test runner's threads must
 * not stay there. The pool's collector thread, its fork server and so its
 * workers inherit the policy of the thread that made the pool. */
static void *idle_thread(void *arg)
{
    struct sched_param none = {0};
    int64_t *policy = arg;
    if (sched_setscheduler(0, SCHED_IDLE, &none) != 0)
        return NULL; /* *policy stays -2: skipped */
    cf_process_pool_options o = {.max_workers = 1};
    *policy = worker_policy(&o);
    return NULL;
}

Test(worker_policy, another_parent_policy_is_kept, .timeout = 30)
{
    pthread_t t;
    int64_t policy = -2;
    cr_assert_eq(pthread_create(&t, NULL, idle_thread, &policy), 0);
    cr_assert_eq(pthread_join(t, NULL), 0);
    if (policy == -2)
        cr_skip_test("cannot switch to SCHED_IDLE here");
    cr_assert_eq(policy, SCHED_IDLE);
}
