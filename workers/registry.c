/* The task registry: task name <-> function pointer.
 *
 * Filled by CF_TASK constructors at load time and by cf_task_register at run
 * time; read by the parent (cf_submit maps a function to its name) and by
 * forked workers (name to function), which inherit the table as it was when
 * the pool's fork server was created. One mutex guards the table; lookups
 * are rare next to task execution, so nothing cleverer is needed.
 *
 * Two functions of one name (two files, each with a static `work` and
 * CF_TASK(work)) must never be confused: CF_TASK registers each under
 * "<file>:<name>" as well, and a bare name that a second function claims
 * becomes ambiguous: it then finds nothing (CF_ENOTASK, with a message
 * naming both files), while each function keeps its qualified name, which
 * cf_task_name gives and cf_submit uses. An entry changes only that once,
 * from plain to ambiguous, and is never removed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cfutures.h>

#include "serialize/record.h"
#include "workers/registry.h"

struct entry {
    char *name;
    size_t len;
    cf_task_fn fn;
    char *file;     /* where CF_TASK registered it (copied), or NULL */
    char *file2;    /* ambiguous: where the second function came from */
    bool qualified; /* "<file>:<name>", never ambiguous */
    bool ambiguous; /* two functions claimed this bare name: finds none */
    bool reported;  /* the ambiguity was printed by a refused submit */
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

static char *copy_string(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int append(const char *name, size_t len, cf_task_fn fn, const char *file, bool qualified)
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
    char *file_copy = copy_string(file);
    if (!copy || (file && !file_copy)) {
        free(copy);
        free(file_copy);
        return -ENOMEM;
    }
    memcpy(copy, name, len + 1);
    entries[n_entries++] = (struct entry){
        .name = copy, .len = len, .fn = fn, .file = file_copy, .qualified = qualified};
    return 0;
}

static const char *where(const char *file)
{
    return file ? file : "a cf_task_register call";
}

/* Claims the bare name for fn (from file): a second function makes it
 * ambiguous (-EEXIST). Called with the lock held. */
static int claim_bare(const char *name, size_t len, cf_task_fn fn, const char *file)
{
    struct entry *e = find_name(name, len);
    if (!e)
        return append(name, len, fn, file, false);
    if (e->fn == fn && !e->ambiguous)
        return 0;
    if (!e->qualified && !e->ambiguous) {
        e->file2 = copy_string(where(file)); /* NULL: the message says less */
        e->ambiguous = true;
    }
    return -EEXIST;
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
    int rc = e ? (e->fn == fn && !e->ambiguous ? 0 : -EEXIST) : append(name, len, fn, NULL, false);
    pthread_mutex_unlock(&registry_lock);
    return rc;
}

int cf_task_register_in(const char *name, const char *file, cf_task_fn fn)
{
    if (!file)
        return cf_task_register(name, fn);
    if (!name || !fn)
        return -EINVAL;
    size_t len = strlen(name);
    if (len == 0 || len > CF__TASK_NAME_MAX)
        return -EINVAL;
    /* "<file>:<name>", keeping the end of an over-long path (none at all
     * for a name of 254 or 255 bytes: it has only its bare name). */
    char qualified[CF__TASK_NAME_MAX + 1];
    size_t flen = strlen(file);
    size_t room = len + 2 <= CF__TASK_NAME_MAX ? CF__TASK_NAME_MAX - len - 1 : 0;
    const char *tail = flen > room ? file + (flen - room) : file;
    int qlen = room ? snprintf(qualified, sizeof(qualified), "%s:%s", tail, name) : 0;
    pthread_mutex_lock(&registry_lock);
    struct entry *q = qlen ? find_name(qualified, (size_t)qlen) : NULL;
    int rc = !qlen ? 0
             : q   ? (q->fn == fn ? 0 : -EEXIST)
                   : append(qualified, (size_t)qlen, fn, file, true);
    if (rc == 0)
        rc = claim_bare(name, len, fn, file);
    pthread_mutex_unlock(&registry_lock);
    return rc;
}

const char *cf_task_name(cf_task_fn fn)
{
    const char *name = NULL;
    if (!fn)
        return NULL;
    /* The first plain name; else (the bare name is ambiguous, or fn was
     * only ever registered qualified) the first qualified one. */
    const char *qualified = NULL;
    pthread_mutex_lock(&registry_lock);
    for (size_t i = 0; i < n_entries && !name; i++) {
        const struct entry *e = &entries[i];
        if (e->fn != fn || e->ambiguous)
            continue;
        if (!e->qualified)
            name = e->name; /* never freed: stable for the process */
        else if (!qualified)
            qualified = e->name;
    }
    pthread_mutex_unlock(&registry_lock);
    return name ? name : qualified;
}

void cf__task_missing_message(const char *name, size_t len, char *msg, size_t size)
{
    pthread_mutex_lock(&registry_lock);
    const struct entry *e = find_name(name, len);
    if (e && e->ambiguous)
        snprintf(msg, size,
                 "task name '%.*s' is ambiguous: defined in %s and in %s; submit by pointer "
                 "or as '<file>:%.*s'",
                 (int)len, name, where(e->file), where(e->file2), (int)len, name);
    else
        snprintf(msg, size, "no task registered as '%.*s'", (int)len, name);
    pthread_mutex_unlock(&registry_lock);
}

int cf__task_check(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > CF__TASK_NAME_MAX)
        return -EINVAL;
    if (cf__task_lookup(name, len))
        return 0;
    /* Refusing an ambiguous name says why, once per name, on stderr: the
     * caller only gets CF_ENOTASK. */
    bool report = false;
    pthread_mutex_lock(&registry_lock);
    struct entry *e = find_name(name, len);
    if (e && e->ambiguous && !e->reported)
        report = e->reported = true;
    pthread_mutex_unlock(&registry_lock);
    if (report) {
        char msg[2 * CF__TASK_NAME_MAX + 8192];
        cf__task_missing_message(name, len, msg, sizeof(msg));
        fprintf(stderr, "cfutures: %s\n", msg);
    }
    return CF_ENOTASK;
}

cf_task_fn cf__task_lookup(const char *name, size_t len)
{
    pthread_mutex_lock(&registry_lock);
    struct entry *e = find_name(name, len);
    cf_task_fn fn = e && !e->ambiguous ? e->fn : NULL;
    pthread_mutex_unlock(&registry_lock);
    return fn;
}
