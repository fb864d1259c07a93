/* cf_map: a lazy, chunked, bounded map of one task over an input callback.
 *
 * Items are packed straight from the input callback into CHUNK records of
 * `chunksize` items; at most a window of chunks is in flight, so memory
 * stays bounded however long the input. Results come back as one array of
 * [status, value | message] pairs per chunk and are yielded in input order
 * (or in completion order of chunks when unordered). The automatic chunk
 * size starts at 1 and grows (up to 8 times per chunk) while chunks come
 * back fast, halves when they are slow, trading per-record overhead
 * against load balance.
 *
 * A progress callback, if any, runs inside cf_map_next on the iterating
 * thread, throttled to one call per PROGRESS_EVERY_NS, plus a final one
 * when the map reaches its end.
 *
 * The timeout is absolute and ends the map, as in Python: done items are
 * still yielded, the first one not done returns -ETIMEDOUT, what is still
 * pending is cancelled then (time_out), and the map is over (CF_EEMPTY).
 *
 * A map belongs to the thread that iterates it; it is not thread-safe.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "executor/executor.h"
#include "executor/future_internal.h"
#include "ipc/clock.h"
#include "serialize/record.h"
#include "workers/registry.h"

#define MAX_AUTO_CHUNK 4096
/* Grow while a chunk comes back within 6 ms of its submission, its wait
 * behind the other chunks in flight included (about 2 ms of work on a
 * busy pool): each chunk costs the parent two thread wakes, and at 2 ms
 * (about 0.7 ms of work) an uneven map of 10 us items lost a few percent
 * more to OpenMP than it does now (bench/cpu.c). */
#define FAST_CHUNK_NS 6000000ull
#define SLOW_CHUNK_NS 50000000ull /* shrink above 50 ms */
#define PROGRESS_EVERY_NS 100000000ull /* at most one progress call per 100 ms */

struct chunk {
    cf_future *f;
    size_t first;  /* input index of its first item */
    size_t count;
    uint64_t submitted_ns;
};

struct cf_map {
    cf_executor *ex;
    char *task;
    cf_map_input_fn input;
    void *arg;
    uint64_t deadline;
    double timeout;       /* as given, for the message */
    bool timed_out;       /* the deadline passed: the map has ended */
    size_t unsent_items;  /* read from the input when the deadline passed */
    bool unordered;
    bool auto_chunk;
    size_t chunksize;
    size_t max_chunks;    /* chunks pending (not yet done) at most */
    size_t window_cap;    /* chunks in the window at most, done ones included */
    size_t max_inflight;  /* items; 0: no limit beyond the window */

    size_t next_index;    /* next input index to ask for */
    bool input_done;
    int input_error;      /* reported once everything before it is yielded */
    size_t input_error_index;

    struct chunk *window; /* submitted, not yet being yielded; in input order */
    size_t n_window;
    size_t inflight_items;

    struct chunk cur;     /* the chunk being yielded */
    /* Its packed result, [[status, value], ...], read one pair per item:
     * unpacking the whole chunk at once made msgpack-c allocate three
     * objects per item, on the thread that also feeds the pool. */
    const unsigned char *cur_bytes;
    size_t cur_len, cur_off;
    msgpack_object item;  /* the value yielded last, when a scalar */
    msgpack_zone *zone;   /* the value yielded last, when a container */
    size_t cur_pos;
    int cur_error;        /* the whole chunk failed with this (CF_EWORKER, ...) */
    char message[1300];

    cf_map_progress_fn progress;
    void *progress_arg;
    size_t total_hint;    /* cf_map_options.total */
    size_t yielded;       /* items returned by cf_map_next so far */
    uint64_t started_ns;
    uint64_t last_progress_ns;
    bool progress_final; /* the final call was made */
};

/* ------------------------------------------------------------ packing */

struct pack_state {
    cf_map *m;
    size_t count;
    int input_rc; /* < 0: the input failed after `count` items */
};

