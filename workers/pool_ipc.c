/* Helpers every process of a pool uses on the shared region: its layout,
 * and pushing a record inline or through a side segment.
 */
#include <errno.h>
#include <unistd.h>

#include "ipc/side.h"
#include "serialize/record.h"
#include "workers/pool_ipc.h"

static size_t align64(size_t n)
{
    return (n + 63) & ~(size_t)63;
}

size_t cf__pool_region_size(int nworkers, size_t ring_bytes, size_t *tasks_off,
                            size_t *results_off)
{
    size_t head = align64(sizeof(struct cf__pool_shared) +
                          (size_t)nworkers * sizeof(struct cf__worker_slot));
    size_t ring = align64(cf__ring_footprint(ring_bytes));
    *tasks_off = head;
    *results_off = head + ring;
    return head + 2 * ring;
}

/* A small msgpack writer into a fixed stack buffer (SIDE records). */
struct fixed_buf {
    char bytes[64];
    size_t len;
};

static int fixed_write(void *data, const char *buf, size_t len)
{
    struct fixed_buf *fb = data;
    if (len > sizeof(fb->bytes) - fb->len)
        return -1;
    for (size_t i = 0; i < len; i++)
        fb->bytes[fb->len + i] = buf[i];
    fb->len += len;
    return 0;
}

int cf__pool_push_side(struct cf__ring *ring, uint64_t id, const struct cf__side *side,
                       size_t len, uint64_t deadline_ns, uint64_t *pos)
{
    struct fixed_buf fb = {.len = 0};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &fb, fixed_write);
    int rc = cf__record_side(&pk, (int32_t)getpid(), side->fd, len, side->serial, side->offset);
    if (rc == 0) {
        struct iovec iov[2] = {{&id, sizeof(id)}, {fb.bytes, fb.len}};
        rc = cf__ring_pushv(ring, iov, 2, deadline_ns, pos);
    }
    return rc;
}

int cf__pool_push(struct cf__ring *ring, uint64_t id, const void *rec, size_t len,
                  uint64_t deadline_ns, struct cf__side *side, uint64_t *pos)
{
    if (len + CF__ID_PREFIX <= cf__ring_max_record(ring)) {
        struct iovec iov[2] = {{&id, sizeof(id)}, {(void *)rec, len}};
        return cf__ring_pushv(ring, iov, 2, deadline_ns, pos);
    }
    /* Too big for the ring: the ring carries only where to find it. */
    int rc = cf__side_create(side, rec, len);
    if (rc < 0)
        return rc;
    rc = cf__pool_push_side(ring, id, side, len, deadline_ns, pos);
    if (rc < 0)
        cf__side_close(side);
    return rc;
}
