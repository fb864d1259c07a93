/* An executor's initializer: a registered task name and its packed
 * arguments, checked and copied at creation, run once per worker (process)
 * or per thread. Shared by the process and thread pools. */
#ifndef CF_EXECUTOR_INITIALIZER_H
#define CF_EXECUTOR_INITIALIZER_H

#include <stddef.h>

struct cf__initializer {
    char *name;          /* NULL: none */
    unsigned char *args; /* one packed msgpack value ([] when none given) */
    size_t len;
};

/* Checks the options: -EINVAL (empty or too long name, args not one
 * msgpack value), CF_ENOTASK (not registered), or 0. name NULL: none. */
int cf__initializer_check(const char *name, const void *args, size_t len);
/* Copies a checked initializer into *init. Returns 0 or -ENOMEM. */
int cf__initializer_copy(struct cf__initializer *init, const char *name, const void *args,
                         size_t len);
void cf__initializer_free(struct cf__initializer *init);

#endif
