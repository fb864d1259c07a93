/* Tests for ipc/ring.c: record layout, full/empty edges, cancellation,
 * closing, batching, many processes, dead lock holders and corrupt headers.
 *
 * Rings live in MAP_SHARED|MAP_ANONYMOUS memory so forked children share
 * them. Children report only through exit status; each one dies with the
 * test process (PR_SET_PDEATHSIG) and is killed and reaped by .fini.
 * Bounded waits are liveness checks, never timing assertions.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ipc/clock.h"
#include "ipc/fault.h"
#include "ipc/ring.h"

#define MAX_KIDS 8
#define LIVENESS_NS (10ull * 1000000000ull)
#define MS (1000000ull)

static pid_t kids[MAX_KIDS];
static void *mem;
static size_t mem_size;
static struct cf__ring ring;
static struct cf__ring_batch batch;

/* ---- harness ------------------------------------------------------------ */

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static void sleep_us(long us)
{
    struct timespec ts = {.tv_sec = 0, .tv_nsec = us * 1000L};

    nanosleep(&ts, NULL);
}

static void *shared_alloc(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    cr_assert_neq(p, MAP_FAILED);
    return p;
}

static void make_ring(size_t capacity)
{
    mem_size = cf__ring_footprint(capacity);
    cr_assert_gt(mem_size, 0);
    mem = shared_alloc(mem_size);
    cr_assert_eq(cf__ring_init(&ring, mem, capacity), 0);
    cf__ring_batch_init(&batch);
}

static void teardown(void)
{
    for (int i = 0; i < MAX_KIDS; i++) {
        if (kids[i] > 0) {
            kill(kids[i], SIGKILL);
            waitpid(kids[i], NULL, 0);
            kids[i] = 0;
        }
    }
    cf__ring_batch_free(&batch);
    if (mem)
        munmap(mem, mem_size);
    mem = NULL;
}

static pid_t spawn(void (*fn)(void *), void *arg)
{
    pid_t parent = getpid(), pid;
    int slot = 0;

    while (slot < MAX_KIDS && kids[slot] > 0)
        slot++;
    cr_assert_lt(slot, MAX_KIDS);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(90);
        fn(arg);
        _exit(0);
    }
    kids[slot] = pid;
    return pid;
}

/* Bounded wait for a child; returns its exit code, or -1 (hang / signal). */
static int reap(pid_t pid)
{
    uint64_t limit = cf__now_ns() + LIVENESS_NS;
    int st;

    for (;;) {
        pid_t got = waitpid(pid, &st, WNOHANG);
        if (got == pid)
            break;
        if (got < 0 || cf__now_ns() >= limit)
            return -1;
        sleep_ms(1);
    }
    for (int i = 0; i < MAX_KIDS; i++)
        if (kids[i] == pid)
            kids[i] = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void kill_kid(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    for (int i = 0; i < MAX_KIDS; i++)
        if (kids[i] == pid)
            kids[i] = 0;
}

/* Bytes a record of `len` payload bytes occupies, per ring.h's layout. */
static uint64_t rec_bytes(size_t len)
{
    return 8 + ((len + 7) & ~(size_t)7);
}

/* Deterministic payload byte for record `seq` at offset `i`. */
static unsigned char pattern(uint32_t seq, size_t i)
{
    return (unsigned char)(seq * 131u + i * 7u + (i >> 8));
}

static void fill(unsigned char *p, uint32_t seq, size_t len)
{
    for (size_t i = 0; i < len; i++)
        p[i] = pattern(seq, i);
}

static bool matches(const unsigned char *p, uint32_t seq, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != pattern(seq, i))
            return false;
    return true;
}

static int push_str(const char *s, uint64_t *pos)
{
    return cf__ring_push(&ring, s, strlen(s), 0, pos);
}

static void assert_rec(size_t i, const char *s)
{
    cr_assert_lt(i, batch.count);
    cr_assert_eq(batch.recs[i].len, strlen(s));
    cr_assert_eq(memcmp(batch.recs[i].data, s, strlen(s)), 0, "record %zu", i);
}

/* ---- basics ------------------------------------------------------------- */

Test(ring, init_rejects_bad_capacity, .timeout = 20)
{
    struct cf__ring r;
    void *p = shared_alloc(1 << 16);

    cr_assert_eq(cf__ring_footprint(1000), 0);
    cr_assert_eq(cf__ring_footprint(2048), 0);
    cr_assert_eq(cf__ring_footprint(4096) % 64, 0);
    cr_assert_eq(cf__ring_init(&r, p, 6000), -EINVAL);
    cr_assert_eq(cf__ring_init(&r, p, 2048), -EINVAL);
    cr_assert_eq(cf__ring_init(&r, (char *)p + 8, 4096), -EINVAL, "misaligned");
    cr_assert_eq(cf__ring_init(&r, p, 8192), 0);
    cr_assert_eq(cf__ring_max_record(&r), 8192 / 8 - 8);
    munmap(p, 1 << 16);
}

Test(ring, attach_validates, .fini = teardown, .timeout = 20)
{
    struct cf__ring view;
    unsigned char junk[4096] __attribute__((aligned(64)));

    make_ring(8192);
    cr_assert_eq(cf__ring_attach(&view, mem, mem_size), 0);
    cr_assert_eq(view.capacity, 8192);
    cr_assert_eq(view.data, ring.data);
    cr_assert_eq(cf__ring_attach(&view, mem, mem_size - 1), -EPROTO, "mapping too small");
    memset(junk, 0xab, sizeof(junk));
    cr_assert_eq(cf__ring_attach(&view, junk, sizeof(junk)), -EPROTO);
    /* A view attached later sees what the first pushed. */
    cr_assert_eq(push_str("via view", NULL), 0);
    cr_assert_eq(cf__ring_attach(&view, mem, mem_size), 0);
    cr_assert_eq(cf__ring_pop(&view, &batch, 1, 0, NULL, NULL), 0);
    assert_rec(0, "via view");
}

Test(ring, push_pop_one, .fini = teardown, .timeout = 20)
{
    uint64_t pos = 99;

    make_ring(4096);
    cr_assert_eq(cf__ring_bytes_used(&ring), 0);
    cr_assert_eq(push_str("hello", &pos), 0);
    cr_assert_eq(pos, 0);
    cr_assert_eq(cf__ring_bytes_used(&ring), rec_bytes(5));
    cr_assert_eq(cf__ring_pop(&ring, &batch, 8, 0, NULL, NULL), 0);
    cr_assert_eq(batch.count, 1);
    assert_rec(0, "hello");
    cr_assert_eq(batch.recs[0].pos, 0);
    cr_assert_eq(batch.recs[0].flags, 0);
    cr_assert_eq(cf__ring_bytes_used(&ring), 0);
    /* Zero-length records are records too. */
    cr_assert_eq(cf__ring_push(&ring, NULL, 0, 0, &pos), 0);
    cr_assert_eq(pos, rec_bytes(5));
    cr_assert_eq(cf__ring_pop(&ring, &batch, 8, 0, NULL, NULL), 0);
    cr_assert_eq(batch.count, 1);
    cr_assert_eq(batch.recs[0].len, 0);
    cr_assert_not_null(batch.recs[0].data);
}

