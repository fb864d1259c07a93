/* The task registry: task name <-> function pointer.
 *
 * Filled by CF_TASK constructors at load time and by cf_task_register at run
 * time; read by the parent (cf_submit maps a function to its name) and by
 * forked workers (name to function), which inherit the table as it was when
 * the pool's fork server was created. One mutex guards the table; lookups
 * are rare next to task execution, so nothing cleverer is needed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <cfutures.h>

#include "serialize/record.h"
#include "workers/registry.h"

struct entry {
    char *name;
    size_t len;
    cf_task_fn fn;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry *entries;
static size_t n_entries, cap_entries;

/* The pool's fork server is forked from a threaded parent: had another
 * thread held the lock at that instant (cf_submit looks names up), every
 * worker would block on its first lookup. Hold it across every fork. */
static void lock_for_fork(void)
{
    pthread_mutex_lock(&registry_lock);
}

static void unlock_after_fork(void)
{
    pthread_mutex_unlock(&registry_lock);
}

__attribute__((constructor)) static void install_fork_handlers(void)
{
    pthread_atfork(lock_for_fork, unlock_after_fork, unlock_after_fork);
}

static struct entry *find_name(const char *name, size_t len)
{
    for (size_t i = 0; i < n_entries; i++)
        if (entries[i].len == len && memcmp(entries[i].name, name, len) == 0)
            return &entries[i];
    return NULL;
}

static int append(const char *name, size_t len, cf_task_fn fn)
{
    if (n_entries == cap_entries) {
        size_t cap = cap_entries ? cap_entries * 2 : 16;
        struct entry *grown = realloc(entries, cap * sizeof(*grown));
        if (!grown)
            return -ENOMEM;
        entries = grown;
        cap_entries = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, name, len + 1);
    entries[n_entries++] = (struct entry){copy, len, fn};
    return 0;
}

int cf_task_register(const char *name, cf_task_fn fn)
{
    if (!name || !fn)
        return -EINVAL;
    size_t len = strlen(name);
    if (len == 0 || len > CF__TASK_NAME_MAX)
        return -EINVAL;
    pthread_mutex_lock(&registry_lock);
    struct entry *e = find_name(name, len);
    int rc = e ? (e->fn == fn ? 0 : -EEXIST) : append(name, len, fn);
    pthread_mutex_unlock(&registry_lock);
    return rc;
}

const char *cf_task_name(cf_task_fn fn)
{
    const char *name = NULL;
    if (!fn)
        return NULL;
    pthread_mutex_lock(&registry_lock);
    for (size_t i = 0; i < n_entries && !name; i++)
        if (entries[i].fn == fn)
            name = entries[i].name; /* never freed: stable for the process */
    pthread_mutex_unlock(&registry_lock);
    return name;
}

int cf__task_check(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > CF__TASK_NAME_MAX)
        return -EINVAL;
    return cf__task_lookup(name, len) ? 0 : CF_ENOTASK;
}

cf_task_fn cf__task_lookup(const char *name, size_t len)
{
    pthread_mutex_lock(&registry_lock);
    struct entry *e = find_name(name, len);
    cf_task_fn fn = e ? e->fn : NULL;
    pthread_mutex_unlock(&registry_lock);
    return fn;
}
