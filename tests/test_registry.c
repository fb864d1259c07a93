/* The task registry (workers/registry.c) and cf_strerror: registration at
 * load time and at run time, its error paths, and lookups both ways. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <errno.h>
#include <string.h>

#include <cfutures.h>

#include "tests/registry_twin.h"
#include "tests/support.h"

static int reg_loaded(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    return msgpack_pack_int(out, 1);
}
CF_TASK(reg_loaded);

static int reg_runtime(const msgpack_object *args, msgpack_packer *out)
{
    int64_t x;
    if (cf_arg_i64(args, 0, &x) < 0)
        return cf_task_fail("reg_runtime: expected an integer");
    return msgpack_pack_int64(out, x * 3);
}

static int reg_other(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    return msgpack_pack_nil(out);
}

/* Same name as the static task of tests/registry_twin.c (which packs 2). */
static int twin_work(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    return msgpack_pack_int(out, 1);
}
CF_TASK(twin_work);

static int64_t run_by_pointer(cf_executor *ex, cf_task_fn fn)
{
    cf_future *f;
    int64_t r = 0;
    cr_assert_eq(cf_submit(ex, fn, &f, ""), 0);
    cr_assert_eq(cf_future_result_i64(f, CF_FOREVER, &r), 0, "%s", cf_future_error_message(f));
    cf_future_release(f);
    return r;
}

static void twins_in(cf_executor *ex)
{
    cf_future *f = NULL;
    cr_assert_eq(run_by_pointer(ex, twin_work), 1);
    cr_assert_eq(run_by_pointer(ex, registry_twin_work()), 2);
    cr_assert_eq(cf_submit_named(ex, "twin_work", CF_FOREVER, &f, ""), CF_ENOTASK);
    cr_assert_null(f);
    int64_t r = 0;
    cr_assert_eq(cf_submit_named(ex, "tests/registry_twin.c:twin_work", CF_FOREVER, &f, ""), 0);
    cr_assert_eq(cf_future_result_i64(f, CF_FOREVER, &r), 0);
    cr_assert_eq(r, 2);
    cf_future_release(f);
}

/* Two static functions, one name, two files: each runs by pointer, the
 * bare name runs neither and says why on stderr, naming both files. */
Test(registry, two_tasks_of_one_name_are_never_confused, .timeout = 30)
{
    support_stderr_begin();
    cr_assert_str_eq(cf_task_name(twin_work), "tests/test_registry.c:twin_work");
    cr_assert_str_eq(cf_task_name(registry_twin_work()), "tests/registry_twin.c:twin_work");
    cr_assert_eq(cf_task_register("twin_work", twin_work), -EEXIST, "ambiguous now");
    cf_executor *ex;
    cr_assert_eq(cf_process_pool_create(&ex, &(cf_process_pool_options){.max_workers = 1}), 0);
    twins_in(ex);
    cf_executor_release(ex);
    cr_assert_eq(cf_thread_pool_create(&ex, NULL), 0);
    twins_in(ex);
    cf_executor_release(ex);

    char text[1024];
    support_stderr_end(text, sizeof(text));
    cr_assert(strstr(text, "'twin_work' is ambiguous") && strstr(text, "tests/test_registry.c") &&
                  strstr(text, "tests/registry_twin.c"),
              "stderr: %s", text);
    cr_assert_null(strstr(strstr(text, "ambiguous") + 1, "ambiguous"), "said once: %s", text);
}

Test(registry, load_time_registration, .timeout = 10)
{
    cr_assert_str_eq(cf_task_name(reg_loaded), "reg_loaded");
    cr_assert_null(cf_task_name(reg_runtime), "not registered yet");
    cr_assert_null(cf_task_name(NULL));
}

