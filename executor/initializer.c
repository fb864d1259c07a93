/* Executor initializers (see initializer.h): validation and ownership of
 * the name and arguments, called once by the creating thread. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cfutures.h>

#include "executor/initializer.h"
#include "serialize/record.h"
#include "workers/registry.h"

int cf__initializer_check(const char *name, const void *args, size_t len)
{
    if (!name)
        return 0;
    size_t name_len = strlen(name);
    if (name_len == 0 || name_len > CF__TASK_NAME_MAX)
        return -EINVAL;
    if (!cf__task_lookup(name, name_len))
        return CF_ENOTASK;
    if (len && (!args || cf__msgpack_check_value(args, len) != 0))
        return -EINVAL;
    return 0;
}

int cf__initializer_copy(struct cf__initializer *init, const char *name, const void *args,
                         size_t len)
{
    static const unsigned char empty_array = 0x90;
    *init = (struct cf__initializer){NULL, NULL, 0};
    if (!name)
        return 0;
    if (!len) {
        args = &empty_array;
        len = 1;
    }
    init->name = strdup(name);
    init->args = malloc(len);
    if (!init->name || !init->args) {
        cf__initializer_free(init);
        return -ENOMEM;
    }
    memcpy(init->args, args, len);
    init->len = len;
    return 0;
}

void cf__initializer_free(struct cf__initializer *init)
{
    free(init->name);
    free(init->args);
    *init = (struct cf__initializer){NULL, NULL, 0};
}
