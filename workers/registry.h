/* Internal side of the task registry (workers/registry.c). */
#ifndef CF_WORKERS_REGISTRY_H
#define CF_WORKERS_REGISTRY_H

#include <stddef.h>

#include <cfutures.h>

/* The function registered under name[0..len), or NULL. Thread-safe. */
cf_task_fn cf__task_lookup(const char *name, size_t len);

#endif
