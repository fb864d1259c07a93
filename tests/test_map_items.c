/* How a map's items reach the task: workers/execute.c reads each item of a
 * CHUNK from its packed bytes (a scalar, or an array of up to 16 scalars,
 * straight from the bytes; anything else through msgpack-c), so every
 * format an item can take must arrive exactly as msgpack-c unpacks it,
 * over both executors; and a chunk whose items cannot be read fails item
 * by item, never reading past its bytes.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cfutures.h>

#include "serialize/record.h"
#include "support.h"
#include "workers/execute.h"

/* Returns its arguments as they arrived. */
static int items_echo(const msgpack_object *args, msgpack_packer *out)
{
    return msgpack_pack_object(out, *args);
}
CF_TASK(items_echo);

/* Writes raw bytes through the packer: headers msgpack-c's packer would
 * never choose (array16 of 3, an empty str8). */
static int put_raw(msgpack_packer *pk, const char *bytes, size_t n)
{
    return pk->callback(pk->data, bytes, n);
}

static void pack_scalars(msgpack_packer *pk, unsigned n)
{
    static const char text[300] = {'t'};
    msgpack_pack_array(pk, n);
    for (unsigned i = 0; i < n; i++) {
        switch (i % 15) {
        case 0: msgpack_pack_int64(pk, -1); break;
        case 1: msgpack_pack_uint64(pk, UINT64_MAX); break;
        case 2: msgpack_pack_int64(pk, INT64_MIN); break;
        case 3: msgpack_pack_float(pk, 1.5f); break;
        case 4: msgpack_pack_double(pk, -2.25); break;
        case 5: msgpack_pack_str_with_body(pk, "", 0); break;
        case 6: msgpack_pack_str_with_body(pk, "abc", 3); break;
        case 7: msgpack_pack_str_with_body(pk, text, sizeof(text)); break;
        case 8: msgpack_pack_bin_with_body(pk, "", 0); break;
        case 9: msgpack_pack_bin_with_body(pk, "\x00\xff", 2); break;
        case 10: msgpack_pack_nil(pk); break;
        case 11: msgpack_pack_true(pk); break;
        case 12: msgpack_pack_false(pk); break;
        case 13: msgpack_pack_int16(pk, -300); break;
        default: msgpack_pack_uint16(pk, 40000); break;
        }
    }
}

enum { KINDS = 16 };

/* Packs item kind k: every shape the worker reads differently. */
static int pack_kind(msgpack_packer *pk, size_t k)
{
    switch (k % KINDS) {
    case 0: return msgpack_pack_nil(pk);                 /* a scalar, not an array */
    case 1: return msgpack_pack_int64(pk, 70000);
    case 2: return msgpack_pack_str_with_body(pk, "", 0);
    case 3: return msgpack_pack_array(pk, 0);            /* no arguments */
    case 4: pack_scalars(pk, 1); return 0;
    case 5: pack_scalars(pk, 15); return 0;              /* the largest fixarray */
    case 6: pack_scalars(pk, 16); return 0;              /* array16, read from the bytes */
    case 7: pack_scalars(pk, 17); return 0;              /* one more: msgpack-c */
    case 8: return support_pack_container(pk, 0);        /* nested: msgpack-c */
    case 9: return support_pack_container(pk, 1);        /* a map */
    case 10: return support_pack_container(pk, 2);       /* an ext */
    case 11:                                             /* a scalar after an ext */
        msgpack_pack_array(pk, 2);
        msgpack_pack_ext_with_body(pk, "", 0, 1);
        return msgpack_pack_int(pk, 3);
    case 12: return put_raw(pk, "\xdc\x00\x03\x01\xc0\xc3", 6);     /* array16 of 3 */
    case 13: return put_raw(pk, "\xdd\x00\x00\x00\x02\xd9\x00\x05", 8); /* array32, str8 "" */
    case 14: return put_raw(pk, "\xdc\x00\x00", 3);                 /* empty array16 */
    default: return put_raw(pk, "\x91\x81\xa1k\x90", 5);            /* [{"k": []}] */
    }
}

static int kinds_input(void *arg, size_t index, msgpack_packer *pk)
{
    return index >= *(size_t *)arg ? 0 : pack_kind(pk, index) == 0 ? 1 : -ENOMEM;
}

