#!/bin/sh
# The cfmap row of `make bench` (bench/run.sh): 2,000 short commands
# (`echo N`, one process each) through `cfmap -j 2` against `xargs -P 2
# -n 1`, the tool it stands in for. Each takes its median of BENCH_RUNS
# runs (default 5), the two interleaved so that a busy moment of the
# machine falls on both. Ratio: time ours / time xargs (<= 1 is the
# target). Prints one table row; fails only when cfmap's output is wrong.
#   sh bench/cfmap.sh BENCH_DIR      (cfmap is BENCH_DIR/../cfmap)
set -u
dir=${1:?usage: sh bench/cfmap.sh BENCH_DIR}
cfmap=$dir/../cfmap
runs=${BENCH_RUNS:-5}
n=2000
seq "$n" >"$dir/cfmap.in"
seq "$n" >"$dir/cfmap.expect"

# Seconds (wall) of one run of "$@" reading cfmap.in, output to $2 file.
timed() {
    out=$1
    shift
    t0=$(date +%s.%N)
    "$@" <"$dir/cfmap.in" >"$out" || return 1
    t1=$(date +%s.%N)
    echo "$t0 $t1" | awk '{ printf "%.3f\n", $2 - $1 }'
}

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

: >"$dir/cfmap.ours"
: >"$dir/cfmap.xargs"
i=0
while [ "$i" -lt "$runs" ]; do
    timed "$dir/cfmap.out" "$cfmap" -j 2 echo >>"$dir/cfmap.ours" || {
        echo "| cfmap -j 2 echo, $n lines | FAILED (cfmap exited non-zero) | | | | |"
        exit 1
    }
    cmp -s "$dir/cfmap.out" "$dir/cfmap.expect" || {
        echo "| cfmap -j 2 echo, $n lines | FAILED (wrong output) | | | | |"
        exit 1
    }
    timed "$dir/xargs.out" xargs -P 2 -n 1 echo >>"$dir/cfmap.xargs"
    i=$((i + 1))
done
ours=$(median <"$dir/cfmap.ours")
xargs=$(median <"$dir/cfmap.xargs")
ratio=$(echo "$ours $xargs" | awk '{ printf "%.2f", $1 / $2 }')
met=$(echo "$ratio" | awk '{ print ($1 <= 1.0) ? "yes" : "**no**" }')
echo "| cfmap -j 2 vs xargs -P 2 -n 1: $n short commands (echo N), median of $runs | $ours s | xargs $xargs s | ${ratio}x | <= 1.00x | $met |"