Test(ring, pushv_concatenates, .fini = teardown, .timeout = 20)
{
    struct iovec iov[3] = {{"ab", 2}, {NULL, 0}, {"cdefghij", 8}};

    make_ring(4096);
    cr_assert_eq(cf__ring_pushv(&ring, iov, 3, 0, NULL), 0);
    cr_assert_eq(cf__ring_pushv(&ring, NULL, 0, 0, NULL), 0);
    cr_assert_eq(cf__ring_pushv(&ring, iov, -1, 0, NULL), -EINVAL);
    cr_assert_eq(cf__ring_pop(&ring, &batch, 8, 0, NULL, NULL), 0);
    cr_assert_eq(batch.count, 2);
    assert_rec(0, "abcdefghij");
    cr_assert_eq(batch.recs[1].len, 0);
}

Test(ring, fifo_order, .fini = teardown, .timeout = 20)
{
    enum { N = 20000 };
    unsigned char buf[600];
    uint32_t next_push = 0, next_pop = 0;

    make_ring(65536);
    while (next_pop < N) {
        /* Fill until full, then drain in batches of varying size. */
        while (next_push < N) {
            size_t len = 4 + (next_push * 37u) % 500;
            memcpy(buf, &next_push, 4);
            fill(buf + 4, next_push, len - 4);
            int rc = cf__ring_push(&ring, buf, len, 0, NULL);
            if (rc == -EAGAIN)
                break;
            cr_assert_eq(rc, 0);
            next_push++;
        }
        cr_assert_eq(cf__ring_pop(&ring, &batch, 1 + next_pop % 50, 0, NULL, NULL), 0);
        for (size_t i = 0; i < batch.count; i++, next_pop++) {
            uint32_t seq;
            memcpy(&seq, batch.recs[i].data, 4);
            cr_assert_eq(seq, next_pop, "out of order");
            cr_assert_eq(batch.recs[i].len, 4 + (seq * 37u) % 500);
            cr_assert(matches(batch.recs[i].data + 4, seq, batch.recs[i].len - 4));
        }
    }
    cr_assert_eq(cf__ring_pop(&ring, &batch, 1, 0, NULL, NULL), -EAGAIN);
}

/* Odd sizes over many laps of a small ring: PAD records and every offset
 * get exercised; contents must come back byte for byte. */
Test(ring, wraparound, .fini = teardown, .timeout = 20)
{
    unsigned char buf[512];
    uint64_t pos, last_end = 0;
    uint32_t seq = 0, expect = 0, rnd = 12345;
    size_t max;
    bool saw_pad = false;

    make_ring(4096);
    max = cf__ring_max_record(&ring);
    while (last_end < 200 * 4096ull) {
        int burst = 1 + (int)(rnd % 5);
        for (int k = 0; k < burst; k++) {
            rnd = rnd * 1103515245u + 12345u;
            size_t len = (rnd >> 8) % (max + 1);
            fill(buf, seq, len);
            int rc = cf__ring_push(&ring, buf, len, 0, &pos);
            if (rc == -EAGAIN)
                break;
            cr_assert_eq(rc, 0);
            /* Records are contiguous unless a PAD filled the end. */
            cr_assert(pos == last_end || ((pos & 4095) == 0 && pos > last_end));
            saw_pad |= pos != last_end;
            last_end = pos + rec_bytes(len);
            seq++;
        }
        cr_assert_eq(cf__ring_pop(&ring, &batch, 1 + rnd % 4, 0, NULL, NULL), 0);
        for (size_t i = 0; i < batch.count; i++, expect++)
            cr_assert(matches(batch.recs[i].data, expect, batch.recs[i].len),
                      "record %u corrupted", expect);
    }
    while (cf__ring_pop(&ring, &batch, 64, 0, NULL, NULL) == 0)
        for (size_t i = 0; i < batch.count; i++, expect++)
            cr_assert(matches(batch.recs[i].data, expect, batch.recs[i].len));
    cr_assert_eq(expect, seq);
    cr_assert(saw_pad, "no record was ever placed after a PAD");
}

/* ---- full and empty edges ----------------------------------------------- */

static void push_len(size_t len, uint32_t seq)
{
    static unsigned char buf[1024];

    fill(buf, seq, len);
    cr_assert_eq(cf__ring_push(&ring, buf, len, 0, NULL), 0, "push %zu bytes", len);
}

static int try_push_len(size_t len, uint64_t *pos)
{
    static unsigned char buf[1024];

    fill(buf, 0, len);
    return cf__ring_push(&ring, buf, len, 0, pos);
}

/* Pushes records until the head offset is `until` bytes before the end. */
static void fill_to(uint64_t head, uint64_t until)
{
    size_t max = cf__ring_max_record(&ring);
    uint64_t off = head & (ring.capacity - 1);

    while (ring.capacity - until - off >= rec_bytes(max)) {
        push_len(max, 0);
        off += rec_bytes(max);
    }
    if (ring.capacity - until - off >= 8)
        push_len(ring.capacity - until - off - 8, 0);
}

Test(ring, exactly_full_contiguous, .fini = teardown, .timeout = 20)
{
    const uint64_t room = 200; /* free bytes left at the end of the buffer */

    make_ring(4096);
    fill_to(0, room);
    cr_assert_eq(cf__ring_bytes_used(&ring), ring.capacity - room);
    /* Payload room - 8 fills the rest exactly; one byte more needs 8 more. */
    cr_assert_eq(try_push_len(room - 8 + 1, NULL), -EAGAIN);
    cr_assert_eq(try_push_len(room - 8, NULL), 0);
    cr_assert_eq(cf__ring_bytes_used(&ring), ring.capacity);
    cr_assert_eq(try_push_len(0, NULL), -EAGAIN, "a full ring takes nothing");
    /* Popping frees room again. */
    cr_assert_eq(cf__ring_pop(&ring, &batch, 1, 0, NULL, NULL), 0);
    cr_assert_eq(try_push_len(batch.recs[0].len, NULL), 0);
}

/* A record that does not fit before the end goes to offset 0 behind a PAD
 * that fills the end; the PAD's bytes count against the free space. */
Test(ring, exactly_full_with_pad, .fini = teardown, .timeout = 20)
{
    const size_t first = 120; /* popped later: frees rec_bytes(120) = 128 */
    const uint64_t tail_room = 16;
    uint64_t pos, freed = rec_bytes(first);
    size_t pushed;

    make_ring(4096);
    push_len(first, 0);
    fill_to(rec_bytes(first), tail_room);
    cr_assert_eq(cf__ring_bytes_used(&ring), ring.capacity - tail_room);
    cr_assert_eq(cf__ring_pop(&ring, &batch, 1, 0, NULL, NULL), 0);
    cr_assert_eq(batch.recs[0].len, first);
    /* Free: tail_room at the end + `freed` at the start. A record larger
     * than tail_room needs PAD(tail_room) + its bytes <= free. */
    cr_assert_eq(try_push_len(freed - 8 + 1, NULL), -EAGAIN);
    cr_assert_eq(try_push_len(freed - 8, &pos), 0);
    cr_assert_eq(pos, ring.capacity, "placed at offset 0 after the PAD");
    cr_assert_eq(cf__ring_bytes_used(&ring), ring.capacity);
    cr_assert_eq(try_push_len(0, NULL), -EAGAIN);
    /* Draining returns every real record and never the PAD. */
    pushed = 0;
    while (cf__ring_pop(&ring, &batch, 3, 0, NULL, NULL) == 0) {
        pushed += batch.count;
        if (batch.recs[batch.count - 1].pos == pos)
            cr_assert_eq(batch.recs[batch.count - 1].len, freed - 8);
    }
    cr_assert_eq(cf__ring_bytes_used(&ring), 0);
    cr_assert_gt(pushed, 1);
}

