/* tests/test_values.c — the type-checked argument lists (CF_ARGS, CF_VAL,
 * cf_submit_args) and result packer (cf_pack) of include/cfutures.h.
 * What must not compile is checked by tests/compile_check.sh. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "tests/support.h"

/* Returns its argument array as it arrived. */
static int val_echo(const msgpack_object *args, msgpack_packer *out)
{
    return msgpack_pack_object(out, *args) ? -1 : 0;
}
CF_TASK(val_echo);

/* [x] -> x / 2 as a double, packed by cf_pack. */
static int val_half(const msgpack_object *args, msgpack_packer *out)
{
    int64_t x;
    if (cf_arg_i64(args, 0, &x) < 0)
        return cf_task_fail("val_half: expected an integer");
    return cf_pack(out, (double)x / 2);
}
CF_TASK(val_half);

/* Never registered. */
static int val_unregistered(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    return msgpack_pack_nil(out);
}

static cf_future *echo(cf_executor *ex, cf_values v)
{
    cf_future *f;
    cr_assert_eq(cf_submit_args(ex, val_echo, &f, v), 0);
    cr_assert_eq(cf_future_error(f, CF_FOREVER), 0, "%s", cf_future_error_message(f));
    return f;
}

/* The trap: an int -5 passed for "i" arrived as 4294967291. */
Test(values, an_int_minus_five_arrives_as_minus_five, .timeout = 30)
{
    cf_executor *ex = support_new_pool(1, 0);
    int n = -5;
    cf_future *f = echo(ex, CF_ARGS(n, -5));
    const msgpack_object *r;
    cr_assert_eq(cf_future_result(f, 0, &r), 0);
    int64_t a, b;
    cr_assert_eq(cf_arg_i64(r, 0, &a), 0);
    cr_assert_eq(cf_arg_i64(r, 1, &b), 0);
    cr_assert_eq(a, -5);
    cr_assert_eq(b, -5);
    cf_future_release(f);
    cf_executor_release(ex);
}

