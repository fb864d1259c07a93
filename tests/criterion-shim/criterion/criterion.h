/* tests/criterion-shim/criterion/criterion.h — a small stand-in for
 * Criterion 2.4's <criterion/criterion.h>, used only for the threading
 * tests' ThreadSanitizer binary (Criterion's runner cannot start under TSan,
 * Snaipe/Criterion#274).  The test sources compile unchanged against either.
 *
 * Supported: Test(suite, name, options...) and TestSuite(suite, options...)
 * with .init .fini .timeout .disabled .description .exit_code .signal .data;
 * every cr_assert_* / cr_expect_* of Criterion's C API (no C++ throw ones);
 * cr_assert_fail, cr_expect_fail, cr_skip_test, cr_log and cr_log_*.
 * Each assertion takes an optional printf-style message after its operands.
 * A failing cr_assert_* reports file:line and aborts the test (its .fini
 * still runs); a failing cr_expect_* reports and lets the test go on.
 * An assertion failing on a thread other than the test's own reports and
 * ends the test process at once, without .fini.  See runner.c.
 */
#ifndef CRITERION_SHIM_CRITERION_H
#define CRITERION_SHIM_CRITERION_H

#include "logging.h" /* ahead of the pragma, to be in make's dependencies */

/* As with the real headers (under /usr/include), warnings about the
 * expressions the macros build, such as signed/unsigned comparisons in
 * cr_assert_eq, are not reported against the test code. */
#pragma GCC system_header

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <wchar.h>

#ifdef __cplusplus
#error "the criterion shim is for C tests only"
#endif

struct criterion_test_extra_data {
    int sentinel_;
    void (*init)(void);
    void (*fini)(void);
    int signal;
    int exit_code;
    bool disabled;
    const char *description;
    double timeout;
    void *data;
};

struct crs_test {
    const char *category;
    const char *name;
    void (*test)(void);
    const struct criterion_test_extra_data *data;
    const char *file;
    unsigned line;
    struct crs_test *next;
};

struct crs_suite {
    const char *name;
    const struct criterion_test_extra_data *data;
    struct crs_suite *next;
};

void crs_register_test(struct crs_test *test);
void crs_register_suite(struct crs_suite *suite);

/* The message arguments are a format, its arguments and a trailing ""
 * (so that the format may be omitted); an empty format means dflt. */
_Noreturn void crs_fail_abort(const char *file, unsigned line,
                              const char *dflt, const char *fmt, ...);
void crs_fail_continue(const char *file, unsigned line,
                       const char *dflt, const char *fmt, ...);
_Noreturn void crs_skip(const char *fmt, ...);

/* ------------------------------------------------------------ tests */

#define CRS_ID_(Category, Name, Suffix) crs_##Category##_##Name##_##Suffix

#define Test(...) CRS_TEST_(__VA_ARGS__, .sentinel_ = 0)
#define CRS_TEST_(Category, Name, ...)                                      \
    static void CRS_ID_(Category, Name, impl)(void);                        \
    static const struct criterion_test_extra_data                           \
        CRS_ID_(Category, Name, extra) = { __VA_ARGS__ };                   \
    static struct crs_test CRS_ID_(Category, Name, meta) = {                \
        #Category, #Name, CRS_ID_(Category, Name, impl),                    \
        &CRS_ID_(Category, Name, extra), __FILE__, __LINE__, NULL };        \
    __attribute__((constructor)) static void                                \
    CRS_ID_(Category, Name, reg)(void)                                      \
    {                                                                       \
        crs_register_test(&CRS_ID_(Category, Name, meta));                  \
    }                                                                       \
    static void CRS_ID_(Category, Name, impl)(void)

