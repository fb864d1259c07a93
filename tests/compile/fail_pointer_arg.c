/* Must NOT compile: a pointer other than a string or a msgpack object
 * (an int *, say, meant as an integer) is refused, not packed as garbage.
 * expect: _Generic */
#include <cfutures.h>

cf_values fail_use(int *n);
cf_values fail_use(int *n)
{
    return CF_ARGS(n);
}