static int put_be32(msgpack_packer *pk, size_t at, uint32_t v)
{
    msgpack_sbuffer *sb = pk->data;
    if (at + 4 > sb->size)
        return -EINVAL;
    sb->data[at] = (char)(v >> 24);
    sb->data[at + 1] = (char)(v >> 16);
    sb->data[at + 2] = (char)(v >> 8);
    sb->data[at + 3] = (char)v;
    return 0;
}

/* Packs up to chunksize items as an array32 whose count is patched at the
 * end: the input is lazy, so the count is unknown until it is read. */
static int pack_chunk(msgpack_packer *pk, void *arg)
{
    struct pack_state *ps = arg;
    cf_map *m = ps->m;
    msgpack_sbuffer *sb = pk->data;
    static const char header[5] = {(char)0xdd, 0, 0, 0, 0};
    if (pk->callback(pk->data, header, sizeof(header)) != 0)
        return -ENOMEM;
    size_t count_at = sb->size - 4;
    while (ps->count < m->chunksize) {
        size_t item_at = sb->size;
        int rc = m->input(m->arg, m->next_index + ps->count, pk);
        if (rc == -1) /* msgpack-c's refused write, passed on: say why */
            rc = cf__executor_pack_error(pk) < 0 ? cf__executor_pack_error(pk) : -ENOMEM;
        if (rc > 0 && cf__msgpack_check_value(sb->data + item_at, sb->size - item_at) != 0)
            rc = CF_EPROTO; /* the callback must pack exactly one object */
        if (rc <= 0) {
            ps->input_rc = rc;
            /* Whatever it packed before failing or ending would follow
             * the counted items and make the whole record unreadable. */
            sb->size = item_at;
            break;
        }
        ps->count++;
    }
    if (ps->count == 0)
        return CF_EEMPTY; /* nothing to submit */
    return put_be32(pk, count_at, (uint32_t)ps->count);
}

static double remaining(const cf_map *m)
{
    if (m->deadline == CF__NO_DEADLINE)
        return CF_FOREVER;
    uint64_t now = cf__now_ns();
    return now >= m->deadline ? 0 : (double)(m->deadline - now) / 1e9;
}

static int failed_chunk(cf_future **out, int err)
{
    char msg[160];
    int rc = cf_future_create(out);
    if (rc < 0)
        return rc;
    snprintf(msg, sizeof(msg), "could not submit the item: %s", cf_strerror(err));
    cf_future_set_error(*out, err, msg);
    return 0;
}

static bool deadline_passed(const cf_map *m)
{
    return m->deadline != CF__NO_DEADLINE && cf__now_ns() >= m->deadline;
}

/* Window entries whose future is not done yet: the chunks keeping the
 * workers busy. */
static size_t pending_chunks(const cf_map *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->n_window; i++)
        n += !cf_future_done(m->window[i].f);
    return n;
}

/* Submits chunks until max_chunks are pending, the window is full or the
 * input ends. Done chunks waiting behind a slow head of an ordered map do
 * not count as pending: the workers stay fed while the head runs (see
 * pick), within window_cap. Nothing is submitted once the deadline has
 * passed: it could not be yielded. */
