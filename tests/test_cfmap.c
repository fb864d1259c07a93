/* cfmap (tools/cfmap.c): its task, registered here from the tool's own
 * header, run over the pool (output, exit status, the line passed as one
 * argument, input order through cf_map); then the built tool itself, found
 * next to the test binary's directory ($(BUILD)/cfmap; `make test` builds
 * it first), end to end.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cfutures.h>

#include "support.h"
#include "tools/cfmap_task.h"

CF_TASK(cfmap_run);

/* Runs cfmap_run([args...], line(, file)) and checks status and stdout.
 * args is NULL-terminated. */
static void cfmap_expect_in(const char *const *args, const char *line, const char *file,
                            int64_t status, const char *out)
{
    cf_value argv[8];
    size_t n = 0;
    while (args[n]) {
        cr_assert_lt(n, 8);
        argv[n] = cf_value_str(args[n]);
        n++;
    }
    cf_values cmd = {argv, n};
    cf_future *f;
    const msgpack_object *r;
    int rc = file ? cf_submit_args(support_pool, cfmap_run, &f, CF_ARGS(cf_array(cmd), line, file))
                  : cf_submit_args(support_pool, cfmap_run, &f, CF_ARGS(cf_array(cmd), line));
    cr_assert_eq(rc, 0);
    cr_assert_eq(cf_future_result(f, CF_FOREVER, &r), 0, "%s", cf_future_error_message(f));
    const msgpack_object *items;
    size_t len;
    int64_t st;
    const void *bytes;
    cr_assert_eq(cf_obj_array(r, &items, &n), 0);
    cr_assert_eq(n, 3);
    cr_assert_eq(cf_obj_i64(&items[0], &st), 0);
    cr_assert_eq(st, status, "%s with %s: status %lld", args[0], line, (long long)st);
    cr_assert_eq(cf_obj_bin(&items[1], &bytes, &len), 0);
    cr_assert_eq(len, strlen(out), "%s with %s: output %.*s", args[0], line, (int)len,
                 (const char *)bytes);
    cr_assert_eq(memcmp(bytes, out, len), 0);
    if (status == 0) {
        cr_assert_eq(items[2].type, MSGPACK_OBJECT_NIL);
    } else {
        const char *l;
        size_t l_len;
        cr_assert_eq(cf_obj_str(&items[2], &l, &l_len), 0);
        cr_assert_eq(l_len, strlen(line));
        cr_assert_eq(memcmp(l, line, l_len), 0);
    }
    cf_future_release(f);
}

#define cfmap_expect(line, status, out, ...)                                                  \
    cfmap_expect_in((const char *const[]){__VA_ARGS__, NULL}, line, NULL, status, out)

Test(cfmap, argument_substitution, .timeout = 10)
{
    bool used = false;
    char *s = cfmap_subst("a{}b{}", 6, "XY", 2, &used);
    cr_assert_str_eq(s, "aXYbXY");
    cr_assert(used);
    free(s);
    used = false;
    s = cfmap_subst("{", 1, "XY", 2, &used);
    cr_assert_str_eq(s, "{");
    cr_assert(!used);
    free(s);
    s = cfmap_subst("", 0, "XY", 2, &used);
    cr_assert_str_eq(s, "");
    free(s);

    /* xargs's rule: the line replaces {} where any argument has one, and
     * is appended as the last argument otherwise. */
    msgpack_object t[2] = {{.type = MSGPACK_OBJECT_STR, .via.str = {2, "wc"}},
                           {.type = MSGPACK_OBJECT_STR, .via.str = {2, "-l"}}};
    char **argv = cfmap_argv(t, 2, "f.md", 4);
    cr_assert(argv && !strcmp(argv[0], "wc") && !strcmp(argv[1], "-l") &&
              !strcmp(argv[2], "f.md") && !argv[3]);
    cfmap_free_argv(argv);
    t[1].via.str = (msgpack_object_str){4, "<{}>"};
    argv = cfmap_argv(t, 2, "f", 1);
    cr_assert(argv && !strcmp(argv[1], "<f>") && !argv[2]);
    cfmap_free_argv(argv);
    t[1].type = MSGPACK_OBJECT_NIL;
    cr_assert_null(cfmap_argv(t, 2, "f", 1), "a template argument that is no string");
}

