/* Helpers every process of a pool uses on the shared region: its layout,
 * and pushing a record inline or through a side segment.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
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

int cf__fs_send_note(int sock, const struct cf__forkserver_note *note, int fd, int flags)
{
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {(void *)note, sizeof(*note)};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (fd >= 0) {
        memset(&ctl, 0, sizeof(ctl));
        mh.msg_control = ctl.buf;
        mh.msg_controllen = sizeof(ctl.buf);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    ssize_t n;
    while ((n = sendmsg(sock, &mh, flags | MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    return n < 0 ? -errno : 0;
}

int cf__fs_recv_note(int sock, struct cf__forkserver_note *note, int *fd, int flags)
{
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {note, sizeof(*note)};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                        .msg_controllen = sizeof(ctl.buf)};
    ssize_t n;
    *fd = -1;
    while ((n = recvmsg(sock, &mh, flags | MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
        ;
    if (n < 0)
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
            c->cmsg_len >= CMSG_LEN(sizeof(int))) {
            int got;
            memcpy(&got, CMSG_DATA(c), sizeof(int));
            if (*fd < 0)
                *fd = got;
            else
                close(got); /* never more than one: do not leak extras */
        }
    }
    if (n == 0)
        return -EPIPE;
    if (n != (ssize_t)sizeof(*note) || (mh.msg_flags & MSG_CTRUNC)) {
        if (*fd >= 0)
            close(*fd);
        *fd = -1;
        return -EPROTO;
    }
    return 0;
}
