/* CF_DEBUG log lines; see debug_log.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "executor/debug_log.h"

bool cf__debug_enabled(void)
{
    const char *v = getenv("CF_DEBUG");
    return v && *v && strcmp(v, "0") != 0;
}

unsigned cf__debug_pool_number(void)
{
    static atomic_uint next = 1;
    return atomic_fetch_add(&next, 1);
}

void cf__debug_log(unsigned pool, const char *fmt, ...)
{
    char line[512];
    int n = snprintf(line, sizeof(line), "cfutures[%d] pool %u: ", (int)getpid(), pool);
    if (n < 0 || (size_t)n >= sizeof(line))
        return;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    /* One write, so the line reaches stderr whole; retried on EINTR and
     * short writes, and given up on any other error (a closed stderr). */
    for (size_t off = 0; off < len;) {
        ssize_t w = write(STDERR_FILENO, line + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        off += (size_t)w;
    }
}
