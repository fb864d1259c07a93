#!/usr/bin/env python3
"""CPython anchors of the cfutures benchmark suite (bench/README.md).

Runs the workloads of bench/*.c with concurrent.futures'
ProcessPoolExecutor and ThreadPoolExecutor and prints one `key value` line
per figure (seconds for times, tasks per second for rates), medians of
BENCH_RUNS runs (default 3), which the C benches read through the file
named by BENCH_CPYTHON. Sizes are smaller than the C side's where CPython
would take minutes; rates and percentiles do not depend on the count.
The worker count is CF_WORKERS when set, else os.cpu_count(), as for
cf_default_workers().
"""
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, wait

RUNS = int(os.environ.get("BENCH_RUNS", "0") or 0) or 3
WORKERS = int(os.environ.get("CF_WORKERS", "0") or 0) or os.cpu_count()
now = time.perf_counter


def noop(x):
    return x + 1


def out(key, value):
    print(f"{key} {value:.9g}", flush=True)


def median_of(fn, runs=RUNS):
    return statistics.median(fn() for _ in range(runs))


def round_trip(pool, n=3000):
    lat = []
    for i in range(n):
        t0 = now()
        assert pool.submit(noop, i).result() == i + 1
        lat.append(now() - t0)
    lat.sort()
    return lat[n // 2], lat[n * 99 // 100]


def submit_rate(pool, n=20000):
    t0 = now()
    fs = [pool.submit(noop, i) for i in range(n)]
    wait(fs)
    return n / (now() - t0)


def map_rate(pool, chunksize, n=400000):
    t0 = now()
    got = sum(1 for _ in pool.map(noop, range(n), chunksize=chunksize))
    assert got == n
    return n / (now() - t0)


def start_stop(workers):
    t0 = now()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        assert pool.submit(noop, 1).result() == 2
    return now() - t0


def main():
    with ProcessPoolExecutor(max_workers=WORKERS) as pool:
        round_trip(pool, 300)  # warm-up: starts the workers
        runs = [round_trip(pool) for _ in range(RUNS)]
        out("rt_p50", statistics.median(r[0] for r in runs))
        out("rt_p99", statistics.median(r[1] for r in runs))
        out("submit_rate", median_of(lambda: submit_rate(pool)))
        best = 0
        for chunksize in (64, 512, 2048, 16384):
            rate = median_of(lambda: map_rate(pool, chunksize))
            print(f"# map chunksize {chunksize}: {rate:.0f} tasks/s", file=sys.stderr)
            if rate > best:
                best, best_chunk = rate, chunksize
        out("map_rate", best)
        out("map_best_chunksize", best_chunk)
    with ThreadPoolExecutor() as pool:
        submit_rate(pool, 10000)  # warm-up
        out("thread_rate", median_of(lambda: submit_rate(pool, 100000)))
    for workers in sorted({WORKERS, 8}):
        out(f"start_stop_{workers}", median_of(lambda: start_stop(workers), max(RUNS, 5)))


if __name__ == "__main__":
    main()