static int refill(cf_map *m)
{
    while (!m->input_done && !deadline_passed(m) && m->n_window < m->window_cap &&
           pending_chunks(m) < m->max_chunks &&
           (!m->max_inflight || m->inflight_items + m->chunksize <= m->max_inflight ||
            m->n_window == 0)) {
        struct pack_state ps = {m, 0, 1};
        struct chunk c = {.first = m->next_index, .submitted_ns = cf__now_ns()};
        cf_submit_options opts = CF_SUBMIT_OPTIONS_INIT;
        opts.timeout = remaining(m);
        opts.poll = opts.timeout == 0; /* the deadline has passed */
        int rc = cf__executor_submit_packed(m->ex, true, m->task, &opts, pack_chunk, &ps, &c.f);
        if (ps.input_rc <= 0) {
            m->input_done = true;
            if (ps.input_rc < 0) {
                m->input_error = ps.input_rc;
                m->input_error_index = m->next_index + ps.count;
            }
        }
        if (rc == CF_EEMPTY)
            break;
        if (rc == CF_EFULL) {
            /* No room before the map's deadline: the map times out, and
             * the items just read count as pending (time_out). */
            m->unsent_items = ps.count;
            return -ETIMEDOUT;
        }
        if (rc < 0 && ps.count == 0)
            return rc;
        if (rc < 0) {
            /* The input callback already produced these items and cannot
             * be asked again: they fail, each reporting why, rather than
             * vanish. A stand-alone future carries the error. */
            int err = rc;
            if ((rc = failed_chunk(&c.f, err)) < 0)
                return rc;
            /* Read no further: every later submission would fail alike. */
            if (!m->input_done) {
                m->input_done = true;
                m->input_error = err;
                m->input_error_index = m->next_index + ps.count;
            }
        }
        c.count = ps.count;
        m->next_index += ps.count;
        m->inflight_items += ps.count;
        m->window[m->n_window++] = c;
    }
    return 0;
}

/* ------------------------------------------------------------ yielding */

static void adapt_chunksize(cf_map *m, const struct chunk *c)
{
    if (!m->auto_chunk)
        return;
    uint64_t took = cf__now_ns() - c->submitted_ns;
    if (took < FAST_CHUNK_NS) {
        /* Grow towards FAST_CHUNK_NS per chunk, by what this chunk says
         * (at most 8 times its size): `took` counts its wait in the queue
         * too, so the estimate errs small. Growing by doubling on chunks
         * of the current size only, a map ran ~20 chunks of each size
         * (the window's worth, submitted before the last doubling) from 1
         * up, and its first few thousand items paid a round trip each. */
        uint64_t factor = took ? FAST_CHUNK_NS / took : 8;
        size_t target = c->count * (size_t)(factor < 8 ? factor : 8);
        if (target > MAX_AUTO_CHUNK)
            target = MAX_AUTO_CHUNK;
        /* Never past max_inflight: a chunk bigger than the window would
         * put more items in flight than the caller allowed. */
        if (m->max_inflight && target > m->max_inflight)
            target = m->max_inflight;
        if (target > m->chunksize)
            m->chunksize = target;
    } else if (took > SLOW_CHUNK_NS && m->chunksize > 1) {
        m->chunksize /= 2;
    }
}

/* Picks the window entry to yield next: the oldest, or (unordered) the
 * first done. Returns its index or -ETIMEDOUT (the map's deadline passed
 * first; a chunk that itself failed with -ETIMEDOUT is picked as usual). */
static int pick(cf_map *m, size_t *which)
{
    if (!m->unordered) {
        /* In order: the head must finish, but while it runs the chunks
         * behind it may finish too; each that does is replaced (refill),
         * so that one slow item stalls only its own worker, not the pool
         * (measured: ordered maps of 10 us items at 0.64x OpenMP with the
         * window frozen behind its head). Waits on the pending chunks
         * only, else a done one would make the wait return at once. */
        *which = 0;
        for (;;) {
            if (cf_future_done(m->window[0].f))
                return 0;
            int rc = refill(m);
            if (rc < 0 && rc != -ETIMEDOUT)
                return rc;
            cf_future *fs[m->n_window];
            size_t n = 0;
            for (size_t i = 0; i < m->n_window; i++)
                if (!cf_future_done(m->window[i].f))
                    fs[n++] = m->window[i].f;
            if (n == 0)
                return 0;
            /* Nothing more can be submitted: only the head matters. */
            if (m->input_done || m->n_window >= m->window_cap)
                n = 1;
            if (fs[0] != m->window[0].f)
                return 0; /* the head completed meanwhile */
            int done = cf_wait(fs, n, CF_FIRST_COMPLETED, remaining(m), NULL);
            if (done < 0)
                return done; /* -EDEADLK/-ENOMEM from a callback's wait */
            if (done == 0)
                return -ETIMEDOUT;
        }
    }
    cf_future *fs[m->n_window];
    for (size_t i = 0; i < m->n_window; i++)
        fs[i] = m->window[i].f;
    bool done[m->n_window];
    int n = cf_wait(fs, m->n_window, CF_FIRST_COMPLETED, remaining(m), done);
    if (n < 0)
        return n;
    for (size_t i = 0; i < m->n_window; i++) {
        if (done[i]) {
            *which = i;
            return 0;
        }
    }
    return -ETIMEDOUT;
}

