/* tests/registry_twin.c — a second translation unit with a static task of
 * the same name as one in tests/test_registry.c (twin_work), both
 * registered with CF_TASK: the registry must never run one for the other
 * (workers/registry.c). */
#include <cfutures.h>

#include "tests/registry_twin.h"

static int twin_work(const msgpack_object *args, msgpack_packer *out)
{
    (void)args;
    return msgpack_pack_int(out, 2);
}
CF_TASK(twin_work);

cf_task_fn registry_twin_work(void)
{
    return twin_work;
}
