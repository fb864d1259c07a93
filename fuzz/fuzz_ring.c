/* libFuzzer target: the shared-memory ring (ipc/ring.c) driven by input
 * bytes, first honestly, then by a hostile peer.
 *
 * The input is a little program. Each input gets a fresh ring of 4096 data
 * bytes in its own aligned_alloc'ed block (so ASan sees any access past the
 * data area), optionally starting at a non-zero position (to reach the
 * wrap-around early), then runs up to MAX_OPS operations, each chosen by one
 * byte and parameterised by the next few:
 *
 *   push    a record of 0..max_record+15 bytes taken from the input or a
 *           pattern, split over 1-3 iovecs; too big is -EMSGSIZE
 *   pop     up to 1-4 records, with a claim callback (0: -EINVAL)
 *   cancel  a live record, a cancelled one, a PAD, the middle of a record,
 *           a taken position, beyond head, a misaligned or a raw position
 *   close   (rarely) or wake_all
 *   poke    1-8 input bytes written anywhere in the data area, or a
 *           record header rewritten with edge lengths and flags
 *   move    head or tail set to an input value, nudged, or a bit flipped
 *
 * While nothing was poked or moved, a shadow model predicts every return
 * code, position, the PAD placement, which records each pop returns (their
 * bytes compared), cancellation, head, tail and bytes_used exactly. After
 * the first poke or move the model is dropped and only safety is checked:
 * each call returns 0 or one of its documented errors, -EBADMSG leaves the
 * ring closed, a pop never hands out more than max_records records nor one
 * longer than max_record nor outside the batch buffer. Deadlines are 0 and
 * the ring lock is never touched, so nothing blocks; every loop is bounded.
 *
 * head and tail live in struct cf__ring_shared, private to ring.c: their
 * offsets are found once at start-up by pushing and popping to known
 * positions and checking each candidate through cf__ring_bytes_used.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "ipc/ring.h"

#include "fuzz/fuzz_util.h"

#define CAP 4096u
#define MAX_OPS 2048
#define MAX_ENTS (CAP / 8)

static size_t foot;       /* cf__ring_footprint(CAP) */
static size_t head_off;   /* byte offsets in the shared header */
static size_t tail_off;
static size_t max_rec;    /* cf__ring_max_record */

/* ---- input -------------------------------------------------------------- */

struct input {
    const uint8_t *p;
    size_t n;
};

static uint8_t u8(struct input *in)
{
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

static uint16_t u16(struct input *in)
{
    uint16_t lo = u8(in);

    return (uint16_t)(lo | u8(in) << 8);
}

static uint64_t u64(struct input *in)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v |= (uint64_t)u8(in) << (8 * i);
    return v;
}

/* ---- the ring and its shadow -------------------------------------------- */

struct ent {
    uint64_t pos;
    uint32_t len;
    int cancelled;
    unsigned char bytes[CAP / 8];
};

static struct state {
    struct cf__ring r;
    void *mem;
    struct cf__ring_batch b;
    int hostile;            /* the model no longer applies */
    int closed;             /* model */
    uint64_t head, tail;    /* model */
    struct ent ents[MAX_ENTS];
    size_t first, count;    /* live window of ents (circular) */
    unsigned seq;
    size_t claimed;         /* records the last claim callback saw */
} st;

static uint64_t *word(size_t off)
{
    return (uint64_t *)((unsigned char *)st.mem + off);
}

static uint64_t round8(uint64_t n)
{
    return (n + 7) & ~(uint64_t)7;
}

static struct ent *ent_at(size_t i)
{
    return &st.ents[(st.first + i) % MAX_ENTS];
}

static void check_model(void)
{
    if (st.hostile)
        return;
    CHECK(*word(head_off) == st.head);
    CHECK(*word(tail_off) == st.tail);
    CHECK(cf__ring_bytes_used(&st.r) == st.head - st.tail);
    CHECK(cf__ring_closed(&st.r) == (st.closed != 0));
    if (st.count > 0) {
        CHECK(!cf__ring_taken(&st.r, ent_at(0)->pos));
        CHECK(ent_at(0)->pos >= st.tail);
    }
    if (st.tail > 0)
        CHECK(cf__ring_taken(&st.r, st.tail - 1));
}

static void claim(void *arg, const struct cf__ring_batch *b)
{
    (void)arg;
    CHECK(b == &st.b && b->count > 0);
    st.claimed = b->count;
}

/* ---- operations --------------------------------------------------------- */

