/* cfutures: threads, timers and thread-local values.
 * Included by <cfutures.h>; do not include it on its own. */
#ifndef CFUTURES_THREAD_H
#define CFUTURES_THREAD_H

#endif
