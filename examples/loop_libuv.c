/* A libuv program using a cfutures thread pool without a lock: the
 * executor's event-loop descriptor is watched with uv_poll, and the
 * completions' callbacks run on the loop's thread.
 *
 * Each task sums the squares of a range (a native cf_submit_fn task: a
 * plain function pointer and its argument); its loop callback adds the
 * partial sum to a total that only the loop thread touches. Stops the
 * watcher once every task reported. Build: the Makefile links libuv into
 * this example only (Debian: libuv1-dev). */
#include <inttypes.h>
#include <stdio.h>
#include <uv.h>

#include <cfutures.h>

#define TASKS 64
#define SPAN 100000

struct range {
    uint64_t from, to;
};

static void *sum_squares(void *arg)
{
    const struct range *r = arg;
    uint64_t s = 0;
    for (uint64_t i = r->from; i < r->to; i++)
        s += i * i % 1000003;
    return (void *)(uintptr_t)s;
}

/* The loop's state: touched only on the loop thread. */
static struct {
    cf_executor *ex;
    uv_poll_t poll;
    int reported;
    uint64_t total;
} app;

static int on_task_done(cf_future *f, void *arg)
{
    (void)arg;
    void *p;
    if (cf_future_result_ptr(f, 0, &p) == 0)
        app.total += (uintptr_t)p;
    app.reported++;
    return 0;
}

static void on_readable(uv_poll_t *h, int status, int events)
{
    (void)events;
    if (status < 0)
        return;
    cf_executor_run_loop_callbacks(app.ex);
    if (app.reported == TASKS) {
        uv_poll_stop(h);
        uv_close((uv_handle_t *)h, NULL);
    }
}

int main(void)
{
    static struct range ranges[TASKS];
    cf_thread_pool_options o = {.max_workers = 2};
    if (cf_thread_pool_create(&app.ex, &o) < 0)
        return 1;
    uv_loop_t *loop = uv_default_loop();
    int fd = cf_executor_loop_fd(app.ex);
    if (fd < 0 || uv_poll_init(loop, &app.poll, fd) < 0 ||
        uv_poll_start(&app.poll, UV_READABLE, on_readable) < 0)
        return 1;
    uint64_t expect = 0;
    for (int i = 0; i < TASKS; i++) {
        ranges[i] = (struct range){(uint64_t)i * SPAN, (uint64_t)(i + 1) * SPAN};
        expect += (uintptr_t)sum_squares(&ranges[i]);
        cf_future *f;
        if (cf_submit_fn(app.ex, sum_squares, &ranges[i], &f) < 0 ||
            cf_future_add_loop_callback(f, app.ex, on_task_done, NULL) < 0)
            return 1;
        cf_future_release(f); /* the loop callback keeps it until it ran */
    }
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    cf_executor_release(app.ex);
    printf("libuv loop: %d tasks reported on the loop thread, total %" PRIu64 " (%s)\n",
           app.reported, app.total, app.total == expect ? "correct" : "WRONG");
    return app.total == expect ? 0 : 1;
}
