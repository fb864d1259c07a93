/* A serving rank of the MPI pool: receives batches of task records from
 * the root, runs them, sends their RESULT records back in batches.
 *
 * Rank mode (workers_per_rank 0): the rank runs each record itself
 * (workers/execute.h, as the thread pool's threads do), one after the
 * other, and sends the results of a batch when it is done (or sooner,
 * every FLUSH_NS, while a batch of long tasks runs).
 *
 * Node mode: a local process pool, created in setup before the rank
 * starts any thread of its own, runs the records. Each received record is
 * submitted to it again (same task name, arguments copied as they are
 * packed, the task_timeout left and max_retries carried over); a
 * done-callback, on the local pool's collector thread, moves the finished
 * local future onto `done` and wakes the rank's thread, which packs the
 * RESULT records under the root's task ids and sends them.
 *
 * Only the thread that called cf_mpi_pool_create calls MPI. `mu` guards
 * `done` and `waiting`, nothing else; no lock is held across MPI or
 * submit calls.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "executor/executor.h"
#include "executor/future_internal.h"
#include "ipc/clock.h"
#include "mpi/mpi_internal.h"
#include "serialize/record.h"
#include "workers/execute.h"
#include "workers/pool_ipc.h"

#define SPIN_ROUNDS 100
#define MAX_NAP_NS 1000000
#define FLUSH_NS 20000000ull /* results of a long batch go back at least this often */
#define KEEP_BYTES (16u << 20) /* message buffers larger than this are freed after use */

struct cf__mpi_server;
struct done {
    uint64_t id;  /* the root's task id */
    cf_future *f; /* the local future (this entry holds a reference) */
    struct cf__mpi_server *s;
    struct done *next;
};

struct cf__mpi_server {
    struct cf__mpi_config c;
    cf_executor *local; /* node mode */
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_zone *zone;
    struct cf__mpi_buf out; /* the RESULTS message being filled */
    size_t outstanding;     /* node mode: submitted locally, not yet sent back */
    uint64_t last_flush;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct done *done; /* finished local futures (LIFO; order does not matter) */
    bool waiting;
    char msg[CF__EXECUTE_MESSAGE_MAX];
};

/* ------------------------------------------------------------ results */

/* Appends sb (one RESULT record) to the outgoing message. */
static int append_result(struct cf__mpi_server *s)
{
    uint64_t len = s->sb.size;
    int rc = cf__mpi_buf_append(&s->out, &len, sizeof(len));
    return rc == 0 ? cf__mpi_buf_append(&s->out, s->sb.data, s->sb.size) : rc;
}

static int append_error(struct cf__mpi_server *s, uint64_t id, int status, const char *msg)
{
    s->sb.size = 0;
    int rc = cf__record_result_error(&s->pk, id, status, msg, strlen(msg));
    return rc == 0 ? append_result(s) : rc;
}

static int flush(struct cf__mpi_server *s)
{
    s->last_flush = cf__now_ns();
    if (s->out.len <= CF__MPI_FRAME_HEAD)
        return 0;
    int rc = cf__mpi_send_framed(&s->out, s->c.root, CF__MPI_TAG_RESULTS, s->c.comm, s->c.split);
    /* A large result's buffers are not kept for the next small ones. */
    if (s->out.cap > KEEP_BYTES)
        cf__mpi_buf_free(&s->out);
    if (s->sb.alloc > KEEP_BYTES) {
        msgpack_sbuffer_destroy(&s->sb);
        msgpack_sbuffer_init(&s->sb);
    }
    int rrc = cf__mpi_buf_reset(&s->out);
    return rc < 0 ? rc : rrc;
}

/* ----------------------------------------------------------- rank mode */

/* Runs one record (the executor's [u64 id][record]) and appends its
 * RESULT. */
static int run_record(struct cf__mpi_server *s, const unsigned char *rec_bytes, size_t len)
{
    uint64_t id;
    memcpy(&id, rec_bytes, sizeof(id));
    struct cf__record rec;
    size_t value_off = 0;
    int status = cf__record_decode(rec_bytes + CF__ID_PREFIX, len - CF__ID_PREFIX, s->zone, &rec);
    int rc;
    if (status == 0) {
        cf__execute_record(&s->sb, &s->pk, id, &rec, &value_off, s->msg, sizeof(s->msg));
        rc = append_result(s);
    } else {
        snprintf(s->msg, sizeof(s->msg), "could not read the task record: %s (%d)",
                 cf_strerror(status), status);
        rc = append_error(s, id, status, s->msg);
    }
    msgpack_zone_clear(s->zone);
    return rc;
}

/* ----------------------------------------------------------- node mode */

