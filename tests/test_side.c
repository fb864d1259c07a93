/* Tests for ipc/side.c: sealed memfd side segments, in one process and
 * across fork in both directions, and every way a descriptor can lie.
 *
 * Children report through their exit status only, die with the test
 * process (PR_SET_PDEATHSIG) and are killed and reaped by .fini.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ipc/clock.h"
#include "ipc/side.h"

#define LIVENESS_NS (10ull * 1000000000ull)

static struct cf__side sender = {.fd = -1}, receiver = {.fd = -1};
static pid_t kid;

static void teardown(void)
{
    if (kid > 0) {
        kill(kid, SIGKILL);
        waitpid(kid, NULL, 0);
        kid = 0;
    }
    cf__side_close(&receiver);
    cf__side_close(&sender);
}

static pid_t spawn(void)
{
    pid_t parent = getpid(), pid = fork();

    cr_assert_geq(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(90);
        return 0;
    }
    kid = pid;
    return pid;
}

/* Bounded wait; returns the child's exit code or -1. */
static int reap(void)
{
    uint64_t limit = cf__now_ns() + LIVENESS_NS;
    struct timespec ms = {0, 1000000};
    int st;

    for (;;) {
        pid_t got = waitpid(kid, &st, WNOHANG);
        if (got == kid)
            break;
        if (got < 0 || cf__now_ns() >= limit)
            return -1;
        nanosleep(&ms, NULL);
    }
    kid = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* FNV-1a, position-sensitive enough to catch shifted or missing bytes. */
static uint64_t checksum(const unsigned char *p, size_t len)
{
    uint64_t h = 1469598103934665603ull;

    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static void fill(unsigned char *p, size_t len, uint32_t seed)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;

    for (size_t i = 0; i < len; i += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(p + i, &x, len - i < 8 ? len - i : 8);
    }
}

Test(side, roundtrip_in_process, .fini = teardown, .timeout = 20)
{
    static const char msg[] = "a record too large for the ring";

    cr_assert_eq(cf__side_create(&sender, msg, sizeof(msg)), 0);
    cr_assert_geq(sender.fd, 0);
    cr_assert_eq(sender.size, sizeof(msg));
    cr_assert_null(sender.map);
    cr_assert_eq(cf__side_open(&receiver, getpid(), sender.fd, sizeof(msg)), 0);
    cr_assert_not_null(receiver.map);
    cr_assert_eq(receiver.size, sizeof(msg));
    cr_assert_eq(memcmp(receiver.map, msg, sizeof(msg)), 0);
    cf__side_close(&receiver);
    cr_assert_null(receiver.map);
    cf__side_close(&receiver);
}

Test(side, sealed_against_the_sender, .fini = teardown, .timeout = 20)
{
    int seals;

    cr_assert_eq(cf__side_create(&sender, "abc", 3), 0);
    seals = fcntl(sender.fd, F_GET_SEALS);
    cr_assert_eq(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL),
                 F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
    cr_assert_lt(pwrite(sender.fd, "x", 1, 0), 0);
    cr_assert_lt(ftruncate(sender.fd, 1), 0);
    cr_assert_lt(ftruncate(sender.fd, 1 << 20), 0);
    cr_assert_eq(fcntl(sender.fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
}

/* The parent sends; a child opens the parent's descriptor by pid. */
Test(side, child_opens_parents_segment, .fini = teardown, .timeout = 20)
{
    unsigned char data[100000];
    uint64_t sum;

    fill(data, sizeof(data), 7);
    sum = checksum(data, sizeof(data));
    cr_assert_eq(cf__side_create(&sender, data, sizeof(data)), 0);
    if (spawn() == 0) {
        struct cf__side s;
        if (cf__side_open(&s, getppid(), sender.fd, sizeof(data)) != 0)
            _exit(1);
        _exit(checksum(s.map, s.size) == sum ? 0 : 2);
    }
    cr_assert_eq(reap(), 0);
}

/* A child sends and stays alive until the parent has mapped the bytes;
 * the mapping then outlives the sender. */
Test(side, parent_opens_childs_segment, .fini = teardown, .timeout = 20)
{
    struct shared {
        _Atomic int fd;
        _Atomic int done;
    } *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    unsigned char data[5000];
    uint64_t limit = cf__now_ns() + LIVENESS_NS;
    pid_t pid;

    cr_assert_neq(sh, MAP_FAILED);
    atomic_init(&sh->fd, -1);
    atomic_init(&sh->done, 0);
    fill(data, sizeof(data), 9);
    pid = spawn();
    if (pid == 0) {
        struct cf__side s;
        if (cf__side_create(&s, data, sizeof(data)) != 0)
            _exit(1);
        atomic_store(&sh->fd, s.fd);
        while (!atomic_load(&sh->done))
            usleep(1000);
        cf__side_close(&s);
        _exit(0);
    }
    while (atomic_load(&sh->fd) < 0)
        cr_assert_lt(cf__now_ns(), limit, "child never sent");
    cr_assert_eq(cf__side_open(&receiver, pid, atomic_load(&sh->fd), sizeof(data)), 0);
    atomic_store(&sh->done, 1);
    cr_assert_eq(reap(), 0);
    cr_assert_eq(memcmp(receiver.map, data, sizeof(data)), 0, "bytes outlive the sender");
    munmap(sh, sizeof(*sh));
}

Test(side, size_mismatch_is_eproto, .fini = teardown, .timeout = 20)
{
    cr_assert_eq(cf__side_create(&sender, "0123456789", 10), 0);
    cr_assert_eq(cf__side_open(&receiver, getpid(), sender.fd, 11), -EPROTO);
    cr_assert_eq(cf__side_open(&receiver, getpid(), sender.fd, 9), -EPROTO);
    cr_assert_eq(cf__side_open(&receiver, getpid(), sender.fd, 0), -EPROTO);
    cr_assert_eq(cf__side_open(&receiver, getpid(), sender.fd, UINT64_MAX), -EPROTO);
    cr_assert_null(receiver.map);
    cr_assert_eq(receiver.fd, -1);
}

Test(side, unsealed_or_foreign_files_are_eproto, .fini = teardown, .timeout = 20)
{
    int fd = memfd_create("unsealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int pipefd[2];

    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "abcd", 4), 4);
    cr_assert_eq(cf__side_open(&receiver, getpid(), fd, 4), -EPROTO, "no seals");
    cr_assert_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
    cr_assert_eq(cf__side_open(&receiver, getpid(), fd, 4), -EPROTO, "writable");
    cr_assert_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), 0);
    cr_assert_eq(cf__side_open(&receiver, getpid(), fd, 4), 0, "now acceptable");
    cf__side_close(&receiver);
    /* Not a memfd at all: refused, and a pipe must not block us. */
    cr_assert_eq(cf__side_open(&receiver, getpid(), nul, 0), -EPROTO);
    cr_assert_eq(pipe2(pipefd, O_CLOEXEC), 0);
    close(pipefd[1]);
    cr_assert_eq(cf__side_open(&receiver, getpid(), pipefd[0], 0), -EPROTO);
    close(pipefd[0]);
    close(nul);
    close(fd);
}

