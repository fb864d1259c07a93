/* serialize/values.c — packs the tagged values of CF_ARGS / cf_pack
 * (cf_pack_value, cf_pack_values of include/cfutures.h).
 *
 * The type of each value was chosen by the compiler (CF_VAL's _Generic), so
 * nothing here guesses a width or counts arguments. Called by
 * cf_submit_args in the parent and by tasks for their results; no state,
 * thread-safe for distinct packers.
 */
#include <cfutures.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>

/* A nested cf_array deeper than the decoder accepts would only fail in the
 * worker; refuse it here (include/cfutures.h: 30 levels). */
#define MAX_DEPTH 30

static int pack_bytes(msgpack_packer *pk, bool bin, const void *p, size_t n)
{
    if (n > UINT32_MAX)
        return -EINVAL;
    if (bin ? msgpack_pack_bin(pk, n) : msgpack_pack_str(pk, n))
        return -ENOMEM;
    /* Skipped when empty: msgpack-c would memcpy from a maybe-NULL p. */
    if (n > 0 && (bin ? msgpack_pack_bin_body(pk, p, n) : msgpack_pack_str_body(pk, p, n)))
        return -ENOMEM;
    return 0;
}

static int pack_list(msgpack_packer *pk, const cf_value *items, size_t n, int depth);

static int pack_one(msgpack_packer *pk, const cf_value *v, int depth)
{
    switch (v->type) {
    case CF_VALUE_NIL:
        return msgpack_pack_nil(pk) ? -ENOMEM : 0;
    case CF_VALUE_BOOL:
        return (v->v.b ? msgpack_pack_true(pk) : msgpack_pack_false(pk)) ? -ENOMEM : 0;
    case CF_VALUE_I64:
        return msgpack_pack_int64(pk, v->v.i) ? -ENOMEM : 0;
    case CF_VALUE_U64:
        return msgpack_pack_uint64(pk, v->v.u) ? -ENOMEM : 0;
    case CF_VALUE_F64:
        return msgpack_pack_double(pk, v->v.d) ? -ENOMEM : 0;
    case CF_VALUE_STR:
        if (!v->v.bytes.p)
            return -EINVAL;
        return pack_bytes(pk, false, v->v.bytes.p,
                          v->v.bytes.len == SIZE_MAX ? strlen(v->v.bytes.p) : v->v.bytes.len);
    case CF_VALUE_BIN:
        if (!v->v.bytes.p && v->v.bytes.len)
            return -EINVAL;
        return pack_bytes(pk, true, v->v.bytes.p, v->v.bytes.len);
    case CF_VALUE_OBJECT:
        if (!v->v.obj)
            return -EINVAL;
        return msgpack_pack_object(pk, *v->v.obj) ? -ENOMEM : 0;
    case CF_VALUE_ARRAY:
        if (depth >= MAX_DEPTH)
            return -EINVAL;
        return pack_list(pk, v->v.array.items, v->v.array.n, depth + 1);
    }
    return -EINVAL; /* a type no constructor makes */
}

static int pack_list(msgpack_packer *pk, const cf_value *items, size_t n, int depth)
{
    if ((!items && n) || n > UINT32_MAX)
        return -EINVAL;
    if (msgpack_pack_array(pk, n))
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        int rc = pack_one(pk, &items[i], depth);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int cf_pack_value(msgpack_packer *pk, cf_value v)
{
    return pk ? pack_one(pk, &v, 1) : -EINVAL;
}

int cf_pack_values(msgpack_packer *pk, cf_values vals)
{
    return pk ? pack_list(pk, vals.items, vals.n, 1) : -EINVAL;
}