Test(registry, errors, .timeout = 10)
{
    char long_name[300];
    memset(long_name, 'x', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    cr_assert_eq(cf_task_register(NULL, reg_other), -EINVAL);
    cr_assert_eq(cf_task_register("reg_x", NULL), -EINVAL);
    cr_assert_eq(cf_task_register("", reg_other), -EINVAL);
    cr_assert_eq(cf_task_register(long_name, reg_other), -EINVAL);
    long_name[255] = '\0';
    cr_assert_eq(cf_task_register(long_name, reg_other), 0, "255 bytes is the limit");
    cr_assert_eq(cf_task_register("reg_loaded", reg_loaded), 0, "the same pair twice");
    cr_assert_eq(cf_task_register("reg_loaded", reg_other), -EEXIST);
    cr_assert_str_eq(cf_task_name(reg_loaded), "reg_loaded", "unchanged by the refusal");

    cr_assert_eq(cf_task_register_in(NULL, "f.c", reg_other), -EINVAL);
    cr_assert_eq(cf_task_register_in("reg_in", "f.c", NULL), -EINVAL);
    cr_assert_eq(cf_task_register_in("", "f.c", reg_other), -EINVAL);
    cr_assert_eq(cf_task_register_in(long_name, "f.c", reg_other), 0,
                 "255 bytes: no room for a file; the bare name is reg_other's already");
    cr_assert_eq(cf_task_register_in(long_name, "f.c", reg_loaded), -EEXIST);
    cr_assert_eq(cf_task_register_in("reg_nofile", NULL, reg_other), 0, "as cf_task_register");
    char long_file[400];
    memset(long_file, 'd', sizeof(long_file) - 1);
    long_file[sizeof(long_file) - 1] = '\0';
    cr_assert_eq(cf_task_register_in("reg_longfile", long_file, reg_other), 0);
    cr_assert_eq(cf_task_register_in("reg_longfile", long_file, reg_other), 0, "twice is fine");
}

/* Registered after load but before the pool: its workers know it. */
Test(registry, runtime_registration_before_pool, .timeout = 30)
{
    cf_executor *pool;
    cf_future *f;
    int64_t r;
    cr_assert_eq(cf_task_register("reg_runtime_alias", reg_runtime), 0);
    cr_assert_eq(cf_task_register("reg_runtime", reg_runtime), 0);
    cr_assert_str_eq(cf_task_name(reg_runtime), "reg_runtime_alias", "first name wins");
    cr_assert_eq(cf_process_pool_create(&pool, &(cf_process_pool_options){.max_workers = 1}), 0);
    cr_assert_eq(cf_submit(pool, reg_runtime, &f, "i", (int64_t)14), 0);
    cr_assert_eq(cf_future_result_i64(f, CF_FOREVER, &r), 0);
    cr_assert_eq(r, 42);
    cf_future_release(f);
    cr_assert_eq(cf_submit_named(pool, "reg_runtime", CF_FOREVER, &f, "i", (int64_t)5), 0);
    cr_assert_eq(cf_future_result_i64(f, CF_FOREVER, &r), 0);
    cr_assert_eq(r, 15);
    cf_future_release(f);
    cf_executor_release(pool);
}

/* Registered after the pool was forked: its workers never heard of it. */
Test(registry, registration_after_pool_is_unknown_to_workers, .timeout = 30)
{
    cf_executor *pool;
    cf_future *f;
    cr_assert_eq(cf_process_pool_create(&pool, &(cf_process_pool_options){.max_workers = 1}), 0);
    cr_assert_eq(cf_task_register("reg_late", reg_other), 0);
    cr_assert_eq(cf_submit(pool, reg_other, &f, ""), 0);
    cr_assert_eq(cf_future_error(f, CF_FOREVER), CF_ENOTASK);
    cr_assert(strstr(cf_future_error_message(f), "reg_late"), "message: %s",
              cf_future_error_message(f));
    cf_future_release(f);
    cf_executor_release(pool);
}

Test(registry, strerror_names_every_code, .timeout = 10)
{
    static const int codes[] = {CF_ECANCELLED, CF_ETASK,   CF_EWORKER, CF_ESHUTDOWN,
                                CF_EBROKEN,    CF_EFULL,   CF_EEMPTY,  CF_EPROTO,
                                CF_ENOTASK,    CF_ETYPE,   CF_EFORMAT, CF_ELOCKORDER};
    const char *unknown = cf_strerror(-999999);
    cr_assert_str_eq(unknown, "unknown error");
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        cr_assert_str_neq(cf_strerror(codes[i]), unknown, "code %d", codes[i]);
        for (size_t j = 0; j < i; j++)
            cr_assert_str_neq(cf_strerror(codes[i]), cf_strerror(codes[j]));
    }
    /* The C library's text where it fits, the library's own where it
     * would mislead ("Connection timed out", "Resource deadlock avoided"). */
    cr_assert_str_eq(cf_strerror(-ENOMEM), strerror(ENOMEM));
    cr_assert_str_eq(cf_strerror(-ETIMEDOUT), "timed out");
    cr_assert_null(strstr(cf_strerror(-EDEADLK), "avoided"));
    cr_assert_str_eq(cf_strerror(-ERANGE), "out of range");
    cr_assert_str_eq(cf_strerror(-EEXIST), "already exists");
    cr_assert_str_eq(cf_strerror(0), "success");
    cr_assert_str_eq(cf_strerror(12345), "unknown error");
}