/* Item k as msgpack-c unpacks it; z holds it. */
static msgpack_object expected(size_t k, msgpack_sbuffer *sb, msgpack_zone *z)
{
    msgpack_packer pk;
    msgpack_object o;
    size_t off = 0;
    msgpack_sbuffer_clear(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    cr_assert_eq(pack_kind(&pk, k), 0);
    msgpack_zone_clear(z);
    cr_assert_eq(msgpack_unpack(sb->data, sb->size, &off, z, &o), MSGPACK_UNPACK_SUCCESS);
    cr_assert_eq(off, sb->size);
    return o;
}

static void check_kinds(cf_executor *ex, const char *what)
{
    const size_t chunks[] = {1, 3, 7, KINDS * 3};
    msgpack_sbuffer sb;
    msgpack_zone z;
    msgpack_sbuffer_init(&sb);
    cr_assert(msgpack_zone_init(&z, 1024));
    for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
        size_t n = KINDS * 3, idx, seen = 0;
        cf_map_options o = {.timeout = CF_FOREVER, .chunksize = chunks[c]};
        const msgpack_object *r;
        cf_map *m;
        int rc;
        cr_assert_eq(cf_map_create(&m, ex, "items_echo", kinds_input, &n, &o), 0);
        while ((rc = cf_map_next(m, &idx, &r)) == 0) {
            msgpack_object want = expected(idx, &sb, &z);
            cr_assert_eq(idx, seen, "%s: out of order", what);
            cr_assert(msgpack_object_equal(*r, want), "%s: item %zu (kind %zu), chunks of %zu",
                      what, idx, idx % KINDS, chunks[c]);
            seen++;
        }
        cr_assert_eq(rc, CF_EEMPTY, "%s: %s", what, cf_map_error_message(m));
        cr_assert_eq(seen, n);
        cf_map_release(m);
    }
    msgpack_zone_destroy(&z);
    msgpack_sbuffer_destroy(&sb);
}

Test(map_items, every_format_reaches_the_task_as_msgpack_unpacks_it, .timeout = 60)
{
    cf_executor *ex = support_new_pool(2, 0);
    check_kinds(ex, "process pool");
    cf_executor_release(ex);
}

Test(map_items, every_format_reaches_the_task_on_a_thread_pool, .timeout = 60)
{
    cf_thread_pool_options o = {.max_workers = 2};
    cf_executor *ex;
    cr_assert_eq(cf_thread_pool_create(&ex, &o), 0);
    check_kinds(ex, "thread pool");
    cf_executor_release(ex);
}

/* ------------------------------------------- items that cannot be read */

/* Runs a CHUNK of items_echo whose items are `items` (len bytes, claiming
 * `count`), as a decoder that had let them through would hand it over;
 * returns how many result pairs it packed, their statuses in st[]. The bytes are copied to the heap at their exact size so
 * that ASan sees any read past them. */
static size_t run_chunk(const char *items, size_t len, uint32_t count, int64_t *st, size_t max)
{
    unsigned char *copy = malloc(len);
    cr_assert_not_null(copy);
    memcpy(copy, items, len);
    struct cf__record rec = {
        .type = CF__REC_CHUNK,
        .id = 9,
        .name = "items_echo",
        .name_len = 10,
        .payload = {.type = MSGPACK_OBJECT_ARRAY, .via.array = {.size = count, .ptr = NULL}},
        .payload_raw = copy,
        .payload_len = len,
    };
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    char msg[CF__EXECUTE_MESSAGE_MAX];
    size_t value_off;
    cr_assert_eq(cf__execute_record(&sb, &pk, 9, &rec, &value_off, msg, sizeof(msg)), 0);
    free(copy);

    msgpack_zone z;
    msgpack_object o;
    size_t off = value_off;
    cr_assert(msgpack_zone_init(&z, 1024));
    cr_assert_eq(msgpack_unpack(sb.data, sb.size, &off, &z, &o), MSGPACK_UNPACK_SUCCESS);
    cr_assert_eq(off, sb.size);
    cr_assert_eq(o.type, MSGPACK_OBJECT_ARRAY);
    size_t n = o.via.array.size;
    cr_assert(n <= max);
    for (size_t i = 0; i < n; i++) {
        const msgpack_object *pair = &o.via.array.ptr[i];
        cr_assert_eq(pair->type, MSGPACK_OBJECT_ARRAY);
        cr_assert_eq(pair->via.array.size, 2);
        cr_assert_eq(cf_obj_i64(&pair->via.array.ptr[0], &st[i]), 0);
        /* A read item is echoed (each is an array); a failed one has a
         * message. */
        cr_assert_eq(pair->via.array.ptr[1].type,
                     st[i] == 0 ? MSGPACK_OBJECT_ARRAY : MSGPACK_OBJECT_STR);
    }
    msgpack_zone_destroy(&z);
    msgpack_sbuffer_destroy(&sb);
    return n;
}

