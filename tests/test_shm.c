/* Tests for ipc/shm.c: names, modes, and leaving nothing in /dev/shm.
 *
 * Single-process except for one fork that checks the mapping is shared;
 * that child reports through its exit status and is reaped before the
 * test returns (and dies with the test via PR_SET_PDEATHSIG).
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ipc/shm.h"

static struct cf__shm region = {.fd = -1};

static void teardown(void)
{
    cf__shm_destroy(&region);
}

static void dev_path(const struct cf__shm *shm, char *out, size_t len)
{
    /* The POSIX name "/x" lives at /dev/shm/x on Linux. */
    snprintf(out, len, "/dev/shm%s", shm->name);
}

static bool name_exists(const struct cf__shm *shm)
{
    char path[96];
    struct stat st;

    dev_path(shm, path, sizeof(path));
    return stat(path, &st) == 0;
}

static void assert_mode_0600_under_umask(mode_t mask)
{
    char path[96];
    struct stat st;
    mode_t old = umask(mask);
    int rc = cf__shm_create(&region, 4096);

    umask(old);
    cr_assert_eq(rc, 0);
    dev_path(&region, path, sizeof(path));
    cr_assert_eq(stat(path, &st), 0, "%s missing", path);
    cr_assert(S_ISREG(st.st_mode));
    cr_assert_eq(st.st_mode & 07777, 0600, "mode %o under umask %o", st.st_mode & 07777,
                 mask);
    cr_assert_eq(st.st_size, 4096);
    cf__shm_destroy(&region);
    cr_assert_neq(stat(path, &st), 0, "destroy left %s behind", path);
}

Test(shm, mode_is_0600_whatever_the_umask, .fini = teardown, .timeout = 20)
{
    assert_mode_0600_under_umask(0);
    assert_mode_0600_under_umask(077);
    assert_mode_0600_under_umask(0777);
}

Test(shm, name_format, .fini = teardown, .timeout = 20)
{
    char prefix[48];
    const char *hex;

    cr_assert_eq(cf__shm_create(&region, 1), 0);
    snprintf(prefix, sizeof(prefix), "/cfutures-%ld-", (long)getpid());
    cr_assert_eq(strncmp(region.name, prefix, strlen(prefix)), 0, "name %s", region.name);
    hex = region.name + strlen(prefix);
    cr_assert_eq(strlen(hex), 16);
    for (int i = 0; i < 16; i++)
        cr_assert(isxdigit((unsigned char)hex[i]));
}

Test(shm, zero_filled_and_shared_across_fork, .fini = teardown, .timeout = 20)
{
    unsigned char *p;
    pid_t pid;
    int st;

    cr_assert_eq(cf__shm_create(&region, 3 * 4096 + 5), 0);
    cr_assert_eq(region.size, 3 * 4096 + 5);
    cr_assert_geq(region.fd, 0);
    cr_assert(region.linked);
    p = region.base;
    cr_assert_eq((uintptr_t)p % 4096, 0);
    for (size_t i = 0; i < region.size; i++)
        cr_assert_eq(p[i], 0);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        memset(p, 0x5a, region.size);
        _exit(0);
    }
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    cr_assert_eq(p[0], 0x5a);
    cr_assert_eq(p[region.size - 1], 0x5a);
}

Test(shm, unlink_keeps_mapping, .fini = teardown, .timeout = 20)
{
    cr_assert_eq(cf__shm_create(&region, 4096), 0);
    cr_assert(name_exists(&region));
    cr_assert_eq(cf__shm_unlink(&region), 0);
    cr_assert_not(region.linked);
    cr_assert_not(name_exists(&region), "unlink removes the name");
    cr_assert_eq(cf__shm_unlink(&region), 0, "idempotent");
    ((volatile char *)region.base)[100] = 1; /* still mapped */
    cf__shm_destroy(&region);
    cr_assert_null(region.base);
    cr_assert_eq(region.fd, -1);
    cf__shm_destroy(&region);
}

Test(shm, destroy_leaves_nothing, .fini = teardown, .timeout = 20)
{
    struct cf__shm copy;

    cr_assert_eq(cf__shm_create(&region, 65536), 0);
    copy = region;
    cf__shm_destroy(&region);
    cr_assert_not(name_exists(&copy));
    cr_assert_eq(fcntl(copy.fd, F_GETFD), -1, "descriptor closed");
    cr_assert_eq(errno, EBADF);
    cr_assert_not(region.linked);
}

Test(shm, distinct_names, .fini = teardown, .timeout = 20)
{
    struct cf__shm other = {.fd = -1};

    cr_assert_eq(cf__shm_create(&region, 4096), 0);
    cr_assert_eq(cf__shm_create(&other, 4096), 0);
    cr_assert_str_neq(region.name, other.name);
    cr_assert_neq(region.base, other.base);
    cf__shm_destroy(&other);
    cr_assert(name_exists(&region));
}

Test(shm, bad_sizes_leave_nothing, .fini = teardown, .timeout = 20)
{
    cr_assert_eq(cf__shm_create(&region, 0), -EINVAL);
    cr_assert_null(region.base);
    cr_assert_eq(region.fd, -1);
    /* Too big to map: fails cleanly, no name left behind. */
    cr_assert_lt(cf__shm_create(&region, SIZE_MAX / 2), 0);
    cr_assert_eq(region.fd, -1);
    cr_assert_eq(region.name[0], '\0');
    cf__shm_destroy(&region);
}