Test(values, every_type_packs_as_its_msgpack_type, .timeout = 30)
{
    cf_executor *ex = support_new_pool(1, 0);
    char c = 'A';
    unsigned short us = 65535;
    long long ll = INT64_MIN;
    unsigned long long ull = UINT64_MAX;
    _Bool yes = 1;
    const char *s = "str";
    char buf[] = "buf";
    float fl = 1.5f;
    msgpack_object nested = {.type = MSGPACK_OBJECT_POSITIVE_INTEGER, .via.u64 = 9};
    cf_future *f = echo(ex, CF_ARGS(c, us, ll, ull, yes, s, buf, fl, 2.0, cf_bin("a\0b", 3),
                                    cf_nil(), cf_array(CF_ARGS(1, "x")), cf_strn("xyz", 2),
                                    &nested, (signed char)-1, (short)-300));
    const msgpack_object *r, *items;
    size_t n;
    cr_assert_eq(cf_future_result(f, 0, &r), 0);
    cr_assert_eq(cf_obj_array(r, &items, &n), 0);
    cr_assert_eq(n, 16, "CF_ARGS counted its arguments");
    cr_assert_eq(items[0].type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    cr_assert_eq(items[0].via.u64, 'A');
    cr_assert_eq(items[1].via.u64, 65535);
    cr_assert_eq(items[2].type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
    cr_assert_eq(items[2].via.i64, INT64_MIN);
    cr_assert_eq(items[3].via.u64, UINT64_MAX);
    cr_assert_eq(items[4].type, MSGPACK_OBJECT_BOOLEAN);
    cr_assert(items[4].via.boolean);
    const char *str;
    size_t len;
    cr_assert_eq(cf_obj_str(&items[5], &str, &len), 0);
    cr_assert(len == 3 && memcmp(str, "str", 3) == 0);
    cr_assert_eq(cf_obj_str(&items[6], &str, &len), 0);
    cr_assert(len == 3 && memcmp(str, "buf", 3) == 0);
    cr_assert_eq(items[7].type, MSGPACK_OBJECT_FLOAT64);
    cr_assert_eq(items[7].via.f64, 1.5);
    cr_assert_eq(items[8].via.f64, 2.0);
    const void *bin;
    cr_assert_eq(cf_obj_bin(&items[9], &bin, &len), 0);
    cr_assert(len == 3 && memcmp(bin, "a\0b", 3) == 0);
    cr_assert_eq(items[10].type, MSGPACK_OBJECT_NIL);
    const msgpack_object *inner;
    cr_assert_eq(cf_obj_array(&items[11], &inner, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(inner[0].via.u64, 1);
    cr_assert_eq(inner[1].type, MSGPACK_OBJECT_STR);
    cr_assert_eq(cf_obj_str(&items[12], &str, &len), 0);
    cr_assert(len == 2 && memcmp(str, "xy", 2) == 0);
    cr_assert_eq(items[13].via.u64, 9);
    cr_assert_eq(items[14].via.i64, -1);
    cr_assert_eq(items[15].via.i64, -300);
    cf_future_release(f);

    f = echo(ex, CF_NO_ARGS);
    cr_assert_eq(cf_future_result(f, 0, &r), 0);
    cr_assert_eq(cf_arg_count(r), 0);
    cf_future_release(f);
    cf_executor_release(ex);
}

Test(values, cf_pack_types_a_result, .timeout = 30)
{
    cf_executor *ex = support_new_pool(1, 0);
    cf_future *f;
    double d = 0;
    cr_assert_eq(cf_submit_args_with(ex, NULL, "val_half", &f, CF_ARGS(5)), 0);
    cr_assert_eq(cf_future_result_f64(f, CF_FOREVER, &d), 0, "%s", cf_future_error_message(f));
    cr_assert_eq(d, 2.5);
    cf_future_release(f);
    cf_executor_release(ex);
}

static int sink(void *data, const char *buf, size_t len)
{
    msgpack_sbuffer_write(data, buf, len);
    return 0;
}

Test(values, errors, .timeout = 30)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, sink);
    cr_assert_eq(cf_pack_value(NULL, cf_nil()), -EINVAL);
    cr_assert_eq(cf_pack_values(NULL, CF_ARGS(1)), -EINVAL);
    cr_assert_eq(cf_pack_value(&pk, cf_value_str(NULL)), -EINVAL);
    cr_assert_eq(cf_pack_value(&pk, cf_bin(NULL, 3)), -EINVAL);
    cr_assert_eq(cf_pack_value(&pk, cf_bin(NULL, 0)), 0, "an empty binary");
    cr_assert_eq(cf_pack_value(&pk, cf_value_obj(NULL)), -EINVAL);
    cf_value bad = {.type = (enum cf_value_type)99};
    cr_assert_eq(cf_pack_value(&pk, bad), -EINVAL);
    cr_assert_eq(cf_pack_values(&pk, (cf_values){NULL, 2}), -EINVAL);
    /* Nested deeper than a worker accepts (30 levels). */
    cf_value levels[40];
    levels[0] = cf_nil();
    for (int i = 1; i < 40; i++)
        levels[i] = cf_array((cf_values){&levels[i - 1], 1});
    cr_assert_eq(cf_pack_value(&pk, levels[20]), 0);
    cr_assert_eq(cf_pack_value(&pk, levels[39]), -EINVAL);
    msgpack_sbuffer_destroy(&sb);

    cf_executor *ex = support_new_pool(1, 0);
    cf_future *f = NULL;
    cr_assert_eq(cf_submit_args(NULL, val_echo, &f, CF_NO_ARGS), -EINVAL);
    cr_assert_eq(cf_submit_args(ex, NULL, &f, CF_NO_ARGS), -EINVAL);
    cr_assert_eq(cf_submit_args(ex, val_echo, NULL, CF_NO_ARGS), -EINVAL);
    cr_assert_eq(cf_submit_args(ex, val_echo, &f, (cf_values){NULL, 1}), -EINVAL);
    cr_assert_eq(cf_submit_args(ex, val_unregistered, &f, CF_NO_ARGS), CF_ENOTASK);
    cr_assert_eq(cf_submit_args_with(ex, NULL, "val_no_such", &f, CF_NO_ARGS), CF_ENOTASK);
    cr_assert_eq(cf_submit_args_with(ex, NULL, NULL, &f, CF_NO_ARGS), -EINVAL);
    cr_assert_eq(cf_submit_args(ex, val_echo, &f, CF_ARGS(cf_value_str(NULL))), -EINVAL);
    cr_assert_null(f);
    cf_executor_release(ex);
}

/* ------------------------------------------- containers and map lookup */

/* [which] -> 0: the binary "a\0b", 1: the array [1, 2, 3],
 * 2: the map {"name": "cf", "n": 3, 7: true}. */
static int val_container(const msgpack_object *args, msgpack_packer *out)
{
    int64_t which;
    if (cf_arg_i64(args, 0, &which) < 0)
        return cf_task_fail("val_container: expected an integer");
    if (which == 0)
        return cf_pack(out, cf_bin("a\0b", 3));
    if (which == 1)
        return cf_pack(out, cf_array(CF_ARGS(1, 2, 3)));
    if (msgpack_pack_map(out, 3) || cf_pack(out, "name") || cf_pack(out, "cf") ||
        cf_pack(out, "n") || cf_pack(out, 3) || cf_pack(out, 7) || cf_pack(out, (_Bool)1))
        return -1;
    return 0;
}
CF_TASK(val_container);

/* [map, key] -> map[key], read with cf_arg_map and cf_obj_map_get. */
static int val_lookup(const msgpack_object *args, msgpack_packer *out)
{
    const msgpack_object_kv *pairs;
    const msgpack_object *map, *v;
    const char *key;
    size_t n, len;
    char buf[64];
    if (cf_arg_map(args, 0, &pairs, &n) < 0 || cf_arg(args, 0, &map) < 0 ||
        cf_arg_str(args, 1, &key, &len) < 0 || len >= sizeof(buf))
        return cf_task_fail("val_lookup: expected [map, key]");
    memcpy(buf, key, len);
    buf[len] = '\0';
    int rc = cf_obj_map_get(map, buf, &v);
    if (rc < 0)
        return cf_task_fail("val_lookup: %s", cf_strerror(rc));
    return msgpack_pack_object(out, *v) ? -1 : 0;
}
CF_TASK(val_lookup);

static cf_future *container(cf_executor *ex, int which)
{
    cf_future *f;
    cr_assert_eq(cf_submit_args(ex, val_container, &f, CF_ARGS(which)), 0);
    return f;
}

Test(values, typed_results_of_containers, .timeout = 30)
{
    cf_executor *ex = support_new_pool(1, 0);
    cf_future *fb = container(ex, 0), *fa = container(ex, 1), *fm = container(ex, 2);
    const void *bin;
    const msgpack_object *items, *v;
    const msgpack_object_kv *pairs;
    size_t n;
    cr_assert_eq(cf_future_result_bin(fb, CF_FOREVER, &bin, &n), 0);
    cr_assert(n == 3 && memcmp(bin, "a\0b", 3) == 0);
    cr_assert_eq(cf_future_result_array(fa, CF_FOREVER, &items, &n), 0);
    cr_assert(n == 3 && items[2].via.u64 == 3);
    cr_assert_eq(cf_future_result_map(fm, CF_FOREVER, &pairs, &n), 0);
    cr_assert_eq(n, 3);
    /* Wrong types and NULLs. */
    cr_assert_eq(cf_future_result_bin(fa, 0, &bin, &n), CF_ETYPE);
    cr_assert_eq(cf_future_result_array(fm, 0, &items, &n), CF_ETYPE);
    cr_assert_eq(cf_future_result_map(fb, 0, &pairs, &n), CF_ETYPE);
    cr_assert_eq(cf_future_result_bin(fb, 0, NULL, &n), -EINVAL);
    cr_assert_eq(cf_future_result_array(fa, 0, &items, NULL), -EINVAL);
    cr_assert_eq(cf_future_result_map(NULL, 0, &pairs, &n), -EINVAL);

    const msgpack_object *m;
    cr_assert_eq(cf_future_result(fm, 0, &m), 0);
    cr_assert_eq(cf_obj_map_get(m, "n", &v), 0);
    cr_assert_eq(v->via.u64, 3);
    const char *s;
    cr_assert_eq(cf_obj_map_get(m, "name", &v), 0);
    cr_assert_eq(cf_obj_str(v, &s, &n), 0);
    cr_assert(n == 2 && memcmp(s, "cf", 2) == 0);
    cr_assert_eq(cf_obj_map_get(m, "missing", &v), -ENOENT);
    cr_assert_eq(cf_obj_map_get(m, "", &v), -ENOENT, "the integer key 7 is skipped");
    cr_assert_eq(cf_obj_map_get(&items[0], "n", &v), CF_ETYPE);
    cr_assert_eq(cf_obj_map_get(NULL, "n", &v), -EINVAL);
    cr_assert_eq(cf_obj_map_get(m, NULL, &v), -EINVAL);
    cr_assert_eq(cf_obj_map_get(m, "n", NULL), -EINVAL);
    cr_assert_eq(cf_obj_map(&items[0], &pairs, &n), CF_ETYPE);
    cr_assert_eq(cf_obj_map(m, NULL, &n), -EINVAL);

    /* A map as an argument, read in the task. */
    cf_future *f;
    int64_t r = 0;
    cr_assert_eq(cf_submit_args(ex, val_lookup, &f, CF_ARGS(m, "n")), 0);
    cr_assert_eq(cf_future_result_i64(f, CF_FOREVER, &r), 0, "%s", cf_future_error_message(f));
    cr_assert_eq(r, 3);
    cf_future_release(f);
    cr_assert_eq(cf_submit_args(ex, val_lookup, &f, CF_ARGS(m, "zzz")), 0);
    cr_assert_eq(cf_future_error(f, CF_FOREVER), CF_ETASK);
    cr_assert(strstr(cf_future_error_message(f), "No such file") == NULL);
    cf_future_release(f);
    cr_assert_eq(cf_submit_args(ex, val_lookup, &f, CF_ARGS(1, "n")), 0);
    cr_assert_eq(cf_future_error(f, CF_FOREVER), CF_ETASK, "cf_arg_map of an integer");
    cf_future_release(f);

    cf_future_release(fb);
    cf_future_release(fa);
    cf_future_release(fm);
    cf_executor_release(ex);
}
