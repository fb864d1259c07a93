#!/bin/sh
# The benchmark driver behind `make bench` (bench/README.md): runs the
# CPython anchor (bench/cpython_anchor.py) and every bench binary in
# BENCH_DIR, prints one table of their rows under a description of the
# machine, and writes the same to bench/RESULTS.md. Never fails on time:
# the exit status is non-zero only when a bench itself failed (a wrong
# result or a failed call).
#
#   sh bench/run.sh BENCH_DIR   (bench/<name>.sh scripts run as benches too)
#   BENCH_RUNS=n     runs per row (each bench has its own default)
#   BENCH_ONLY="roundtrip cpu"   run only these benches (no RESULTS.md)
set -u
dir=${1:?usage: sh bench/run.sh BENCH_DIR}
order="roundtrip throughput cpu payload thread_pool inproc threading coro lazy_map cfmap"
only=${BENCH_ONLY:-}
results=bench/RESULTS.md
table=$dir/table.md
BENCH_CPYTHON=$dir/cpython.txt
export BENCH_CPYTHON

model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
mem=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
machine="$(nproc) CPUs ($model), $mem RAM, Linux $(uname -r)"
pyver=$(python3 -c 'import sys; print(sys.version.split()[0])' 2>/dev/null)
started=$(date -u '+%Y-%m-%d %H:%M UTC')
load0=$(cut -d' ' -f1 /proc/loadavg)
t0=$(date +%s)

: >"$BENCH_CPYTHON"
if [ -n "$pyver" ]; then
    echo "bench: CPython $pyver anchor (bench/cpython_anchor.py) ..." >&2
    python3 bench/cpython_anchor.py >"$BENCH_CPYTHON" 2>"$dir/cpython.log" ||
        echo "bench: the CPython anchor failed, see $dir/cpython.log" >&2
    anchor="CPython $pyver, concurrent.futures (best map chunksize $(
        sed -n 's/^map_best_chunksize //p' "$BENCH_CPYTHON"))"
else
    anchor="CPython: python3 absent, its rows say 'not run'"
    echo "bench: $anchor" >&2
fi

{
    echo "| workload | cfutures | anchor | ratio | target | met? |"
    echo "|---|---|---|---|---|---|"
} >"$table"
cat "$table"
status=0
for b in $order; do
    case " ${only:-$order} " in *" $b "*) ;; *) continue ;; esac
    # A bench is a binary in BENCH_DIR, or a script bench/<name>.sh.
    run="$dir/$b"
    [ -x "$run" ] || run="sh bench/$b.sh $dir"
    if ! $run >"$dir/$b.out" 2>"$dir/$b.err"; then
        echo "| $b | FAILED (exit $?, see $dir/$b.err) | | | | |" >>"$dir/$b.out"
        status=1
    fi
    grep '^| ' "$dir/$b.out" | tee -a "$table"
done
elapsed=$(($(date +%s) - t0))

notes="Medians of several runs (the count is in each row; BENCH_RUNS overrides
it): 5 for the fast rows, 3 for the CPU-bound map and the 1 GiB echo, 1 for
the 100 M-item lazy map. Ratios are \"how many times better\" for speedups
and rates (higher is better), and time ours / time anchor where the target
says <=. CPython runs smaller counts where it would take minutes (rates and
percentiles do not depend on the count)."

echo
echo "Machine: $machine"
echo "Anchor: $anchor"
echo "Whole run: ${elapsed} s"
[ -n "$only" ] && exit $status
{
    echo "# cfutures benchmark results"
    echo
    echo "- Date: $started"
    echo "- Machine: $machine"
    echo "- Command: \`make bench\` (whole run ${elapsed} s)"
    echo "- Load average (1 min) at start / end: $load0 / $(cut -d' ' -f1 /proc/loadavg) (other work on the machine skews every figure)"
    echo "- Anchor: $anchor; OpenMP: gcc $(gcc -dumpfullversion 2>/dev/null) -fopenmp"
    echo
    cat "$table"
    echo
    echo "$notes"
} >"$results"
echo "Written to $results"
exit $status
