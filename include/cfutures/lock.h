/* cfutures: locks, reentrant locks, conditions and ordered multi-lock acquire.
 * Included by <cfutures.h>; do not include it on its own. */
#ifndef CFUTURES_LOCK_H
#define CFUTURES_LOCK_H

#endif
