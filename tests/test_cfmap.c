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

/* Runs cfmap_run(tmpl, line) and checks status and stdout. */
static void cfmap_expect(const char *tmpl, const char *line, int64_t status, const char *out)
{
    cf_future *f;
    const msgpack_object *r;
    cr_assert_eq(cf_submit(support_pool, cfmap_run, &f, "ss", tmpl, line), 0);
    cr_assert_eq(cf_future_result(f, CF_FOREVER, &r), 0, "%s", cf_future_error_message(f));
    const msgpack_object *items;
    size_t n, len;
    int64_t st;
    const void *bytes;
    cr_assert_eq(cf_obj_array(r, &items, &n), 0);
    cr_assert_eq(n, 3);
    cr_assert_eq(cf_obj_i64(&items[0], &st), 0);
    cr_assert_eq(st, status, "%s with %s: status %lld", tmpl, line, (long long)st);
    cr_assert_eq(cf_obj_bin(&items[1], &bytes, &len), 0);
    cr_assert_eq(len, strlen(out), "%s with %s: output %.*s", tmpl, line, (int)len,
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

Test(cfmap, script_substitution, .timeout = 10)
{
    static const struct {
        const char *tmpl, *script;
    } cases[] = {
        {"expr {} \\* {}", "expr \"$1\" \\* \"$1\""},
        {"wc -l", "wc -l \"$1\""},
        {"{}", "\"$1\""},
        {"echo {", "echo { \"$1\""},
        {"", " \"$1\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *s = cfmap_script(cases[i].tmpl, strlen(cases[i].tmpl));
        cr_assert_not_null(s);
        cr_assert_str_eq(s, cases[i].script);
        free(s);
    }
}

Test(cfmap, task_output_and_status, .init = support_setup, .fini = support_teardown,
     .timeout = 30)
{
    cfmap_expect("expr {} \\* {}", "7", 0, "49\n");
    cfmap_expect("echo", "a  b", 0, "a  b\n");
    cfmap_expect("echo '<'{}'>'", "x y", 0, "<x y>\n");
    cfmap_expect("printf %s", "", 0, "");
    cfmap_expect("exit 3", "anything", 3, "");
    cfmap_expect("echo partial; false", "l", 1, "partial\n");
    cfmap_expect("kill -9 $$", "l", 128 + 9, "");
    /* The line is one argument, never shell syntax. */
    cfmap_expect("echo {}", "$(echo no); `echo no` | x", 0, "$(echo no); `echo no` | x\n");
    /* The command's stdin is /dev/null, not the tool's. */
    cfmap_expect("wc -c; :", "x", 0, "0\n");
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
    return cf_pack_args(pk, "ss", "echo line {}", line) == 0 ? 1 : -ENOMEM;
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

/* $(BUILD)/cfmap, from this binary's $(BUILD)/tests/...; skips if absent. */
static void cfmap_tool(char *path, size_t size)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    cr_assert_gt(n, 0);
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    cr_assert_not_null(slash);
    *slash = '\0'; /* .../tests */
    slash = strrchr(self, '/');
    cr_assert_not_null(slash);
    *slash = '\0'; /* the build directory */
    cr_assert_lt((size_t)snprintf(path, size, "%.*s/cfmap", PATH_MAX - 16, self), size);
    if (access(path, X_OK) != 0)
        cr_skip_test("the cfmap tool is not built next to the tests (make test builds it)");
}

/* Runs `sh -c script tool` (the tool is $0 in the script); returns its
 * stdout (malloc'd) and exit status. */
static char *cfmap_sh(const char *script, int *exit_status)
{
    char tool[PATH_MAX + 16], cmd[PATH_MAX + 1024];
    cfmap_tool(tool, sizeof(tool));
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
    char *out = cfmap_sh("seq 1 12 | \"$tool\" -j 3 \"expr {} \\* {}\"", &status);
    cr_assert_eq(status, 0);
    cr_assert_str_eq(out, "1\n4\n9\n16\n25\n36\n49\n64\n81\n100\n121\n144\n");
    free(out);
}

Test(cfmap, tool_reports_failures, .timeout = 60)
{
    int status;
    /* The tool's stderr, kept in a file, is printed after its stdout. */
    char *out = cfmap_sh("err=$(mktemp); printf \"a\\nb\\nc\\n\" | "
                         "\"$tool\" -j 2 \"test {} != b && echo {}\" 2>\"$err\"; s=$?; "
                         "cat \"$err\"; rm -f \"$err\"; exit $s",
                         &status);
    cr_assert_eq(status, 1, "exit status %d", status);
    cr_assert_str_eq(out, "a\nc\ncfmap: line 2: exit status 1: b\n");
    free(out);
}

Test(cfmap, tool_usage_errors, .timeout = 30)
{
    int status;
    char *out = cfmap_sh("\"$tool\" </dev/null 2>/dev/null", &status);
    cr_assert_eq(status, 2);
    free(out);
    out = cfmap_sh("\"$tool\" -j 0 echo </dev/null 2>/dev/null", &status);
    cr_assert_eq(status, 2);
    free(out);
    out = cfmap_sh("\"$tool\" echo </dev/null", &status);
    cr_assert_eq(status, 0, "empty input is success");
    cr_assert_str_eq(out, "");
    free(out);
}
