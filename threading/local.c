/* threading/local.c — cf_local, Python's threading.local for one slot.
 *
 * Owns one pthread key per cf_local. Each thread reads and writes only its
 * own value, so there is no lock; the key itself is written by init and
 * destroy alone, which the caller keeps apart from every other call. The
 * destructor runs on the exiting thread, as pthread keys do (the header
 * spells out what that implies). Semantics are pthread's rather than
 * Python's on purpose: a set that replaces a value leaves the old one to
 * the caller, because only the caller knows whether it is still in use.
 */
#include <cfutures.h>

#include <errno.h>
#include <string.h>

int cf_local_init(cf_local *l, cf_local_dtor destructor)
{
    int rc;

    if (!l)
        return -EINVAL;
    memset(l, 0, sizeof *l);
    if ((rc = pthread_key_create(&l->key, destructor)) != 0)
        return -rc;
    l->valid = true;
    return 0;
}

void *cf_local_get(const cf_local *l)
{
    return l && l->valid ? pthread_getspecific(l->key) : NULL;
}

int cf_local_set(cf_local *l, void *value)
{
    if (!l || !l->valid)
        return -EINVAL;
    return -pthread_setspecific(l->key, value);
}

void cf_local_destroy(cf_local *l)
{
    if (!l || !l->valid)
        return;
    pthread_key_delete(l->key);
    l->valid = false;
}