#define TestSuite(...) CRS_SUITE_(__VA_ARGS__, .sentinel_ = 0)
#define CRS_SUITE_(Name, ...)                                               \
    static const struct criterion_test_extra_data                           \
        crs_suite_##Name##_extra = { __VA_ARGS__ };                         \
    static struct crs_suite crs_suite_##Name##_meta = {                     \
        #Name, &crs_suite_##Name##_extra, NULL };                           \
    __attribute__((constructor)) static void crs_suite_##Name##_reg(void)   \
    {                                                                       \
        crs_register_suite(&crs_suite_##Name##_meta);                      \
    }                                                                       \
    struct crs_suite_##Name##_unused_

/* ------------------------------------------------------------ assertions */

#define CRS_FAIL_ABORT_    crs_fail_abort
#define CRS_FAIL_CONTINUE_ crs_fail_continue

/* Kind is ABORT or CONTINUE; ... is the message: format, args..., "". */
#define CRS_CHECK_(Kind, Cond, Dflt, ...)                                   \
    do {                                                                    \
        if (!(Cond))                                                        \
            CRS_FAIL_##Kind##_(__FILE__, __LINE__, Dflt, __VA_ARGS__);      \
    } while (0)

#define CRS_TRUE_(Kind, Cond, ...)                                          \
    CRS_CHECK_(Kind, Cond, "The expression " #Cond " is false.", __VA_ARGS__)
#define CRS_FALSE_(Kind, Cond, ...)                                         \
    CRS_CHECK_(Kind, !(Cond), "The expression !(" #Cond ") is false.",      \
               __VA_ARGS__)
#define CRS_OP_(Kind, Op, A, B, ...)                                        \
    CRS_CHECK_(Kind, (A) Op (B),                                            \
               "The expression (" #A ") " #Op " (" #B ") is false.",        \
               __VA_ARGS__)
#define CRS_NULL_(Kind, V, ...)                                             \
    CRS_CHECK_(Kind, (V) == NULL, #V " is not null.", __VA_ARGS__)
#define CRS_NOT_NULL_(Kind, V, ...)                                         \
    CRS_CHECK_(Kind, (V) != NULL, #V " is null.", __VA_ARGS__)
#define CRS_FLOAT_EQ_(Kind, A, B, Eps, ...)                                 \
    CRS_CHECK_(Kind,                                                        \
               (B) - (A) <= (Eps) && (A) - (B) <= (Eps),                    \
               "The expression (" #A ") == (" #B ") is false"               \
               " (within " #Eps ").", __VA_ARGS__)
#define CRS_FLOAT_NEQ_(Kind, A, B, Eps, ...)                                \
    CRS_CHECK_(Kind,                                                        \
               (B) - (A) > (Eps) || (A) - (B) > (Eps),                      \
               "The expression (" #A ") != (" #B ") is false"               \
               " (within " #Eps ").", __VA_ARGS__)
#define CRS_STR_(Kind, Op, A, B, ...)                                       \
    CRS_CHECK_(Kind, strcmp((A), (B)) Op 0,                                 \
               "The expression (as strings) (" #A ") " #Op " (" #B          \
               ") is false.", __VA_ARGS__)
#define CRS_STR_EMPTY_(Kind, V, ...)                                        \
    CRS_CHECK_(Kind, (V)[0] == '\0', #V " is not empty.", __VA_ARGS__)
#define CRS_STR_NOT_EMPTY_(Kind, V, ...)                                    \
    CRS_CHECK_(Kind, (V)[0] != '\0', #V " is empty.", __VA_ARGS__)
#define CRS_WCS_(Kind, Op, A, B, ...)                                       \
    CRS_CHECK_(Kind, wcscmp((A), (B)) Op 0,                                 \
               "The expression (as strings) (" #A ") " #Op " (" #B          \
               ") is false.", __VA_ARGS__)
#define CRS_WCS_EMPTY_(Kind, V, ...)                                        \
    CRS_CHECK_(Kind, (V)[0] == L'\0', #V " is not empty.", __VA_ARGS__)
#define CRS_WCS_NOT_EMPTY_(Kind, V, ...)                                    \
    CRS_CHECK_(Kind, (V)[0] != L'\0', #V " is empty.", __VA_ARGS__)
#define CRS_ARR_(Kind, Op, A, B, Size, ...)                                 \
    CRS_CHECK_(Kind, memcmp((A), (B), (Size)) Op 0,                         \
               "The expression (" #A ")[0 .. " #Size "] " #Op " (" #B       \
               ")[0 .. " #Size "] is false.", __VA_ARGS__)
/* Element by element with Cmp(&a[i], &b[i]); the first non-zero result
 * (or 0) is then compared with 0 by Op: a lexicographic comparison. */
#define CRS_ARR_CMP_(Kind, Op, A, B, Size, Cmp, ...)                        \
    do {                                                                    \
        int crs_cmp_ = 0;                                                   \
        for (size_t crs_i_ = 0; crs_i_ < (size_t)(Size) && crs_cmp_ == 0;   \
             crs_i_++)                                                      \
            crs_cmp_ = Cmp(&(A)[crs_i_], &(B)[crs_i_]);                     \
        CRS_CHECK_(Kind, crs_cmp_ Op 0,                                     \
                   "The expression (" #A ")[0 .. " #Size "] " #Op " (" #B   \
                   ")[0 .. " #Size "] is false.", __VA_ARGS__);             \
    } while (0)

#define CRS_FAIL_MSG_ "The conditions for this assertion were not met."

#define cr_assert(...)          CRS_TRUE_(ABORT, __VA_ARGS__, "")
#define cr_expect(...)          CRS_TRUE_(CONTINUE, __VA_ARGS__, "")
#define cr_assert_not(...)      CRS_FALSE_(ABORT, __VA_ARGS__, "")
#define cr_expect_not(...)      CRS_FALSE_(CONTINUE, __VA_ARGS__, "")

#define cr_assert_fail(...)                                                 \
    crs_fail_abort(__FILE__, __LINE__, CRS_FAIL_MSG_,                       \
                   __VA_ARGS__ __VA_OPT__(,) "")
#define cr_expect_fail(...)                                                 \
    crs_fail_continue(__FILE__, __LINE__, CRS_FAIL_MSG_,                    \
                      __VA_ARGS__ __VA_OPT__(,) "")
#define cr_skip_test(...)       crs_skip(__VA_ARGS__ __VA_OPT__(,) "")

#define cr_assert_eq(...)       CRS_OP_(ABORT, ==, __VA_ARGS__, "")
#define cr_assert_neq(...)      CRS_OP_(ABORT, !=, __VA_ARGS__, "")
#define cr_assert_lt(...)       CRS_OP_(ABORT, <, __VA_ARGS__, "")
#define cr_assert_leq(...)      CRS_OP_(ABORT, <=, __VA_ARGS__, "")
#define cr_assert_gt(...)       CRS_OP_(ABORT, >, __VA_ARGS__, "")
#define cr_assert_geq(...)      CRS_OP_(ABORT, >=, __VA_ARGS__, "")
#define cr_expect_eq(...)       CRS_OP_(CONTINUE, ==, __VA_ARGS__, "")
#define cr_expect_neq(...)      CRS_OP_(CONTINUE, !=, __VA_ARGS__, "")
#define cr_expect_lt(...)       CRS_OP_(CONTINUE, <, __VA_ARGS__, "")
#define cr_expect_leq(...)      CRS_OP_(CONTINUE, <=, __VA_ARGS__, "")
#define cr_expect_gt(...)       CRS_OP_(CONTINUE, >, __VA_ARGS__, "")
#define cr_expect_geq(...)      CRS_OP_(CONTINUE, >=, __VA_ARGS__, "")

#define cr_assert_null(...)     CRS_NULL_(ABORT, __VA_ARGS__, "")
#define cr_assert_not_null(...) CRS_NOT_NULL_(ABORT, __VA_ARGS__, "")
#define cr_expect_null(...)     CRS_NULL_(CONTINUE, __VA_ARGS__, "")
#define cr_expect_not_null(...) CRS_NOT_NULL_(CONTINUE, __VA_ARGS__, "")

#define cr_assert_float_eq(...)  CRS_FLOAT_EQ_(ABORT, __VA_ARGS__, "")
#define cr_assert_float_neq(...) CRS_FLOAT_NEQ_(ABORT, __VA_ARGS__, "")
#define cr_expect_float_eq(...)  CRS_FLOAT_EQ_(CONTINUE, __VA_ARGS__, "")
#define cr_expect_float_neq(...) CRS_FLOAT_NEQ_(CONTINUE, __VA_ARGS__, "")

#define cr_assert_str_eq(...)   CRS_STR_(ABORT, ==, __VA_ARGS__, "")
#define cr_assert_str_neq(...)  CRS_STR_(ABORT, !=, __VA_ARGS__, "")
#define cr_assert_str_lt(...)   CRS_STR_(ABORT, <, __VA_ARGS__, "")
#define cr_assert_str_leq(...)  CRS_STR_(ABORT, <=, __VA_ARGS__, "")
#define cr_assert_str_gt(...)   CRS_STR_(ABORT, >, __VA_ARGS__, "")
#define cr_assert_str_geq(...)  CRS_STR_(ABORT, >=, __VA_ARGS__, "")
#define cr_expect_str_eq(...)   CRS_STR_(CONTINUE, ==, __VA_ARGS__, "")
#define cr_expect_str_neq(...)  CRS_STR_(CONTINUE, !=, __VA_ARGS__, "")
#define cr_expect_str_lt(...)   CRS_STR_(CONTINUE, <, __VA_ARGS__, "")
#define cr_expect_str_leq(...)  CRS_STR_(CONTINUE, <=, __VA_ARGS__, "")
#define cr_expect_str_gt(...)   CRS_STR_(CONTINUE, >, __VA_ARGS__, "")
#define cr_expect_str_geq(...)  CRS_STR_(CONTINUE, >=, __VA_ARGS__, "")
#define cr_assert_str_empty(...)     CRS_STR_EMPTY_(ABORT, __VA_ARGS__, "")
#define cr_assert_str_not_empty(...) CRS_STR_NOT_EMPTY_(ABORT, __VA_ARGS__, "")
#define cr_expect_str_empty(...)     CRS_STR_EMPTY_(CONTINUE, __VA_ARGS__, "")
#define cr_expect_str_not_empty(...)                                        \
    CRS_STR_NOT_EMPTY_(CONTINUE, __VA_ARGS__, "")

#define cr_assert_wcs_eq(...)   CRS_WCS_(ABORT, ==, __VA_ARGS__, "")
#define cr_assert_wcs_neq(...)  CRS_WCS_(ABORT, !=, __VA_ARGS__, "")
#define cr_assert_wcs_lt(...)   CRS_WCS_(ABORT, <, __VA_ARGS__, "")
#define cr_assert_wcs_leq(...)  CRS_WCS_(ABORT, <=, __VA_ARGS__, "")
#define cr_assert_wcs_gt(...)   CRS_WCS_(ABORT, >, __VA_ARGS__, "")
#define cr_assert_wcs_geq(...)  CRS_WCS_(ABORT, >=, __VA_ARGS__, "")
#define cr_expect_wcs_eq(...)   CRS_WCS_(CONTINUE, ==, __VA_ARGS__, "")
#define cr_expect_wcs_neq(...)  CRS_WCS_(CONTINUE, !=, __VA_ARGS__, "")
#define cr_expect_wcs_lt(...)   CRS_WCS_(CONTINUE, <, __VA_ARGS__, "")
#define cr_expect_wcs_leq(...)  CRS_WCS_(CONTINUE, <=, __VA_ARGS__, "")
#define cr_expect_wcs_gt(...)   CRS_WCS_(CONTINUE, >, __VA_ARGS__, "")
#define cr_expect_wcs_geq(...)  CRS_WCS_(CONTINUE, >=, __VA_ARGS__, "")
#define cr_assert_wcs_empty(...)     CRS_WCS_EMPTY_(ABORT, __VA_ARGS__, "")
#define cr_assert_wcs_not_empty(...) CRS_WCS_NOT_EMPTY_(ABORT, __VA_ARGS__, "")
#define cr_expect_wcs_empty(...)     CRS_WCS_EMPTY_(CONTINUE, __VA_ARGS__, "")
#define cr_expect_wcs_not_empty(...)                                        \
    CRS_WCS_NOT_EMPTY_(CONTINUE, __VA_ARGS__, "")

#define cr_assert_arr_eq(...)   CRS_ARR_(ABORT, ==, __VA_ARGS__, "")
#define cr_assert_arr_neq(...)  CRS_ARR_(ABORT, !=, __VA_ARGS__, "")
#define cr_expect_arr_eq(...)   CRS_ARR_(CONTINUE, ==, __VA_ARGS__, "")
#define cr_expect_arr_neq(...)  CRS_ARR_(CONTINUE, !=, __VA_ARGS__, "")
#define cr_assert_arr_eq_cmp(...)  CRS_ARR_CMP_(ABORT, ==, __VA_ARGS__, "")
#define cr_assert_arr_neq_cmp(...) CRS_ARR_CMP_(ABORT, !=, __VA_ARGS__, "")
#define cr_assert_arr_lt_cmp(...)  CRS_ARR_CMP_(ABORT, <, __VA_ARGS__, "")
#define cr_assert_arr_leq_cmp(...) CRS_ARR_CMP_(ABORT, <=, __VA_ARGS__, "")
#define cr_assert_arr_gt_cmp(...)  CRS_ARR_CMP_(ABORT, >, __VA_ARGS__, "")
#define cr_assert_arr_geq_cmp(...) CRS_ARR_CMP_(ABORT, >=, __VA_ARGS__, "")
#define cr_expect_arr_eq_cmp(...)  CRS_ARR_CMP_(CONTINUE, ==, __VA_ARGS__, "")
#define cr_expect_arr_neq_cmp(...) CRS_ARR_CMP_(CONTINUE, !=, __VA_ARGS__, "")
#define cr_expect_arr_lt_cmp(...)  CRS_ARR_CMP_(CONTINUE, <, __VA_ARGS__, "")
#define cr_expect_arr_leq_cmp(...) CRS_ARR_CMP_(CONTINUE, <=, __VA_ARGS__, "")
#define cr_expect_arr_gt_cmp(...)  CRS_ARR_CMP_(CONTINUE, >, __VA_ARGS__, "")
#define cr_expect_arr_geq_cmp(...) CRS_ARR_CMP_(CONTINUE, >=, __VA_ARGS__, "")

#endif
