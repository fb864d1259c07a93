/* cf__copy (ipc/copy.h): a large copy split between the caller and helper
 * threads must equal memcpy byte for byte, whatever the size and
 * alignment, and splits only as documented. */
#include <criterion/criterion.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/copy.h"

#define MIB ((size_t)1 << 20)

/* Copies n bytes from a patterned source at offset `skew` into a buffer
 * with guard bytes around it, and checks the copy and the guards. */
static void check_copy(size_t n, size_t skew)
{
    unsigned char *src = malloc(n + skew + 1), *dst = malloc(n + skew + 2);
    cr_assert(src && dst);
    for (size_t i = 0; i < n + skew; i++)
        src[i] = (unsigned char)(i * 2654435761u >> 13);
    memset(dst, 0xA5, n + skew + 2);
    cf__copy(dst + skew + 1, src + skew, n);
    cr_assert_eq(dst[skew], 0xA5, "guard before the copy overwritten (n %zu)", n);
    cr_assert_eq(dst[skew + 1 + n], 0xA5, "guard after the copy overwritten (n %zu)", n);
    cr_assert_eq(memcmp(dst + skew + 1, src + skew, n), 0, "copy of %zu bytes differs", n);
    free(src);
    free(dst);
}

Test(copy, small_sizes_equal_memcpy, .timeout = 30)
{
    size_t sizes[] = {0, 1, 4095, 4096, 65537, CF__COPY_SPLIT_MIN - 1};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        check_copy(sizes[i], i % 3);
}

Test(copy, split_sizes_equal_memcpy, .timeout = 60)
{
    /* At the threshold, with a tail that is not a whole page, unaligned,
     * and large enough for every part a machine may use. */
    size_t sizes[] = {CF__COPY_SPLIT_MIN, CF__COPY_SPLIT_MIN + 4097, 3 * 4 * MIB + 123,
                      17 * MIB + 1};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        check_copy(sizes[i], i % 2 ? 7 : 0);
}

Test(copy, parts_follow_size_and_cpus, .timeout = 30)
{
    cpu_set_t set;
    cr_assert_eq(sched_getaffinity(0, sizeof(set), &set), 0);
    int cpus = CPU_COUNT(&set);
    int most = cpus < 4 ? cpus : 4;
    cr_assert_eq(cf__copy_parts(0), 1);
    cr_assert_eq(cf__copy_parts(CF__COPY_SPLIT_MIN - 1), 1, "below the threshold: one part");
    cr_assert_eq(cf__copy_parts(CF__COPY_SPLIT_MIN), most < 2 ? most : 2,
                 "8 MiB: one part per 4 MiB, at most one per CPU");
    cr_assert_eq(cf__copy_parts((size_t)1 << 30), most, "1 GiB: one per CPU, at most four");
}

Test(copy, helpers_that_cannot_start_leave_their_parts_to_the_caller, .timeout = 60)
{
    /* On a one-CPU machine nothing is split and this is a plain copy. */
    cf__copy_fault_no_threads(true);
    check_copy(17 * MIB + 4097, 3);
    check_copy((size_t)64 * MIB, 0);
    cf__copy_fault_no_threads(false);
}
