/* cfutures: semaphores, bounded semaphores, events and barriers.
 * Included by <cfutures.h>; do not include it on its own. */
#ifndef CFUTURES_SYNC_H
#define CFUTURES_SYNC_H

#endif
