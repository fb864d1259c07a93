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

/* Why name[0..len) finds no task, into msg[0..size): "no task registered
 * as ..." or, for a name two functions claimed, which files define it. */
void cf__task_missing_message(const char *name, size_t len, char *msg, size_t size);

#endif
