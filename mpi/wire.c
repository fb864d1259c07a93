/* The MPI pool's framing (wire.h): growable message buffers, and messages
 * of any length sent and received as pieces of at most `split` bytes.
 * Used by the root's progress thread and by serving ranks, each on its
 * own buffers; no state of its own.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <cfutures.h>

#include "mpi/wire.h"

static int grow(struct cf__mpi_buf *b, size_t need)
{
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    unsigned char *d = realloc(b->data, cap);
    if (!d)
        return -ENOMEM;
    b->data = d;
    b->cap = cap;
    return 0;
}

int cf__mpi_buf_reset(struct cf__mpi_buf *b)
{
    if (grow(b, CF__MPI_FRAME_HEAD) < 0)
        return -ENOMEM;
    b->len = CF__MPI_FRAME_HEAD;
    return 0;
}

unsigned char *cf__mpi_buf_reserve(struct cf__mpi_buf *b, size_t n)
{
    if (n > SIZE_MAX - b->len || grow(b, b->len + n) < 0)
        return NULL;
    return b->data + b->len;
}

int cf__mpi_buf_append(struct cf__mpi_buf *b, const void *p, size_t n)
{
    unsigned char *at = cf__mpi_buf_reserve(b, n);
    if (!at)
        return -ENOMEM;
    if (n)
        memcpy(at, p, n);
    b->len += n;
    return 0;
}

void cf__mpi_buf_free(struct cf__mpi_buf *b)
{
    free(b->data);
    *b = (struct cf__mpi_buf){0};
}

int cf__mpi_buf_write(void *data, const char *buf, size_t len)
{
    return cf__mpi_buf_append(data, buf, len) == 0 ? 0 : -1;
}

size_t cf__mpi_pieces(size_t len, size_t split)
{
    return len == 0 ? 1 : (len + split - 1) / split;
}

static void put_head(struct cf__mpi_buf *b)
{
    uint64_t total = b->len;
    memcpy(b->data, &total, sizeof(total));
}

int cf__mpi_send_framed(struct cf__mpi_buf *b, int dest, int tag, MPI_Comm comm, size_t split)
{
    put_head(b);
    for (size_t off = 0; off < b->len;) {
        size_t n = b->len - off < split ? b->len - off : split;
        if (MPI_Send(b->data + off, (int)n, MPI_BYTE, dest, tag, comm) != MPI_SUCCESS)
            return CF_EBROKEN;
        off += n;
    }
    return 0;
}

int cf__mpi_isend_framed(struct cf__mpi_buf *b, int dest, int tag, MPI_Comm comm, size_t split,
                         MPI_Request *reqs)
{
    put_head(b);
    size_t k = 0;
    for (size_t off = 0; off < b->len; k++) {
        size_t n = b->len - off < split ? b->len - off : split;
        if (MPI_Isend(b->data + off, (int)n, MPI_BYTE, dest, tag, comm, &reqs[k]) != MPI_SUCCESS)
            return CF_EBROKEN;
        off += n;
    }
    return 0;
}

int cf__mpi_recv_framed(const MPI_Status *st, MPI_Comm comm, unsigned char **out, size_t *len)
{
    int count = 0;
    if (MPI_Get_count(st, MPI_BYTE, &count) != MPI_SUCCESS || count == MPI_UNDEFINED)
        return CF_EBROKEN;
    int src = st->MPI_SOURCE, tag = st->MPI_TAG;
    unsigned char *buf = malloc(count > CF__MPI_FRAME_HEAD ? (size_t)count : CF__MPI_FRAME_HEAD);
    if (!buf)
        return -ENOMEM; /* the message stays queued: the job is out of memory anyway */
    if (MPI_Recv(buf, count, MPI_BYTE, src, tag, comm, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
        free(buf);
        return CF_EBROKEN;
    }
    uint64_t total = 0;
    if (count < CF__MPI_FRAME_HEAD || (memcpy(&total, buf, sizeof(total)), total < (uint64_t)count)) {
        free(buf);
        return CF_EPROTO;
    }
    if (total > (uint64_t)count) {
        unsigned char *all = realloc(buf, (size_t)total);
        if (!all) {
            free(buf);
            return -ENOMEM;
        }
        buf = all;
    }
    for (size_t off = (size_t)count; off < total;) {
        MPI_Status ps;
        int n = 0;
        if (MPI_Probe(src, tag, comm, &ps) != MPI_SUCCESS ||
            MPI_Get_count(&ps, MPI_BYTE, &n) != MPI_SUCCESS || n <= 0 ||
            (uint64_t)n > total - off) {
            free(buf);
            return n <= 0 ? CF_EBROKEN : CF_EPROTO;
        }
        if (MPI_Recv(buf + off, n, MPI_BYTE, src, tag, comm, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
            free(buf);
            return CF_EBROKEN;
        }
        off += (size_t)n;
    }
    *out = buf;
    *len = (size_t)total;
    return 0;
}
