/* tests/criterion-shim/criterion/new/assert.h — not provided by the shim. */
#error "<criterion/new/assert.h> is not supported by the criterion shim (tests/criterion-shim)"
