/* Actors (Python Cookbook 12.10): a PrintActor that handles messages on
 * its own thread, and a Worker whose submit() returns a future: pow(2, 3)
 * comes back as 8. */
#include <stdio.h>

#include <cfutures.h>

static int print_actor(cf_actor *a, void *msg)
{
    (void)a;
    printf("Got: %s\n", (const char *)msg);
    return 0;
}

struct pow_args {
    int64_t x, y;
};

static int power(void *arg, msgpack_packer *out)
{
    const struct pow_args *p = arg;
    if (p->y < 0)
        return cf_task_fail("pow: negative exponent");
    int64_t r = 1;
    for (int64_t i = 0; i < p->y; i++)
        r *= p->x;
    return msgpack_pack_int64(out, r);
}

int main(void)
{
    cf_actor printer, worker;
    if (cf_actor_start(&printer, print_actor, NULL) < 0)
        return 1;
    cf_actor_send(&printer, "Hello");
    cf_actor_send(&printer, "World");
    cf_actor_close(&printer);
    cf_actor_join(&printer, CF_FOREVER); /* both lines are printed by now */
    cf_actor_destroy(&printer);

    if (cf_actor_start(&worker, NULL, NULL) < 0)
        return 1;
    struct pow_args good = {2, 3}, bad = {2, -1};
    cf_future *r1, *r2;
    int64_t v = 0;
    if (cf_actor_submit(&worker, power, &good, &r1) < 0 ||
        cf_actor_submit(&worker, power, &bad, &r2) < 0)
        return 1;
    int rc = cf_future_result_i64(r1, CF_FOREVER, &v);
    printf("pow(2, 3) = %lld\n", (long long)v);
    int err = cf_future_error(r2, CF_FOREVER);
    printf("pow(2, -1) failed: %s (%s)\n", cf_strerror(err), cf_future_error_message(r2));
    cf_future_release(r1);
    cf_future_release(r2);
    cf_actor_destroy(&worker);
    return rc == 0 && v == 8 && err == CF_ETASK ? 0 : 1;
}
