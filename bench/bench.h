/* Shared helpers of the benchmark suite (bench/README.md): a monotonic
 * clock, medians and percentiles, the CPython anchor figures, and the table
 * rows every bench prints.
 *
 * A row is one line of a markdown table,
 *   | workload | cfutures | anchor | ratio | target | met? |
 * which bench/run.sh gathers from every bench into one table. Benchmarks
 * never fail on time: a missed target prints "no", and the exit status
 * only reports errors (a wrong result, a failed call).
 *
 * Header-only (static functions), so each bench stays one file. */
#ifndef CF_BENCH_H
#define CF_BENCH_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int bench_by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The p-th percentile (0..100) of v[0..n); sorts v. */
static inline double bench_pct(double *v, size_t n, double p)
{
    qsort(v, n, sizeof(v[0]), bench_by_value);
    size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

static inline double bench_median(double *v, size_t n)
{
    return bench_pct(v, n, 50);
}

/* Runs per row: BENCH_RUNS from the environment (default `dflt`). Slow rows
 * pass a smaller default and say so in their workload text. */
static inline int bench_runs(int dflt)
{
    const char *s = getenv("BENCH_RUNS");
    int n = s ? atoi(s) : 0;
    return n > 0 ? n : dflt;
}

/* ------------------------------------------------------ CPython anchors */

/* The figure bench/cpython_anchor.py wrote under `key` into the file named
 * by BENCH_CPYTHON (bench/run.sh sets it), or a negative value when there
 * is none (no python3, or the bench runs alone). */
static inline double bench_cpython(const char *key)
{
    const char *path = getenv("BENCH_CPYTHON");
    FILE *f = path ? fopen(path, "r") : NULL;
    double found = -1;
    char k[128];
    double v;
    if (!f)
        return -1;
    while (fscanf(f, "%127s %lf", k, &v) == 2)
        if (strcmp(k, key) == 0)
            found = v;
    fclose(f);
    return found;
}

/* ----------------------------------------------------------------- rows */

/* Formats a figure with a unit into buf: "12.3 us", "4.56 M/s"... */
static inline const char *bench_fmt(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline const char *bench_fmt(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    return buf;
}

/* One row. `ratio` is printed as "%.2fx" (negative: "n/a"); `met` is
 * 1 yes, 0 no, -1 "report" (no target, or an anchor that is missing). */
static inline void bench_row(const char *workload, const char *ours, const char *anchor,
                             double ratio, const char *target, int met)
{
    char r[32];
    if (ratio < 0)
        snprintf(r, sizeof r, "n/a");
    else if (ratio >= 100)
        snprintf(r, sizeof r, "%.0fx", ratio);
    else
        snprintf(r, sizeof r, "%.2fx", ratio);
    printf("| %s | %s | %s | %s | %s | %s |\n", workload, ours, anchor, r, target,
           met > 0 ? "yes" : met == 0 ? "**no**" : "report");
    fflush(stdout);
}

/* Rates and times in the units the table uses. */
static inline const char *bench_rate(char *buf, size_t len, double per_s)
{
    if (per_s >= 1e6)
        return bench_fmt(buf, len, "%.2f M/s", per_s / 1e6);
    if (per_s >= 1e3)
        return bench_fmt(buf, len, "%.1f k/s", per_s / 1e3);
    return bench_fmt(buf, len, "%.0f /s", per_s);
}

static inline const char *bench_time(char *buf, size_t len, double s)
{
    if (s < 1e-3)
        return bench_fmt(buf, len, "%.1f us", s * 1e6);
    if (s < 1)
        return bench_fmt(buf, len, "%.2f ms", s * 1e3);
    return bench_fmt(buf, len, "%.2f s", s);
}

/* A row against a CPython figure (a rate when `higher_better`, else a
 * time): "n/a" and "report" when the anchor is missing. */
static inline void bench_row_cpython(const char *workload, const char *ours_text,
                                     double ours, const char *key, bool higher_better,
                                     double min_ratio, const char *target)
{
    double py = bench_cpython(key);
    char a[64];
    if (py <= 0) {
        bench_row(workload, ours_text, "CPython: not run", -1, target, -1);
        return;
    }
    double ratio = higher_better ? ours / py : py / ours;
    if (higher_better)
        bench_rate(a, sizeof a, py);
    else
        bench_time(a, sizeof a, py);
    char anchor[96];
    snprintf(anchor, sizeof anchor, "CPython %s", a);
    bench_row(workload, ours_text, anchor, ratio, target,
              min_ratio > 0 ? ratio >= min_ratio : -1);
}

#endif
