/* cfmap: runs a shell command for each line of stdin on N workers of a
 * process pool, like `xargs -P N -I{}`, and prints the outputs in input
 * order.
 *
 *   cfmap [-j N] COMMAND
 *
 *   seq 1 5 | cfmap -j 2 'expr {} \* {}'       1 4 9 16 25, one a line
 *   ls *.c | cfmap 'wc -l'                      the line is appended as "$1"
 *
 * Each {} in COMMAND stands for the line, passed to /bin/sh as one quoted
 * argument ("$1"), so the line is never parsed as shell syntax; without
 * {}, the line is appended as one argument. The command runs in a worker
 * (tools/cfmap_task.h) with /dev/null for stdin; its stdout comes back to
 * cfmap, which prints it once every earlier line's output is printed; its
 * stderr goes straight to cfmap's stderr. A command that exits non-zero is
 * reported on stderr with its line. Exit status: 0 when every command
 * succeeded, 1 when one failed, 2 for a usage error or a pool failure.
 * Input is read lazily: only a bounded window of lines is in flight.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cfutures.h>

#include "tools/cfmap_task.h"

CF_TASK(cfmap_run);

struct input {
    const char *tmpl;
    char *line;
    size_t cap;
    int error; /* errno of a failed read */
};

/* Packs [template, next line without its newline]; 0 at the end of input. */
static int next_line(void *arg, size_t index, msgpack_packer *pk)
{
    struct input *in = arg;
    (void)index;
    errno = 0;
    ssize_t n = getline(&in->line, &in->cap, stdin);
    if (n < 0) {
        in->error = errno;
        return 0;
    }
    if (n > 0 && in->line[n - 1] == '\n')
        n--;
    return cf_pack_args(pk, "sS", in->tmpl, in->line, (size_t)n) == 0 ? 1 : -ENOMEM;
}

static void usage(FILE *to)
{
    fprintf(to, "usage: cfmap [-j WORKERS] COMMAND  (reads lines from stdin; {} is the line)\n");
}

/* Prints one result; returns true when its command succeeded. */
static bool report(size_t index, const msgpack_object *r)
{
    const msgpack_object *items;
    size_t n;
    int64_t status;
    const void *bytes;
    size_t len;
    if (cf_obj_array(r, &items, &n) < 0 || n != 3 || cf_obj_i64(&items[0], &status) < 0 ||
        cf_obj_bin(&items[1], &bytes, &len) < 0) {
        fprintf(stderr, "cfmap: line %zu: malformed result\n", index + 1);
        return false;
    }
    fwrite(bytes, 1, len, stdout);
    fflush(stdout);
    if (status == 0)
        return true;
    const char *line = "";
    size_t line_len = 0;
    (void)cf_obj_str(&items[2], &line, &line_len);
    fprintf(stderr, "cfmap: line %zu: exit status %lld: %.*s\n", index + 1, (long long)status,
            (int)line_len, line);
    return false;
}

int main(int argc, char **argv)
{
    int workers = 0, opt;
    while ((opt = getopt(argc, argv, "+j:h")) != -1) {
        char *end;
        switch (opt) {
        case 'j':
            errno = 0;
            workers = (int)strtol(optarg, &end, 10);
            if (errno || *end || workers < 1 || workers > 1024) {
                fprintf(stderr, "cfmap: -j wants a number of workers in 1..1024\n");
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    struct input in = {.tmpl = argv[optind]};
    cf_process_pool_options popts = {.max_workers = workers ? workers : cf_default_workers()};
    cf_executor *pool;
    cf_map *map = NULL;
    int rc = popts.max_workers < 0 ? popts.max_workers : cf_process_pool_create(&pool, &popts);
    if (rc < 0) {
        fprintf(stderr, "cfmap: cannot start the pool: %s\n", cf_strerror(rc));
        return 2;
    }
    bool all_ok = true;
    rc = cf_map_create(&map, pool, "cfmap_run", next_line, &in, NULL);
    while (rc == 0) {
        size_t i;
        const msgpack_object *r;
        rc = cf_map_next(map, &i, &r);
        if (rc == 0) {
            all_ok &= report(i, r);
        } else if (rc == CF_ETASK || rc == CF_EWORKER || rc == CF_EPROTO) {
            fprintf(stderr, "cfmap: line %zu: %s\n", i + 1, cf_map_error_message(map));
            all_ok = false;
            rc = 0; /* this line failed; the others go on */
        }
    }
    int status = rc == CF_EEMPTY ? (all_ok ? 0 : 1) : 2;
    if (rc != CF_EEMPTY)
        fprintf(stderr, "cfmap: %s\n", cf_strerror(rc));
    if (in.error) {
        fprintf(stderr, "cfmap: reading stdin: %s\n", strerror(in.error));
        status = 2;
    }
    cf_map_release(map);
    cf_executor_release(pool);
    free(in.line);
    return status;
}
