/* The task behind cfmap (tools/cfmap.c), header-only so that the tool and
 * tests/test_cfmap.c register the very same code.
 *
 * cfmap_run [[arg0, arg1, ...], line(, file)] runs the command arg0 arg1 ...
 * in the worker, executed directly (no shell) from `file` when given (the
 * tool resolves the command on PATH once, not per line), else found on
 * PATH (posix_spawnp), as xargs does: every "{}" inside an argument is replaced by the line; when
 * no argument holds "{}", the line is appended as the last argument. The
 * line is always data, never parsed. The command's stdin is /dev/null (the
 * tool's stdin is the input); its stderr is the worker's, i.e. the tool's.
 * Result: [status, stdout, line] where status is the exit status (127 when
 * the command cannot be run, 128 + the signal number when killed by one),
 * stdout a binary of everything it wrote there, and line nil when status
 * is 0, else the line (for the error report).
 *
 * Why direct execution: running each line through `/bin/sh -c` cost a
 * second exec per line (the shell, then the command), about as much again
 * as the command itself for short ones; `cfmap sh -c 'SCRIPT' sh` still
 * gives a shell, with the line as $1.
 */
#ifndef CFUTURES_TOOLS_CFMAP_TASK_H
#define CFUTURES_TOOLS_CFMAP_TASK_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cfutures.h>

extern char **environ;

/* s[0..len) with every "{}" replaced by line[0..line_len); *used set when
 * there was one. malloc'd, NUL-terminated; NULL when out of memory. */
static inline char *cfmap_subst(const char *s, size_t len, const char *line, size_t line_len,
                                bool *used)
{
    size_t holes = 0;
    for (size_t i = 0; i + 1 < len; i++)
        if (s[i] == '{' && s[i + 1] == '}')
            holes++, i++;
    char *r = malloc(len - 2 * holes + holes * line_len + 1), *p = r;
    if (!r)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        if (i + 1 < len && s[i] == '{' && s[i + 1] == '}') {
            memcpy(p, line, line_len);
            p += line_len;
            i++;
        } else {
            *p++ = s[i];
        }
    }
    *p = '\0';
    *used |= holes > 0;
    return r;
}

/* The argv for one line: n template arguments (msgpack strings) with {}
 * replaced, plus the line when none had one; NULL-terminated, each string
 * and the array malloc'd (free with cfmap_free_argv). NULL: out of memory
 * or a template argument that is not a string. */
static inline char **cfmap_argv(const msgpack_object *tmpl, size_t n, const char *line,
                                size_t line_len)
{
    char **argv = calloc(n + 2, sizeof(*argv));
    bool used = false;
    if (!argv)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const char *s;
        size_t len;
        if (cf_obj_str(&tmpl[i], &s, &len) < 0 ||
            !(argv[i] = cfmap_subst(s, len, line, line_len, &used)))
            goto fail;
    }
    if (!used && !(argv[n] = strndup(line, line_len)))
        goto fail;
    return argv;
fail:
    for (size_t i = 0; i <= n; i++)
        free(argv[i]);
    free(argv);
    return NULL;
}

static inline void cfmap_free_argv(char **argv)
{
    for (size_t i = 0; argv && argv[i]; i++)
        free(argv[i]);
    free(argv);
}

/* Runs argv (from `file` if not NULL); stores its output (malloc'd) and
 * wait status. Returns 0, or a positive errno when it could not be started
 * (the command not found...), or a negated errno for our own failures. */
static inline int cfmap_spawn(const char *file, char **argv, char **out, size_t *out_len,
                              int *wait_status)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -errno;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    pid_t pid;
    /* glibc's posix_spawn reports a failed exec (ENOENT, EACCES) here. A
     * PATH search costs one failed execve per directory before the right
     * one: with a dozen directories, more than running the command. */
    int rc = file ? posix_spawn(&pid, file, &fa, NULL, argv, environ)
                  : posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        return rc;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    rc = buf ? 0 : -ENOMEM;
    for (;;) {
        if (rc == 0 && len == cap) {
            char *grown = realloc(buf, cap * 2);
            if (grown) {
                buf = grown;
                cap *= 2;
            } else {
                rc = -ENOMEM; /* keep draining so the command can finish */
            }
        }
        char sink[4096];
        ssize_t n = rc == 0 ? read(fds[0], buf + len, cap - len) : read(fds[0], sink, sizeof(sink));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (rc == 0)
            len += (size_t)n;
    }
    close(fds[0]);
    while (waitpid(pid, wait_status, 0) < 0 && errno == EINTR)
        ;
    if (rc < 0) {
        free(buf);
        return rc;
    }
    *out = buf;
    *out_len = len;
    return 0;
}

static int cfmap_run(const msgpack_object *args, msgpack_packer *out)
{
    const msgpack_object *tmpl;
    const char *line, *file_s = NULL;
    size_t n, line_len, file_len = 0;
    int count = cf_arg_count(args);
    if ((count != 2 && count != 3) || cf_arg_array(args, 0, &tmpl, &n) || n == 0 ||
        cf_arg_str(args, 1, &line, &line_len) ||
        (count == 3 && cf_arg_str(args, 2, &file_s, &file_len)))
        return cf_task_fail("cfmap_run: expected [[command, args...], line, file?]");
    char **argv = cfmap_argv(tmpl, n, line, line_len);
    char *file = file_s ? strndup(file_s, file_len) : NULL;
    if (!argv || (file_s && !file)) {
        cfmap_free_argv(argv);
        return cf_task_fail("cfmap_run: bad command or out of memory");
    }
    char *output = NULL;
    size_t output_len = 0;
    int ws = 0, status;
    int rc = cfmap_spawn(file, argv, &output, &output_len, &ws);
    free(file);
    if (rc > 0) {
        /* As a shell says it: the command, why, and status 127. */
        fprintf(stderr, "cfmap: %s: %s\n", argv[0], strerror(rc));
        status = 127;
    } else {
        status = WIFEXITED(ws) ? WEXITSTATUS(ws) : WIFSIGNALED(ws) ? 128 + WTERMSIG(ws) : 255;
    }
    cfmap_free_argv(argv);
    if (rc < 0)
        return cf_task_fail("cfmap_run: cannot run the command: %s", strerror(-rc));
    rc = msgpack_pack_array(out, 3);
    rc = rc ? rc : msgpack_pack_int(out, status);
    rc = rc ? rc : msgpack_pack_bin(out, output_len);
    if (output_len > 0)
        rc = rc ? rc : msgpack_pack_bin_body(out, output, output_len);
    if (status == 0) {
        rc = rc ? rc : msgpack_pack_nil(out);
    } else {
        rc = rc ? rc : msgpack_pack_str(out, line_len);
        rc = rc ? rc : msgpack_pack_str_body(out, line, line_len);
    }
    free(output);
    return rc == 0 ? 0 : cf_task_fail("cfmap_run: could not pack the result");
}

#endif
