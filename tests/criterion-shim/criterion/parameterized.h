/* tests/criterion-shim/criterion/parameterized.h — not provided by the shim. */
#error "<criterion/parameterized.h> is not supported by the criterion shim (tests/criterion-shim)"
