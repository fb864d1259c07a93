/* serialize/args.c — the typed msgpack readers (cf_obj_*, cf_arg_*) and the
 * format-string packer (cf_pack_args) of include/cfutures.h.
 *
 * Readers are called by tasks in worker processes and by users on results;
 * the packer by cf_submit/cf_map in the parent and by users. No state: all
 * functions are thread-safe and fork-safe as long as the objects and
 * packers they are given are not shared without a lock.
 */
#include <cfutures.h>

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* ------------------------------------------------------ reading values */

int cf_obj_i64(const msgpack_object *o, int64_t *out)
{
    if (o == NULL || out == NULL)
        return -EINVAL;
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        *out = o->via.i64;
    else if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX)
        *out = (int64_t)o->via.u64;
    else
        return CF_ETYPE;
    return 0;
}

int cf_obj_u64(const msgpack_object *o, uint64_t *out)
{
    if (o == NULL || out == NULL)
        return -EINVAL;
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return CF_ETYPE;
    *out = o->via.u64;
    return 0;
}

int cf_obj_f64(const msgpack_object *o, double *out)
{
    if (o == NULL || out == NULL)
        return -EINVAL;
    switch (o->type) {
    case MSGPACK_OBJECT_FLOAT32: /* msgpack-c widens float32 into via.f64 */
    case MSGPACK_OBJECT_FLOAT64:
        *out = o->via.f64;
        return 0;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        *out = (double)o->via.u64;
        return 0;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        *out = (double)o->via.i64;
        return 0;
    default:
        return CF_ETYPE;
    }
}

int cf_obj_bool(const msgpack_object *o, bool *out)
{
    if (o == NULL || out == NULL)
        return -EINVAL;
    if (o->type != MSGPACK_OBJECT_BOOLEAN)
        return CF_ETYPE;
    *out = o->via.boolean;
    return 0;
}

int cf_obj_str(const msgpack_object *o, const char **out, size_t *len)
{
    if (o == NULL || out == NULL || len == NULL)
        return -EINVAL;
    if (o->type != MSGPACK_OBJECT_STR)
        return CF_ETYPE;
    *out = o->via.str.ptr;
    *len = o->via.str.size;
    return 0;
}

int cf_obj_bin(const msgpack_object *o, const void **out, size_t *len)
{
    if (o == NULL || out == NULL || len == NULL)
        return -EINVAL;
    if (o->type != MSGPACK_OBJECT_BIN)
        return CF_ETYPE;
    *out = o->via.bin.ptr;
    *len = o->via.bin.size;
    return 0;
}

int cf_obj_array(const msgpack_object *o, const msgpack_object **items, size_t *n)
{
    if (o == NULL || items == NULL || n == NULL)
        return -EINVAL;
    if (o->type != MSGPACK_OBJECT_ARRAY)
        return CF_ETYPE;
    *items = o->via.array.ptr;
    *n = o->via.array.size;
    return 0;
}

int cf_obj_map(const msgpack_object *o, const msgpack_object_kv **pairs, size_t *n)
{
    if (o == NULL || pairs == NULL || n == NULL)
        return -EINVAL;
    if (o->type != MSGPACK_OBJECT_MAP)
        return CF_ETYPE;
    *pairs = o->via.map.ptr;
    *n = o->via.map.size;
    return 0;
}

int cf_obj_map_get(const msgpack_object *map, const char *key, const msgpack_object **out)
{
    if (map == NULL || key == NULL || out == NULL)
        return -EINVAL;
    if (map->type != MSGPACK_OBJECT_MAP)
        return CF_ETYPE;
    size_t len = strlen(key);
    /* A linear scan: maps that cross the boundary are records' fields, a
     * handful of keys; the first match wins, as in msgpack's own order. */
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == len &&
            (len == 0 || memcmp(k->via.str.ptr, key, len) == 0)) {
            *out = &map->via.map.ptr[i].val;
            return 0;
        }
    }
    return -ENOENT;
}

/* ------------------------------------------------- reading arguments */

/* An array can hold up to 2^32-1 elements but the count is returned as an
 * int: a count above INT_MAX (a > 2 GiB message) gives -ERANGE. */