Test(cfmap, task_output_and_status, .init = support_setup, .fini = support_teardown,
     .timeout = 30)
{
    cfmap_expect("7", 0, "49\n", "expr", "{}", "*", "{}");
    cfmap_expect("a  b", 0, "a  b\n", "echo");
    cfmap_expect("x y", 0, "<x y>\n", "echo", "<{}>");
    cfmap_expect("ab", 0, "ab-ab\n", "echo", "{}-{}");
    cfmap_expect("", 0, "", "printf", "%s");
    cfmap_expect("anything", 3, "", "sh", "-c", "exit 3", "sh");
    cfmap_expect("l", 1, "partial\n", "sh", "-c", "echo partial; false", "sh");
    cfmap_expect("l", 128 + 9, "", "sh", "-c", "kill -9 $$", "sh");
    /* The line is one argument, never shell syntax. */
    cfmap_expect("$(echo no); `echo no` | x", 0, "$(echo no); `echo no` | x\n", "echo", "{}");
    cfmap_expect("$(echo no)", 0, "$(echo no)\n", "sh", "-c", "echo \"$1\"", "sh");
    /* The command's stdin is /dev/null, not the tool's. */
    cfmap_expect("x", 0, "0\n", "sh", "-c", "wc -c", "sh");
    /* Executed from the file the tool resolved; argv[0] stays as written. */
    cfmap_expect_in((const char *const[]){"as-written", "{}", NULL}, "x", "/bin/echo", 0, "x\n");
}

struct cfmap_input {
    size_t n;
};

static int cfmap_lines(void *arg, size_t index, msgpack_packer *pk)
{
    struct cfmap_input *in = arg;
    char line[32];
    if (index >= in->n)
        return 0;
    snprintf(line, sizeof(line), "%zu", index);
    return cf_pack_values(pk, CF_ARGS(cf_array(CF_ARGS("echo", "line")), line)) == 0 ? 1
                                                                                    : -ENOMEM;
}

Test(cfmap, outputs_in_input_order, .init = support_setup, .fini = support_teardown,
     .timeout = 60)
{
    struct cfmap_input in = {.n = 40};
    cf_map *m;
    cr_assert_eq(cf_map_create(&m, support_pool, "cfmap_run", cfmap_lines, &in, NULL), 0);
    size_t index, n = 0;
    const msgpack_object *r;
    int rc;
    while ((rc = cf_map_next(m, &index, &r)) != CF_EEMPTY) {
        cr_assert_eq(rc, 0, "%s", cf_map_error_message(m));
        cr_assert_eq(index, n);
        char want[48];
        snprintf(want, sizeof(want), "line %zu\n", n);
        const void *bytes;
        size_t len;
        cr_assert_eq(cf_obj_bin(&r->via.array.ptr[1], &bytes, &len), 0);
        cr_assert_eq(len, strlen(want));
        cr_assert_eq(memcmp(bytes, want, len), 0);
        n++;
    }
    cr_assert_eq(n, 40);
    cf_map_release(m);
}

/* ------------------------------------------------------ the tool itself */

/* Runs `sh -c script tool` (the tool is $0 in the script); returns its
 * stdout (malloc'd) and exit status. */
