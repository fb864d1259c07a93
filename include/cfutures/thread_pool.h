/* cfutures: the thread pool executor.
 * Included by <cfutures.h>; do not include it on its own. */
#ifndef CFUTURES_THREAD_POOL_H
#define CFUTURES_THREAD_POOL_H

#endif
