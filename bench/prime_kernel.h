/* The CPU-bound kernel of bench/cpu.c and bench/mpi_node.c: trial division
 * of an odd number near 10^12 (about a million divisions, ~1 ms, for a
 * prime), and the task bench_prime that runs it. Header-only (static
 * functions), so that both benches time the very same code; the file that
 * includes it registers the task with CF_TASK(bench_prime).
 */
#ifndef CF_BENCH_PRIME_KERNEL_H
#define CF_BENCH_PRIME_KERNEL_H

#include <stdint.h>

#include <cfutures.h>

/* Where the benches' numbers start: primes just above it cost ~1 ms. */
#define BENCH_PRIME_BASE 1000000000000ULL

static inline int is_prime(uint64_t n)
{
    if (n < 2 || n % 2 == 0)
        return n == 2;
    for (uint64_t d = 3; d * d <= n; d += 2)
        if (n % d == 0)
            return 0;
    return 1;
}

/* The task: [n] -> whether n is prime. */
static int bench_prime(const msgpack_object *args, msgpack_packer *out)
{
    uint64_t n = 0;
    cf_arg_u64(args, 0, &n);
    return is_prime(n) ? msgpack_pack_true(out) : msgpack_pack_false(out);
}

#endif