Test(ring, oversized_record_rejected, .fini = teardown, .timeout = 20)
{
    static unsigned char big[1024];
    size_t max;
    struct iovec iov[2];

    make_ring(4096);
    max = cf__ring_max_record(&ring);
    cr_assert_eq(max, 4096 / 8 - 8);
    cr_assert_eq(cf__ring_push(&ring, big, max + 1, 0, NULL), -EMSGSIZE);
    iov[0] = (struct iovec){big, max / 2};
    iov[1] = (struct iovec){big, max - max / 2 + 1};
    cr_assert_eq(cf__ring_pushv(&ring, iov, 2, 0, NULL), -EMSGSIZE);
    cr_assert_eq(cf__ring_bytes_used(&ring), 0);
    cr_assert_eq(cf__ring_push(&ring, big, max, 0, NULL), 0);
}

Test(ring, empty_pop_and_timeouts, .fini = teardown, .timeout = 20)
{
    uint64_t deadline;

    make_ring(4096);
    cr_assert_eq(cf__ring_pop(&ring, &batch, 1, 0, NULL, NULL), -EAGAIN);
    cr_assert_eq(batch.count, 0);
    cr_assert_eq(cf__ring_pop(&ring, &batch, 0, 0, NULL, NULL), -EINVAL);
    deadline = cf__now_ns() + 20 * MS;
    cr_assert_eq(cf__ring_pop(&ring, &batch, 1, deadline, NULL, NULL), -ETIMEDOUT);
    cr_assert_geq(cf__now_ns(), deadline, "gave up before the deadline");
    /* A deadline already past: one look, then -ETIMEDOUT (not -EAGAIN). */
    cr_assert_eq(cf__ring_pop(&ring, &batch, 1, 1, NULL, NULL), -ETIMEDOUT);
    fill_to(0, 0);
    cr_assert_eq(cf__ring_bytes_used(&ring), ring.capacity);
    cr_assert_eq(try_push_len(0, NULL), -EAGAIN);
    deadline = cf__now_ns() + 20 * MS;
    cr_assert_eq(cf__ring_push(&ring, "x", 1, deadline, NULL), -ETIMEDOUT);
    cr_assert_geq(cf__now_ns(), deadline);
}

/* ---- cancel, taken, batches, claim -------------------------------------- */

Test(ring, cancel_before_and_after_take, .fini = teardown, .timeout = 20)
{
    uint64_t a, b, c, d;

    make_ring(4096);
    cr_assert_eq(push_str("alpha", &a), 0);
    cr_assert_eq(push_str("bravo", &b), 0);
    cr_assert_eq(push_str("charlie", &c), 0);
    cr_assert_eq(cf__ring_cancel(&ring, b), 0);
    cr_assert_eq(cf__ring_cancel(&ring, b), 0, "cancelling twice is harmless");
    cr_assert_eq(cf__ring_cancel(&ring, a + 8), -EINVAL, "inside a record");
    cr_assert_eq(cf__ring_cancel(&ring, a + 4), -EINVAL, "unaligned");
    cr_assert_eq(cf__ring_cancel(&ring, c + rec_bytes(7)), -EINVAL, "at head");
    cr_assert_eq(cf__ring_cancel(&ring, 1ull << 40), -EINVAL, "beyond head");
    cr_assert_eq(cf__ring_pop(&ring, &batch, 10, 0, NULL, NULL), 0);
    cr_assert_eq(batch.count, 2, "cancelled record skipped");
    assert_rec(0, "alpha");
    assert_rec(1, "charlie");
    cr_assert_eq(batch.recs[1].pos, c);
    cr_assert(cf__ring_taken(&ring, b), "skipped records are consumed");
    cr_assert_eq(cf__ring_cancel(&ring, a), -EALREADY);
    cr_assert_eq(cf__ring_cancel(&ring, b), -EALREADY);
    /* A batch of nothing but cancelled records: 0 with count 0. */
    cr_assert_eq(push_str("delta", &d), 0);
    cr_assert_eq(cf__ring_cancel(&ring, d), 0);
    cr_assert_eq(cf__ring_pop(&ring, &batch, 10, 0, NULL, NULL), 0);
    cr_assert_eq(batch.count, 0);
    cr_assert(cf__ring_taken(&ring, d));
    cr_assert_eq(cf__ring_bytes_used(&ring), 0);
}

Test(ring, taken_tracks_tail, .fini = teardown, .timeout = 20)
{
    uint64_t a, b;

    make_ring(4096);
    cr_assert_eq(push_str("one", &a), 0);
    cr_assert_eq(push_str("two", &b), 0);
    cr_assert_not(cf__ring_taken(&ring, a));
    cr_assert_not(cf__ring_taken(&ring, b));
    cr_assert_eq(cf__ring_pop(&ring, &batch, 1, 0, NULL, NULL), 0);
    cr_assert(cf__ring_taken(&ring, a));
    cr_assert_not(cf__ring_taken(&ring, b));
    cr_assert_eq(cf__ring_pop(&ring, &batch, 1, 0, NULL, NULL), 0);
    cr_assert(cf__ring_taken(&ring, b));
}

struct claim_log {
    int calls;
    size_t seen;
    bool locked_during;
    bool untaken_during;
};

static void claim_cb(void *arg, const struct cf__ring_batch *b)
{
    struct claim_log *log = arg;

    log->calls++;
    log->seen += b->count;
    /* The ring lock (first member of the shared part) is held... */
    log->locked_during = cf__pmutex_trylock((cf__pmutex *)ring.sh) == -EBUSY;
    /* ...and tail has not advanced yet. */
    log->untaken_during = !cf__ring_taken(&ring, b->recs[0].pos);
}

Test(ring, batching_and_claim, .fini = teardown, .timeout = 20)
{
    struct claim_log log = {0};
    char s[16];

    make_ring(4096);
    for (int i = 0; i < 10; i++) {
        snprintf(s, sizeof(s), "rec%d", i);
        cr_assert_eq(push_str(s, NULL), 0);
    }
    cr_assert_eq(cf__ring_pop(&ring, &batch, 4, 0, claim_cb, &log), 0);
    cr_assert_eq(batch.count, 4, "max_records honoured");
    for (int i = 0; i < 4; i++) {
        snprintf(s, sizeof(s), "rec%d", i);
        assert_rec((size_t)i, s);
    }
    cr_assert_eq(log.calls, 1);
    cr_assert(log.locked_during, "claim runs under the ring lock");
    cr_assert(log.untaken_during, "claim runs before tail advances");
    cr_assert(cf__ring_taken(&ring, batch.recs[3].pos));
    cr_assert_eq(cf__ring_pop(&ring, &batch, 100, 0, claim_cb, &log), 0);
    cr_assert_eq(batch.count, 6, "one lock hold takes everything there");
    for (int i = 0; i < 6; i++) {
        snprintf(s, sizeof(s), "rec%d", i + 4);
        assert_rec((size_t)i, s);
        cr_assert_eq((uintptr_t)batch.recs[i].data % 8, 0);
    }
    cr_assert_eq(log.calls, 2);
    cr_assert_eq(log.seen, 10);
    cr_assert_eq(cf__ring_pop(&ring, &batch, 100, 0, claim_cb, &log), -EAGAIN);
    cr_assert_eq(log.calls, 2, "no claim for nothing");
}

/* A batch larger than any before grows the buffers. */
Test(ring, batch_buffers_grow, .fini = teardown, .timeout = 20)
{
    make_ring(1 << 20);
    for (uint32_t i = 0; i < 2000; i++)
        push_len(1 + i % 300, i);
    cr_assert_eq(cf__ring_pop(&ring, &batch, 5000, 0, NULL, NULL), 0);
    cr_assert_eq(batch.count, 2000);
    for (uint32_t i = 0; i < 2000; i++) {
        cr_assert_eq(batch.recs[i].len, 1 + i % 300);
        cr_assert(matches(batch.recs[i].data, i, batch.recs[i].len));
    }
}

