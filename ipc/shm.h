/* POSIX shared-memory regions.
 *
 * A region is created with a random name, O_CREAT|O_EXCL, mode 0600 (fchmod
 * so the umask cannot widen or narrow it), sized and mapped MAP_SHARED. The
 * name exists only until cf__shm_unlink: the pool unlinks it right after
 * creating it (its processes inherit the mapping), so nothing remains in
 * /dev/shm after any exit, a crash included.
 */
#ifndef CF_IPC_SHM_H
#define CF_IPC_SHM_H

#include <stdbool.h>
#include <stddef.h>

struct cf__shm {
    void *base;    /* mapping, page aligned, zero-filled at creation */
    size_t size;
    int fd;        /* -1 once closed */
    bool linked;   /* name still present in /dev/shm */
    char name[48]; /* "/cfutures-<pid>-<random hex>" */
};

/* Creates and maps a zero-filled region of `size` bytes. Returns 0, -EINVAL
 * (size 0) or -errno; on failure nothing is left behind. */
int cf__shm_create(struct cf__shm *shm, size_t size);
/* Removes the name; idempotent. Returns 0 or -errno. */
int cf__shm_unlink(struct cf__shm *shm);
/* Unlinks if needed, unmaps and closes a created region. Idempotent. */
void cf__shm_destroy(struct cf__shm *shm);

#endif
