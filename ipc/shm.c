/* POSIX shared-memory regions with random, exclusive, 0600 names.
 *
 * Owns the struct cf__shm of the process that created the region: only the
 * creator unlinks and destroys it (a forked child that inherited a copy must
 * not, or it would remove the parent's name). No locks: one thread creates
 * and destroys, as libuv handles are owned by one loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipc/shm.h"

/* Collisions of 64 random bits are not expected; a few retries only guard
 * against a name someone else planted. */
#define NAME_ATTEMPTS 8

static int random_u64(uint64_t *out)
{
    unsigned char *p = (unsigned char *)out;
    size_t got = 0;

    while (got < sizeof(*out)) {
        ssize_t n = getrandom(p + got, sizeof(*out) - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        got += (size_t)n;
    }
    return 0;
}

/* Creates a fresh name with O_EXCL; on success shm->name holds it. */
static int open_fresh(struct cf__shm *shm)
{
    for (int i = 0; i < NAME_ATTEMPTS; i++) {
        uint64_t rnd;
        int err = random_u64(&rnd);
        if (err)
            return err;
        snprintf(shm->name, sizeof(shm->name), "/cfutures-%ld-%016" PRIx64, (long)getpid(),
                 rnd);
        int fd = shm_open(shm->name, O_CREAT | O_EXCL | O_RDWR, 0600);
        if (fd >= 0)
            return fd;
        if (errno != EEXIST)
            return -errno;
    }
    return -EEXIST;
}

static void reset(struct cf__shm *shm)
{
    shm->base = NULL;
    shm->size = 0;
    shm->fd = -1;
    shm->linked = false;
    shm->name[0] = '\0';
}

int cf__shm_create(struct cf__shm *shm, size_t size)
{
    int fd, err;
    void *base;

    reset(shm);
    if (size == 0)
        return -EINVAL;
    if ((uint64_t)size > (uint64_t)INT64_MAX) /* off_t for ftruncate */
        return -EFBIG;
    fd = open_fresh(shm);
    if (fd < 0) {
        shm->name[0] = '\0';
        return fd;
    }
    /* shm_open applied the umask; set the mode we mean explicitly. */
    if (fchmod(fd, 0600) < 0 || ftruncate(fd, (off_t)size) < 0)
        goto out_unlink;
    base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED)
        goto out_unlink;
    shm->base = base;
    shm->size = size;
    shm->fd = fd;
    shm->linked = true;
    return 0;

out_unlink:
    err = -errno;
    shm_unlink(shm->name);
    close(fd);
    reset(shm);
    return err;
}

int cf__shm_unlink(struct cf__shm *shm)
{
    if (!shm->linked)
        return 0;
    /* ENOENT: someone removed it already; the name is gone either way. */
    if (shm_unlink(shm->name) < 0 && errno != ENOENT)
        return -errno;
    shm->linked = false;
    return 0;
}

void cf__shm_destroy(struct cf__shm *shm)
{
    cf__shm_unlink(shm);
    if (shm->base)
        munmap(shm->base, shm->size);
    if (shm->fd >= 0)
        close(shm->fd);
    reset(shm);
}