static void op_push(struct input *in)
{
    static unsigned char buf[CAP];
    size_t len = u16(in) % (max_rec + 16), have;
    uint8_t mode = u8(in);
    int iovcnt = 1 + mode % 3, err;
    struct iovec iov[3];
    size_t cut1, cut2;
    uint64_t pos = UINT64_MAX;

    /* High bit: bytes from a pattern, so a big record costs 4 input bytes. */
    have = mode & 0x80 ? 0 : len < in->n ? len : in->n;
    memcpy(buf, in->p, have);
    in->p += have;
    in->n -= have;
    for (size_t i = have; i < len; i++)
        buf[i] = (unsigned char)(st.seq * 7 + i);
    st.seq++;
    cut1 = len ? u8(in) % (len + 1) : 0;
    cut2 = cut1 + (len - cut1 ? u8(in) % (len - cut1 + 1) : 0);
    iov[0] = (struct iovec){buf, iovcnt == 1 ? len : cut1};
    iov[1] = (struct iovec){buf + cut1, iovcnt == 2 ? len - cut1 : cut2 - cut1};
    iov[2] = (struct iovec){buf + cut2, len - cut2};
    for (int i = 0; i < iovcnt; i++)
        if (iov[i].iov_len == 0)
            iov[i].iov_base = NULL; /* allowed for an empty piece */

    err = cf__ring_pushv(&st.r, iov, iovcnt, 0, &pos);
    if (st.hostile) {
        CHECK(err == 0 || err == -EMSGSIZE || err == -EAGAIN || err == -EPIPE ||
              err == -EBADMSG);
        if (err == -EBADMSG)
            CHECK(cf__ring_closed(&st.r));
        if (err == 0)
            CHECK((pos & 7) == 0);
        return;
    }
    if (len > max_rec) {
        CHECK(err == -EMSGSIZE);
        return;
    }
    if (st.closed) {
        CHECK(err == -EPIPE);
        return;
    }
    {
        uint64_t need = 8 + round8(len), contig = CAP - (st.head & (CAP - 1));
        uint64_t pad = need <= contig ? 0 : contig;
        struct ent *e;

        if (pad + need > CAP - (st.head - st.tail)) {
            CHECK(err == -EAGAIN);
            return;
        }
        CHECK(err == 0);
        CHECK(pos == st.head + pad);
        CHECK(st.count < MAX_ENTS);
        e = ent_at(st.count++);
        e->pos = pos;
        e->len = (uint32_t)len;
        e->cancelled = 0;
        memcpy(e->bytes, buf, len);
        st.head = pos + need;
    }
}

static void check_batch_safe(size_t max)
{
    const struct cf__ring_batch *b = &st.b;
    uint64_t prev = 0;
    unsigned sum = 0;

    CHECK(b->count <= max);
    for (size_t i = 0; i < b->count; i++) {
        const struct cf__ring_record *rec = &b->recs[i];

        CHECK(rec->len <= max_rec);
        CHECK(rec->flags == 0);
        CHECK(i == 0 || rec->pos > prev);
        prev = rec->pos;
        CHECK(rec->data >= b->buf && rec->data + rec->len <= b->buf + b->buf_cap);
        CHECK((size_t)(rec->data - b->buf) % 8 == 0);
        for (uint32_t k = 0; k < rec->len; k++) /* let ASan see every byte */
            sum += rec->data[k];
    }
    (void)sum;
}

static void op_pop(struct input *in)
{
    size_t max = u8(in) % 5, taken = 0, used = 0;
    int err;

    st.claimed = 0;
    if (max == 0) {
        CHECK(cf__ring_pop(&st.r, &st.b, 0, 0, claim, NULL) == -EINVAL);
        CHECK(st.b.count == 0 && st.claimed == 0);
        return;
    }
    err = cf__ring_pop(&st.r, &st.b, max, 0, claim, NULL);
    if (err == 0) {
        check_batch_safe(max);
        CHECK(st.claimed == st.b.count);
    } else {
        CHECK(st.b.count == 0 && st.claimed == 0);
    }
    if (st.hostile) {
        CHECK(err == 0 || err == -EAGAIN || err == -EPIPE || err == -EBADMSG);
        if (err == -EBADMSG)
            CHECK(cf__ring_closed(&st.r));
        return;
    }
    if (st.head == st.tail) {
        CHECK(err == (st.closed ? -EPIPE : -EAGAIN));
        return;
    }
    CHECK(err == 0);
    /* The first `max` live records, in order; cancelled ones on the way
     * are consumed silently. Stops right after the max-th, else at head. */
    while (used < st.count && taken < max) {
        struct ent *e = ent_at(used++);

        if (e->cancelled)
            continue;
        CHECK(taken < st.b.count);
        CHECK(st.b.recs[taken].pos == e->pos);
        CHECK(st.b.recs[taken].len == e->len);
        CHECK(e->len == 0 || memcmp(st.b.recs[taken].data, e->bytes, e->len) == 0);
        taken++;
        if (taken == max)
            st.tail = e->pos + 8 + round8(e->len);
    }
    CHECK(taken == st.b.count);
    if (taken < max)
        st.tail = st.head;
    st.first = (st.first + used) % MAX_ENTS;
    st.count -= used;
}

