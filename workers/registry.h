/* Internal side of the task registry (workers/registry.c). */
#ifndef CF_WORKERS_REGISTRY_H
#define CF_WORKERS_REGISTRY_H

#include <stddef.h>

#include <cfutures.h>

/* The function registered under name[0..len), or NULL. Thread-safe. */
cf_task_fn cf__task_lookup(const char *name, size_t len);

/* Whether a task may be submitted under `name`: 0, -EINVAL (empty or
 * longer than CF__TASK_NAME_MAX) or CF_ENOTASK (nothing registered under
 * it in this process; the workers of a pool have at most what the parent
 * had when the pool was created). Thread-safe. */
int cf__task_check(const char *name);

#endif
