/* Must compile cleanly on its own: cfutures.h brings what its macros and
 * documented returns use (<errno.h> for -EINVAL, -ETIMEDOUT ...), and the
 * version macros. */
#include <cfutures.h>

int ok_codes(void);
int ok_codes(void)
{
    return CF_VERSION_NUMBER >= CF_MAKE_VERSION(0, 3, 0) ? -ETIMEDOUT : -EINVAL;
}
