/* Shared memory for the process-shared primitives.
 *
 * Owns anonymous MAP_SHARED mappings: created by one process, inherited by
 * every child it forks afterwards (the pool's fork server and workers
 * included). No state of its own, no locks; any thread may call it.
 * Anonymous memory has no name, so nothing can be left behind in /dev/shm
 * whatever way the processes end.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cfutures.h>

static size_t page_round(size_t size)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);

    if (size > SIZE_MAX - (page - 1))
        return 0;
    return (size + page - 1) / page * page;
}

void *cf_pshared_alloc(size_t size)
{
    size_t len = page_round(size);
    void *p;

    if (size == 0) {
        errno = EINVAL;
        return NULL;
    }
    if (len == 0) {
        errno = ENOMEM;
        return NULL;
    }
    p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

int cf_pshared_free(void *ptr, size_t size)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t len = page_round(size);

    if (!ptr)
        return 0;
    if (size == 0 || len == 0 || (uintptr_t)ptr % page != 0)
        return -EINVAL;
    return munmap(ptr, len) == 0 ? 0 : -errno;
}
