/* cfmap: runs a command for each line of stdin on N workers of a process
 * pool, like `xargs -P N`, and prints the outputs in input order.
 *
 *   cfmap [-j N] COMMAND [ARG...]
 *
 *   seq 1 5 | cfmap -j 2 expr {} \* {}          1 4 9 16 25, one a line
 *   ls *.md | cfmap wc -l                        the line is the last argument
 *   seq 3 | cfmap sh -c 'echo $(($1 * 2))' sh    a shell, the line as $1
 *
 * The command and its arguments are taken as xargs takes them: every {}
 * inside an argument stands for the line; without any {}, the line is
 * appended as the last argument. The command is executed directly (found
 * on PATH, no shell), in a worker (tools/cfmap_task.h), with /dev/null for
 * stdin; its stdout comes back to cfmap, which prints it once every earlier
 * line's output is printed; its stderr goes straight to cfmap's stderr. A
 * command that exits non-zero is reported on stderr with its line. Exit
 * status: 0 when every command succeeded, 1 when one failed, 2 for a usage
 * error or a pool failure. Input is read lazily: only a bounded window of
 * lines is in flight. man/cfmap.1 documents it for users.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cfutures.h>

#include "tools/cfmap_task.h"

CF_TASK(cfmap_run);

struct input {
    msgpack_sbuffer tmpl; /* the command's argument array, packed once */
    char *file;           /* the command's path, found on PATH once */
    char *line;
    size_t cap;
    int error; /* errno of a failed read */
};

/* Packs [command array, next line without its newline]; 0 at the end. */
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
    if (msgpack_pack_array(pk, 3) || pk->callback(pk->data, in->tmpl.data, in->tmpl.size) ||
        msgpack_pack_str_with_body(pk, in->line, (size_t)n) ||
        msgpack_pack_str_with_body(pk, in->file, strlen(in->file)))
        return -ENOMEM;
    return 1;
}

static void usage(FILE *to)
{
    fprintf(to,
            "usage: cfmap [-j N] COMMAND [ARG...]\n"
            "Runs COMMAND once per line of stdin on N worker processes (default: the\n"
            "CPUs, or CF_WORKERS) and prints the outputs in input order.\n"
            "Every {} in an argument is replaced by the line; without {}, the line is\n"
            "appended as the last argument. The command runs without a shell: use\n"
            "`cfmap sh -c 'SCRIPT' sh` for one (the line is then $1).\n"
            "  -j, -P, --jobs N   worker processes (1..1024)\n"
            "  -h, --help         this text\n"
            "  --version          the cfutures version\n"
            "Exit status: 0 all succeeded, 1 a command failed, 2 usage or pool error.\n");
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
    /* Each output as soon as it is in order, as xargs's children write
     * theirs (and before a later line's error on stderr). */
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

/* The file execvp would run for cmd: cmd itself when it holds a '/', else
 * the first executable regular file of that name in a PATH directory, else
 * (not found) cmd, whose spawn then fails as execvp would. malloc'd. */
static char *resolve(const char *cmd)
{
    const char *path = getenv("PATH");
    if (strchr(cmd, '/') || !*cmd)
        return strdup(cmd);
    if (!path)
        path = "/bin:/usr/bin";
    for (const char *p = path;; p++) {
        const char *end = strchr(p, ':');
        size_t dlen = end ? (size_t)(end - p) : strlen(p);
        char *file;
        struct stat st;
        /* An empty entry is the current directory. */
        if (asprintf(&file, "%.*s%s%s", (int)dlen, dlen ? p : ".", "/", cmd) < 0)
            return NULL;
        if (stat(file, &st) == 0 && S_ISREG(st.st_mode) && access(file, X_OK) == 0)
            return file;
        free(file);
        if (!end)
            return strdup(cmd);
        p = end;
    }
}

static int pack_command(msgpack_sbuffer *sb, char **cmd, int n)
{
    msgpack_packer pk;
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    if (msgpack_pack_array(&pk, (size_t)n))
        return -ENOMEM;
    for (int i = 0; i < n; i++)
        if (msgpack_pack_str_with_body(&pk, cmd[i], strlen(cmd[i])))
            return -ENOMEM;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {{"jobs", required_argument, NULL, 'j'},
                                             {"help", no_argument, NULL, 'h'},
                                             {"version", no_argument, NULL, 'V'},
                                             {NULL, 0, NULL, 0}};
    int workers = 0, opt;
    /* "+": options end at the command, whose own options are its own. */
    while ((opt = getopt_long(argc, argv, "+j:P:h", longopts, NULL)) != -1) {
        char *end;
        switch (opt) {
        case 'j':
        case 'P':
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
        case 'V':
            printf("cfmap (cfutures) %s\n", cf_version());
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "cfmap: no command given\n");
        usage(stderr);
        return 2;
    }
    struct input in = {0};
    in.file = resolve(argv[optind]);
    if (!in.file || pack_command(&in.tmpl, argv + optind, argc - optind) < 0) {
        fprintf(stderr, "cfmap: out of memory\n");
        return 2;
    }
    cf_process_pool_options popts = {.max_workers = workers}; /* 0: the default */
    cf_executor *pool;
    cf_map *map = NULL;
    int rc = cf_process_pool_create(&pool, &popts);
    if (rc < 0) {
        fprintf(stderr, "cfmap: cannot start the pool: %s\n", cf_strerror(rc));
        msgpack_sbuffer_destroy(&in.tmpl);
        free(in.file);
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
            fflush(stdout);
            fprintf(stderr, "cfmap: line %zu: %s\n", i + 1, cf_map_error_message(map));
            all_ok = false;
            rc = 0; /* this line failed; the others go on */
        }
    }
    fflush(stdout);
    int status = rc == CF_EEMPTY ? (all_ok ? 0 : 1) : 2;
    if (rc != CF_EEMPTY)
        fprintf(stderr, "cfmap: %s\n", cf_strerror(rc));
    if (in.error) {
        fprintf(stderr, "cfmap: reading stdin: %s\n", strerror(in.error));
        status = 2;
    }
    cf_map_release(map);
    cf_executor_release(pool);
    msgpack_sbuffer_destroy(&in.tmpl);
    free(in.file);
    free(in.line);
    return status;
}