int cf_arg_count(const msgpack_object *args)
{
    if (args == NULL)
        return -EINVAL;
    if (args->type != MSGPACK_OBJECT_ARRAY)
        return CF_ETYPE;
    if (args->via.array.size > INT_MAX)
        return -ERANGE;
    return (int)args->via.array.size;
}

int cf_arg(const msgpack_object *args, size_t i, const msgpack_object **out)
{
    if (args == NULL || out == NULL)
        return -EINVAL;
    if (args->type != MSGPACK_OBJECT_ARRAY)
        return CF_ETYPE;
    if (i >= args->via.array.size)
        return -ERANGE;
    *out = &args->via.array.ptr[i];
    return 0;
}

/* The NULL check on the output comes first so that -EINVAL wins over
 * -ERANGE and CF_ETYPE, as for the cf_obj_* readers. */
static int arg_get(const msgpack_object *args, size_t i, bool out_ok,
                   const msgpack_object **o)
{
    return out_ok ? cf_arg(args, i, o) : -EINVAL;
}

int cf_arg_i64(const msgpack_object *args, size_t i, int64_t *out)
{
    const msgpack_object *o;
    int err = arg_get(args, i, out != NULL, &o);

    return err < 0 ? err : cf_obj_i64(o, out);
}

int cf_arg_u64(const msgpack_object *args, size_t i, uint64_t *out)
{
    const msgpack_object *o;
    int err = arg_get(args, i, out != NULL, &o);

    return err < 0 ? err : cf_obj_u64(o, out);
}

int cf_arg_f64(const msgpack_object *args, size_t i, double *out)
{
    const msgpack_object *o;
    int err = arg_get(args, i, out != NULL, &o);

    return err < 0 ? err : cf_obj_f64(o, out);
}

int cf_arg_bool(const msgpack_object *args, size_t i, bool *out)
{
    const msgpack_object *o;
    int err = arg_get(args, i, out != NULL, &o);

    return err < 0 ? err : cf_obj_bool(o, out);
}

int cf_arg_str(const msgpack_object *args, size_t i, const char **out, size_t *len)
{
    const msgpack_object *o;
    int err = arg_get(args, i, out != NULL && len != NULL, &o);

    return err < 0 ? err : cf_obj_str(o, out, len);
}

int cf_arg_bin(const msgpack_object *args, size_t i, const void **out, size_t *len)
{
    const msgpack_object *o;
    int err = arg_get(args, i, out != NULL && len != NULL, &o);

    return err < 0 ? err : cf_obj_bin(o, out, len);
}

int cf_arg_array(const msgpack_object *args, size_t i, const msgpack_object **items,
                 size_t *n)
{
    const msgpack_object *o;
    int err = arg_get(args, i, items != NULL && n != NULL, &o);

    return err < 0 ? err : cf_obj_array(o, items, n);
}

int cf_arg_map(const msgpack_object *args, size_t i, const msgpack_object_kv **pairs, size_t *n)
{
    const msgpack_object *o;
    int err = arg_get(args, i, pairs != NULL && n != NULL, &o);

    return err < 0 ? err : cf_obj_map(o, pairs, n);
}

/* ------------------------------------------------------------ packing */

static bool fmt_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n';
}

/* A switch, not strchr over the list: every submit checks its format. */
static bool fmt_item(char c)
{
    switch (c) {
    case 'i': case 'u': case 'd': case '?': case 'n':
    case 's': case 'S': case 'b': case 'o':
        return true;
    default:
        return false;
    }
}

/* The whole format is checked before anything is packed, so a format
 * error leaves the packer untouched; only a bad argument (NULL string or
 * object) found while packing leaves a partial array behind. */
static int fmt_check(const char *fmt)
{
    size_t depth = 0;

    for (const char *p = fmt; *p != '\0'; p++) {
        if (*p == '[') {
            depth++;
        } else if (*p == ']') {
            if (depth-- == 0)
                return CF_EFORMAT;
        } else if (!fmt_space(*p) && !fmt_item(*p)) {
            return CF_EFORMAT;
        }
    }
    return depth == 0 ? 0 : CF_EFORMAT;
}