/* ---- close, wake, blocking across processes ----------------------------- */

static char proc_state(pid_t pid)
{
    char path[64], buf[512];
    FILE *f;
    size_t n;
    char *paren;

    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    f = fopen(path, "r");
    if (!f)
        return 0;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    paren = strrchr(buf, ')');
    return paren && paren[1] == ' ' ? paren[2] : 0;
}

/* Bounded wait until `pid` sleeps (it has nothing to sleep on but the
 * ring's futex once it has called into the ring). */
static void wait_asleep(pid_t pid)
{
    uint64_t limit = cf__now_ns() + LIVENESS_NS;

    while (proc_state(pid) != 'S') {
        cr_assert_lt(cf__now_ns(), limit, "child never blocked");
        sleep_ms(1);
    }
}

/* Child: pop forever; exit code encodes the outcome. */
static void pop_forever(void *arg)
{
    struct cf__ring_batch b;
    int rc;

    (void)arg;
    cf__ring_batch_init(&b);
    rc = cf__ring_pop(&ring, &b, 8, CF__NO_DEADLINE, NULL, NULL);
    if (rc == 0 && b.count == 0)
        _exit(42); /* woken by cf__ring_wake_all */
    if (rc == 0)
        _exit(b.count == 1 && b.recs[0].len == 3 && memcmp(b.recs[0].data, "abc", 3) == 0
                  ? 0
                  : 1);
    _exit(rc == -EPIPE ? 32 : 2);
}

static void push_forever(void *arg)
{
    int rc = cf__ring_push(&ring, "abc", 3, CF__NO_DEADLINE, NULL);

    (void)arg;
    _exit(rc == 0 ? 0 : rc == -EPIPE ? 32 : 2);
}

Test(ring, close_semantics, .fini = teardown, .timeout = 20)
{
    make_ring(4096);
    cr_assert_eq(push_str("one", NULL), 0);
    cr_assert_eq(push_str("two", NULL), 0);
    cr_assert_not(cf__ring_closed(&ring));
    cf__ring_close(&ring);
    cf__ring_close(&ring);
    cr_assert(cf__ring_closed(&ring));
    cr_assert_eq(push_str("three", NULL), -EPIPE);
    cr_assert_eq(cf__ring_push(&ring, "x", 1, CF__NO_DEADLINE, NULL), -EPIPE);
    cr_assert_eq(cf__ring_pop(&ring, &batch, 1, CF__NO_DEADLINE, NULL, NULL), 0);
    assert_rec(0, "one");
    cr_assert_eq(cf__ring_pop(&ring, &batch, 8, 0, NULL, NULL), 0, "drains first");
    assert_rec(0, "two");
    cr_assert_eq(cf__ring_pop(&ring, &batch, 8, 0, NULL, NULL), -EPIPE);
    cr_assert_eq(cf__ring_pop(&ring, &batch, 8, CF__NO_DEADLINE, NULL, NULL), -EPIPE);
}

Test(ring, push_wakes_sleeping_consumer, .fini = teardown, .timeout = 20)
{
    pid_t pid;

    make_ring(4096);
    pid = spawn(pop_forever, NULL);
    wait_asleep(pid);
    cr_assert_eq(push_str("abc", NULL), 0);
    cr_assert_eq(reap(pid), 0);
}

Test(ring, pop_wakes_sleeping_producer, .fini = teardown, .timeout = 20)
{
    pid_t pid;

    make_ring(4096);
    fill_to(0, 0);
    pid = spawn(push_forever, NULL);
    wait_asleep(pid);
    cr_assert_eq(cf__ring_pop(&ring, &batch, 1, 0, NULL, NULL), 0);
    cr_assert_eq(reap(pid), 0);
    cr_assert_eq(cf__ring_bytes_used(&ring), ring.capacity - rec_bytes(504) + rec_bytes(3));
}

Test(ring, close_wakes_everyone, .fini = teardown, .timeout = 20)
{
    pid_t consumer, producer;
    struct cf__ring full;
    void *full_mem = shared_alloc(cf__ring_footprint(4096));

    make_ring(4096);
    consumer = spawn(pop_forever, NULL);
    wait_asleep(consumer);
    cf__ring_close(&ring);
    cr_assert_eq(reap(consumer), 32, "consumer gets -EPIPE");

    /* A producer blocked on a full ring is released by close too. */
    cr_assert_eq(cf__ring_init(&full, full_mem, 4096), 0);
    ring = full;
    fill_to(0, 0);
    producer = spawn(push_forever, NULL);
    wait_asleep(producer);
    cf__ring_close(&ring);
    cr_assert_eq(reap(producer), 32, "producer gets -EPIPE");
    munmap(full_mem, cf__ring_footprint(4096));
}

Test(ring, wake_all_returns_empty_batch, .fini = teardown, .timeout = 20)
{
    pid_t pid;

    make_ring(4096);
    pid = spawn(pop_forever, NULL);
    wait_asleep(pid);
    cf__ring_wake_all(&ring);
    cr_assert_eq(reap(pid), 42);
    cr_assert_not(cf__ring_closed(&ring));
}

/* ---- polling (cf__ring_poll_begin) -------------------------------------- */

Test(ring, poll_registration_is_exclusive, .fini = teardown, .timeout = 20)
{
    make_ring(4096);
    cr_assert_not(cf__ring_polled_within(&ring, 1000 * MS), "nobody has polled yet");
    cr_assert(cf__ring_poll_begin(&ring));
    cr_assert_not(cf__ring_poll_begin(&ring), "one poller at a time");
    cr_assert(cf__ring_polled_within(&ring, 0), "polling now");
    cf__ring_forget_poller(&ring, getpid() + 1); /* not the poller: no-op */
    cr_assert_not(cf__ring_poll_begin(&ring));
    cf__ring_poll_end(&ring);
    cr_assert(cf__ring_polled_within(&ring, 1000 * MS), "stopped a moment ago");
    cr_assert(cf__ring_poll_begin(&ring));
    cf__ring_poll_end(&ring);
}

static _Atomic int *poller_ready;

/* Child: registers as the poller, says so, and never polls again (a
 * poller killed mid-poll, once the parent kills it). */
static void register_and_hang(void *arg)
{
    (void)arg;
    if (!cf__ring_poll_begin(&ring))
        _exit(3);
    atomic_store(poller_ready, 1);
    for (;;)
        pause();
}

/* While a poller is registered, a push wakes no sleeper (the poller takes
 * the record); a poller that dies is forgotten and the sleepers woken. */
Test(ring, dead_poller_is_forgotten_and_sleepers_woken, .fini = teardown, .timeout = 20)
{
    pid_t poller, consumer;

    make_ring(4096);
    poller_ready = shared_alloc(sizeof(*poller_ready));
    poller = spawn(register_and_hang, NULL);
    for (uint64_t limit = cf__now_ns() + LIVENESS_NS; !atomic_load(poller_ready);) {
        cr_assert_lt(cf__now_ns(), limit, "the poller never registered");
        sleep_ms(1);
    }
    consumer = spawn(pop_forever, NULL);
    wait_asleep(consumer);
    kill_kid(poller);
    cr_assert_eq(push_str("abc", NULL), 0);
    /* Not woken: the record waits for a poller that is gone. */
    sleep_ms(50);
    cr_assert_eq(cf__ring_bytes_used(&ring), rec_bytes(3), "nobody took the record");
    cr_assert_eq(proc_state(consumer), 'S');
    cf__ring_forget_poller(&ring, poller);
    cr_assert_eq(reap(consumer), 0, "woken and got the record");
    cr_assert(cf__ring_poll_begin(&ring), "the registration is free again");
    cf__ring_poll_end(&ring);
    munmap(poller_ready, sizeof(*poller_ready));
}

