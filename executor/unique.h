/* Duplicate-free copies of future arrays, for as_completed
 * (Python counts a future given twice once). */
#ifndef CF_EXECUTOR_UNIQUE_H
#define CF_EXECUTOR_UNIQUE_H

#include <stddef.h>

#include <cfutures.h>

/* Allocates *out with the distinct futures of in[0..n) in first-seen order;
 * *count receives how many. Returns 0 or -ENOMEM. */
int cf__unique_futures(cf_future *const *in, size_t n, cf_future ***out, size_t *count);

#endif
