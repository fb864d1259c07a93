/* Must NOT compile: CF_ARGS takes at most 16 values.
 * expect: CF__VALS_17 */
#include <cfutures.h>

cf_values fail_use(void);
cf_values fail_use(void)
{
    return CF_ARGS(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17);
}