/* Child: one pop of at most one record, sleeping up to 5 s for it; exits
 * 0 with an "abc", 5 when the deadline passed first. */
static void pop_one_within_5s(void *arg)
{
    struct cf__ring_batch b;

    (void)arg;
    cf__ring_batch_init(&b);
    int rc = cf__ring_pop(&ring, &b, 1, cf__now_ns() + 5000 * MS, NULL, NULL);
    if (rc == -ETIMEDOUT)
        _exit(5);
    _exit(rc == 0 && b.count == 1 && b.recs[0].len == 3 && !memcmp(b.recs[0].data, "abc", 3)
              ? 0
              : 1);
}

/* Issue 18 (3): a pop that leaves records behind passes the push's signal
 * on. Consumer A polls, so the two pushes wake nobody; consumer B sleeps
 * with max_records = 1. A stops polling and takes one record (at most
 * one): the other is B's, and A's pop must wake B for it, at once rather
 * than at B's deadline (5 s). Without the pass-on the record would wait
 * for the next push, or a poller. */
Test(ring, pop_leaving_records_passes_the_signal_on, .fini = teardown, .timeout = 20)
{
    make_ring(4096);
    pid_t b = spawn(pop_one_within_5s, NULL);
    wait_asleep(b);
    cr_assert(cf__ring_poll_begin(&ring), "A polls");
    cr_assert_eq(push_str("abc", NULL), 0);
    cr_assert_eq(push_str("abc", NULL), 0);
    sleep_ms(50);
    cr_assert_eq(proc_state(b), 'S', "a push woke B while A polled");
    cf__ring_poll_end(&ring);
    uint64_t t0 = cf__now_ns();
    cr_assert_eq(cf__ring_pop(&ring, &batch, 1, 0, NULL, NULL), 0);
    cr_assert_eq(batch.count, 1);
    int rc = reap(b);
    double took = (double)(cf__now_ns() - t0) / 1e9;
    cr_assert_eq(rc, 0, "B: exit %d (5: slept until its deadline)", rc);
    cr_assert_lt(took, 2.0, "B got the record only after %.2f s", took);
    cr_assert_eq(cf__ring_bytes_used(&ring), 0);
}

/* Child: takes `n` records one pop (of at most one) at a time, each "abc". */
static void pop_n(void *arg)
{
    struct cf__ring_batch b;
    int n = (int)(intptr_t)arg;

    cf__ring_batch_init(&b);
    for (int i = 0; i < n; i++) {
        int rc = cf__ring_pop(&ring, &b, 1, CF__NO_DEADLINE, NULL, NULL);
        if (rc != 0 || b.count != 1 || b.recs[0].len != 3 || memcmp(b.recs[0].data, "abc", 3))
            _exit(1);
    }
    _exit(0);
}

/* Child: pushes one record and is SIGKILLed inside the push's signal,
 * after counting its wake-up and before sending it. */
static void push_and_die_signalling(void *arg)
{
    (void)arg;
    if (cf__fault_arm(CF__FAULT_SIGNAL_COUNTED, CF__FAULT_CRASH, 1, CF__ROLE_PARENT) != 0)
        _exit(3);
    (void)push_str("abc", NULL);
    _exit(4); /* the fault did not fire */
}

/* Child: one pop of at most one record that sleeps until its deadline,
 * 300 ms away (it takes what is there when the deadline passes). */
static void pop_by_deadline(void *arg)
{
    struct cf__ring_batch b;

    (void)arg;
    cf__ring_batch_init(&b);
    int rc = cf__ring_pop(&ring, &b, 1, cf__now_ns() + 300 * MS, NULL, NULL);
    _exit(rc == 0 && b.count == 1 ? 0 : rc == -ETIMEDOUT ? 5 : 1);
}

/* A producer killed inside a counted signal leaves a wake-up counted that
 * never came: pushes then skip the sleeping consumer, who seems woken
 * already. Once that consumer has gone without taking the count back (its
 * deadline passed), the count would make pushes skip the next sleeper for
 * ever; cf__ring_forget_notifier (what the pool calls on a worker death)
 * forgets it, so a push wakes the next sleeper again. */
Test(ring, dead_signaller_is_forgotten, .fini = teardown, .timeout = 20)
{
    pid_t producer, consumer;
    int st;

    make_ring(4096);
    consumer = spawn(pop_by_deadline, NULL);
    wait_asleep(consumer);
    producer = spawn(push_and_die_signalling, NULL);
    cr_assert_eq(waitpid(producer, &st, 0), producer);
    for (int i = 0; i < MAX_KIDS; i++)
        if (kids[i] == producer)
            kids[i] = 0;
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "died in the signal (status %d)", st);
    cr_assert_eq(push_str("abc", NULL), 0);
    /* Not woken: both pushes believe a wake-up is on its way. */
    sleep_ms(50);
    cr_assert_eq(cf__ring_bytes_used(&ring), 2 * rec_bytes(3), "nobody took the records");
    cr_assert_eq(proc_state(consumer), 'S');
    cr_assert_eq(reap(consumer), 0, "took a record when its deadline passed");
    cf__ring_forget_notifier(&ring);
    /* A new consumer takes the record left, sleeps, and a push wakes it. */
    consumer = spawn(pop_n, (void *)(intptr_t)2);
    for (uint64_t limit = cf__now_ns() + LIVENESS_NS; cf__ring_bytes_used(&ring) != 0;) {
        cr_assert_lt(cf__now_ns(), limit, "the record left was not taken");
        sleep_ms(1);
    }
    wait_asleep(consumer);
    cr_assert_eq(push_str("abc", NULL), 0);
    cr_assert_eq(reap(consumer), 0, "woken for the last record");
}

static void ignore_signal(int sig)
{
    (void)sig;
}

/* Child: pop_n(1), but a SIGUSR1 interrupts its sleep (no SA_RESTART), so
 * it leaves FUTEX_WAIT without having been woken and takes no count back. */
static void pop_one_interruptible(void *arg)
{
    struct sigaction sa = {.sa_handler = ignore_signal};

    (void)arg;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGUSR1, &sa, NULL) != 0)
        _exit(6);
    pop_n((void *)(intptr_t)1);
}

/* Kills one producer after another inside the signal of its push, each
 * counting one wake-up for one of the sleeping consumers. SIGKILL proves
 * the count was made: the fault point comes after it, and is reached only
 * while fewer wake-ups are counted than consumers sleep. */
static void kill_producers_in_signal(int n)
{
    for (int i = 0; i < n; i++) {
        pid_t producer = spawn(push_and_die_signalling, NULL);
        int st;

        cr_assert_eq(waitpid(producer, &st, 0), producer);
        for (int k = 0; k < MAX_KIDS; k++)
            if (kids[k] == producer)
                kids[k] = 0;
        cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
                  "producer %d died in the signal (status %d)", i, st);
    }
}

/* Bounded wait until the ring is empty; false when records stay. */
static bool drained(void)
{
    for (uint64_t limit = cf__now_ns() + LIVENESS_NS; cf__ring_bytes_used(&ring) != 0;) {
        if (cf__now_ns() >= limit)
            return false;
        sleep_ms(1);
    }
    return true;
}

