/* cf_mpi_pool_create (include/cfutures/mpi.h): checks the options, makes
 * sure MPI runs at MPI_THREAD_SERIALIZED, duplicates the communicator, and
 * runs the start-up exchange that makes every rank agree: each serving
 * rank sets itself up (node mode forks its local pool here) and says
 * HELLO with its status; the root answers START, 0 (serve) or the first
 * failure, which every rank then returns. Afterwards the root's executor
 * (root.c) owns the communicator, and a serving rank serves (serve.c)
 * until STOP. Called once per pool by one thread of each rank.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include "executor/initializer.h"
#include "mpi/mpi_internal.h"

#define DEFAULT_MAX_PENDING 4096
#define DEFAULT_BATCH_RECORDS 64
#define DEFAULT_CREDITS 2

static int check_options(const cf_mpi_pool_options *o)
{
    if (o->workers_per_rank < CF_MPI_AUTO || o->workers_per_rank > 1024 ||
        o->max_retries < 0 || o->max_tasks_per_child < 0 || o->batch_records < 0 ||
        o->credits < 0 || o->root < 0 ||
        (o->split_bytes && (o->split_bytes < CF__MPI_MIN_SPLIT || o->split_bytes > INT_MAX)))
        return -EINVAL;
    return o->initializer ? cf__initializer_check(o->initializer, o->initargs, o->initargs_len)
                          : 0;
}

int cf__mpi_send_start(const struct cf__mpi_config *c, int code)
{
    int32_t v = code;
    int rc = 0;
    for (int r = 0; r < c->size; r++)
        if (r != c->root &&
            MPI_Send(&v, (int)sizeof(v), MPI_BYTE, r, CF__MPI_TAG_START, c->comm) != MPI_SUCCESS)
            rc = CF_EBROKEN;
    return rc;
}

static int run_root(cf_executor **out, struct cf__mpi_config *c)
{
    struct cf__mpi_hello *hellos = calloc((size_t)c->size, sizeof(*hellos));
    int rc = hellos ? 0 : -ENOMEM;
    /* Hear every rank even after a failure: each waits for START. */
    for (int r = 0; r < c->size; r++) {
        if (r == c->root)
            continue;
        struct cf__mpi_hello h = {.status = CF_EBROKEN};
        if (MPI_Recv(&h, (int)sizeof(h), MPI_BYTE, r, CF__MPI_TAG_HELLO, c->comm,
                     MPI_STATUS_IGNORE) != MPI_SUCCESS)
            h.status = CF_EBROKEN;
        if (hellos)
            hellos[r] = h;
        if (rc == 0 && h.status < 0)
            rc = h.status;
    }
    if (rc < 0)
        cf__mpi_send_start(c, rc);
    else
        rc = cf__mpi_root_start(out, c, hellos); /* sends START itself */
    free(hellos);
    return rc;
}

static int run_server(struct cf__mpi_config *c)
{
    struct cf__mpi_server *s = NULL;
    struct cf__mpi_hello h = {.pid = (int32_t)getpid()};
    int rc = cf__mpi_server_setup(&s, c, &h);
    h.status = rc;
    int32_t start = CF_EBROKEN;
    if (MPI_Send(&h, (int)sizeof(h), MPI_BYTE, c->root, CF__MPI_TAG_HELLO, c->comm) !=
            MPI_SUCCESS ||
        MPI_Recv(&start, (int)sizeof(start), MPI_BYTE, c->root, CF__MPI_TAG_START, c->comm,
                 MPI_STATUS_IGNORE) != MPI_SUCCESS)
        start = CF_EBROKEN;
    if (rc == 0)
        rc = start;
    if (rc == 0)
        rc = cf__mpi_server_run(s);
    cf__mpi_server_free(s);
    return rc == 0 ? CF_MPI_SERVED : rc;
}

int cf_mpi_pool_create(cf_executor **out, const cf_mpi_pool_options *opts)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    cf_mpi_pool_options o = opts ? *opts : (cf_mpi_pool_options){0};
    int rc = check_options(&o);
    if (rc < 0)
        return rc;

    int inited = 0, finalized = 0, provided = MPI_THREAD_SINGLE;
    MPI_Initialized(&inited);
    MPI_Finalized(&finalized);
    if (finalized)
        return -ENOTSUP; /* MPI cannot start again */
    bool own = !inited;
    if (own) {
        if (MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS)
            return CF_EBROKEN;
    } else {
        MPI_Query_thread(&provided);
    }
    struct cf__mpi_config c = {
        .root = o.root,
        .own_mpi = own,
        .split = o.split_bytes ? o.split_bytes : INT_MAX,
        .max_pending = o.max_pending ? o.max_pending : DEFAULT_MAX_PENDING,
        .batch_records = o.batch_records ? o.batch_records : DEFAULT_BATCH_RECORDS,
        .credits = o.credits ? o.credits : DEFAULT_CREDITS,
        .workers_per_rank = o.workers_per_rank,
        .initializer = o.initializer,
        .initargs = o.initargs,
        .initargs_len = o.initargs_len,
        .max_retries = o.max_retries,
        .max_tasks_per_child = o.max_tasks_per_child,
        .comm = MPI_COMM_NULL,
    };
    /* Every rank sees the same level (same program, same MPI) and decides
     * alike without a word. */
    if (provided < MPI_THREAD_SERIALIZED) {
        rc = -ENOTSUP;
        goto out_finalize;
    }
    if (MPI_Comm_dup(o.comm ? *o.comm : MPI_COMM_WORLD, &c.comm) != MPI_SUCCESS) {
        rc = CF_EBROKEN;
        goto out_finalize;
    }
    MPI_Comm_set_errhandler(c.comm, MPI_ERRORS_RETURN);
    MPI_Comm_size(c.comm, &c.size);
    MPI_Comm_rank(c.comm, &c.rank);
    if (c.root >= c.size)
        rc = -EINVAL;
    else if (c.size < 2)
        rc = -ENOTSUP; /* nobody to serve */
    else if (c.rank == c.root)
        rc = run_root(out, &c);
    else
        rc = run_server(&c);
    if (rc == 0)
        return 0; /* the executor owns the communicator and MPI now */
    MPI_Comm_free(&c.comm);
out_finalize:
    if (own)
        MPI_Finalize();
    return rc;
}
