/* Process pool: submit and results, errors, large payloads, back-pressure,
 * options, initializers, worker names and worker deaths.
 *
 * Scenarios ported from CPython's Lib/test/test_concurrent_futures
 * (executor.py, test_process_pool.py, test_init.py), rewritten for the C
 * API. "Still running" is made deterministic with tasks that block until a
 * gate file appears; no test asserts on timing.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cfutures.h>

#include "support.h"

/* ------------------------------------------------------------ helpers */

static void pp_path(char *buf, size_t size, const char *dir, const char *name, long k)
{
    if (k >= 0)
        snprintf(buf, size, "%s/%s-%ld", dir, name, k);
    else
        snprintf(buf, size, "%s/%s", dir, name);
}

/* FNV-1a over a byte range. */
static uint64_t pp_fnv(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* Deterministic pseudo-random bytes from a seed (xorshift64). */
static void pp_fill(unsigned char *buf, size_t len, uint64_t seed)
{
    uint64_t x = seed | 1;
    for (size_t i = 0; i < len; i++) {
        if ((i & 7) == 0) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
        buf[i] = (unsigned char)(x >> ((i & 7) * 8));
    }
}

/* ------------------------------------------------------------ tasks */

static int pp_unregistered(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    return msgpack_pack_nil(out);
}

static int pp_scale_f64(const msgpack_object *args, msgpack_packer *out)
{
    double x, k;
    if (cf_arg_f64(args, 0, &x) < 0 || cf_arg_f64(args, 1, &k) < 0)
        return cf_task_fail("pp_scale_f64: expected two numbers");
    return msgpack_pack_double(out, x * k);
}
CF_TASK(pp_scale_f64);

/* Returns its string argument upper-cased, followed by "!". */
static int pp_shout(const msgpack_object *args, msgpack_packer *out)
{
    const char *s;
    size_t len;
    if (cf_arg_str(args, 0, &s, &len) < 0)
        return cf_task_fail("pp_shout: expected a string");
    char *buf = malloc(len + 1);
    if (!buf)
        return -ENOMEM;
    for (size_t i = 0; i < len; i++)
        buf[i] = (s[i] >= 'a' && s[i] <= 'z') ? (char)(s[i] - 'a' + 'A') : s[i];
    buf[len] = '!';
    int rc = msgpack_pack_str_with_body(out, buf, len + 1);
    free(buf);
    return rc;
}
CF_TASK(pp_shout);

/* Returns its binary argument with the bytes reversed. */
static int pp_reverse_bin(const msgpack_object *args, msgpack_packer *out)
{
    const void *b;
    size_t len;
    if (cf_arg_bin(args, 0, &b, &len) < 0)
        return cf_task_fail("pp_reverse_bin: expected a binary");
    unsigned char *buf = malloc(len ? len : 1);
    if (!buf)
        return -ENOMEM;
    for (size_t i = 0; i < len; i++)
        buf[i] = ((const unsigned char *)b)[len - 1 - i];
    int rc = msgpack_pack_bin_with_body(out, buf, len);
    free(buf);
    return rc;
}
CF_TASK(pp_reverse_bin);

/* [[ints], [ints], ...] -> [[sum, count], ...] */
static int pp_row_sums(const msgpack_object *args, msgpack_packer *out)
{
    const msgpack_object *rows;
    size_t n;
    if (cf_arg_array(args, 0, &rows, &n) < 0)
        return cf_task_fail("pp_row_sums: expected an array");
    msgpack_pack_array(out, n);
    for (size_t i = 0; i < n; i++) {
        const msgpack_object *items;
        size_t m;
        int64_t sum = 0, v;
        if (cf_obj_array(&rows[i], &items, &m) < 0)
            return cf_task_fail("pp_row_sums: row %zu is not an array", i);
        for (size_t j = 0; j < m; j++) {
            if (cf_obj_i64(&items[j], &v) < 0)
                return cf_task_fail("pp_row_sums: row %zu item %zu", i, j);
            sum += v;
        }
        msgpack_pack_array(out, 2);
        msgpack_pack_int64(out, sum);
        msgpack_pack_uint64(out, m);
    }
    return 0;
}
CF_TASK(pp_row_sums);

/* Returns the number of arguments and the sum of the integer ones. */
static int pp_argc(const msgpack_object *args, msgpack_packer *out)
{
    int n = cf_arg_count(args);
    if (n < 0)
        return cf_task_fail("pp_argc: arguments are not an array");
    int64_t sum = 0, v;
    for (int i = 0; i < n; i++)
        if (cf_arg_i64(args, (size_t)i, &v) == 0)
            sum += v;
    msgpack_pack_array(out, 2);
    msgpack_pack_int(out, n);
    return msgpack_pack_int64(out, sum);
}
CF_TASK(pp_argc);

static int pp_fail(const msgpack_object *args, msgpack_packer *out)
{
    int64_t n = 0;
    (void)out;
    (void)cf_arg_i64(args, 0, &n);
    return cf_task_fail("pp_fail refused %lld", (long long)n);
}
CF_TASK(pp_fail);

static int pp_erange(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    (void)out;
    return -ERANGE;
}
CF_TASK(pp_erange);

/* The usual C failure: -1, which must not read as -EPERM. */
static int pp_minus_one(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    (void)out;
    return -1;
}
CF_TASK(pp_minus_one);

static int pp_positive(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    (void)out;
    return 3;
}
CF_TASK(pp_positive);

static int pp_in_map(void *arg, size_t index, msgpack_packer *pk)
{
    (void)arg;
    return index < 3 ? (cf_pack_args(pk, "") == 0 ? 1 : -ENOMEM) : 0;
}

static int pp_pack_none(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    (void)out;
    return 0;
}
CF_TASK(pp_pack_none);

static int pp_pack_two(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    msgpack_pack_int(out, 1);
    return msgpack_pack_int(out, 2);
}
CF_TASK(pp_pack_two);

/* [bin] -> [length, fnv] */
static int pp_bin_digest(const msgpack_object *args, msgpack_packer *out)
{
    const void *b;
    size_t len;
    if (cf_arg_bin(args, 0, &b, &len) < 0)
        return cf_task_fail("pp_bin_digest: expected a binary");
    msgpack_pack_array(out, 2);
    msgpack_pack_uint64(out, len);
    return msgpack_pack_uint64(out, pp_fnv(b, len));
}
CF_TASK(pp_bin_digest);

static int pp_bin_echo(const msgpack_object *args, msgpack_packer *out)
{
    const void *b;
    size_t len;
    if (cf_arg_bin(args, 0, &b, &len) < 0)
        return cf_task_fail("pp_bin_echo: expected a binary");
    return msgpack_pack_bin_with_body(out, b, len);
}
CF_TASK(pp_bin_echo);

/* [len, seed] -> len pseudo-random bytes */
static int pp_bin_make(const msgpack_object *args, msgpack_packer *out)
{
    uint64_t len, seed;
    if (cf_arg_u64(args, 0, &len) < 0 || cf_arg_u64(args, 1, &seed) < 0)
        return cf_task_fail("pp_bin_make: expected two integers");
    unsigned char *buf = malloc(len ? len : 1);
    if (!buf)
        return -ENOMEM;
    pp_fill(buf, len, seed);
    int rc = msgpack_pack_bin_with_body(out, buf, len);
    free(buf);
    return rc;
}
CF_TASK(pp_bin_make);

static int pp_getpid(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    return msgpack_pack_int64(out, getpid());
}
CF_TASK(pp_getpid);

static int pp_comm(const msgpack_object *args, msgpack_packer *out)
{
    char buf[64] = "";
    (void)args;
    FILE *fp = fopen("/proc/self/comm", "r");
    if (!fp)
        return cf_task_fail("pp_comm: cannot open /proc/self/comm");
    if (!fgets(buf, sizeof(buf), fp))
        buf[0] = '\0';
    fclose(fp);
    buf[strcspn(buf, "\n")] = '\0';
    return msgpack_pack_str_with_body(out, buf, strlen(buf));
}
CF_TASK(pp_comm);

static int pp_suicide(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    (void)out;
    kill(getpid(), SIGKILL);
    support_sleep_ms(SUPPORT_LIVENESS_MS);
    return cf_task_fail("pp_suicide: still alive");
}
CF_TASK(pp_suicide);

/* The initializer's state, per worker process. */
static pid_t pp_init_pid;
static int pp_init_calls;
static int64_t pp_init_arg;

/* Initializer: [path, x]; appends "pid\n" to path and remembers x. */
static int pp_init_record(const msgpack_object *args, msgpack_packer *out)
{
    const char *path;
    size_t len;
    char buf[512], line[32];
    if (cf_arg_str(args, 0, &path, &len) < 0 || cf_arg_i64(args, 1, &pp_init_arg) < 0)
        return cf_task_fail("pp_init_record: expected path, x");
    snprintf(buf, sizeof(buf), "%.*s", (int)len, path);
    int fd = open(buf, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return cf_task_fail("pp_init_record: open failed");
    int n = snprintf(line, sizeof(line), "%d\n", (int)getpid());
    ssize_t w = write(fd, line, (size_t)n);
    close(fd);
    if (w != n)
        return cf_task_fail("pp_init_record: write failed");
    pp_init_pid = getpid();
    pp_init_calls++;
    return msgpack_pack_nil(out);
}
CF_TASK(pp_init_record);

/* -> [init pid, init calls, init arg, my pid] */
static int pp_init_state(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    msgpack_pack_array(out, 4);
    msgpack_pack_int64(out, pp_init_pid);
    msgpack_pack_int64(out, pp_init_calls);
    msgpack_pack_int64(out, pp_init_arg);
    return msgpack_pack_int64(out, getpid());
}
CF_TASK(pp_init_state);

static int pp_init_fail(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    (void)out;
    return cf_task_fail("pp_init_fail says no");
}
CF_TASK(pp_init_fail);

/* ------------------------------------------------------------ submit */

Test(process_pool, submit_ints, .timeout = 30)
{
    cf_executor *ex = support_new_pool(2, 0);
    cf_future *fs[50];
    for (int64_t i = 0; i < 50; i++) {
        int64_t n = i * 1000 - 7;
        cr_assert_eq(cf_submit(ex, support_square, &fs[i], "i", n), 0);
    }
    for (int64_t i = 0; i < 50; i++) {
        int64_t n = i * 1000 - 7, got = 0;
        cr_assert_eq(cf_future_result_i64(fs[i], CF_FOREVER, &got), 0);
        cr_assert_eq(got, n * n, "item %lld: %lld", (long long)i, (long long)got);
        cr_assert(cf_future_done(fs[i]));
        cr_assert_not(cf_future_cancelled(fs[i]));
        cr_assert_not(cf_future_running(fs[i]));
        cr_assert_eq(cf_future_error(fs[i], 0), 0);
        cr_assert_str_eq(cf_future_error_message(fs[i]), "");
        cf_future_release(fs[i]);
    }
    cf_executor_release(ex);
}

Test(process_pool, submit_doubles_strings_binaries, .timeout = 30)
{
    cf_executor *ex = support_new_pool(2, 0);
    cf_future *fd, *fs, *fS, *fb, *fe;
    double got_d;
    const char *s;
    size_t len;
    const msgpack_object *o;
    unsigned char bin[300];
    for (size_t i = 0; i < sizeof(bin); i++)
        bin[i] = (unsigned char)(i * 7 + 3);
    const char with_nul[] = {'a', 'b', '\0', 'c'};

    cr_assert_eq(cf_submit(ex, pp_scale_f64, &fd, "dd", 1.25, -4.0), 0);
    cr_assert_eq(cf_submit(ex, pp_shout, &fs, "s", "hello, world"), 0);
    cr_assert_eq(cf_submit(ex, pp_shout, &fS, "S", with_nul, sizeof(with_nul)), 0);
    cr_assert_eq(cf_submit(ex, pp_reverse_bin, &fb, "b", bin, sizeof(bin)), 0);
    cr_assert_eq(cf_submit(ex, pp_reverse_bin, &fe, "b", bin, (size_t)0), 0);

    cr_assert_eq(cf_future_result_f64(fd, CF_FOREVER, &got_d), 0);
    cr_assert_eq(got_d, 1.25 * -4.0);
    cr_assert_eq(cf_future_result_str(fs, CF_FOREVER, &s, &len), 0);
    cr_assert_eq(len, strlen("HELLO, WORLD!"));
    cr_assert_eq(memcmp(s, "HELLO, WORLD!", len), 0);
    cr_assert_eq(cf_future_result_str(fS, CF_FOREVER, &s, &len), 0);
    cr_assert_eq(len, 5);
    cr_assert_eq(memcmp(s, "AB\0C!", 5), 0);

    cr_assert_eq(cf_future_result(fb, CF_FOREVER, &o), 0);
    const void *b;
    cr_assert_eq(cf_obj_bin(o, &b, &len), 0);
    cr_assert_eq(len, sizeof(bin));
    for (size_t i = 0; i < len; i++)
        cr_assert_eq(((const unsigned char *)b)[i], bin[sizeof(bin) - 1 - i]);
    cr_assert_eq(cf_future_result(fe, CF_FOREVER, &o), 0);
    cr_assert_eq(cf_obj_bin(o, &b, &len), 0);
    cr_assert_eq(len, 0);

    /* Typed readers refuse another type. */
    int64_t i64;
    cr_assert_eq(cf_future_result_i64(fs, 0, &i64), CF_ETYPE);

    cf_future_release(fd);
    cf_future_release(fs);
    cf_future_release(fS);
    cf_future_release(fb);
    cf_future_release(fe);
    cf_executor_release(ex);
}

Test(process_pool, submit_nested_arrays, .timeout = 30)
{
    cf_executor *ex = support_new_pool(2, 0);
    cf_future *f;
    const msgpack_object *o, *rows;
    size_t n;
    /* [[1,2,3], [], [-10, 4], [[ ]] is not ints -> use three rows] */
    int rc = cf_submit(ex, pp_row_sums, &f, "[[iii][][ii]]", (int64_t)1, (int64_t)2,
                       (int64_t)3, (int64_t)-10, (int64_t)4);
    cr_assert_eq(rc, 0, "%s", cf_strerror(rc));
    const int64_t want_sum[3] = {1 + 2 + 3, 0, -10 + 4};
    const uint64_t want_n[3] = {3, 0, 2};
    cr_assert_eq(cf_future_result(f, CF_FOREVER, &o), 0, "%s", cf_future_error_message(f));
    cr_assert_eq(cf_obj_array(o, &rows, &n), 0);
    cr_assert_eq(n, 3);
    for (size_t i = 0; i < 3; i++) {
        const msgpack_object *pair;
        size_t m;
        int64_t sum;
        uint64_t cnt;
        cr_assert_eq(cf_obj_array(&rows[i], &pair, &m), 0);
        cr_assert_eq(m, 2);
        cr_assert_eq(cf_obj_i64(&pair[0], &sum), 0);
        cr_assert_eq(cf_obj_u64(&pair[1], &cnt), 0);
        cr_assert_eq(sum, want_sum[i]);
        cr_assert_eq(cnt, want_n[i]);
    }
    cf_future_release(f);

    /* A wrong shape fails inside the task, with the task's message. */
    cr_assert_eq(cf_submit(ex, pp_row_sums, &f, "[i]", (int64_t)5), 0);
    cr_assert_eq(cf_future_result(f, CF_FOREVER, &o), CF_ETASK);
    cr_assert(strstr(cf_future_error_message(f), "row 0") != NULL, "%s",
              cf_future_error_message(f));
    cf_future_release(f);
    cf_executor_release(ex);
}

Test(process_pool, submit_raw_and_formats, .timeout = 30)
{
    cf_executor *ex = support_new_pool(2, 0);
    cf_future *f = NULL;
    const msgpack_object *o, *items;
    size_t n;
    int64_t v;

    /* Keyword-less args through a format: no args at all, then several. */
    cr_assert_eq(cf_submit(ex, pp_argc, &f, ""), 0);
    cr_assert_eq(cf_future_result(f, CF_FOREVER, &o), 0);
    cr_assert_eq(cf_obj_array(o, &items, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(cf_obj_i64(&items[0], &v), 0);
    cr_assert_eq(v, 0);
    cf_future_release(f);

    cr_assert_eq(cf_submit_named(ex, "pp_argc", CF_FOREVER, &f, "i n i s", (int64_t)40,
                                 (int64_t)2, "x"),
                 0);
    cr_assert_eq(cf_future_result(f, CF_FOREVER, &o), 0);
    cr_assert_eq(cf_obj_array(o, &items, &n), 0);
    cr_assert_eq(cf_obj_i64(&items[0], &v), 0);
    cr_assert_eq(v, 4);
    cr_assert_eq(cf_obj_i64(&items[1], &v), 0);
    cr_assert_eq(v, 42);
    cf_future_release(f);

    /* Raw: [7] packed by hand, then by msgpack-c. */
    const unsigned char raw7[] = {0x91, 0x07};
    cr_assert_eq(cf_submit_raw(ex, "support_square", CF_FOREVER, &f, raw7, sizeof(raw7)), 0);
    cr_assert_eq(cf_future_result_i64(f, CF_FOREVER, &v), 0);
    cr_assert_eq(v, 49);
    cf_future_release(f);

    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_int64(&pk, -300000);
    cr_assert_eq(cf_submit_raw(ex, "support_square", 0, &f, sb.data, sb.size), 0);
    cr_assert_eq(cf_future_result_i64(f, CF_FOREVER, &v), 0);
    cr_assert_eq(v, (int64_t)300000 * 300000);
    cf_future_release(f);
    msgpack_sbuffer_destroy(&sb);

    /* Raw bytes that are not exactly one object. */
    const unsigned char two[] = {0x91, 0x01, 0x02};
    const unsigned char cut[] = {0x92, 0x01};
    const unsigned char bad[] = {0xc1};
    f = NULL;
    cr_assert_eq(cf_submit_raw(ex, "support_square", CF_FOREVER, &f, two, sizeof(two)), CF_EPROTO);
    cr_assert_eq(cf_submit_raw(ex, "support_square", CF_FOREVER, &f, cut, sizeof(cut)), CF_EPROTO);
    cr_assert_eq(cf_submit_raw(ex, "support_square", CF_FOREVER, &f, bad, sizeof(bad)), CF_EPROTO);
    cr_assert_eq(cf_submit_raw(ex, "support_square", CF_FOREVER, &f, raw7, 0), CF_EPROTO);
    cr_assert_eq(cf_submit_raw(ex, "support_square", CF_FOREVER, &f, NULL, 2), -EINVAL);
    cr_assert_null(f);

    /* Bad formats. */
    cr_assert_eq(cf_submit(ex, support_square, &f, "z", (int64_t)1), CF_EFORMAT);
    cr_assert_eq(cf_submit(ex, support_square, &f, "[i", (int64_t)1), CF_EFORMAT);
    cr_assert_eq(cf_submit(ex, support_square, &f, "s", (const char *)NULL), CF_EFORMAT);
    cr_assert_null(f);
    cf_executor_release(ex);
}

/* ------------------------------------------------------------ errors */

Test(process_pool, unknown_tasks, .timeout = 30)
{
    cf_executor *ex = support_new_pool(2, 0);
    cf_future *f = NULL;
    cr_assert_eq(cf_submit(ex, pp_unregistered, &f, "i", (int64_t)1), CF_ENOTASK);
    cr_assert_null(f);

    /* A name nobody registered is refused at once (the parent has the
     * same registry as its workers), by every submit that takes a name. */
    cr_assert_eq(cf_submit_named(ex, "pp_no_such_task", CF_FOREVER, &f, "i", (int64_t)1),
                 CF_ENOTASK);
    cr_assert_eq(cf_submit_raw(ex, "pp_no_such_either", CF_FOREVER, &f,
                               (const unsigned char[]){0x90}, 1),
                 CF_ENOTASK);
    cr_assert_eq(cf_submit_with(ex, NULL, "pp_no_such_task", &f, ""), CF_ENOTASK);
    cf_buffer *b = NULL;
    cr_assert_eq(cf_buffer_create(ex, "pp_no_such_task", 4, &b), CF_ENOTASK);
    cr_assert_null(b);
    cr_assert_null(f);

    /* Empty or over-long names are refused at submission. */
    char longname[300];
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    f = NULL;
    cr_assert_eq(cf_submit_named(ex, "", CF_FOREVER, &f, ""), -EINVAL);
    cr_assert_eq(cf_submit_named(ex, longname, CF_FOREVER, &f, ""), -EINVAL);
    cr_assert_null(f);

    /* The pool still works. */
    int64_t v;
    cr_assert_eq(cf_submit(ex, support_square, &f, "i", (int64_t)12), 0);
    cr_assert_eq(cf_future_result_i64(f, CF_FOREVER, &v), 0);
    cr_assert_eq(v, 144);
    cf_future_release(f);
    cf_executor_release(ex);
}

/* Any non-zero return that is not cf_task_fail's is CF_ETASK naming the
 * task and the value, alone and as a map item (a chunk runs it too). */
Test(process_pool, task_returning_minus_one, .timeout = 30)
{
    cf_executor *ex = support_new_pool(1, 0);
    cf_future *f;
    cr_assert_eq(cf_submit(ex, pp_minus_one, &f, ""), 0);
    cr_assert_eq(cf_future_error(f, CF_FOREVER), CF_ETASK);
    cr_assert_str_eq(cf_future_error_message(f), "task pp_minus_one returned -1");
    cf_future_release(f);
    cr_assert_eq(cf_submit(ex, pp_positive, &f, ""), 0);
    cr_assert_eq(cf_future_error(f, CF_FOREVER), CF_ETASK);
    cr_assert_str_eq(cf_future_error_message(f), "task pp_positive returned 3");
    cf_future_release(f);

    cf_map *m;
    size_t idx;
    const msgpack_object *r;
    cf_map_options mo = {.chunksize = 3};
    cr_assert_eq(cf_map_create(&m, ex, "pp_minus_one", pp_in_map, NULL, &mo), 0);
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(cf_map_next(m, &idx, &r), CF_ETASK);
        cr_assert(strstr(cf_map_error_message(m), "task pp_minus_one returned -1"), "%s",
                  cf_map_error_message(m));
    }
    cr_assert_eq(cf_map_next(m, &idx, &r), CF_EEMPTY);
    cf_map_release(m);
    cf_executor_release(ex);
}

Test(process_pool, task_failures, .timeout = 30)
{
    cf_executor *ex = support_new_pool(2, 0);
    cf_future *ff, *fr, *f0, *f2, *ok;
    int64_t v;
    cr_assert_eq(cf_submit(ex, pp_fail, &ff, "i", (int64_t)77), 0);
    cr_assert_eq(cf_submit(ex, pp_erange, &fr, ""), 0);
    cr_assert_eq(cf_submit(ex, pp_pack_none, &f0, ""), 0);
    cr_assert_eq(cf_submit(ex, pp_pack_two, &f2, ""), 0);
    cr_assert_eq(cf_submit(ex, support_square, &ok, "i", (int64_t)-9), 0);

    cr_assert_eq(cf_future_result(ff, CF_FOREVER, NULL), CF_ETASK);
    cr_assert_str_eq(cf_future_error_message(ff), "pp_fail refused 77");
    cr_assert_eq(cf_future_result_i64(ff, 0, &v), CF_ETASK);

    cr_assert_eq(cf_future_error(fr, CF_FOREVER), CF_ETASK);
    cr_assert_str_eq(cf_future_error_message(fr), "task pp_erange returned -34");

    int rc = cf_future_result(f0, CF_FOREVER, NULL);
    cr_assert_eq(rc, CF_ETASK, "packing no result fails as in the thread pool and an actor");
    cr_assert(strstr(cf_future_error_message(f0), "pp_pack_none") != NULL, "%s",
              cf_future_error_message(f0));
    rc = cf_future_result(f2, CF_FOREVER, NULL);
    cr_assert_eq(rc, CF_ETASK, "packing two results must fail");
    cr_assert(strstr(cf_future_error_message(f2), "pp_pack_two") != NULL, "%s",
              cf_future_error_message(f2));

    cr_assert_eq(cf_future_result_i64(ok, CF_FOREVER, &v), 0);
    cr_assert_eq(v, 81);
    cf_future_release(ff);
    cf_future_release(fr);
    cf_future_release(f0);
    cf_future_release(f2);
    cf_future_release(ok);
    cf_executor_release(ex);
}

/* ------------------------------------------------------------ large payloads */

Test(process_pool, huge_argument_echoed, .timeout = 30)
{
    const size_t len = (size_t)256 << 20;
    cf_executor *ex = support_new_pool(2, 0); /* default 1 MiB rings */
    unsigned char *buf = malloc(len);
    cr_assert_not_null(buf);
    pp_fill(buf, len, 0x5eed);
    uint64_t want = pp_fnv(buf, len);
    cf_future *f;
    int rc = cf_submit(ex, pp_bin_echo, &f, "b", buf, len);
    cr_assert_eq(rc, 0, "%s", cf_strerror(rc));
    free(buf); /* the argument is the pool's now */

    const msgpack_object *o;
    const void *b;
    size_t got_len;
    rc = cf_future_result(f, CF_FOREVER, &o);
    cr_assert_eq(rc, 0, "%s: %s", cf_strerror(rc), cf_future_error_message(f));
    cr_assert_eq(cf_obj_bin(o, &b, &got_len), 0);
    cr_assert_eq(got_len, len);
    cr_assert_eq(pp_fnv(b, got_len), want, "echoed bytes differ");
    cf_future_release(f);
    cf_executor_release(ex);
}

Test(process_pool, large_arguments_and_results, .timeout = 30)
{
    cf_executor *ex = support_new_pool(2, 0);
    const size_t big = (size_t)3 << 20; /* three rings' worth */
    cf_future *fmake[3], *fdig;
    for (int i = 0; i < 3; i++)
        cr_assert_eq(cf_submit(ex, pp_bin_make, &fmake[i], "uu", (uint64_t)(big + (size_t)i),
                               (uint64_t)(1000 + i)),
                     0);
    unsigned char *buf = malloc(big);
    cr_assert_not_null(buf);
    pp_fill(buf, big, 77);
    uint64_t want_dig = pp_fnv(buf, big);
    cr_assert_eq(cf_submit(ex, pp_bin_digest, &fdig, "b", buf, big), 0);

    for (int i = 0; i < 3; i++) {
        const msgpack_object *o;
        const void *b;
        size_t n;
        size_t want_len = big + (size_t)i;
        unsigned char *expect = malloc(want_len);
        cr_assert_not_null(expect);
        pp_fill(expect, want_len, (uint64_t)(1000 + i));
        cr_assert_eq(cf_future_result(fmake[i], CF_FOREVER, &o), 0, "%s",
                     cf_future_error_message(fmake[i]));
        cr_assert_eq(cf_obj_bin(o, &b, &n), 0);
        cr_assert_eq(n, want_len);
        cr_assert_eq(memcmp(b, expect, n), 0, "result %d differs", i);
        free(expect);
        cf_future_release(fmake[i]);
    }
    const msgpack_object *o, *items;
    size_t n;
    uint64_t got_len, got_dig;
    cr_assert_eq(cf_future_result(fdig, CF_FOREVER, &o), 0);
    cr_assert_eq(cf_obj_array(o, &items, &n), 0);
    cr_assert_eq(cf_obj_u64(&items[0], &got_len), 0);
    cr_assert_eq(cf_obj_u64(&items[1], &got_dig), 0);
    cr_assert_eq(got_len, big);
    cr_assert_eq(got_dig, want_dig);
    free(buf);
    cf_future_release(fdig);
    cf_executor_release(ex);
}

/* ------------------------------------------------------------ back-pressure */

Test(process_pool, back_pressure_full_ring, .timeout = 30)
{
    char dir[64], go[128];
    support_make_dir(dir, sizeof(dir));
    pp_path(go, sizeof(go), dir, "go", -1);
    cf_executor *ex = support_new_pool(2, 4096);
    cf_future *b0 = support_block_worker(ex, dir, 100);
    cf_future *b1 = support_block_worker(ex, dir, 101);

    /* Both workers are stuck: fill the task ring until it refuses. */
    enum { MAXQ = 5000 };
    cf_future **q = calloc(MAXQ, sizeof(*q));
    cr_assert_not_null(q);
    int nq = 0, rc = 0;
    while (nq < MAXQ) {
        rc = cf_submit_named(ex, "support_square", 0, &q[nq], "i", (int64_t)nq);
        if (rc != 0)
            break;
        nq++;
    }
    cr_assert_eq(rc, CF_EFULL, "expected CF_EFULL, got %s after %d", cf_strerror(rc), nq);
    cr_assert_gt(nq, 0);
    cf_future *f = NULL;
    rc = cf_submit_named(ex, "support_square", 0.05, &f, "i", (int64_t)-1);
    cr_assert_eq(rc, -ETIMEDOUT, "got %s", cf_strerror(rc));
    cr_assert_null(f);
    const unsigned char raw[] = {0x91, 0x03};
    rc = cf_submit_raw(ex, "support_square", 0, &f, raw, sizeof(raw));
    cr_assert_eq(rc, CF_EFULL, "got %s", cf_strerror(rc));
    /* Nothing queued has started, and none is done. */
    for (int i = 0; i < nq; i++)
        cr_assert_not(cf_future_done(q[i]));

    support_touch(go);
    int64_t v;
    for (int i = 0; i < nq; i++) {
        cr_assert_eq(cf_future_result_i64(q[i], CF_FOREVER, &v), 0);
        cr_assert_eq(v, (int64_t)i * i);
        cf_future_release(q[i]);
    }
    cr_assert_eq(cf_future_result_i64(b0, CF_FOREVER, &v), 0);
    cr_assert_eq(v, 100);
    cr_assert_eq(cf_future_result_i64(b1, CF_FOREVER, &v), 0);
    cr_assert_eq(v, 101);
    /* Room again: a blocking submit and a polling one both go through. */
    cr_assert_eq(cf_submit_named(ex, "support_square", 5.0, &f, "i", (int64_t)21), 0);
    cr_assert_eq(cf_future_result_i64(f, CF_FOREVER, &v), 0);
    cr_assert_eq(v, 441);
    cf_future_release(f);
    cf_future_release(b0);
    cf_future_release(b1);
    free(q);
    cf_executor_release(ex);
    support_remove_dir(dir);
}

/* ------------------------------------------------------------ options */

Test(process_pool, invalid_arguments, .timeout = 30)
{
    cf_executor *ex = NULL;
    cf_process_pool_options o = {.max_workers = 2};
    cr_assert_eq(cf_process_pool_create(NULL, &o), -EINVAL);
    const int bad_workers[] = {-1, 1025, INT32_MIN}; /* 0: the default */
    for (size_t i = 0; i < sizeof(bad_workers) / sizeof(*bad_workers); i++) {
        o = (cf_process_pool_options){.max_workers = bad_workers[i]};
        cr_assert_eq(cf_process_pool_create(&ex, &o), -EINVAL, "max_workers %d",
                     bad_workers[i]);
    }
    const size_t bad_rings[] = {5000, 2048, 4095, 4097, (size_t)3 << 20};
    for (size_t i = 0; i < sizeof(bad_rings) / sizeof(*bad_rings); i++) {
        o = (cf_process_pool_options){.max_workers = 1, .ring_bytes = bad_rings[i]};
        cr_assert_eq(cf_process_pool_create(&ex, &o), -EINVAL, "ring %zu", bad_rings[i]);
    }
    o = (cf_process_pool_options){.max_workers = 1, .initializer = "pp_no_such_init"};
    cr_assert_eq(cf_process_pool_create(&ex, &o), CF_ENOTASK);
    o = (cf_process_pool_options){.max_workers = 1, .initializer = ""};
    cr_assert_eq(cf_process_pool_create(&ex, &o), -EINVAL, "an empty name is no task name");
    const unsigned char two[] = {0x90, 0x90};
    o = (cf_process_pool_options){.max_workers = 1, .initializer = "pp_init_fail",
                                  .initargs = two, .initargs_len = sizeof(two)};
    cr_assert_eq(cf_process_pool_create(&ex, &o), -EINVAL);
    cr_assert_null(ex);

    /* Operations on NULL. */
    cf_future *f = NULL;
    cr_assert_eq(cf_submit(NULL, support_square, &f, "i", (int64_t)1), -EINVAL);
    cr_assert_eq(cf_submit_named(NULL, "support_square", 0, &f, "i", (int64_t)1), -EINVAL);
    cr_assert_eq(cf_submit_raw(NULL, "support_square", 0, &f, (const unsigned char[]){0x90}, 1),
                 -EINVAL);
    cr_assert_eq(cf_executor_shutdown(NULL, true, false), -EINVAL);
    cr_assert_eq(cf_executor_workers(NULL), -EINVAL);
    cf_executor_release(NULL);

    /* A smallest legal pool, then NULL arguments against it. */
    o = (cf_process_pool_options){.max_workers = 1, .ring_bytes = 4096};
    cr_assert_eq(cf_process_pool_create(&ex, &o), 0);
    cr_assert_eq(cf_executor_workers(ex), 1);
    cr_assert_eq(cf_submit(ex, NULL, &f, "i", (int64_t)1), -EINVAL);
    cr_assert_eq(cf_submit(ex, support_square, NULL, "i", (int64_t)1), -EINVAL);
    cr_assert_eq(cf_submit(ex, support_square, &f, NULL), -EINVAL);
    cr_assert_eq(cf_submit_named(ex, NULL, 0, &f, "i", (int64_t)1), -EINVAL);
    cr_assert_eq(cf_submit_named(ex, "support_square", 0, NULL, "i", (int64_t)1), -EINVAL);
    cr_assert_eq(cf_submit_raw(ex, NULL, 0, &f, (const unsigned char[]){0x90}, 1), -EINVAL);
    cr_assert_eq(cf_submit_raw(ex, "support_square", 0, NULL, (const unsigned char[]){0x90}, 1),
                 -EINVAL);
    cr_assert_null(f);
    int64_t v;
    cr_assert_eq(cf_submit(ex, support_square, &f, "i", (int64_t)3), 0);
    cr_assert_eq(cf_future_result_i64(f, CF_FOREVER, &v), 0);
    cr_assert_eq(v, 9);
    cf_future_release(f);
    cf_executor_release(ex);
}

Test(process_pool, default_workers_env, .timeout = 30)
{
    support_stderr_begin();
    const char *bad[] = {"abc", "0", "-2", "1025", "3x", " 3x", "99999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        setenv("CF_WORKERS", bad[i], 1);
        cr_assert_eq(cf_default_workers(), -EINVAL, "CF_WORKERS=%s", bad[i]);
    }
    /* The variable is named, once. */
    char text[1024];
    support_stderr_end(text, sizeof(text));
    cr_assert(strstr(text, "cfutures: CF_WORKERS=\"abc\" is not a worker count"), "%s", text);
    cr_assert_null(strstr(text + 1, "cfutures: "), "once: %s", text);
    cf_executor *ex = NULL;
    setenv("CF_WORKERS", "garbage", 1);
    cr_assert_eq(cf_process_pool_create(&ex, NULL), -EINVAL);
    cr_assert_null(ex);

    setenv("CF_WORKERS", "1024", 1);
    cr_assert_eq(cf_default_workers(), 1024);
    setenv("CF_WORKERS", "3", 1);
    cr_assert_eq(cf_default_workers(), 3);
    cr_assert_eq(cf_process_pool_create(&ex, NULL), 0);
    cr_assert_eq(cf_executor_workers(ex), 3);
    cf_future *f;
    int64_t v;
    cr_assert_eq(cf_submit(ex, support_square, &f, "i", (int64_t)11), 0);
    cr_assert_eq(cf_future_result_i64(f, CF_FOREVER, &v), 0);
    cr_assert_eq(v, 121);
    cf_future_release(f);
    cf_executor_release(ex);

    unsetenv("CF_WORKERS");
    cpu_set_t set;
    cr_assert_eq(sched_getaffinity(0, sizeof(set), &set), 0);
    cr_assert_eq(cf_default_workers(), CPU_COUNT(&set));
}

/* ------------------------------------------------------------ initializer */

Test(process_pool, initializer_runs_once_per_worker, .timeout = 30)
{
    char dir[64], log[128];
    support_make_dir(dir, sizeof(dir));
    pp_path(log, sizeof(log), dir, "init.log", -1);
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    cr_assert_eq(cf_pack_args(&pk, "si", log, (int64_t)4242), 0);

    cf_executor *ex = NULL;
    cf_process_pool_options o = {.max_workers = 2, .initializer = "pp_init_record",
                                 .initargs = sb.data, .initargs_len = sb.size};
    int rc = cf_process_pool_create(&ex, &o);
    cr_assert_eq(rc, 0, "%s", cf_strerror(rc));
    msgpack_sbuffer_destroy(&sb); /* the pool copied them */

    enum { N = 40 };
    cf_future *fs[N];
    for (int i = 0; i < N; i++)
        cr_assert_eq(cf_submit(ex, pp_init_state, &fs[i], ""), 0);
    pid_t seen[N];
    for (int i = 0; i < N; i++) {
        const msgpack_object *o2, *it;
        size_t n;
        int64_t ipid, calls, arg, pid;
        cr_assert_eq(cf_future_result(fs[i], CF_FOREVER, &o2), 0);
        cr_assert_eq(cf_obj_array(o2, &it, &n), 0);
        cr_assert_eq(n, 4);
        cf_obj_i64(&it[0], &ipid);
        cf_obj_i64(&it[1], &calls);
        cf_obj_i64(&it[2], &arg);
        cf_obj_i64(&it[3], &pid);
        cr_assert_eq(ipid, pid, "the initializer ran in another process");
        cr_assert_eq(calls, 1, "the initializer ran %lld times", (long long)calls);
        cr_assert_eq(arg, 4242);
        cr_assert_neq(pid, getpid());
        seen[i] = (pid_t)pid;
        cf_future_release(fs[i]);
    }
    cr_assert_eq(cf_executor_shutdown(ex, CF_WAIT, false), 0);

    /* Exactly one line per worker, distinct pids, every task's pid among them. */
    FILE *fp = fopen(log, "r");
    cr_assert_not_null(fp);
    int lines = 0, pids[8];
    while (lines < 8 && fscanf(fp, "%d", &pids[lines]) == 1)
        lines++;
    fclose(fp);
    cr_assert_eq(lines, 2, "initializer ran %d times for 2 workers", lines);
    cr_assert_neq(pids[0], pids[1]);
    for (int i = 0; i < N; i++)
        cr_assert(seen[i] == pids[0] || seen[i] == pids[1]);
    cf_executor_release(ex);
    support_remove_dir(dir);
}

Test(process_pool, initializer_failure_breaks_pool, .timeout = 30)
{
    cf_executor *ex = NULL;
    cf_process_pool_options o = {.max_workers = 2, .initializer = "pp_init_fail"};
    int rc = cf_process_pool_create(&ex, &o);
    cr_assert_eq(rc, 0, "%s", cf_strerror(rc));

    /* Submissions before the break is noticed fail with CF_EBROKEN and the
     * initializer's message; after it, submit itself says CF_EBROKEN. */
    int submitted = 0;
    for (int i = 0; i < SUPPORT_LIVENESS_MS; i++) {
        cf_future *f = NULL;
        rc = cf_submit(ex, support_square, &f, "i", (int64_t)i);
        if (rc == CF_EBROKEN) {
            cr_assert_null(f);
            break;
        }
        cr_assert_eq(rc, 0, "submit: %s", cf_strerror(rc));
        submitted++;
        cr_assert_eq(cf_future_result(f, CF_FOREVER, NULL), CF_EBROKEN);
        const char *msg = cf_future_error_message(f);
        cr_assert(strstr(msg, "pp_init_fail") && strstr(msg, "pp_init_fail says no"),
                  "message: %s", msg);
        cf_future_release(f);
        support_sleep_ms(1);
    }
    cr_assert_eq(rc, CF_EBROKEN, "the pool never reported broken");
    cf_future *f = NULL;
    cr_assert_eq(cf_submit_named(ex, "support_square", 0, &f, "i", (int64_t)1), CF_EBROKEN);
    cr_assert_eq(cf_submit_raw(ex, "support_square", 0, &f, (const unsigned char[]){0x90}, 1),
                 CF_EBROKEN);
    cr_assert_null(f);
    cr_assert_eq(cf_executor_shutdown(ex, CF_WAIT, false), 0);
    cf_executor_release(ex);
}

/* ------------------------------------------------------------ workers */

Test(process_pool, worker_names, .timeout = 30)
{
    char dir[64], go[128];
    support_make_dir(dir, sizeof(dir));
    pp_path(go, sizeof(go), dir, "go", -1);
    cf_executor *ex = support_new_pool(2, 0);
    /* Keep one worker busy so both names are seen: first from either, then
     * from the other while the first one is held. */
    cf_future *hold = support_block_worker(ex, dir, 1);
    cf_future *f;
    const char *s;
    size_t len;
    char first[32], second[32];
    cr_assert_eq(cf_submit(ex, pp_comm, &f, ""), 0);
    cr_assert_eq(cf_future_result_str(f, CF_FOREVER, &s, &len), 0);
    snprintf(first, sizeof(first), "%.*s", (int)len, s);
    cf_future_release(f);
    support_touch(go);
    cr_assert_eq(cf_future_error(hold, CF_FOREVER), 0);
    cf_future_release(hold);
    cr_assert(!strcmp(first, "cf-worker-0") || !strcmp(first, "cf-worker-1"), "comm %s",
              first);
    int seen_other = 0;
    for (int i = 0; i < 200 && !seen_other; i++) {
        cr_assert_eq(cf_submit(ex, pp_comm, &f, ""), 0);
        cr_assert_eq(cf_future_result_str(f, CF_FOREVER, &s, &len), 0);
        snprintf(second, sizeof(second), "%.*s", (int)len, s);
        cf_future_release(f);
        cr_assert(!strcmp(second, "cf-worker-0") || !strcmp(second, "cf-worker-1"),
                  "comm %s", second);
        seen_other = strcmp(first, second) != 0;
    }
    cf_executor_release(ex);
    support_remove_dir(dir);
}

Test(process_pool, many_tasks, .timeout = 30)
{
    enum { N = 20000 };
    cf_executor *ex = support_new_pool(2, 0);
    cf_future **fs = calloc(N, sizeof(*fs));
    cr_assert_not_null(fs);
    for (int64_t i = 0; i < N; i++) {
        int rc = cf_submit(ex, support_square, &fs[i], "i", i - N / 2);
        cr_assert_eq(rc, 0, "submit %lld: %s", (long long)i, cf_strerror(rc));
    }
    for (int64_t i = 0; i < N; i++) {
        int64_t v, n = i - N / 2;
        cr_assert_eq(cf_future_result_i64(fs[i], CF_FOREVER, &v), 0);
        cr_assert_eq(v, n * n, "task %lld", (long long)i);
        cf_future_release(fs[i]);
    }
    free(fs);
    cf_executor_release(ex);
}

struct pp_cb_state {
    atomic_int calls;
    atomic_int bad;
    int64_t want[64];
    atomic_int seen[64];
};

static int pp_on_done(cf_future *f, void *arg)
{
    struct pp_cb_state *st = arg;
    int64_t v;
    if (!cf_future_done(f) || cf_future_result_i64(f, 0, &v) != 0) {
        atomic_fetch_add(&st->bad, 1);
        return -1;
    }
    for (int i = 0; i < 64; i++)
        if (st->want[i] == v)
            atomic_fetch_add(&st->seen[i], 1);
    atomic_fetch_add(&st->calls, 1);
    return 0;
}

Test(process_pool, done_callbacks, .timeout = 30)
{
    static struct pp_cb_state st;
    cf_executor *ex = support_new_pool(2, 0);
    cf_future *fs[64];
    /* All expectations first: callbacks read them from the collector. */
    for (int i = 0; i < 64; i++)
        st.want[i] = (int64_t)(i + 1000) * (i + 1000);
    for (int i = 0; i < 64; i++) {
        cr_assert_eq(cf_submit(ex, support_square, &fs[i], "i", (int64_t)(i + 1000)), 0);
        cr_assert_eq(cf_future_add_done_callback(fs[i], pp_on_done, &st), 0);
    }
    /* Joining the collector guarantees every callback has run. */
    cr_assert_eq(cf_executor_shutdown(ex, CF_WAIT, false), 0);
    cr_assert_eq(atomic_load(&st.calls), 64);
    cr_assert_eq(atomic_load(&st.bad), 0);
    for (int i = 0; i < 64; i++)
        cr_assert_eq(atomic_load(&st.seen[i]), 1, "result %d seen %d times", i,
                     atomic_load(&st.seen[i]));
    /* Added after completion: runs at once, in this thread. */
    cr_assert_eq(cf_future_add_done_callback(fs[5], pp_on_done, &st), 0);
    cr_assert_eq(atomic_load(&st.calls), 65);
    cr_assert_eq(atomic_load(&st.seen[5]), 2);
    cr_assert_eq(cf_future_add_done_callback(fs[5], NULL, &st), -EINVAL);
    for (int i = 0; i < 64; i++)
        cf_future_release(fs[i]);
    cf_executor_release(ex);
}

Test(process_pool, killed_worker_fails_one_future, .timeout = 30)
{
    char dir[64], go[128];
    support_make_dir(dir, sizeof(dir));
    pp_path(go, sizeof(go), dir, "go", -1);
    cf_executor *ex = support_new_pool(2, 0);
    enum { N = 30 };
    cf_future *before[N], *after[N], *victim;
    for (int i = 0; i < N; i++)
        cr_assert_eq(cf_submit(ex, support_square, &before[i], "i", (int64_t)i), 0);
    cr_assert_eq(cf_submit(ex, pp_suicide, &victim, ""), 0);
    for (int i = 0; i < N; i++)
        cr_assert_eq(cf_submit(ex, support_square, &after[i], "i", (int64_t)(i + N)), 0);

    cr_assert_eq(cf_future_result(victim, CF_FOREVER, NULL), CF_EWORKER);
    const char *msg = cf_future_error_message(victim);
    cr_assert(strstr(msg, "SIGKILL") != NULL, "message: %s", msg);
    cr_assert(strstr(msg, "pp_suicide") != NULL, "message: %s", msg);
    int64_t v;
    for (int i = 0; i < N; i++) {
        cr_assert_eq(cf_future_result_i64(before[i], CF_FOREVER, &v), 0, "before %d: %s", i,
                     cf_future_error_message(before[i]));
        cr_assert_eq(v, (int64_t)i * i);
        cr_assert_eq(cf_future_result_i64(after[i], CF_FOREVER, &v), 0, "after %d: %s", i,
                     cf_future_error_message(after[i]));
        cr_assert_eq(v, (int64_t)(i + N) * (i + N));
        cf_future_release(before[i]);
        cf_future_release(after[i]);
    }
    cf_future_release(victim);

    /* A replacement was spawned: two tasks can be running at once again. */
    cf_future *b0 = support_block_worker(ex, dir, 7);
    cf_future *b1 = support_block_worker(ex, dir, 8);
    support_touch(go);
    cr_assert_eq(cf_future_result_i64(b0, CF_FOREVER, &v), 0);
    cr_assert_eq(v, 7);
    cr_assert_eq(cf_future_result_i64(b1, CF_FOREVER, &v), 0);
    cr_assert_eq(v, 8);
    cf_future_release(b0);
    cf_future_release(b1);

    /* Twice more, to be sure the pool keeps recovering. */
    for (int round = 0; round < 2; round++) {
        cr_assert_eq(cf_submit(ex, pp_suicide, &victim, ""), 0);
        cr_assert_eq(cf_future_error(victim, CF_FOREVER), CF_EWORKER);
        cf_future_release(victim);
    }
    cf_future *f;
    cr_assert_eq(cf_submit(ex, support_square, &f, "i", (int64_t)-5), 0);
    cr_assert_eq(cf_future_result_i64(f, CF_FOREVER, &v), 0);
    cr_assert_eq(v, 25);
    cf_future_release(f);
    cf_executor_release(ex);
    support_remove_dir(dir);
}