static void op_cancel(struct input *in)
{
    uint8_t how = u8(in);
    uint64_t pos;
    int err, expect;
    size_t hit = SIZE_MAX;

    switch (how % 6) {
    case 0:
    case 1: /* an existing record (live or cancelled) */
        pos = st.count ? ent_at(u8(in) % st.count)->pos : st.tail;
        break;
    case 2: /* taken, or before the start */
        pos = st.tail - 8 * (uint64_t)(1 + u8(in) % 8);
        break;
    case 3: /* somewhere in or past [tail, head), maybe misaligned */
        pos = st.tail + u16(in) % (2 * CAP);
        break;
    case 4: /* where a record ends: the next one, a PAD, or head */
        if (st.count) {
            const struct ent *e = ent_at(u8(in) % st.count);

            pos = e->pos + 8 + round8(e->len);
        } else {
            pos = st.head;
        }
        break;
    default:
        pos = u64(in);
        break;
    }
    err = cf__ring_cancel(&st.r, pos);
    if (st.hostile) {
        CHECK(err == 0 || err == -EALREADY || err == -EINVAL || err == -EBADMSG);
        if (err == -EBADMSG)
            CHECK(cf__ring_closed(&st.r));
        return;
    }
    for (size_t i = 0; i < st.count; i++)
        if (ent_at(i)->pos == pos)
            hit = i;
    if (pos < st.tail)
        expect = -EALREADY;
    else if (pos >= st.head || (pos & 7) || hit == SIZE_MAX)
        expect = -EINVAL;
    else
        expect = 0;
    CHECK(err == expect);
    if (err == 0)
        ent_at(hit)->cancelled = 1;
}

static void op_close(struct input *in)
{
    if (u8(in) % 8 == 0) {
        cf__ring_close(&st.r);
        st.closed = 1;
        CHECK(cf__ring_closed(&st.r));
    } else {
        cf__ring_wake_all(&st.r);
    }
}

/* A header a pushed record owns (its own, or where it ends: the next
 * record's, a PAD's or head's), rewritten with a length and flags that are
 * each either plausible or an edge: exact PAD length, max_record, one
 * more, anything. The model's records still mark real header positions. */
static void poke_header(struct input *in)
{
    static const uint32_t flags[] = {0, 1, 0x80000000u, 0x80000001u, 2};
    const struct ent *e;
    uint64_t pos, off;
    uint32_t len, fl;
    uint8_t how;

    if (st.count == 0)
        return;
    e = ent_at(u8(in) % st.count);
    how = u8(in);
    pos = how & 1 ? e->pos + 8 + round8(e->len) : e->pos;
    off = pos & (CAP - 1);
    switch ((how >> 1) % 5) {
    case 0:
        len = u16(in);
        break;
    case 1:
        len = (uint32_t)(CAP - off - 8);
        break;
    case 2:
        len = (uint32_t)max_rec;
        break;
    case 3:
        len = (uint32_t)max_rec + 1;
        break;
    default:
        len = (uint32_t)u64(in);
        break;
    }
    fl = (how >> 4) < 10 ? flags[(how >> 4) % 5] : (uint32_t)u64(in);
    memcpy(st.r.data + off, &len, 4);
    memcpy(st.r.data + off + 4, &fl, 4);
}

static void op_poke(struct input *in)
{
    uint8_t how = u8(in);

    if (how & 0x80) {
        poke_header(in);
    } else {
        size_t off = u16(in) % CAP, n = 1 + how % 8;

        for (size_t i = 0; i < n; i++)
            st.r.data[(off + i) % CAP] = u8(in);
    }
    st.hostile = 1;
}

static void op_move(struct input *in)
{
    uint8_t how = u8(in);
    uint64_t *w = word(how & 1 ? tail_off : head_off);

    switch ((how >> 1) % 4) {
    case 0: /* anything */
        *w = u64(in);
        break;
    case 1: /* a small step, aligned or not, either way */
        *w += (uint64_t)(int64_t)(int8_t)u8(in);
        break;
    case 2: /* a whole record's worth, either way */
        *w += (uint64_t)(int64_t)(int16_t)u16(in) * 8;
        break;
    default: /* one bit */
        *w ^= (uint64_t)1 << (u8(in) % 64);
        break;
    }
    st.hostile = 1;
}