/* A stale count as high as the number of sleeping consumers skips them
 * all, for ever; cf__ring_forget_notifier both forgets it and wakes them.
 *  1. SLEEPERS consumers sleep; as many producers die inside their
 *     signals: `woken` = SLEEPERS. A SIGUSR1 gets each consumer out of
 *     FUTEX_WAIT without a wake-up (no count taken back); each takes the
 *     record of one dead producer and leaves. forget_notifier with nobody
 *     asleep: only its reset can repair the count.
 *  2. SLEEPERS new consumers sleep, SLEEPERS pushes: with the count left
 *     at SLEEPERS every push would skip (fails with the reset a no-op).
 *  3. Again SLEEPERS sleepers and as many producers dead in the signal;
 *     one more push is skipped too (the stale count provably matters);
 *     forget_notifier must wake them now: nothing else will (fails
 *     without its wake_everyone). */
Test(ring, stale_counts_skip_every_sleeper_until_forgotten, .fini = teardown, .timeout = 60)
{
    enum { SLEEPERS = 3 };
    pid_t consumers[SLEEPERS];

    make_ring(4096);
    /* 1 */
    for (int i = 0; i < SLEEPERS; i++)
        consumers[i] = spawn(pop_one_interruptible, NULL);
    for (int i = 0; i < SLEEPERS; i++)
        wait_asleep(consumers[i]);
    kill_producers_in_signal(SLEEPERS);
    cr_assert_eq(cf__ring_bytes_used(&ring), SLEEPERS * rec_bytes(3));
    for (int i = 0; i < SLEEPERS; i++) {
        cr_assert_eq(kill(consumers[i], SIGUSR1), 0);
        cr_assert_eq(reap(consumers[i]), 0, "consumer %d took a record once interrupted", i);
    }
    cr_assert_eq(cf__ring_bytes_used(&ring), 0);
    cf__ring_forget_notifier(&ring);
    /* 2 */
    for (int i = 0; i < SLEEPERS; i++)
        consumers[i] = spawn(pop_n, (void *)(intptr_t)1);
    for (int i = 0; i < SLEEPERS; i++)
        wait_asleep(consumers[i]);
    for (int i = 0; i < SLEEPERS; i++)
        cr_assert_eq(push_str("abc", NULL), 0);
    cr_assert(drained(), "pushes skipped sleepers: the stale count was not forgotten");
    for (int i = 0; i < SLEEPERS; i++)
        cr_assert_eq(reap(consumers[i]), 0, "consumer %d", i);
    /* 3 */
    for (int i = 0; i < SLEEPERS; i++)
        consumers[i] = spawn(pop_n, (void *)(intptr_t)1);
    for (int i = 0; i < SLEEPERS; i++)
        wait_asleep(consumers[i]);
    kill_producers_in_signal(SLEEPERS);
    cr_assert_eq(push_str("abc", NULL), 0);
    sleep_ms(20);
    cr_assert_eq(cf__ring_bytes_used(&ring), (SLEEPERS + 1) * rec_bytes(3),
                 "a push with every sleeper counted woken is skipped");
    for (int i = 0; i < SLEEPERS; i++)
        cr_assert_eq(proc_state(consumers[i]), 'S', "consumer %d", i);
    cf__ring_forget_notifier(&ring);
    for (int i = 0; i < SLEEPERS; i++)
        cr_assert_eq(reap(consumers[i]), 0, "consumer %d was not woken by forget_notifier", i);
    cr_assert_eq(cf__ring_bytes_used(&ring), rec_bytes(3));
    cr_assert_eq(cf__ring_pop(&ring, &batch, 8, 0, NULL, NULL), 0);
    cr_assert_eq(batch.count, 1);
}

static bool never(void *arg)
{
    (void)arg;
    return false;
}

/* Child: pops with a long poll window; arg non-NULL: may_poll says no. */
static void pop_polling(void *arg)
{
    ring.poll_ns = 60ull * 1000 * MS;
    ring.may_poll = arg ? never : NULL;
    pop_forever(NULL);
}

/* Bounded wait until a consumer polls the ring. */
static void wait_polling(void)
{
    uint64_t limit = cf__now_ns() + LIVENESS_NS;

    while (!cf__ring_polled_within(&ring, 0)) {
        cr_assert_lt(cf__now_ns(), limit, "the consumer never polled");
        sleep_ms(1);
    }
}

Test(ring, polling_consumer_takes_a_record_without_sleeping, .fini = teardown, .timeout = 20)
{
    pid_t pid;

    make_ring(4096);
    pid = spawn(pop_polling, NULL);
    wait_polling();
    cr_assert_neq(proc_state(pid), 'S', "polling, not asleep");
    cr_assert_eq(push_str("abc", NULL), 0);
    cr_assert_eq(reap(pid), 0);
    cr_assert(cf__ring_poll_begin(&ring), "it unregistered");
    cf__ring_poll_end(&ring);
}

Test(ring, may_poll_false_sleeps_at_once, .fini = teardown, .timeout = 20)
{
    pid_t pid;

    make_ring(4096);
    pid = spawn(pop_polling, &ring);
    wait_asleep(pid);
    cr_assert_not(cf__ring_polled_within(&ring, 60ull * 1000 * MS), "it never polled");
    cr_assert_eq(push_str("abc", NULL), 0);
    cr_assert_eq(reap(pid), 0);
}

Test(ring, wake_all_interrupts_a_poll, .fini = teardown, .timeout = 20)
{
    pid_t pid;

    make_ring(4096);
    pid = spawn(pop_polling, NULL);
    wait_polling();
    cf__ring_wake_all(&ring);
    cr_assert_eq(reap(pid), 42);
}

/* Child: waits for records without taking them. */
static void wait_forever(void *arg)
{
    (void)arg;
    int rc = cf__ring_wait(&ring, CF__NO_DEADLINE);
    _exit(rc == 0 && cf__ring_has_records(&ring) ? 0 : rc == -EPIPE ? 32 : 2);
}

Test(ring, wait_takes_nothing, .fini = teardown, .timeout = 20)
{
    pid_t pid;

    make_ring(4096);
    cr_assert_eq(cf__ring_wait(&ring, 0), -ETIMEDOUT);
    cr_assert_eq(cf__ring_wait(&ring, cf__now_ns() + MS), -ETIMEDOUT);
    pid = spawn(wait_forever, NULL);
    wait_asleep(pid);
    cr_assert_eq(push_str("abc", NULL), 0);
    cr_assert_eq(reap(pid), 0);
    cr_assert_eq(cf__ring_wait(&ring, 0), 0, "records there: returns at once");
    cr_assert_eq(cf__ring_pop(&ring, &batch, 8, 0, NULL, NULL), 0);
    assert_rec(0, "abc");
    pid = spawn(wait_forever, NULL);
    wait_asleep(pid);
    cf__ring_close(&ring);
    cr_assert_eq(reap(pid), 32);
    cr_assert_eq(cf__ring_wait(&ring, CF__NO_DEADLINE), -EPIPE);
}

/* ---- many processes ----------------------------------------------------- */

enum { PRODUCERS = 4, PER_PRODUCER = 10000, CONSUMERS = 2, KILL_ROUNDS = 4 };

struct tagged {
    uint32_t producer;
    uint32_t seq;
};

struct tally {
    _Atomic uint8_t seen[PRODUCERS][PER_PRODUCER];
};

static struct tally *tally;
static uint32_t producer_limit; /* records per producer; 0: until killed */

static size_t tagged_len(uint32_t producer, uint32_t seq, size_t max)
{
    return sizeof(struct tagged) + (seq * 2654435761u + producer * 97u) % (max - 8);
}