/* Reads the value at v into m->item: a scalar straight from the bytes, a
 * container through msgpack-c into m->zone (both valid until the next
 * item). *used is its size. Returns 0, CF_EPROTO or -ENOMEM. */
static int read_value(cf_map *m, const unsigned char *v, size_t avail, size_t *used)
{
    int r = cf__msgpack_scalar(v, avail, &m->item, used);
    if (r != 0)
        return r < 0 ? CF_EPROTO : 0;
    if (cf__msgpack_check_prefix(v, avail, 1, used, NULL) != 0)
        return CF_EPROTO;
    if (!m->zone && !(m->zone = msgpack_zone_new(1024)))
        return -ENOMEM;
    msgpack_zone_clear(m->zone);
    size_t off = 0;
    if (msgpack_unpack((const char *)v, *used, &off, m->zone, &m->item) !=
            MSGPACK_UNPACK_SUCCESS ||
        off != *used)
        return CF_EPROTO;
    return 0;
}

/* Makes the picked chunk current. */
static void open_chunk(cf_map *m, size_t which)
{
    m->cur = m->window[which];
    memmove(&m->window[which], &m->window[which + 1],
            (m->n_window - which - 1) * sizeof(*m->window));
    m->n_window--;
    m->inflight_items -= m->cur.count;
    m->cur_pos = 0;
    const unsigned char *bytes;
    size_t len, head;
    uint32_t n;
    m->cur_error = cf__future_packed_result(m->cur.f, &bytes, &len);
    if (m->cur_error == 0) {
        if (cf__msgpack_array_head(bytes, len, &n, &head) == 0 && n == m->cur.count) {
            m->cur_bytes = bytes;
            m->cur_len = len;
            m->cur_off = head;
        } else {
            m->cur_error = CF_EPROTO;
        }
    }
    adapt_chunksize(m, &m->cur);
}

static void close_chunk(cf_map *m)
{
    cf_future_release(m->cur.f);
    m->cur.f = NULL;
}

/* Yields item cur_pos of the current chunk. */
static int yield_item(cf_map *m, size_t *index, const msgpack_object **result)
{
    size_t pos = m->cur_pos++;
    *index = m->cur.first + pos;
    m->yielded++;
    if (m->cur_error) {
        /* The chunk's own failure, or one met while reading it (then the
         * future itself succeeded and has no message). */
        const char *why = cf_future_error_message(m->cur.f);
        snprintf(m->message, sizeof(m->message), "item %zu: %s", *index,
                 m->cur_error == CF_EPROTO ? "malformed chunk result"
                 : why[0]                  ? why
                                           : cf_strerror(m->cur_error));
        return m->cur_error;
    }
    /* [status, value]. If the pair cannot even be read, neither can where
     * the next one starts: the rest of the chunk fails with it. (The
     * collector has checked the whole result's structure already; this is
     * for a worker that packed something else.) */
    const unsigned char *p = m->cur_bytes + m->cur_off;
    size_t avail = m->cur_len - m->cur_off, head, su, vu;
    /* The common pair, [0, scalar]: its two header bytes are known, and
     * the value is read (and bounds-checked) as below. */
    if (avail > 2 && p[0] == 0x92 && p[1] == 0x00 &&
        cf__msgpack_scalar(p + 2, avail - 2, &m->item, &vu) == 1) {
        m->cur_off += 2 + vu;
        *result = &m->item;
        return 0;
    }
    uint32_t n;
    msgpack_object st;
    int rc = cf__msgpack_array_head(p, avail, &n, &head) == 0 && n == 2 &&
                     cf__msgpack_scalar(p + head, avail - head, &st, &su) == 1
                 ? read_value(m, p + head + su, avail - head - su, &vu)
                 : CF_EPROTO;
    if (rc < 0) {
        m->cur_error = rc;
        snprintf(m->message, sizeof(m->message), "item %zu: %s", *index,
                 rc == CF_EPROTO ? "malformed chunk result" : cf_strerror(rc));
        return rc;
    }
    m->cur_off += head + su + vu;
    int64_t status;
    if (cf_obj_i64(&st, &status) != 0 || status > 0 || status < INT32_MIN) {
        snprintf(m->message, sizeof(m->message), "item %zu: malformed result", *index);
        return CF_EPROTO;
    }
    if (status == 0) {
        *result = &m->item;
        return 0;
    }
    const msgpack_object *msg = &m->item;
    if (msg->type == MSGPACK_OBJECT_STR)
        snprintf(m->message, sizeof(m->message), "item %zu: %.*s", *index,
                 (int)(msg->via.str.size < sizeof(m->message) ? msg->via.str.size
                                                              : sizeof(m->message)),
                 msg->via.str.ptr);
    else
        snprintf(m->message, sizeof(m->message), "item %zu: %s", *index,
                 cf_strerror((int)status));
    return (int)status;
}

