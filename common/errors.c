/* cf_strerror (the name of every code the library returns) and cf_version.
 *
 * In common/, the lowest layer, because every layer names codes in its
 * messages (a worker's "could not read item 3: malformed record", a map's
 * "could not submit the item: ..."). Stateless, thread-safe. */
#include <errno.h>
#include <string.h>

#include <cfutures.h>

const char *cf_strerror(int err)
{
    switch (err) {
    case CF_OK: return "success";
    case CF_ECANCELLED: return "future cancelled";
    case CF_ETASK: return "task failed";
    case CF_EWORKER: return "worker process died";
    case CF_ESHUTDOWN: return "executor shut down";
    case CF_EBROKEN: return "executor broken";
    case CF_EFULL: return "full";
    case CF_EEMPTY: return "empty";
    case CF_EPROTO: return "malformed record";
    case CF_ENOTASK: return "no such task";
    case CF_ETYPE: return "value has another type";
    case CF_EFORMAT: return "bad format string";
    case CF_ELOCKORDER: return "lock order violation";
    default: break;
    }
    /* The C library's texts where they mislead here: a timeout is no
     * connection's, -EDEADLK is refused rather than "avoided", and so on. */
    switch (err) {
    case -ETIMEDOUT: return "timed out";
    case -EDEADLK: return "would deadlock (called from the thread it would wait for)";
    case -EEXIST: return "already exists";
    case -ERANGE: return "out of range";
    case -EBUSY: return "busy (still in use)";
    case -EOVERFLOW: return "value too large";
    case -ENOTRECOVERABLE: return "not recoverable (its holder died)";
    case -EAGAIN: return "temporarily unavailable, try again";
    case -ENOTSUP: return "not supported";
    case -ENOENT: return "not found"; /* a key (cf_obj_map_get), a name */
    default: break;
    }
    if (err < 0 && err > -4096) {
        /* strerrordesc_np is MT-safe and returns static text, unlike strerror. */
        const char *s = strerrordesc_np(-err);
        if (s)
            return s;
    }
    return "unknown error";
}

const char *cf_version(void)
{
    /* The header this library was built with; a program compiled against
     * another header sees the difference with CF_VERSION. */
    return CF_VERSION;
}