/* Payloads are slices of one pseudo-random table, at an offset chosen by
 * (producer, seq): cheap to make and check (so producers spend their time
 * pushing, a good part of it inside the lock), and a record made of stale
 * bytes would not match. */
#define TABLE_SIZE 65536
static unsigned char table[TABLE_SIZE];

static void make_table(void)
{
    uint32_t x = 2463534242u;

    for (size_t i = 0; i < TABLE_SIZE; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        table[i] = (unsigned char)x;
    }
}

static const unsigned char *tagged_payload(uint32_t producer, uint32_t seq, size_t max)
{
    uint32_t h = (seq ^ (producer << 24)) * 2654435761u;

    return table + h % (TABLE_SIZE - max);
}

/* Pushes tagged records 0..producer_limit-1, or forever. */
static void producer_main(void *arg)
{
    uint32_t id = (uint32_t)(uintptr_t)arg;
    size_t max = cf__ring_max_record(&ring);

    for (uint32_t seq = 0; producer_limit == 0 || seq < producer_limit; seq++) {
        struct tagged t = {id, seq};
        struct iovec iov[2] = {
            {&t, sizeof(t)},
            {(void *)tagged_payload(id, seq, max), tagged_len(id, seq, max) - sizeof(t)},
        };
        if (cf__ring_pushv(&ring, iov, 2, CF__NO_DEADLINE, NULL) != 0)
            _exit(1);
    }
    _exit(0);
}

static bool tagged_ok(const struct cf__ring_record *rec, struct tagged *t)
{
    size_t max = cf__ring_max_record(&ring);

    if (rec->len < sizeof(*t))
        return false;
    memcpy(t, rec->data, sizeof(*t));
    return t->producer < KILL_ROUNDS * PRODUCERS &&
           rec->len == tagged_len(t->producer, t->seq, max) &&
           memcmp(rec->data + sizeof(*t), tagged_payload(t->producer, t->seq, max),
                  rec->len - sizeof(*t)) == 0;
}

static void consumer_main(void *arg)
{
    struct cf__ring_batch b;
    struct tagged t;
    int rc;

    (void)arg;
    cf__ring_batch_init(&b);
    while ((rc = cf__ring_pop(&ring, &b, 32, CF__NO_DEADLINE, NULL, NULL)) == 0) {
        for (size_t i = 0; i < b.count; i++) {
            if (!tagged_ok(&b.recs[i], &t) || t.producer >= PRODUCERS ||
                t.seq >= PER_PRODUCER)
                _exit(3);
            atomic_fetch_add(&tally->seen[t.producer][t.seq], 1);
        }
    }
    _exit(rc == -EPIPE ? 0 : 2);
}

Test(ring, many_producers_many_consumers, .fini = teardown, .timeout = 20)
{
    pid_t prod[PRODUCERS], cons[CONSUMERS];

    make_ring(16384);
    make_table();
    producer_limit = PER_PRODUCER;
    ring.poll_ns = 20000; /* consumers poll before sleeping: exercises the protocol */
    tally = shared_alloc(sizeof(*tally));
    for (int i = 0; i < CONSUMERS; i++)
        cons[i] = spawn(consumer_main, NULL);
    for (int i = 0; i < PRODUCERS; i++)
        prod[i] = spawn(producer_main, (void *)(uintptr_t)i);
    for (int i = 0; i < PRODUCERS; i++)
        cr_assert_eq(reap(prod[i]), 0, "producer %d", i);
    cf__ring_close(&ring);
    for (int i = 0; i < CONSUMERS; i++)
        cr_assert_eq(reap(cons[i]), 0, "consumer %d", i);
    for (int p = 0; p < PRODUCERS; p++)
        for (int s = 0; s < PER_PRODUCER; s++)
            cr_assert_eq(tally->seen[p][s], 1, "producer %d seq %d seen %d times", p, s,
                         tally->seen[p][s]);
    munmap(tally, sizeof(*tally));
    tally = NULL;
}

/* Producers SIGKILLed at arbitrary points while a consumer drains as fast
 * as it can (so they are busy pushing, often inside the lock, mid-copy):
 * every visible record is whole, each producer's records arrive as a
 * gap-free prefix in order, and the ring keeps working. */
#define SENTINEL 0xFFFFFFFFu

struct stream_report {
    _Atomic uint32_t received[KILL_ROUNDS * PRODUCERS];
};

static struct stream_report *report;

static void ordered_consumer_main(void *arg)
{
    struct cf__ring_batch b;
    struct tagged t;

    (void)arg;
    cf__ring_batch_init(&b);
    for (;;) {
        if (cf__ring_pop(&ring, &b, 16, CF__NO_DEADLINE, NULL, NULL) != 0)
            _exit(2);
        for (size_t i = 0; i < b.count; i++) {
            if (b.recs[i].len == sizeof(t)) {
                memcpy(&t, b.recs[i].data, sizeof(t));
                if (t.producer == SENTINEL)
                    _exit(0);
            }
            if (!tagged_ok(&b.recs[i], &t))
                _exit(3); /* torn or corrupt */
            if (t.seq != report->received[t.producer])
                _exit(4); /* gap or duplicate */
            report->received[t.producer]++;
        }
    }
}

/* SIGKILLs `pid` while it holds the ring lock, if we can: with glibc a
 * robust mutex's lock word holds the owner's TID (the kernel's robust-futex
 * ABI), so we wait until it names `pid`, SIGSTOP it, and kill it only if it
 * still owns the lock once stopped. Returns true when the kill landed
 * inside the lock. Elsewhere the kill lands wherever it lands. */
static bool owns_ring_lock(pid_t pid)
{
#ifdef __GLIBC__
    int *word = &((cf__pmutex *)ring.sh)->m.__data.__lock;

    return (__atomic_load_n(word, __ATOMIC_RELAXED) & FUTEX_TID_MASK) == pid;
#else
    (void)pid;
    return false;
#endif
}

static bool kill_inside_lock(pid_t pid)
{
    uint64_t until = cf__now_ns() + 500 * MS;
    bool inside = false;

    while (!inside && cf__now_ns() < until) {
        if (!owns_ring_lock(pid))
            continue;
        kill(pid, SIGSTOP);
        while (proc_state(pid) != 'T' && cf__now_ns() < until)
            ;
        inside = owns_ring_lock(pid);
        if (!inside)
            kill(pid, SIGCONT);
    }
    kill_kid(pid);
    return inside;
}

Test(ring, producers_killed_mid_stream, .fini = teardown, .timeout = 20)
{
    struct tagged sentinel = {SENTINEL, 0};
    pid_t consumer, prod[PRODUCERS];
    int killed_inside = 0;

    make_ring(256 * 1024); /* big records: long copies under the lock */
    make_table();
    producer_limit = 0;
    report = shared_alloc(sizeof(*report));
    consumer = spawn(ordered_consumer_main, NULL);
    for (int round = 0; round < KILL_ROUNDS; round++) {
        for (int i = 0; i < PRODUCERS; i++)
            prod[i] = spawn(producer_main, (void *)(uintptr_t)(round * PRODUCERS + i));
        for (int i = 0; i < PRODUCERS; i++) {
            sleep_us(300 + 250 * ((round + i) % 5));
            /* Half of them mid-copy inside the lock, half anywhere. */
            if (i % 2)
                kill_kid(prod[i]);
            else
                killed_inside += kill_inside_lock(prod[i]);
        }
    }
    cr_assert_eq(cf__ring_push(&ring, &sentinel, sizeof(sentinel), CF__NO_DEADLINE, NULL), 0);
    cr_assert_eq(reap(consumer), 0, "consumer saw a bad stream");
#ifdef __GLIBC__
    cr_assert_gt(killed_inside, 0, "no producer died holding the lock");
#endif
    cr_assert_not(cf__ring_closed(&ring));
    cr_assert_eq(cf__ring_bytes_used(&ring), 0);
    cr_assert_eq(push_str("after", NULL), 0);
    cr_assert_eq(cf__ring_pop(&ring, &batch, 8, 0, NULL, NULL), 0);
    assert_rec(0, "after");
    munmap(report, sizeof(*report));
}

