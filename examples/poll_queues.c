/* Polling multiple thread queues (Python Cookbook 12.13): one consumer
 * thread waits on three queues and a socket at once with poll(), taking
 * from whichever is ready.
 *
 * Python pairs each queue with a socket to make it selectable; here each
 * cf_queue hands out a descriptor (cf_queue_fd) that is readable exactly
 * while it holds items. Three producer threads feed the queues (a FIFO, a
 * LIFO and a priority queue) and end each with a NULL sentinel; a fourth
 * writes lines to one end of a socketpair and closes it. The consumer
 * stops once it has seen every sentinel and the end of the socket, and
 * checks that nothing was lost. */
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cfutures.h>

#define NQUEUES 3
#define ITEMS 5

static const char *const names[NQUEUES] = {"fifo", "lifo", "priority"};
static const enum cf_queue_kind kinds[NQUEUES] = {CF_QUEUE_FIFO, CF_QUEUE_LIFO,
                                                  CF_QUEUE_PRIORITY};
static cf_queue queues[NQUEUES];
static int sock[2]; /* [0]: the consumer's end, [1]: the writer's */

static void *producer(void *arg)
{
    intptr_t i = (intptr_t)arg;
    for (intptr_t n = 1; n <= ITEMS; n++) {
        /* The priority queue hands out the lowest value first. */
        cf_queue_put_priority(&queues[i], (void *)(100 * (i + 1) + n), ITEMS - n, CF_FOREVER);
        usleep(1000);
    }
    cf_queue_put_priority(&queues[i], NULL, INT64_MAX, CF_FOREVER); /* sentinel */
    return NULL;
}

static void *socket_writer(void *arg)
{
    (void)arg;
    for (int n = 1; n <= 3; n++) {
        char line[32];
        int len = snprintf(line, sizeof line, "socket line %d\n", n);
        if (write(sock[1], line, (size_t)len) != len)
            perror("write");
        usleep(1500);
    }
    close(sock[1]);
    return NULL;
}

static void *consumer(void *arg)
{
    int *failed = arg;
    struct pollfd fds[NQUEUES + 1];
    int open = NQUEUES + 1, items = 0;

    for (int i = 0; i < NQUEUES; i++)
        fds[i] = (struct pollfd){.fd = cf_queue_fd(&queues[i]), .events = POLLIN};
    fds[NQUEUES] = (struct pollfd){.fd = sock[0], .events = POLLIN};
    while (open > 0) {
        if (poll(fds, NQUEUES + 1, -1) < 0) {
            perror("poll");
            *failed = 1;
            return NULL;
        }
        for (int i = 0; i < NQUEUES; i++) {
            void *item;
            if (!(fds[i].revents & POLLIN) || cf_queue_try_get(&queues[i], &item) != 0)
                continue;
            if (item == NULL) {
                printf("%-8s  done\n", names[i]);
                fds[i].fd = -1; /* poll skips it from now on */
                open--;
            } else {
                printf("%-8s  got %ld\n", names[i], (long)(intptr_t)item);
                items++;
            }
        }
        if (fds[NQUEUES].revents & (POLLIN | POLLHUP)) {
            char buf[128];
            ssize_t n = read(sock[0], buf, sizeof buf);
            if (n > 0) {
                printf("socket    got %.*s", (int)n, buf);
            } else {
                printf("socket    closed\n");
                fds[NQUEUES].fd = -1;
                open--;
            }
        }
    }
    printf("%d queue items taken (expected %d)\n", items, NQUEUES * ITEMS);
    *failed = items != NQUEUES * ITEMS;
    return NULL;
}

int main(void)
{
    pthread_t prod[NQUEUES], writer, cons;
    int failed = 1;

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sock) < 0) {
        perror("socketpair");
        return 1;
    }
    for (int i = 0; i < NQUEUES; i++) {
        if (cf_queue_init(&queues[i], kinds[i], 0) < 0 || cf_queue_fd(&queues[i]) < 0) {
            fprintf(stderr, "poll_queues: cannot make queue %d\n", i);
            return 1;
        }
    }
    pthread_create(&cons, NULL, consumer, &failed);
    for (intptr_t i = 0; i < NQUEUES; i++)
        pthread_create(&prod[i], NULL, producer, (void *)i);
    pthread_create(&writer, NULL, socket_writer, NULL);
    for (int i = 0; i < NQUEUES; i++)
        pthread_join(prod[i], NULL);
    pthread_join(writer, NULL);
    pthread_join(cons, NULL);
    for (int i = 0; i < NQUEUES; i++)
        cf_queue_destroy(&queues[i]); /* closes its descriptor */
    close(sock[0]);
    return failed;
}
