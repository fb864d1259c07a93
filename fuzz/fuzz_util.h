/* fuzz/fuzz_util.h — what the libFuzzer targets share: CHECK(cond), an
 * invariant that aborts (with its file, line and text) when it fails, so
 * that libFuzzer records the input as a crash. */
#ifndef CFUTURES_FUZZ_UTIL_H
#define CFUTURES_FUZZ_UTIL_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                  \
        }                                                                             \
    } while (0)

#endif
