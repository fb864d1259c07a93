/* tests/hang_report.c — tells the reaper (tests/reaper/reaper.c) which
 * test starts and ends, and its timeout, so that a test Criterion fails
 * to stop is named and killed rather than hanging the whole run.
 *
 * Criterion runs these report hooks in its runner process, not in the
 * test's. When the run is not under the reaper (no CF_TEST_WATCH_FD), they
 * do nothing. Each line is one write(2) of less than PIPE_BUF bytes, so
 * lines of tests running in parallel never interleave. The shim runner
 * (tests/criterion-shim) has no hooks and needs none: it enforces
 * timeouts from outside the test's process already.
 */
#include <criterion/criterion.h>
#ifndef CRITERION_SHIM_CRITERION_H
#include <criterion/hooks.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int watch_fd(void)
{
    static int fd = -2;
    if (fd == -2) {
        const char *s = getenv("CF_TEST_WATCH_FD");
        fd = s && *s ? atoi(s) : -1;
    }
    return fd;
}

static void say(const char *what, double timeout, const struct criterion_test *t)
{
    char line[512];
    int fd = watch_fd(), n;
    if (fd < 0)
        return;
    if (timeout >= 0)
        n = snprintf(line, sizeof(line), "%s\t%g\t%s::%s\n", what, timeout, t->category,
                     t->name);
    else
        n = snprintf(line, sizeof(line), "%s\t%s::%s\n", what, t->category, t->name);
    if (n > 0 && (size_t)n < sizeof(line) && write(fd, line, (size_t)n) < 0)
        return; /* the reaper is gone: nothing to tell */
}

ReportHook(PRE_INIT)(struct criterion_test *test)
{
    say("start", test->data->timeout, test);
}

ReportHook(POST_FINI)(struct criterion_test_stats *stats)
{
    say("end", -1, stats->test);
}

ReportHook(TEST_CRASH)(struct criterion_test_stats *stats)
{
    say("end", -1, stats->test);
}
#else
/* ISO C forbids an empty translation unit. */
typedef int cf__no_hang_report;
#endif
