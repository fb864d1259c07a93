/* The thread pool's queue (common/mpsc_queue.h): FIFO for one producer,
 * chains pushed in one step keep their order, the emptiness hints agree
 * with what a pop finds, and producers racing one consumer lose, repeat
 * and reorder nothing (each producer's nodes come out in its order). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/mpsc_queue.h"

struct item {
    struct cf__mpsc_node node; /* first: a node's address is its item's */
    int producer;
    int seq;
};

static struct item *item_of(struct cf__mpsc_node *n)
{
    return (struct item *)n;
}

Test(mpsc_queue, empty_then_fifo_for_one_producer, .timeout = 10)
{
    struct cf__mpsc_queue q;
    cf__mpsc_init(&q);
    cr_assert_null(cf__mpsc_pop(&q), "a new queue is empty");
    cr_assert_not(cf__mpsc_maybe_nonempty(&q));
    cr_assert_not(cf__mpsc_pushed_since_empty(&q));
    struct item it[5];
    for (int i = 0; i < 5; i++) {
        it[i].seq = i;
        cf__mpsc_push(&q, &it[i].node);
        cr_assert(cf__mpsc_maybe_nonempty(&q));
        cr_assert(cf__mpsc_pushed_since_empty(&q));
    }
    for (int i = 0; i < 5; i++) {
        struct cf__mpsc_node *n = cf__mpsc_pop(&q);
        cr_assert_not_null(n, "item %d", i);
        cr_assert_eq(item_of(n)->seq, i, "FIFO");
    }
    cr_assert_null(cf__mpsc_pop(&q), "emptied");
    cr_assert_not(cf__mpsc_maybe_nonempty(&q));
    cr_assert_not(cf__mpsc_pushed_since_empty(&q), "the last pop leaves the stub as tail");
    /* Usable again once empty, through the stub. */
    cf__mpsc_push(&q, &it[2].node);
    cr_assert_eq(cf__mpsc_pop(&q), &it[2].node);
    cr_assert_null(cf__mpsc_pop(&q));
}

Test(mpsc_queue, a_chain_keeps_its_order, .timeout = 10)
{
    struct cf__mpsc_queue q;
    cf__mpsc_init(&q);
    struct item it[6];
    for (int i = 0; i < 6; i++)
        it[i].seq = i;
    cf__mpsc_push(&q, &it[0].node);
    for (int i = 1; i < 4; i++)
        atomic_store(&it[i].node.next, &it[i + 1].node);
    cf__mpsc_push_chain(&q, &it[1].node, &it[4].node);
    cf__mpsc_push(&q, &it[5].node);
    for (int i = 0; i < 6; i++) {
        struct cf__mpsc_node *n = cf__mpsc_pop(&q);
        cr_assert_not_null(n);
        cr_assert_eq(item_of(n)->seq, i);
    }
    cr_assert_null(cf__mpsc_pop(&q));
}

enum { PRODUCERS = 4, PER_PRODUCER = 50000 };

static struct cf__mpsc_queue race_q;
static struct item race_items[PRODUCERS][PER_PRODUCER];

static void *produce(void *arg)
{
    int p = (int)(intptr_t)arg;
    for (int i = 0; i < PER_PRODUCER; i++) {
        race_items[p][i].producer = p;
        race_items[p][i].seq = i;
        /* Some as chains of two, to race both kinds of push. */
        if (i % 3 == 1 && i + 1 < PER_PRODUCER) {
            race_items[p][i + 1].producer = p;
            race_items[p][i + 1].seq = i + 1;
            atomic_store(&race_items[p][i].node.next, &race_items[p][i + 1].node);
            cf__mpsc_push_chain(&race_q, &race_items[p][i].node, &race_items[p][i + 1].node);
            i++;
        } else {
            cf__mpsc_push(&race_q, &race_items[p][i].node);
        }
    }
    return NULL;
}

Test(mpsc_queue, producers_race_one_consumer, .timeout = 60)
{
    cf__mpsc_init(&race_q);
    pthread_t th[PRODUCERS];
    for (int p = 0; p < PRODUCERS; p++)
        cr_assert_eq(pthread_create(&th[p], NULL, produce, (void *)(intptr_t)p), 0);
    int next[PRODUCERS] = {0};
    long got = 0;
    while (got < (long)PRODUCERS * PER_PRODUCER) {
        struct cf__mpsc_node *n = cf__mpsc_pop(&race_q);
        if (!n)
            continue; /* empty for now, or a push halfway: retry */
        struct item *it = item_of(n);
        cr_assert(it->producer >= 0 && it->producer < PRODUCERS);
        cr_assert_eq(it->seq, next[it->producer], "producer %d: got %d, expected %d",
                     it->producer, it->seq, next[it->producer]);
        next[it->producer]++;
        got++;
    }
    for (int p = 0; p < PRODUCERS; p++)
        pthread_join(th[p], NULL);
    cr_assert_null(cf__mpsc_pop(&race_q), "nothing more than was pushed");
    for (int p = 0; p < PRODUCERS; p++)
        cr_assert_eq(next[p], PER_PRODUCER);
}