/* Calls the progress callback when it is due (or `final`). */
static void report_progress(cf_map *m, bool final)
{
    if (!m->progress || m->progress_final)
        return;
    uint64_t now = cf__now_ns();
    if (!final && now - m->last_progress_ns < PROGRESS_EVERY_NS)
        return;
    m->last_progress_ns = now;
    m->progress_final = final;
    double elapsed = (double)(now - m->started_ns) / 1e9;
    cf_map_progress p = {
        .done = m->yielded,
        /* Once the input has ended its true count is known. */
        .total = m->input_done && !m->input_error ? m->next_index : m->total_hint,
        .elapsed = elapsed,
        .rate = elapsed > 0 ? (double)m->yielded / elapsed : 0,
    };
    m->progress(&p, m->progress_arg);
}

/* The map's deadline passed: like Python's map, the map ends. Every chunk
 * still in the window is cancelled; one a worker has started cannot be
 * (cf_future_cancel), so it runs to its end and its result is dropped.
 * Returns -ETIMEDOUT; every later cf_map_next returns CF_EEMPTY. */
static int time_out(cf_map *m)
{
    size_t pending = m->unsent_items, running = 0;
    for (size_t i = 0; i < m->n_window; i++) {
        pending += m->window[i].count;
        if (!cf_future_cancel(m->window[i].f) && !cf_future_done(m->window[i].f))
            running += m->window[i].count;
        cf_future_release(m->window[i].f);
    }
    m->n_window = 0;
    m->inflight_items = 0;
    m->input_done = true;
    m->input_error = 0;
    m->timed_out = true;
    snprintf(m->message, sizeof(m->message),
             "map timed out after %g s with %zu item%s pending (%zu cancelled, %zu left to "
             "finish unseen)",
             m->timeout, pending, pending == 1 ? "" : "s", pending - running, running);
    return -ETIMEDOUT;
}

static int next_item(cf_map *m, size_t *index, const msgpack_object **result);

int cf_map_next(cf_map *m, size_t *index, const msgpack_object **result)
{
    if (!m || !index || !result)
        return -EINVAL;
    size_t before = m->yielded;
    int rc = next_item(m, index, result);
    if (rc == CF_EEMPTY && !m->timed_out) /* a timed-out map never reaches done == total */
        report_progress(m, true);
    else if (m->yielded != before) /* an item, result or failure */
        report_progress(m, false);
    if (rc == -ETIMEDOUT && !m->message[0])
        snprintf(m->message, sizeof(m->message),
                 "the map's timeout passed (%.3f s after cf_map_create); %zu items yielded",
                 (double)(cf__now_ns() - m->started_ns) / 1e9, m->yielded);
    return rc;
}