static char *cfmap_sh(const char *script, int *exit_status)
{
    char tool[PATH_MAX + 16], cmd[PATH_MAX + 1024];
    support_tool_path(tool, sizeof(tool), 1, "cfmap"); /* $(BUILD)/cfmap */
    cr_assert_lt((size_t)snprintf(cmd, sizeof(cmd), "CF_DEBUG= tool='%s' sh -c '%s'", tool,
                                  script),
                 sizeof(cmd));
    fflush(NULL);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t cap = 4096, len = 0;
    char *out = malloc(cap);
    cr_assert_not_null(out);
    size_t got;
    while ((got = fread(out + len, 1, cap - len - 1, p)) > 0) {
        len += got;
        if (len + 1 == cap) {
            out = realloc(out, cap *= 2);
            cr_assert_not_null(out);
        }
    }
    out[len] = '\0';
    int st = pclose(p);
    cr_assert(WIFEXITED(st), "the tool did not exit: %d", st);
    *exit_status = WEXITSTATUS(st);
    return out;
}

Test(cfmap, tool_squares_in_order, .timeout = 60)
{
    int status;
    char *out = cfmap_sh("seq 1 12 | \"$tool\" -j 3 expr {} \"*\" {}", &status);
    cr_assert_eq(status, 0);
    cr_assert_str_eq(out, "1\n4\n9\n16\n25\n36\n49\n64\n81\n100\n121\n144\n");
    free(out);
}

/* Like xargs: the command is the arguments, the line the last one. */
Test(cfmap, tool_takes_its_command_like_xargs, .timeout = 60)
{
    int status;
    char *out = cfmap_sh("printf \"x y\\nz\\n\" | \"$tool\" echo pre", &status);
    cr_assert_eq(status, 0);
    cr_assert_str_eq(out, "pre x y\npre z\n");
    free(out);
    out = cfmap_sh("printf \"3\\n\" | \"$tool\" -P 2 -- sh -c \"echo \\$((\\$1 * 2))\" sh",
                   &status);
    cr_assert_eq(status, 0);
    cr_assert_str_eq(out, "6\n");
    free(out);
}

Test(cfmap, tool_reports_failures, .timeout = 60)
{
    int status;
    /* The tool's stderr, kept in a file, is printed after its stdout. */
    char *out = cfmap_sh("err=$(mktemp); printf \"a\\nb\\nc\\n\" | "
                         "\"$tool\" -j 2 sh -c \"echo \\$1; test \\$1 != b\" sh 2>\"$err\"; "
                         "s=$?; cat \"$err\"; rm -f \"$err\"; exit $s",
                         &status);
    cr_assert_eq(status, 1, "exit status %d", status);
    cr_assert_str_eq(out, "a\nb\nc\ncfmap: line 2: exit status 1: b\n");
    free(out);
    /* A command that is not there: 127, as a shell says it. */
    out = cfmap_sh("echo x | \"$tool\" cfmap_no_such_command 2>&1", &status);
    cr_assert_eq(status, 1);
    cr_assert_str_eq(out, "cfmap: cfmap_no_such_command: No such file or directory\n"
                          "cfmap: line 1: exit status 127: x\n");
    free(out);
}

Test(cfmap, tool_usage_errors, .timeout = 30)
{
    int status;
    char *out = cfmap_sh("\"$tool\" </dev/null 2>/dev/null", &status);
    cr_assert_eq(status, 2, "no command");
    free(out);
    out = cfmap_sh("\"$tool\" -j 0 echo </dev/null 2>/dev/null", &status);
    cr_assert_eq(status, 2);
    free(out);
    out = cfmap_sh("\"$tool\" --bogus echo </dev/null 2>/dev/null", &status);
    cr_assert_eq(status, 2);
    free(out);
    out = cfmap_sh("\"$tool\" --help", &status);
    cr_assert_eq(status, 0);
    cr_assert(strstr(out, "usage: cfmap [-j N] COMMAND [ARG...]"), "%s", out);
    free(out);
    out = cfmap_sh("\"$tool\" --version", &status);
    cr_assert_eq(status, 0);
    cr_assert(strstr(out, CF_VERSION), "%s", out);
    free(out);
    out = cfmap_sh("\"$tool\" echo </dev/null", &status);
    cr_assert_eq(status, 0, "empty input is success");
    cr_assert_str_eq(out, "");
    free(out);
}
