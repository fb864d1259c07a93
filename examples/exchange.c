/* Publish/subscribe (Python Cookbook 12.12): tasks subscribe to a named
 * exchange for the span of a scope, and every message sent goes to every
 * subscriber in the order they attached. A queue can subscribe too. */
#include <stdio.h>

#include <cfutures.h>

struct display {
    const char *name;
    int seen;
};

static int display_message(void *arg, void *msg)
{
    struct display *d = arg;
    d->seen++;
    printf("%s got: %s\n", d->name, (const char *)msg);
    return 0;
}

static int publish(cf_exchange *ex, void *arg)
{
    (void)arg;
    const char *msgs[] = {"msg1", "msg2", "msg3"};
    for (size_t i = 0; i < 3; i++) {
        int rc = cf_exchange_send(ex, (void *)msgs[i]);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int main(void)
{
    cf_exchange *ex;
    cf_queue log;
    struct display a = {"task A", 0}, b = {"task B", 0};
    cf_subscriber sa, sb, sq;
    if (cf_exchange_get("name", &ex) < 0 || cf_queue_init(&log, CF_QUEUE_FIFO, 0) < 0)
        return 1;
    cf_subscriber_init_fn(&sa, display_message, &a);
    cf_subscriber_init_fn(&sb, display_message, &b);
    cf_subscriber_init_queue(&sq, &log);
    cf_subscriber *subs[] = {&sa, &sb, &sq};

    int rc = cf_exchange_subscribe(ex, subs, 3, publish, NULL);
    /* Out of the scope: nobody is attached, this goes nowhere. */
    cf_exchange_send(ex, "unheard");
    printf("subscribers left: %zu\n", cf_exchange_count(ex));

    void *msg;
    printf("queued for later:");
    while (cf_queue_try_get(&log, &msg) == 0)
        printf(" %s", (const char *)msg);
    printf("\n");
    cf_queue_destroy(&log);
    return rc == 0 && a.seen == 3 && b.seen == 3 ? 0 : 1;
}
