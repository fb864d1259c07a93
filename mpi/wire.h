/* What crosses between the root and the serving ranks of an MPI pool, and
 * how a message longer than MPI's int counts crosses.
 *
 * Messages (tags on the pool's own duplicate of the communicator):
 *   HELLO    rank -> root   struct cf__mpi_hello, once, after the rank's set-up
 *   START    root -> rank   int32: 0 serve, or the code every rank returns
 *   BATCH    root -> rank   framed: entries of [struct cf__mpi_entry][record]
 *                           where record is the executor's [u64 id][TASK or
 *                           CHUNK msgpack record], as the process pool's rings
 *                           carry it
 *   RESULTS  rank -> root   framed: entries of [u64 len][RESULT msgpack record]
 *   STOP     root -> rank   empty: every result is in, return
 *
 * Framing: a BATCH or RESULTS message is a buffer that starts with its own
 * total length (u64, header included) and crosses as consecutive MPI
 * messages of at most `split` bytes each with the same tag; MPI's ordering
 * of messages between one pair of ranks on one tag keeps the pieces in
 * order and apart from the next message's. Ranks run the same binary, so
 * the fixed-size headers are copied as they are in memory.
 */
#ifndef CF_MPI_WIRE_H
#define CF_MPI_WIRE_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

enum {
    CF__MPI_TAG_HELLO = 1,
    CF__MPI_TAG_START = 2,
    CF__MPI_TAG_BATCH = 3,
    CF__MPI_TAG_RESULTS = 4,
    CF__MPI_TAG_STOP = 5,
};

#define CF__MPI_FRAME_HEAD 8 /* the u64 total length before a framed message */
#define CF__MPI_MIN_SPLIT 64

struct cf__mpi_hello {
    int32_t status;  /* 0, or why this rank cannot serve */
    int32_t workers; /* tasks it runs at once */
    int32_t pid;
    int32_t pad;
};

struct cf__mpi_entry {
    uint64_t record_len;  /* bytes of record after this header */
    int32_t max_retries;  /* node mode: re-runs if its worker dies (-1: the pool's) */
    int32_t pad;
    double task_timeout;  /* seconds left of its task_timeout (<= 0: none) */
};

/* A growable byte buffer for one framed message. */
struct cf__mpi_buf {
    unsigned char *data;
    size_t len, cap;
};

/* Empties b down to its frame head. 0 or -ENOMEM. */
int cf__mpi_buf_reset(struct cf__mpi_buf *b);
/* Appends n bytes; 0 or -ENOMEM. */
int cf__mpi_buf_append(struct cf__mpi_buf *b, const void *p, size_t n);
/* Makes room for n more bytes and returns where they go (len not moved). */
unsigned char *cf__mpi_buf_reserve(struct cf__mpi_buf *b, size_t n);
void cf__mpi_buf_free(struct cf__mpi_buf *b);
/* A msgpack write callback appending to a cf__mpi_buf. */
int cf__mpi_buf_write(void *data, const char *buf, size_t len);

/* How many pieces a framed message of len bytes crosses in. */
size_t cf__mpi_pieces(size_t len, size_t split);
/* Writes the frame head of b and sends it in pieces, blocking. 0 or
 * CF_EBROKEN. */
int cf__mpi_send_framed(struct cf__mpi_buf *b, int dest, int tag, MPI_Comm comm, size_t split);
/* The same without blocking: starts one MPI_Isend per piece into
 * reqs[0..cf__mpi_pieces()). b must stay put until they complete. */
int cf__mpi_isend_framed(struct cf__mpi_buf *b, int dest, int tag, MPI_Comm comm, size_t split,
                         MPI_Request *reqs);
/* Receives the framed message whose first piece `st` describes (from an
 * MPI_Probe or MPI_Iprobe): all its pieces, blocking until the last.
 * *out is malloc'd, *len its total length (frame head included). 0,
 * -ENOMEM, CF_EPROTO (a frame that does not add up) or CF_EBROKEN. */
int cf__mpi_recv_framed(const MPI_Status *st, MPI_Comm comm, unsigned char **out, size_t *len);

#endif
