/* tests/test_version.c — the version macros and cf_version() agree (the
 * Makefile takes VERSION and the soname from the same macros). */
#include <criterion/criterion.h>
#include <stdio.h>

#include <cfutures.h>

Test(version, header_and_library_agree, .timeout = 10)
{
    char expect[32];
    snprintf(expect, sizeof(expect), "%d.%d.%d", CF_VERSION_MAJOR, CF_VERSION_MINOR,
             CF_VERSION_PATCH);
    cr_assert_str_eq(CF_VERSION, expect);
    cr_assert_str_eq(cf_version(), CF_VERSION);
    cr_assert_eq(CF_VERSION_NUMBER,
                 CF_VERSION_MAJOR * 10000 + CF_VERSION_MINOR * 100 + CF_VERSION_PATCH);
    cr_assert(CF_VERSION_NUMBER >= CF_MAKE_VERSION(0, 3, 0));
    /* The header's own macros need no include before it. */
    cr_assert_lt(CF_FOREVER, 0);
}