Test(side, missing_descriptor_or_process, .fini = teardown, .timeout = 20)
{
    int rc;
    pid_t pid;

    rc = cf__side_open(&receiver, getpid(), 999999, 4);
    cr_assert_eq(rc, -ENOENT, "got %d", rc);
    cr_assert_eq(cf__side_open(&receiver, getpid(), -1, 4), -EINVAL);
    cr_assert_eq(cf__side_open(&receiver, 0, 3, 4), -EINVAL);
    /* A reaped child's pid: its /proc entry is gone. */
    pid = spawn();
    if (pid == 0)
        _exit(0);
    cr_assert_eq(reap(), 0);
    rc = cf__side_open(&receiver, pid, 0, 4);
    cr_assert_lt(rc, 0);
    cr_assert_neq(rc, -EPROTO);
}

Test(side, empty_segment, .fini = teardown, .timeout = 20)
{
    cr_assert_eq(cf__side_create(&sender, NULL, 0), 0);
    cr_assert_eq(sender.size, 0);
    cr_assert_eq(cf__side_open(&receiver, getpid(), sender.fd, 0), 0);
    cr_assert_null(receiver.map);
    cr_assert_eq(receiver.size, 0);
    cr_assert_eq(cf__side_open(&receiver, getpid(), sender.fd, 1), -EPROTO);
    cr_assert_eq(cf__side_create(&sender, NULL, 1), -EINVAL);
}

/* 256 MiB through a child. The source lives in an anonymous mapping that
 * is released right after the copy, so at most two copies exist at once. */
Test(side, large_segment_across_fork, .fini = teardown, .timeout = 20)
{
    const size_t size = 256u << 20;
    unsigned char *src;
    uint64_t sum;

    src = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(src, MAP_FAILED);
    fill(src, size, 42);
    sum = checksum(src, size);
    cr_assert_eq(cf__side_create(&sender, src, size), 0);
    munmap(src, size);
    if (spawn() == 0) {
        struct cf__side s;
        if (cf__side_open(&s, getppid(), sender.fd, size) != 0)
            _exit(1);
        _exit(checksum(s.map, s.size) == sum ? 0 : 2);
    }
    cr_assert_eq(reap(), 0);
}

/* A process forked without exec (a pool's fork server) closes the one-shot
 * segments it inherited, and nothing else: not a user's memfd whose name
 * merely starts the same, nor kept segments ("cfutures-seg", closed by
 * their own fork handler), nor an ordinary descriptor. The child reports
 * in its exit status which of them it still had. */
Test(side, close_inherited_closes_exactly_ours, .timeout = 20)
{
    int ours = cf__side_memfd();
    int mine = memfd_create("cfutures-side (mine)", MFD_CLOEXEC);
    int car = memfd_create("cfutures-sidecar", MFD_CLOEXEC);
    int seg = memfd_create("cfutures-seg", MFD_CLOEXEC);
    int plain = dup(STDERR_FILENO);
    cr_assert(ours >= 0 && mine >= 0 && car >= 0 && seg >= 0 && plain >= 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int closed = cf__side_close_inherited();
        int open_ = (fcntl(ours, F_GETFD) >= 0) | (fcntl(mine, F_GETFD) >= 0) << 1 |
                    (fcntl(car, F_GETFD) >= 0) << 2 | (fcntl(seg, F_GETFD) >= 0) << 3 |
                    (fcntl(plain, F_GETFD) >= 0) << 4;
        _exit(closed == 1 ? open_ : 0x40 | open_);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status));
    cr_assert_eq(WEXITSTATUS(status), 0x1e,
                 "exit %#x: bit 0 ours still open, bits 1-4 others closed, 0x40 count",
                 WEXITSTATUS(status));
    close(ours), close(mine), close(car), close(seg), close(plain);
}
