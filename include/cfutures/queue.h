/* cfutures: FIFO, LIFO and priority queues.
 * Included by <cfutures.h>; do not include it on its own. */
#ifndef CFUTURES_QUEUE_H
#define CFUTURES_QUEUE_H

#endif