Test(map_items, unreadable_items_fail_each_and_the_chunk_keeps_its_count, .timeout = 10)
{
    int64_t st[8];
    /* [1], then 0xc1 (never used): the rest cannot be located. */
    cr_assert_eq(run_chunk("\x93\x91\x01\xc1\x91\x02", 6, 3, st, 8), 3);
    cr_assert_eq(st[0], 0);
    cr_assert_eq(st[1], CF_EPROTO);
    cr_assert_eq(st[2], CF_EPROTO);
    /* An argument array cut short, in the fast path and in msgpack-c's. */
    cr_assert_eq(run_chunk("\x92\x91\x01\x92\x01", 5, 2, st, 8), 2);
    cr_assert_eq(st[0], 0);
    cr_assert_eq(st[1], CF_EPROTO);
    cr_assert_eq(run_chunk("\x92\x91\x01\x92\x91", 5, 2, st, 8), 2);
    cr_assert_eq(st[0], 0);
    cr_assert_eq(st[1], CF_EPROTO);
    /* A string longer than the bytes left. */
    cr_assert_eq(run_chunk("\x92\x91\xa5xy", 5, 2, st, 8), 2);
    cr_assert_eq(st[0], CF_EPROTO);
    cr_assert_eq(st[1], CF_EPROTO);
    /* Claims more items than there are bytes for. */
    cr_assert_eq(run_chunk("\x93\x91\x01", 3, 3, st, 8), 3);
    cr_assert_eq(st[0], 0);
    cr_assert_eq(st[1], CF_EPROTO);
    cr_assert_eq(st[2], CF_EPROTO);
    /* Not an array at all: the record's count stands, every item fails. */
    cr_assert_eq(run_chunk("\x01", 1, 2, st, 8), 2);
    cr_assert_eq(st[0], CF_EPROTO);
    cr_assert_eq(st[1], CF_EPROTO);
}

/* -------------------------------------------- an empty argument array */

/* [] -> whether the argument array's pointer is set (review: the item
 * reader gave NULL for an empty array where msgpack-c, and so cf_submit,
 * give a pointer; a task may memcpy n elements from it). */
static int items_ptr_set(const msgpack_object *args, msgpack_packer *out)
{
    return args->via.array.ptr != NULL ? msgpack_pack_true(out) : msgpack_pack_false(out);
}
CF_TASK(items_ptr_set);

static int empty_input(void *arg, size_t index, msgpack_packer *pk)
{
    return index >= *(size_t *)arg ? 0 : msgpack_pack_array(pk, 0) < 0 ? -1 : 1;
}

Test(map_items, an_empty_argument_array_has_a_pointer, .timeout = 30)
{
    cf_executor *ex = support_new_pool(1, 0);
    size_t n = 5, idx, seen = 0;
    const msgpack_object *r;
    cf_map *m;
    int rc;
    cf_future *f;
    cr_assert_eq(cf_submit(ex, items_ptr_set, &f, ""), 0);
    const msgpack_object *o;
    cr_assert_eq(cf_future_result(f, CF_FOREVER, &o), 0);
    cr_assert(o->type == MSGPACK_OBJECT_BOOLEAN && o->via.boolean, "cf_submit: as msgpack-c");
    cf_future_release(f);
    cr_assert_eq(cf_map_create(&m, ex, "items_ptr_set", empty_input, &n, NULL), 0);
    while ((rc = cf_map_next(m, &idx, &r)) == 0) {
        cr_assert(r->type == MSGPACK_OBJECT_BOOLEAN && r->via.boolean, "item %zu: NULL", idx);
        seen++;
    }
    cr_assert_eq(rc, CF_EEMPTY, "%s", cf_map_error_message(m));
    cr_assert_eq(seen, n);
    cf_map_release(m);
    cf_executor_release(ex);
}
