/* tests/criterion-shim/criterion/theories.h — not provided by the shim. */
#error "<criterion/theories.h> is not supported by the criterion shim (tests/criterion-shim)"