/* ---- dead lock holders -------------------------------------------------- */

static _Atomic int *holder_ready;

/* Takes the ring lock directly (it is the first member of the shared part)
 * and scribbles over everything past head, as a producer dying mid-copy
 * would; then dies holding the lock, by _exit or by waiting for SIGKILL. */
static void die_holding_lock(void *arg)
{
    uint64_t head = cf__ring_bytes_used(&ring); /* tail is 0 in these tests */

    if (cf__pmutex_lock((cf__pmutex *)ring.sh) < 0)
        _exit(1);
    for (uint64_t i = head; i < ring.capacity; i++)
        ring.data[i] = (unsigned char)(0xA5 ^ i);
    if (arg == NULL)
        _exit(0);
    atomic_store(holder_ready, 1);
    for (;;)
        pause();
}

static void check_ring_survives(void)
{
    cr_assert_eq(cf__ring_pop(&ring, &batch, 8, 0, NULL, NULL), 0);
    cr_assert_eq(batch.count, 2);
    assert_rec(0, "first");
    assert_rec(1, "second");
    cr_assert_eq(push_str("third", NULL), 0);
    cr_assert_eq(cf__ring_pop(&ring, &batch, 8, 0, NULL, NULL), 0);
    cr_assert_eq(batch.count, 1);
    assert_rec(0, "third");
    cr_assert_not(cf__ring_closed(&ring));
    cr_assert_eq(cf__pmutex_trylock((cf__pmutex *)ring.sh), 0, "lock consistent again");
    cf__pmutex_unlock((cf__pmutex *)ring.sh);
}

Test(ring, lock_holder_exits, .fini = teardown, .timeout = 20)
{
    pid_t pid;

    make_ring(4096);
    cr_assert_eq(push_str("first", NULL), 0);
    cr_assert_eq(push_str("second", NULL), 0);
    pid = spawn(die_holding_lock, NULL);
    cr_assert_eq(reap(pid), 0);
    check_ring_survives();
}

Test(ring, lock_holder_sigkilled, .fini = teardown, .timeout = 20)
{
    pid_t pid;
    uint64_t limit = cf__now_ns() + LIVENESS_NS;

    make_ring(4096);
    holder_ready = shared_alloc(sizeof(*holder_ready));
    cr_assert_eq(push_str("first", NULL), 0);
    cr_assert_eq(push_str("second", NULL), 0);
    pid = spawn(die_holding_lock, (void *)1);
    while (!atomic_load(holder_ready)) {
        cr_assert_lt(cf__now_ns(), limit);
        sleep_ms(1);
    }
    cr_assert_eq(cf__pmutex_trylock((cf__pmutex *)ring.sh), -EBUSY, "child holds the lock");
    kill_kid(pid);
    check_ring_survives();
    munmap(holder_ready, sizeof(*holder_ready));
}

/* ---- corrupt headers ---------------------------------------------------- */

struct hdr {
    uint32_t len;
    uint32_t flags;
};

static void put_hdr_at(uint64_t pos, uint32_t len, uint32_t flags)
{
    struct hdr h = {len, flags};

    memcpy(ring.data + (pos & (ring.capacity - 1)), &h, sizeof(h));
}

static void assert_poisoned(void)
{
    cr_assert_eq(cf__ring_pop(&ring, &batch, 8, 0, NULL, NULL), -EBADMSG);
    cr_assert_eq(batch.count, 0);
    cr_assert(cf__ring_closed(&ring), "a corrupt ring is closed");
    cr_assert_eq(cf__ring_pop(&ring, &batch, 8, CF__NO_DEADLINE, NULL, NULL), -EBADMSG);
    cr_assert_eq(push_str("more", NULL), -EPIPE);
}

Test(ring, corrupt_headers_detected, .fini = teardown, .timeout = 20)
{
    uint64_t a, b, c;
    size_t max;
    const struct hdr bad[] = {
        {0xFFFFFFF0u, 0},    /* absurd length */
        {0, 0},              /* placeholder: max + 1, set below */
        {8, 0x40},           /* unknown flag */
        {4096 - 8, 0x80000000u}, /* PAD-like, covers far beyond head */
        {100, 0},            /* plausible length, runs past head */
        {0xA5A5A5A5u, 0xA5A5A5A5u},
    };

    make_ring(4096);
    max = cf__ring_max_record(&ring);
    for (size_t v = 0; v < sizeof(bad) / sizeof(bad[0]); v++) {
        cr_assert_eq(cf__ring_init(&ring, mem, 4096), 0);
        cr_assert_eq(push_str("aaaa", &a), 0);
        cr_assert_eq(push_str("bbbbbbbb", &b), 0);
        cr_assert_eq(push_str("c", &c), 0);
        uint32_t len = v == 1 ? (uint32_t)max + 1 : bad[v].len;
        /* Variant 4 corrupts the last record, the others the first. */
        put_hdr_at(v == 4 ? c : a, len, bad[v].flags);
        assert_poisoned();
    }
    /* Cancel walks headers too. */
    cr_assert_eq(cf__ring_init(&ring, mem, 4096), 0);
    cr_assert_eq(push_str("aaaa", &a), 0);
    cr_assert_eq(push_str("bbbb", &b), 0);
    put_hdr_at(a, 3000, 0);
    cr_assert_eq(cf__ring_cancel(&ring, b), -EBADMSG);
    cr_assert(cf__ring_closed(&ring));
}

/* Random garbage over published records: every call returns a documented
 * code and nothing is read out of bounds (ASan watches the mapping's
 * neighbours; the lengths returned must stay within max_record). */
Test(ring, garbage_fuzz, .fini = teardown, .timeout = 20)
{
    uint32_t rnd = 0xC0FFEE;
    size_t max;

    make_ring(4096);
    max = cf__ring_max_record(&ring);
    for (int iter = 0; iter < 300; iter++) {
        int rc, pushed = 0;

        cr_assert_eq(cf__ring_init(&ring, mem, 4096), 0);
        /* Move the positions around so garbage meets every offset. */
        for (int k = 0; k < iter % 9; k++) {
            push_len(max, 0);
            cr_assert_eq(cf__ring_pop(&ring, &batch, 1, 0, NULL, NULL), 0);
        }
        while (try_push_len(((rnd = rnd * 1664525u + 1013904223u) >> 9) % 300, NULL) == 0)
            pushed++;
        for (int k = 0; k < 1 + iter % 5; k++) {
            rnd = rnd * 1664525u + 1013904223u;
            ring.data[(rnd >> 4) % ring.capacity] = (unsigned char)(rnd >> 24);
        }
        while ((rc = cf__ring_pop(&ring, &batch, 1 + (size_t)iter % 4, 0, NULL, NULL)) == 0)
            for (size_t i = 0; i < batch.count; i++)
                cr_assert_leq(batch.recs[i].len, max);
        cr_assert(rc == -EAGAIN || rc == -EBADMSG, "pop returned %d", rc);
        cr_assert(pushed > 0);
    }
}
