/* Must NOT compile: cf_pack of a struct result.
 * expect: _Generic */
#include <cfutures.h>

struct pair { double a, b; };

int fail_task(const msgpack_object *args, msgpack_packer *out);
int fail_task(const msgpack_object *args, msgpack_packer *out)
{
    struct pair p = {1, 2};
    (void)args;
    return cf_pack(out, p);
}
