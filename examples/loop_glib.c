/* A GLib program using a cfutures executor without a lock: the executor's
 * event-loop descriptor is a g_unix_fd_add source, and the completions'
 * callbacks run on the main loop's thread.
 *
 * Native tasks (cf_submit_fn) count the primes in ranges on a thread pool;
 * each loop callback adds its count to a total only the main loop touches,
 * then the source removes itself and the loop quits. Build: the Makefile
 * links GLib into this example only (Debian: libglib2.0-dev). */
#include <glib-unix.h>
#include <glib.h>
#include <stdint.h>
#include <stdio.h>

#include <cfutures.h>

#define TASKS 40
#define SPAN 5000

static void *count_primes(void *arg)
{
    uintptr_t from = (uintptr_t)arg, n = 0;
    for (uintptr_t x = from; x < from + SPAN; x++) {
        bool prime = x >= 2;
        for (uintptr_t d = 2; d * d <= x && prime; d++)
            prime = x % d != 0;
        n += prime;
    }
    return (void *)n;
}

struct app {
    cf_executor *ex;
    GMainLoop *loop;
    int reported;
    intptr_t primes;
};

static int on_task_done(cf_future *f, void *arg)
{
    struct app *a = arg;
    intptr_t n;
    if (cf_future_result_intptr(f, 0, &n) == 0)
        a->primes += n;
    a->reported++;
    return 0;
}

static gboolean on_readable(gint fd, GIOCondition cond, gpointer data)
{
    (void)fd;
    (void)cond;
    struct app *a = data;
    cf_executor_run_loop_callbacks(a->ex);
    if (a->reported < TASKS)
        return G_SOURCE_CONTINUE;
    g_main_loop_quit(a->loop);
    return G_SOURCE_REMOVE;
}

int main(void)
{
    struct app a = {0};
    cf_thread_pool_options o = {.max_workers = 2};
    if (cf_thread_pool_create(&a.ex, &o) < 0)
        return 1;
    a.loop = g_main_loop_new(NULL, FALSE);
    int fd = cf_executor_loop_fd(a.ex);
    if (fd < 0)
        return 1;
    g_unix_fd_add(fd, G_IO_IN, on_readable, &a);
    for (int i = 0; i < TASKS; i++) {
        cf_future *f;
        if (cf_submit_fn(a.ex, count_primes, (void *)(uintptr_t)(i * SPAN), &f) < 0 ||
            cf_future_add_loop_callback(f, a.ex, on_task_done, &a) < 0)
            return 1;
        cf_future_release(f);
    }
    g_main_loop_run(a.loop);
    g_main_loop_unref(a.loop);
    cf_executor_release(a.ex);
    /* 200,000 holds 17,984 primes. */
    printf("GLib loop: %d tasks reported on the main loop, %ld primes below %d (%s)\n",
           a.reported, (long)a.primes, TASKS * SPAN, a.primes == 17984 ? "correct" : "WRONG");
    return a.primes == 17984 ? 0 : 1;
}