static int next_item(cf_map *m, size_t *index, const msgpack_object **result)
{
    *result = NULL;
    if (m->timed_out)
        return CF_EEMPTY; /* the message still says why */
    m->message[0] = '\0';
    for (;;) {
        if (m->cur.f && m->cur_pos < m->cur.count)
            return yield_item(m, index, result);
        if (m->cur.f)
            close_chunk(m);
        /* -ETIMEDOUT: no room in the task ring before the deadline. The
         * map has timed out, but chunks already done are still yielded
         * first (pick finds them; the first one not done ends the map). */
        int rc = refill(m);
        if (rc == -ETIMEDOUT && m->n_window == 0)
            return time_out(m);
        if (rc < 0 && rc != -ETIMEDOUT)
            return rc;
        if (m->n_window == 0 && (!m->input_done || m->unsent_items))
            return time_out(m); /* refill stopped at the deadline */
        if (m->n_window == 0) {
            if (m->input_error) {
                rc = m->input_error;
                *index = m->input_error_index;
                snprintf(m->message, sizeof(m->message), "input %zu: %s", *index,
                         cf_strerror(rc));
                m->input_error = 0;
                return rc;
            }
            return CF_EEMPTY;
        }
        size_t which;
        if ((rc = pick(m, &which)) == -ETIMEDOUT)
            return time_out(m);
        if (rc < 0)
            return rc;
        open_chunk(m, which);
    }
}

const char *cf_map_error_message(const cf_map *m)
{
    return m ? m->message : "";
}

/* ------------------------------------------------------------ lifetime */

int cf_map_create(cf_map **out, cf_executor *ex, const char *task, cf_map_input_fn input,
                  void *arg, const cf_map_options *opts)
{
    if (!out || !ex || !task || !input || !*task || strlen(task) > CF__TASK_NAME_MAX)
        return -EINVAL;
    int rc = cf__task_check(task); /* here, not in every item */
    if (rc < 0)
        return rc;
    cf_map_options o = opts ? *opts : (cf_map_options){.timeout = CF_FOREVER};
    int workers = cf_executor_workers(ex);
    if (workers <= 0)
        return -EINVAL;
    cf_map *m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    m->ex = ex;
    m->input = input;
    m->arg = arg;
    /* Zero is the default, no limit (an all-zero struct is valid). */
    m->timeout = o.timeout == 0 ? CF_FOREVER : o.timeout;
    m->deadline = cf__deadline_after(m->timeout);
    m->unordered = o.unordered;
    m->auto_chunk = o.chunksize == 0;
    m->chunksize = o.chunksize ? o.chunksize : 1;
    m->max_inflight = o.max_inflight;
    m->progress = o.progress;
    m->progress_arg = o.progress_arg;
    m->total_hint = o.total;
    m->started_ns = m->last_progress_ns = cf__now_ns();
    /* Two chunks per worker keeps each busy while the next one travels. */
    m->max_chunks = 2 * (size_t)workers + 2;
    /* Room for done chunks waiting behind a slow head (pick). */
    m->window_cap = 4 * m->max_chunks;
    m->task = strdup(task);
    m->window = calloc(m->window_cap, sizeof(*m->window));
    if (!m->task || !m->window) {
        cf_map_release(m);
        return -ENOMEM;
    }
    rc = refill(m); /* start the work now, as Python's map does */
    if (rc < 0 && rc != -ETIMEDOUT) {
        cf_map_release(m);
        return rc;
    }
    *out = m;
    return 0;
}

void cf_map_release(cf_map *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_window; i++) {
        cf_future_cancel(m->window[i].f);
        cf_future_release(m->window[i].f);
    }
    if (m->cur.f)
        close_chunk(m);
    if (m->zone)
        msgpack_zone_free(m->zone);
    free(m->window);
    free(m->task);
    free(m);
}
