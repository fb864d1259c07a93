/* cf_buffer (include/cfutures.h): a byte argument written in place. The
 * buffer is a TASK record packed up to its one argument's bin header, with
 * the argument's bytes reserved after it (executor.c's packed records):
 * for a process pool a large one lies in a kept shared-memory segment
 * (ipc/spill.h, ipc/segcache.h), so the caller writes the record itself
 * and submitting it seals nothing and copies nothing.
 *
 * Owned by one user thread from create to submit or release. Tests:
 * tests/test_buffer.c. */
#include <errno.h>
#include <stdint.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "executor/executor.h"

struct cf_buffer {
    cf_executor *ex;
    uint64_t forks; /* fork_generation() when made: only that process maps it */
    struct cf__packed_record *record;
    void *data;
    size_t len;
};

/* Counts, in each process, the forks that made it (a child's count is its
 * parent's + 1): unlike the pid, it cannot be fooled by pid reuse or a pid
 * namespace. */
static _Atomic uint64_t forks;
static pthread_once_t forks_once = PTHREAD_ONCE_INIT;

static void count_fork(void)
{
    atomic_fetch_add_explicit(&forks, 1, memory_order_relaxed);
}

static void watch_forks(void)
{
    pthread_atfork(NULL, NULL, count_fork);
}

static uint64_t fork_generation(void)
{
    pthread_once(&forks_once, watch_forks);
    return atomic_load_explicit(&forks, memory_order_relaxed);
}

struct reserve_args {
    size_t len;
    void *at;
};

/* args = [bin len], the bin's bytes reserved for the caller. */
static int pack_reserved_bin(msgpack_packer *pk, void *arg)
{
    struct reserve_args *ra = arg;
    if (msgpack_pack_array(pk, 1) || msgpack_pack_bin(pk, ra->len))
        return -ENOMEM;
    return (ra->at = cf__executor_reserve(pk, ra->len)) ? 0 : -ENOMEM;
}

int cf_buffer_create(cf_executor *ex, const char *task, size_t len, cf_buffer **out)
{
    if (!ex || !task || !out || len > UINT32_MAX)
        return -EINVAL;
    uint64_t generation = fork_generation(); /* watches forks from now on */
    cf_buffer *b = malloc(sizeof(*b));
    if (!b)
        return -ENOMEM;
    struct reserve_args ra = {len, NULL};
    int rc = cf__executor_pack_later(ex, task, pack_reserved_bin, &ra, &b->record);
    if (rc < 0) {
        free(b);
        return rc;
    }
    b->ex = ex;
    b->forks = generation;
    b->data = len ? ra.at : NULL;
    b->len = len;
    *out = b;
    return 0;
}

void *cf_buffer_data(cf_buffer *b)
{
    return b ? b->data : NULL;
}

size_t cf_buffer_size(const cf_buffer *b)
{
    return b ? b->len : 0;
}

int cf_buffer_submit(cf_buffer *b, const cf_submit_options *opts, cf_future **out)
{
    /* A finite wait for room could end in CF_EFULL or -ETIMEDOUT after the
     * record is sealed (a kept segment marked sent, a one-shot memfd
     * sealed): there is no buffer left to hand back then. */
    if (!b || !out || cf__executor_check_options(opts) < 0 || (opts && (opts->poll || opts->timeout > 0)))
        return -EINVAL; /* nothing happened: b is still the caller's */
    int rc = cf__executor_submit_later(b->ex, b->record, opts, out);
    free(b); /* its record went to the backend, or is gone */
    return rc;
}

void cf_buffer_release(cf_buffer *b)
{
    if (!b)
        return;
    /* In a forked child (against the rules, include/cfutures.h) the record
     * names a segment of the parent's cache: giving it back here would
     * corrupt the child's own cache. The record is left alone: a small
     * leak in a process that broke the rules, rather than a corruption. */
    if (b->forks == fork_generation())
        cf__executor_drop_later(b->record);
    free(b);
}