/* ---- libFuzzer ---------------------------------------------------------- */

/* Finds the 8-byte word of the shared header that holds `value` and, when
 * set to `probe`, makes cf__ring_bytes_used return `expect`. */
static size_t find_word(uint64_t value, uint64_t probe, uint64_t expect)
{
    size_t found = SIZE_MAX, hdr = foot - CAP;

    for (size_t off = 0; off + 8 <= hdr; off += 8) {
        if (*word(off) != value)
            continue;
        *word(off) = probe;
        if (cf__ring_bytes_used(&st.r) == expect) {
            if (found != SIZE_MAX) {
                fprintf(stderr, "fuzz_ring: two candidate words for %llu\n",
                        (unsigned long long)value);
                abort();
            }
            found = off;
        }
        *word(off) = value;
    }
    if (found == SIZE_MAX) {
        fprintf(stderr, "fuzz_ring: cannot locate a ring position in the header\n");
        abort();
    }
    return found;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const unsigned char rec[8];

    (void)argc;
    (void)argv;
    foot = cf__ring_footprint(CAP);
    CHECK(foot > CAP && foot % 64 == 0);
    st.mem = aligned_alloc(64, foot);
    CHECK(st.mem != NULL);
    memset(st.mem, 0, foot);
    CHECK(cf__ring_init(&st.r, st.mem, CAP) == 0);
    max_rec = cf__ring_max_record(&st.r);
    CHECK(max_rec > 0 && max_rec < CAP / 8 + 1);
    cf__ring_batch_init(&st.b);
    /* head 48, tail 16 */
    for (int i = 0; i < 3; i++)
        CHECK(cf__ring_push(&st.r, rec, sizeof(rec), 0, NULL) == 0);
    CHECK(cf__ring_pop(&st.r, &st.b, 1, 0, NULL, NULL) == 0 && st.b.count == 1);
    CHECK(cf__ring_bytes_used(&st.r) == 32);
    head_off = find_word(48, 40, 24);
    tail_off = find_word(16, 40, 8);
    CHECK(head_off != tail_off);
    cf__ring_batch_free(&st.b);
    free(st.mem);
    st.mem = NULL;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = {data, size};
    uint64_t start;

    memset(&st.b, 0, sizeof(st.b));
    st.hostile = st.closed = 0;
    st.first = st.count = 0;
    st.seq = 0;
    st.mem = aligned_alloc(64, foot);
    CHECK(st.mem != NULL);
    memset(st.mem, 0, foot);
    CHECK(cf__ring_init(&st.r, st.mem, CAP) == 0);
    cf__ring_batch_init(&st.b);

    /* A valid starting point anywhere in the first 64 laps: the ring only
     * needs head == tail, 8-aligned. */
    start = (uint64_t)(u16(&in) % (64 * CAP / 8)) * 8;
    *word(head_off) = *word(tail_off) = start;
    st.head = st.tail = start;
    check_model();

    for (int ops = 0; ops < MAX_OPS && in.n > 0; ops++) {
        switch (u8(&in) % 10) {
        case 0:
        case 1:
        case 2:
            op_push(&in);
            break;
        case 3:
        case 4:
            op_pop(&in);
            break;
        case 5:
        case 6:
            op_cancel(&in);
            break;
        case 7:
            op_close(&in);
            break;
        case 8:
            op_poke(&in);
            break;
        default:
            op_move(&in);
            break;
        }
        check_model();
    }
    /* Drain: a bounded number of pops must end in -EAGAIN, -EPIPE or
     * -EBADMSG (each successful pop advances tail by at least 8 bytes). */
    for (int i = 0;; i++) {
        int err = cf__ring_pop(&st.r, &st.b, 4, 0, NULL, NULL);

        if (err == 0) {
            check_batch_safe(4);
            CHECK(i < (int)(CAP / 8));
            continue;
        }
        CHECK(err == -EAGAIN || err == -EPIPE || err == -EBADMSG);
        if (!st.hostile)
            CHECK(err == (st.closed ? -EPIPE : -EAGAIN));
        break;
    }
    /* Whatever happened to the data and positions, the shared capacity
     * was not touched: another process could still attach. */
    {
        struct cf__ring view;

        CHECK(cf__ring_attach(&view, st.mem, foot) == 0 && view.capacity == CAP);
        CHECK(cf__ring_attach(&view, st.mem, foot - 1) == -EPROTO);
    }
    cf__ring_batch_free(&st.b);
    cf__pmutex_destroy((cf__pmutex *)st.mem);
    free(st.mem);
    st.mem = NULL;
    return 0;
}
