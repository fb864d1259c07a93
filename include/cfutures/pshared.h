/* cfutures: process-shared lock, semaphore, event, barrier and bounded queue.
 * Included by <cfutures.h>; do not include it on its own. */
#ifndef CFUTURES_PSHARED_H
#define CFUTURES_PSHARED_H

#endif
