/* Writes the seed corpora fuzz/corpus/record/ and fuzz/corpus/ring/ (run
 * from the top directory; the seeds are checked in, so this only needs
 * running again when the record layout or fuzz_ring's input language
 * changes):
 *
 *   cc -std=c11 -D_GNU_SOURCE -Iinclude -I. fuzz/gen_seeds.c serialize/record.c \
 *      serialize/validate.c serialize/scalar.c -lmsgpackc -o build/gen_seeds
 *   build/gen_seeds
 *
 * Record seeds: one valid record of each type made with the encoders, and
 * a few malformed ones. Ring seeds: short programs in fuzz_ring.c's input
 * language (a 2-byte start position, then operations).
 */
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serialize/record.h"

static void save(const char *dir, const char *name, const void *p, size_t n)
{
    char path[256];
    FILE *f;

    snprintf(path, sizeof(path), "fuzz/corpus/%s/%s", dir, name);
    f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

/* ---- records ------------------------------------------------------------ */

static msgpack_sbuffer sb;
static msgpack_packer pk;

static void begin(void)
{
    msgpack_sbuffer_clear(&sb);
}

static void must(int err)
{
    if (err != 0) {
        fprintf(stderr, "encoder failed: %d\n", err);
        exit(1);
    }
}

static void records(void)
{
    static const unsigned char truncated[] = {0x01, 0x07, 0xa3, 'a', 'd'};
    static const unsigned char huge_array[] = {0x01, 0x01, 0xa1, 'f', 0xdd, 0xff, 0xff, 0xff, 0xff};
    static const unsigned char empty_name[] = {0x01, 0x01, 0xa0, 0x90};
    static const unsigned char bad_type[] = {0x08, 0x01, 0xa1, 'f', 0x90};
    static const unsigned char deep[] = {0x03, 0x01, 0x00, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91,
                                         0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91,
                                         0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91,
                                         0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0xc0};

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);

    begin(); /* add(2, 40) */
    must(cf__record_task_begin(&pk, 1, "add", 3));
    msgpack_pack_array(&pk, 2);
    msgpack_pack_int(&pk, 2);
    msgpack_pack_int(&pk, 40);
    save("record", "task", sb.data, sb.size);

    begin(); /* square over [[1], [2.5], ["x"]] */
    must(cf__record_chunk_begin(&pk, 2, "square", 6));
    msgpack_pack_array(&pk, 3);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_int(&pk, 1);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_double(&pk, 2.5);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_str_with_body(&pk, "x", 1);
    save("record", "chunk", sb.data, sb.size);

    begin(); /* a map result with bin and nil */
    must(cf__record_result_begin(&pk, 3));
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "k", 1);
    msgpack_pack_bin_with_body(&pk, "\x00\x01", 2);
    msgpack_pack_int(&pk, -1);
    msgpack_pack_nil(&pk);
    save("record", "result_ok", sb.data, sb.size);

    begin(); /* a chunk result: [[0, 1], [-3, "no"]] */
    must(cf__record_result_begin(&pk, 4));
    msgpack_pack_array(&pk, 2);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_int(&pk, 0);
    msgpack_pack_int(&pk, 1);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_int(&pk, -3);
    msgpack_pack_str_with_body(&pk, "no", 2);
    save("record", "result_chunk", sb.data, sb.size);

    begin();
    must(cf__record_result_error(&pk, 5, -10008, "boom", 4));
    save("record", "result_error", sb.data, sb.size);

    begin();
    must(cf__record_side(&pk, 1234, 7, 1u << 20, 3, 4096));
    save("record", "side", sb.data, sb.size);

    begin();
    must(cf__record_worker_start(&pk, 0, 4321, 0, "", 0));
    save("record", "worker_start", sb.data, sb.size);

    begin();
    must(cf__record_worker_start(&pk, 2, 4322, -2, "no such task", 12));
    save("record", "worker_start_error", sb.data, sb.size);

    begin();
    must(cf__record_worker_exit(&pk, 1, 4323, 9));
    save("record", "worker_exit", sb.data, sb.size);

    begin();
    must(cf__record_wake(&pk));
    save("record", "wake", sb.data, sb.size);

    save("record", "bad_truncated", truncated, sizeof(truncated));
    save("record", "bad_huge_array", huge_array, sizeof(huge_array));
    save("record", "bad_empty_name", empty_name, sizeof(empty_name));
    save("record", "bad_type", bad_type, sizeof(bad_type));
    save("record", "bad_deep", deep, sizeof(deep));
    msgpack_sbuffer_destroy(&sb);
}

/* ---- ring programs ------------------------------------------------------ */

/* Operation bytes (fuzz_ring.c: the operation is byte % 10). */
enum { PUSH = 0, POP = 3, CANCEL = 5, CLOSE = 7, POKE = 8, MOVE = 9 };

static unsigned char prog[4096];
static size_t plen;

static void b(unsigned v)
{
    prog[plen++] = (unsigned char)v;
}

static void start(unsigned index) /* head = tail = 8 * index */
{
    plen = 0;
    b(index & 0xff);
    b(index >> 8);
}

/* push len bytes (taken from the program, value `fill`), one iovec */
static void push(unsigned len, unsigned fill)
{
    b(PUSH);
    b(len & 0xff);
    b(len >> 8);
    b(0);
    for (unsigned i = 0; i < len; i++)
        b(fill);
    if (len)
        b(0); /* cut1 */
    if (len)
        b(0); /* cut2 */
}

/* push len pattern bytes, split over three iovecs at `cut` and 2 * `cut` */
static void push_pattern(unsigned len, unsigned cut)
{
    b(PUSH);
    b(len & 0xff);
    b(len >> 8);
    b(0x80 | 2);
    b(cut);
    b(cut);
}

static void ring(void)
{
    start(0);
    push(5, 'a');
    push(0, 0);
    push(12, 'b');
    b(POP), b(1);
    b(CANCEL), b(0), b(1);
    b(POP), b(3);
    save("ring", "basic", prog, plen);

    /* head at offset 4000: the next records need a PAD */
    start(500);
    push(40, 'c');
    push(100, 'd');
    push(200, 'e');
    b(CANCEL), b(4), b(0);
    b(POP), b(3);
    b(POP), b(3);
    save("ring", "wrap", prog, plen);

    start(0);
    for (int i = 0; i < 9; i++)
        push_pattern(500, 100);
    b(POP), b(3);
    push_pattern(504, 0);
    push_pattern(505, 0); /* too big */
    b(CLOSE), b(0);
    push(1, 'h');
    b(POP), b(3);
    save("ring", "full_close", prog, plen);

    start(0);
    push(16, 'i');
    push(16, 'j');
    b(POKE), b(3), b(24), b(0), b(0xff), b(0xff), b(0xff), b(0xff);
    b(POP), b(3);
    push(1, 'k');
    save("ring", "poke_header", prog, plen);

    /* wrap, then turn the PAD into an ordinary record (flags 0) */
    start(500);
    push(40, 'm');
    push(100, 'n');
    b(POKE), b(0x80), b(0), b(1 | 2 * 0 | 0x00), b(0x30), b(0x00);
    b(POP), b(3);
    save("ring", "poke_pad", prog, plen);

    start(3);
    push(8, 'l');
    b(MOVE), b(2), b(8);    /* head += 8 */
    b(POP), b(1);
    b(MOVE), b(1), b(0x10), b(0), b(0), b(0), b(0), b(0), b(0), b(0); /* tail = 16 */
    b(CANCEL), b(1), b(0);
    save("ring", "move_positions", prog, plen);
}

int main(void)
{
    records();
    ring();
    return 0;
}
