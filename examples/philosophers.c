/* Dining philosophers with ordered multi-lock acquire (Python Cookbook
 * recipe 12.5). Each philosopher names its forks left then right; the last
 * one's pair wraps around, which deadlocks with plain acquires.
 * cf_lock_acquire_ordered takes them in one global order instead, so
 * everybody eats. Prints totals only: the interleaving varies. */
#include <pthread.h>
#include <stdio.h>

#include <cfutures.h>

#define PHILOSOPHERS 5
#define MEALS 1000

static cf_lock forks[PHILOSOPHERS];
static long fork_uses[PHILOSOPHERS]; /* each under its fork */

struct philosopher {
    int seat;
    int meals;
    int err;
};

static void *dine(void *arg)
{
    struct philosopher *p = arg;
    cf_lock *mine[] = {&forks[p->seat], &forks[(p->seat + 1) % PHILOSOPHERS]};

    while (p->meals < MEALS) {
        if ((p->err = cf_lock_acquire_ordered(mine, 2)) < 0)
            return NULL;
        fork_uses[p->seat]++;
        fork_uses[(p->seat + 1) % PHILOSOPHERS]++;
        p->meals++;
        if ((p->err = cf_lock_release_ordered(mine, 2)) < 0)
            return NULL;
    }
    return NULL;
}

int main(void)
{
    struct philosopher p[PHILOSOPHERS];
    pthread_t t[PHILOSOPHERS];
    long total = 0;

    for (int i = 0; i < PHILOSOPHERS; i++)
        cf_lock_init(&forks[i]);
    for (int i = 0; i < PHILOSOPHERS; i++) {
        p[i] = (struct philosopher){.seat = i};
        if (pthread_create(&t[i], NULL, dine, &p[i]) != 0) {
            fprintf(stderr, "philosophers: cannot start a thread\n");
            return 1;
        }
    }
    for (int i = 0; i < PHILOSOPHERS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < PHILOSOPHERS; i++) {
        if (p[i].err < 0) {
            fprintf(stderr, "philosopher %d: %s\n", i, cf_strerror(p[i].err));
            return 1;
        }
        printf("philosopher %d ate %d meals\n", i, p[i].meals);
        total += p[i].meals;
    }
    for (int i = 0; i < PHILOSOPHERS; i++)
        printf("fork %d used %ld times\n", i, fork_uses[i]);
    printf("%ld meals in all, no deadlock\n", total);
    for (int i = 0; i < PHILOSOPHERS; i++)
        cf_lock_destroy(&forks[i]);
    return 0;
}
