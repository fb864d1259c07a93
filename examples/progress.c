/* A progress bar over cf_map: the map's progress callback (cf_map_options
 * .progress) reports done/total and the rate at most every ~100 ms, from
 * the thread calling cf_map_next.
 *
 * On a terminal it redraws one line in place (\r); otherwise (a pipe, a
 * log file, CI) it prints a plain line at each quarter, so the output is
 * the same on every run. Rates and timings, which vary, go to stderr.
 */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <cfutures.h>

#define ITEMS 300
#define BAR_WIDTH 40

/* Some work: sleeps ~4 ms (a stand-in for real work), returns n * n. */
static int progress_work(const msgpack_object *args, msgpack_packer *out)
{
    int64_t n;
    if (cf_arg_i64(args, 0, &n) < 0)
        return cf_task_fail("progress_work: expected an integer");
    nanosleep(&(struct timespec){0, 4000000}, NULL);
    return msgpack_pack_int64(out, n * n);
}
CF_TASK(progress_work);

static int next_item(void *arg, size_t index, msgpack_packer *pk)
{
    (void)arg;
    if (index >= ITEMS)
        return 0;
    return cf_pack_args(pk, "i", (int64_t)index) < 0 ? -1 : 1;
}

struct view {
    bool tty;
    int quarters_shown; /* plain mode: quarters printed so far */
};

static void on_progress(const cf_map_progress *p, void *arg)
{
    struct view *v = arg;
    size_t total = p->total ? p->total : p->done; /* 0: not known yet */
    int pct = total ? (int)(100 * p->done / total) : 0;
    if (v->tty) {
        char bar[BAR_WIDTH + 1];
        int fill = total ? (int)(BAR_WIDTH * p->done / total) : 0;
        for (int i = 0; i < BAR_WIDTH; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[BAR_WIDTH] = '\0';
        double eta = p->rate > 0 && total > p->done ? (double)(total - p->done) / p->rate : 0;
        printf("\r[%s] %3d%% %zu/%zu  %7.1f items/s  ETA %4.1fs ", bar, pct, p->done, total,
               p->rate, eta);
        fflush(stdout);
        return;
    }
    /* Every quarter passed since the last call, each once. */
    while (total && v->quarters_shown < 4 && pct >= 25 * (v->quarters_shown + 1)) {
        v->quarters_shown++;
        printf("progress: %3d%% (%zu of %zu items)\n", 25 * v->quarters_shown,
               total * (size_t)v->quarters_shown / 4, total);
    }
}

int main(void)
{
    struct view view = {.tty = isatty(STDOUT_FILENO)};
    cf_executor *pool;
    cf_map *map = NULL;
    /* Piped, stdout would be block-buffered and its lines would come out
     * after the summary on (unbuffered) stderr: keep them in order. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    int rc = cf_process_pool_create(&pool, NULL);
    if (rc < 0) {
        fprintf(stderr, "pool: %s\n", cf_strerror(rc));
        return 1;
    }
    cf_map_options opts = {
        .timeout = CF_FOREVER,
        .total = ITEMS,
        .progress = on_progress,
        .progress_arg = &view,
    };
    int64_t sum = 0;
    size_t items = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = cf_map_create(&map, pool, "progress_work", next_item, NULL, &opts);
    while (rc == 0) {
        size_t i;
        const msgpack_object *r;
        int64_t v;
        rc = cf_map_next(map, &i, &r);
        if (rc == 0 && cf_obj_i64(r, &v) == 0) {
            sum += v;
            items++;
        } else if (rc != CF_EEMPTY) {
            fprintf(stderr, "\n%s\n", rc < 0 ? cf_map_error_message(map) : "bad result");
            rc = rc < 0 ? rc : -1;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cf_map_release(map);
    if (view.tty)
        printf("\n");
    printf("%zu items, sum of squares %lld\n", items, (long long)sum);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    fprintf(stderr, "progress: %zu items in %.2f s (%.0f items/s) on %d workers\n", items, secs,
            secs > 0 ? (double)items / secs : 0.0, cf_executor_workers(pool));
    cf_executor_release(pool);
    return rc == CF_EEMPTY ? 0 : 1;
}
