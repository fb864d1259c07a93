/* executor/result_get.c — the typed result getters for containers and
 * bytes (cf_future_result_bin, _array, _map): cf_future_result, then the
 * matching reader of serialize/args.c. Stateless; thread-safe as
 * cf_future_result is. The scalar getters live with the future
 * (executor/future.c). */
#include <errno.h>

#include <cfutures.h>

int cf_future_result_bin(cf_future *f, double timeout, const void **out, size_t *len)
{
    const msgpack_object *o;
    int rc = out && len ? cf_future_result(f, timeout, &o) : -EINVAL;
    return rc ? rc : cf_obj_bin(o, out, len);
}

int cf_future_result_array(cf_future *f, double timeout, const msgpack_object **items, size_t *n)
{
    const msgpack_object *o;
    int rc = items && n ? cf_future_result(f, timeout, &o) : -EINVAL;
    return rc ? rc : cf_obj_array(o, items, n);
}

int cf_future_result_map(cf_future *f, double timeout, const msgpack_object_kv **pairs, size_t *n)
{
    const msgpack_object *o;
    int rc = pairs && n ? cf_future_result(f, timeout, &o) : -EINVAL;
    return rc ? rc : cf_obj_map(o, pairs, n);
}
