/* Shared inside libcfutures_mpi: the pool's settings as cf_mpi_pool_create
 * resolved them, and the two halves it starts, the root's executor
 * (root.c) and a serving rank's loop (serve.c).
 */
#ifndef CF_MPI_INTERNAL_H
#define CF_MPI_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <cfutures/mpi.h>

#include "mpi/wire.h"

struct cf__mpi_config {
    MPI_Comm comm; /* the pool's own duplicate */
    int rank, size, root;
    bool own_mpi;  /* cf_mpi_pool_create initialised MPI: finalise it */
    size_t split;
    size_t max_pending;
    int batch_records, credits;
    int workers_per_rank;
    const char *initializer;
    const void *initargs;
    size_t initargs_len;
    int max_retries, max_tasks_per_child;
};

/* Root: sends START with `code` to every serving rank (0: serve; < 0:
 * return that code). 0 or CF_EBROKEN. */
int cf__mpi_send_start(const struct cf__mpi_config *c, int code);

/* Root: starts the executor over the serving ranks that said hello
 * (hellos[r] for every rank r but the root): sends START 0 once it is set
 * up (START with the error code if it could not be), then starts the
 * progress thread. Returns 0 with *out, or a negative code; the caller
 * still owns the communicator on failure. */
int cf__mpi_root_start(cf_executor **out, const struct cf__mpi_config *c,
                       const struct cf__mpi_hello *hellos);

/* Serving rank, in three steps so that the hello exchange sits between
 * them: set up (the local pool is forked here, before any thread), serve
 * until STOP, free. */
struct cf__mpi_server;
int cf__mpi_server_setup(struct cf__mpi_server **out, const struct cf__mpi_config *c,
                         struct cf__mpi_hello *hello);
int cf__mpi_server_run(struct cf__mpi_server *s);
void cf__mpi_server_free(struct cf__mpi_server *s);

#endif
