/* The task behind cfmap (tools/cfmap.c), header-only so that the tool and
 * tests/test_cfmap.c register the very same code.
 *
 * cfmap_run [template, line] runs `/bin/sh -c SCRIPT sh LINE` in the
 * worker, where SCRIPT is the template with every {} replaced by "$1" (or
 * with ' "$1"' appended when it has no {}): the line reaches the command as
 * one shell argument, never as shell syntax, whatever characters it holds.
 * The command's stdin is /dev/null (the tool's stdin is the input); its
 * stderr is the worker's, i.e. the tool's. Result: [status, stdout, line]
 * where status is the exit status (128 + the signal number when killed by
 * one), stdout a binary of everything it wrote there, and line nil when
 * status is 0, else the line (for the error report).
 */
#ifndef CFUTURES_TOOLS_CFMAP_TASK_H
#define CFUTURES_TOOLS_CFMAP_TASK_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cfutures.h>

extern char **environ;

/* The script for a template: {} -> "$1", or "$1" appended. malloc'd. */
static inline char *cfmap_script(const char *tmpl, size_t len)
{
    static const char arg[] = "\"$1\"";
    size_t holes = 0;
    for (size_t i = 0; i + 1 < len; i++)
        if (tmpl[i] == '{' && tmpl[i + 1] == '}')
            holes++, i++;
    size_t size = len + (holes ? holes * (sizeof(arg) - 3) : sizeof(arg)) + 1;
    char *s = malloc(size), *p = s;
    if (!s)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        if (i + 1 < len && tmpl[i] == '{' && tmpl[i + 1] == '}') {
            memcpy(p, arg, sizeof(arg) - 1);
            p += sizeof(arg) - 1;
            i++;
        } else {
            *p++ = tmpl[i];
        }
    }
    if (!holes) {
        *p++ = ' ';
        memcpy(p, arg, sizeof(arg) - 1);
        p += sizeof(arg) - 1;
    }
    *p = '\0';
    return s;
}

/* Runs the script with `line` as $1; stores its output (malloc'd) and wait
 * status. Returns 0 or a negated errno. */
static inline int cfmap_spawn(const char *script, const char *line, char **out, size_t *out_len,
                              int *wait_status)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -errno;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    char *argv[] = {"sh", "-c", (char *)script, "sh", (char *)line, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        return -rc;
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
    const char *tmpl, *line;
    size_t tmpl_len, line_len;
    if (cf_arg_count(args) != 2 || cf_arg_str(args, 0, &tmpl, &tmpl_len) ||
        cf_arg_str(args, 1, &line, &line_len))
        return cf_task_fail("cfmap_run: expected [template, line]");
    char *script = cfmap_script(tmpl, tmpl_len);
    char *arg = strndup(line, line_len); /* a NUL in the line ends it */
    char *output = NULL;
    size_t output_len = 0;
    int ws = 0;
    int rc = script && arg ? cfmap_spawn(script, arg, &output, &output_len, &ws) : -ENOMEM;
    free(script);
    free(arg);
    if (rc < 0)
        return cf_task_fail("cfmap_run: cannot run /bin/sh: %s", strerror(-rc));
    int status = WIFEXITED(ws) ? WEXITSTATUS(ws) : WIFSIGNALED(ws) ? 128 + WTERMSIG(ws) : 255;
    rc = msgpack_pack_array(out, 3);
    rc = rc ? rc : msgpack_pack_int(out, status);
    rc = rc ? rc : msgpack_pack_bin(out, output_len);
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
