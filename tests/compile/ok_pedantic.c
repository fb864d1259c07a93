/* Must compile cleanly under -std=c11 -Wall -Wextra -Wpedantic -Werror:
 * CF_TASK(fn); as a declaration, CF_ARGS of every scalar type, cf_pack,
 * the version macros and the errno codes the header's macros use. */
#include <cfutures.h>

static int ok_task(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    return cf_pack(out, 1.5);
}
CF_TASK(ok_task);

int ok_use(cf_executor *ex, cf_future **f);
int ok_use(cf_executor *ex, cf_future **f)
{
    char c = 'c';
    unsigned short us = 7;
    long long ll = -5;
    _Bool b = 1;
    const char *s = "str";
    cf_values v = CF_ARGS(-5, 2.0, "str", c, us, ll, b, s, 1.5f, cf_bin("ab", 2), cf_nil(),
                          cf_array(CF_ARGS(1, 2)), cf_strn("xyz", 2), 4u, 5ul, (signed char)-1);
    (void)v;
    (void)CF_NO_ARGS;
    return cf_submit_args(ex, ok_task, f, CF_ARGS(-5, 2.0, "str"));
}
