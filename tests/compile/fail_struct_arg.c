/* Must NOT compile: a struct is no msgpack value CF_VAL knows.
 * expect: _Generic */
#include <cfutures.h>

struct point { int x, y; };

cf_values fail_use(void);
cf_values fail_use(void)
{
    struct point p = {1, 2};
    return CF_ARGS(1, p);
}
