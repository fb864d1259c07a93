/* tests/registry_twin.h — see tests/registry_twin.c. */
#ifndef CFUTURES_TESTS_REGISTRY_TWIN_H
#define CFUTURES_TESTS_REGISTRY_TWIN_H

#include <cfutures.h>

/* The twin_work of tests/registry_twin.c (it packs 2). */
cf_task_fn registry_twin_work(void);

#endif