/* msgpack needs an array's count before its elements: counts the items at
 * the level that starts at p, up to its closing ']' (or the end). Reads
 * only the format, so it can run ahead of the va_list. */
static size_t fmt_count(const char *p)
{
    size_t n = 0, depth = 0;

    for (; *p != '\0'; p++) {
        if (*p == '[') {
            n += depth++ == 0;
        } else if (*p == ']') {
            if (depth-- == 0)
                break;
        } else if (!fmt_space(*p)) {
            n += depth == 0;
        }
    }
    return n;
}

static int pack_raw(msgpack_packer *pk, bool bin, const void *p, size_t n)
{
    if ((p == NULL && n > 0) || n > UINT32_MAX)
        return CF_EFORMAT;
    if (bin ? msgpack_pack_bin(pk, n) : msgpack_pack_str(pk, n))
        return -ENOMEM;
    /* Skipped when empty: msgpack-c would memcpy from a maybe-NULL p. */
    if (n > 0 && (bin ? msgpack_pack_bin_body(pk, p, n) : msgpack_pack_str_body(pk, p, n)))
        return -ENOMEM;
    return 0;
}

/* Packs one item, taking its arguments from *ap. */
static int pack_item(msgpack_packer *pk, char c, va_list *ap)
{
    const char *s;
    const void *b;
    const msgpack_object *o;
    size_t n;

    switch (c) {
    case 'i':
        return msgpack_pack_int64(pk, va_arg(*ap, int64_t)) ? -ENOMEM : 0;
    case 'u':
        return msgpack_pack_uint64(pk, va_arg(*ap, uint64_t)) ? -ENOMEM : 0;
    case 'd':
        return msgpack_pack_double(pk, va_arg(*ap, double)) ? -ENOMEM : 0;
    case '?':
        return (va_arg(*ap, int) ? msgpack_pack_true(pk) : msgpack_pack_false(pk)) ? -ENOMEM
                                                                                    : 0;
    case 'n':
        return msgpack_pack_nil(pk) ? -ENOMEM : 0;
    case 's':
        s = va_arg(*ap, const char *);
        return s == NULL ? CF_EFORMAT : pack_raw(pk, false, s, strlen(s));
    case 'S':
        s = va_arg(*ap, const char *);
        n = va_arg(*ap, size_t);
        return pack_raw(pk, false, s, n);
    case 'b':
        b = va_arg(*ap, const void *);
        n = va_arg(*ap, size_t);
        return pack_raw(pk, true, b, n);
    default: /* 'o'; fmt_check let nothing else through */
        o = va_arg(*ap, const msgpack_object *);
        if (o == NULL)
            return CF_EFORMAT;
        return msgpack_pack_object(pk, *o) ? -ENOMEM : 0;
    }
}

/* Brackets need no stack: an array is its header followed by its items,
 * and a ']' packs nothing. */
static int pack_fmt(msgpack_packer *pk, const char *fmt, va_list *ap)
{
    int err;

    if (msgpack_pack_array(pk, fmt_count(fmt)))
        return -ENOMEM;
    for (const char *p = fmt; *p != '\0'; p++) {
        if (*p == '[')
            err = msgpack_pack_array(pk, fmt_count(p + 1)) ? -ENOMEM : 0;
        else if (*p == ']' || fmt_space(*p))
            err = 0;
        else
            err = pack_item(pk, *p, ap);
        if (err < 0)
            return err;
    }
    return 0;
}

int cf_pack_argsv(msgpack_packer *pk, const char *fmt, va_list ap)
{
    va_list aq;
    int err;

    if (pk == NULL)
        return -EINVAL;
    if (fmt == NULL || fmt_check(fmt) < 0)
        return CF_EFORMAT;
    /* A va_list parameter may be an array type decayed to a pointer, so
     * &ap would have the wrong type: copy it into a real va_list first. */
    va_copy(aq, ap);
    err = pack_fmt(pk, fmt, &aq);
    va_end(aq);
    return err;
}

int cf_pack_args(msgpack_packer *pk, const char *fmt, ...)
{
    va_list ap;
    int err;

    va_start(ap, fmt);
    err = cf_pack_argsv(pk, fmt, ap);
    va_end(ap);
    return err;
}