static int on_local_done(cf_future *f, void *arg)
{
    (void)f;
    struct done *d = arg;
    struct cf__mpi_server *s = d->s;
    pthread_mutex_lock(&s->mu);
    d->next = s->done;
    s->done = d;
    if (s->waiting)
        pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

struct raw {
    const unsigned char *p;
    size_t n;
};

static int pack_raw(msgpack_packer *pk, void *arg)
{
    struct raw *r = arg;
    return pk->callback(pk->data, (const char *)r->p, r->n) == 0 ? 0 : -ENOMEM;
}

/* Submits one record to the local pool; a record it cannot take fails its
 * own future at the root. */
static int submit_record(struct cf__mpi_server *s, const struct cf__mpi_entry *e,
                         const unsigned char *rec_bytes, size_t len)
{
    uint64_t id;
    memcpy(&id, rec_bytes, sizeof(id));
    struct cf__record rec;
    int rc = cf__record_decode(rec_bytes + CF__ID_PREFIX, len - CF__ID_PREFIX, s->zone, &rec);
    char name[CF__TASK_NAME_MAX + 1];
    struct done *d = NULL;
    cf_future *lf = NULL;
    if (rc == 0) {
        memcpy(name, rec.name, rec.name_len);
        name[rec.name_len] = '\0';
        struct raw raw = {rec.payload_raw, rec.payload_len};
        /* The root's retries_left: -1 the pool's, 0 none, n > 0 that many. */
        cf_submit_options o = CF_SUBMIT_OPTIONS_INIT;
        o.task_timeout = e->task_timeout;
        o.max_retries = e->max_retries == 0 ? CF_NO_RETRIES : e->max_retries;
        d = malloc(sizeof(*d));
        rc = d ? cf__executor_submit_packed(s->local, rec.type == CF__REC_CHUNK, name, &o,
                                            pack_raw, &raw, &lf)
               : -ENOMEM;
    }
    msgpack_zone_clear(s->zone);
    if (rc < 0) {
        free(d);
        snprintf(s->msg, sizeof(s->msg), "rank %d could not run the task record: %s (%d)",
                 s->c.rank, cf_strerror(rc), rc);
        return append_error(s, id, rc, s->msg);
    }
    *d = (struct done){.id = id, .f = lf, .s = s};
    s->outstanding++;
    rc = cf_future_add_done_callback(lf, on_local_done, d);
    if (rc < 0) {
        s->outstanding--;
        cf_future_release(lf);
        free(d);
        return append_error(s, id, rc, "could not watch the task on its rank");
    }
    return 0;
}

/* Packs the RESULT records of the local futures that finished. */
static int collect_done(struct cf__mpi_server *s)
{
    pthread_mutex_lock(&s->mu);
    struct done *d = s->done;
    s->done = NULL;
    pthread_mutex_unlock(&s->mu);
    int rc = 0, got = 0;
    while (d) {
        struct done *next = d->next;
        const unsigned char *bytes;
        size_t len;
        int st = cf__future_packed_result(d->f, &bytes, &len);
        s->sb.size = 0;
        if (rc < 0) {
            /* keep freeing */
        } else if (st == 0) {
            rc = cf__record_result_begin(&s->pk, d->id);
            if (rc == 0)
                rc = s->pk.callback(s->pk.data, (const char *)bytes, len) == 0 ? 0 : -ENOMEM;
            if (rc == 0)
                rc = append_result(s);
        } else {
            const char *m = cf_future_error_message(d->f);
            rc = append_error(s, d->id, st, m ? m : cf_strerror(st));
        }
        s->outstanding--;
        got = 1;
        cf_future_release(d->f);
        free(d);
        d = next;
    }
    return rc < 0 ? rc : got;
}

/* ----------------------------------------------------------- the loop */

static int on_batch(struct cf__mpi_server *s, const unsigned char *buf, size_t len)
{
    size_t off = CF__MPI_FRAME_HEAD;
    while (off < len) {
        struct cf__mpi_entry e;
        if (len - off < sizeof(e))
            return CF_EPROTO;
        memcpy(&e, buf + off, sizeof(e));
        off += sizeof(e);
        if (e.record_len > len - off || e.record_len <= CF__ID_PREFIX)
            return CF_EPROTO;
        int rc = s->local ? submit_record(s, &e, buf + off, (size_t)e.record_len)
                          : run_record(s, buf + off, (size_t)e.record_len);
        if (rc < 0)
            return rc;
        off += (size_t)e.record_len;
        if (!s->local && cf__now_ns() - s->last_flush > FLUSH_NS && (rc = flush(s)) < 0)
            return rc;
    }
    return s->local ? 0 : flush(s);
}

static void nap(struct cf__mpi_server *s, uint64_t ns)
{
    if (!s->local) {
        struct timespec ts = {0, (long)ns};
        nanosleep(&ts, NULL);
        return;
    }
    struct timespec ts = cf__deadline_timespec(cf__now_ns() + ns);
    pthread_mutex_lock(&s->mu);
    if (!s->done) {
        s->waiting = true;
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
        s->waiting = false;
    }
    pthread_mutex_unlock(&s->mu);
}

int cf__mpi_server_run(struct cf__mpi_server *s)
{
    unsigned idle = 0;
    s->last_flush = cf__now_ns();
    for (;;) {
        int flag = 0, did = 0, rc = 0;
        MPI_Status st;
        if (MPI_Iprobe(s->c.root, MPI_ANY_TAG, s->c.comm, &flag, &st) != MPI_SUCCESS)
            return CF_EBROKEN;
        if (flag && st.MPI_TAG == CF__MPI_TAG_STOP) {
            MPI_Recv(NULL, 0, MPI_BYTE, s->c.root, CF__MPI_TAG_STOP, s->c.comm, MPI_STATUS_IGNORE);
            return 0; /* the root had every result: nothing is outstanding */
        }
        if (flag && st.MPI_TAG == CF__MPI_TAG_BATCH) {
            unsigned char *buf = NULL;
            size_t len = 0;
            rc = cf__mpi_recv_framed(&st, s->c.comm, &buf, &len);
            if (rc == 0)
                rc = on_batch(s, buf, len);
            free(buf);
            did = 1;
        } else if (flag) {
            return CF_EPROTO;
        }
        if (rc == 0 && s->local && (rc = collect_done(s)) > 0)
            did = 1;
        /* Node mode: finished tasks, and records the local pool refused. */
        if (rc >= 0 && s->local)
            rc = flush(s);
        if (rc < 0)
            return rc;
        if (did) {
            idle = 0;
        } else if (++idle > SPIN_ROUNDS) {
            uint64_t ns = 1000ull << (idle - SPIN_ROUNDS < 10 ? idle - SPIN_ROUNDS : 10);
            nap(s, ns < MAX_NAP_NS ? ns : MAX_NAP_NS);
        }
    }
}

/* ------------------------------------------------------------- set-up */

/* Rank mode: runs the initializer once in this rank. */
static int run_initializer(struct cf__mpi_server *s)
{
    const struct cf__mpi_config *c = &s->c;
    msgpack_object args = {.type = MSGPACK_OBJECT_ARRAY};
    size_t off = 0;
    int rc = 0;
    if (c->initargs && msgpack_unpack(c->initargs, c->initargs_len, &off, s->zone, &args) !=
                           MSGPACK_UNPACK_SUCCESS)
        rc = CF_EPROTO;
    if (rc == 0) {
        s->sb.size = 0;
        rc = cf__execute_task(&s->sb, &s->pk, c->initializer, strlen(c->initializer), &args,
                              s->msg, sizeof(s->msg));
    }
    msgpack_zone_clear(s->zone);
    if (rc < 0)
        fprintf(stderr, "cfutures: MPI rank %d: initializer '%s' failed: %s\n", c->rank,
                c->initializer, rc == CF_EPROTO ? "bad arguments" : s->msg);
    return rc < 0 ? CF_EBROKEN : 0;
}

int cf__mpi_server_setup(struct cf__mpi_server **out, const struct cf__mpi_config *c,
                         struct cf__mpi_hello *hello)
{
    struct cf__mpi_server *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    *out = s;
    s->c = *c;
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &attr);
    pthread_condattr_destroy(&attr);
    msgpack_sbuffer_init(&s->sb);
    msgpack_packer_init(&s->pk, &s->sb, msgpack_sbuffer_write);
    s->zone = msgpack_zone_new(4096);
    if (!s->zone || cf__mpi_buf_reset(&s->out) < 0)
        return -ENOMEM;
    if (c->workers_per_rank == 0) {
        hello->workers = 1;
        return c->initializer ? run_initializer(s) : 0;
    }
    int n = c->workers_per_rank == CF_MPI_AUTO ? cf_default_workers() : c->workers_per_rank;
    if (n < 0)
        return n;
    cf_process_pool_options po = {
        .max_workers = n,
        .initializer = c->initializer,
        .initargs = c->initargs,
        .initargs_len = c->initargs_len,
        .max_retries = c->max_retries,
        .max_tasks_per_child = c->max_tasks_per_child,
    };
    int rc = cf_process_pool_create(&s->local, &po);
    if (rc < 0)
        return rc;
    hello->workers = n;
    return 0;
}

void cf__mpi_server_free(struct cf__mpi_server *s)
{
    if (!s)
        return;
    if (s->local)
        cf_executor_release(s->local); /* its futures are all done: STOP came */
    struct done *d = s->done;
    while (d) {
        struct done *next = d->next;
        cf_future_release(d->f);
        free(d);
        d = next;
    }
    if (s->zone)
        msgpack_zone_free(s->zone);
    msgpack_sbuffer_destroy(&s->sb);
    cf__mpi_buf_free(&s->out);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
