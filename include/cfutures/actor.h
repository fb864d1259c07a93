/* cfutures: actors and pub/sub exchanges.
 * Included by <cfutures.h>; do not include it on its own. */
#ifndef CFUTURES_ACTOR_H
#define CFUTURES_ACTOR_H

#endif
