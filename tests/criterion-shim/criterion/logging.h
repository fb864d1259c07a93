/* tests/criterion-shim/criterion/logging.h — cr_log for the criterion shim
 * (see criterion.h).  Info messages show with --verbose only, as in
 * Criterion; warnings and errors always. */
#ifndef CRITERION_SHIM_LOGGING_H
#define CRITERION_SHIM_LOGGING_H

#pragma GCC system_header

enum criterion_severity {
    CR_LOG_INFO,
    CR_LOG_WARNING,
    CR_LOG_ERROR,
};

void cr_log(enum criterion_severity severity, const char *msg, ...)
    __attribute__((format(printf, 2, 3)));

#define cr_log_info(...)  cr_log(CR_LOG_INFO, __VA_ARGS__)
#define cr_log_warn(...)  cr_log(CR_LOG_WARNING, __VA_ARGS__)
#define cr_log_error(...) cr_log(CR_LOG_ERROR, __VA_ARGS__)

#endif
