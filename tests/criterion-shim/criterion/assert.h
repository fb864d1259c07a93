/* tests/criterion-shim/criterion/assert.h — the shim's assertions live in
 * criterion.h. */
#include "criterion.h"
