/* tests/criterion-shim/criterion/redirect.h — not provided by the shim. */
#error "<criterion/redirect.h> is not supported by the criterion shim (tests/criterion-shim)"
