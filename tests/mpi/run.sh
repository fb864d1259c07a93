#!/bin/sh
# Runs the MPI tests as one job under the reaper (tests/reaper), which
# checks that the job left no process and no /dev/shm object behind:
#   sh tests/mpi/run.sh REAPER MPIEXEC RANKS TEST_BIN [CHECK]
# The job is bounded as a whole too (each check has its own alarm). The
# last line is "mpi tests: N passed, N failed".
set -u
reaper=$1 mpiexec=$2 ranks=$3 bin=$4
shift 4
log=$(mktemp)
timeout -k 10 1200 "$reaper" -- "$mpiexec" -n "$ranks" "$bin" "$@" 2>&1 | tee "$log"
line=$(grep '^mpi tests: ' "$log" | tail -1)
left=$(grep '^reaper: ' "$log" | tail -1)
rm -f "$log"
passed=$(echo "$line" | sed -n 's/^mpi tests: \([0-9]*\) passed.*/\1/p')
failed=$(echo "$line" | sed -n 's/.*, \([0-9]*\) failed.*/\1/p')
: "${passed:=0}" "${failed:=0}"
[ -z "$line" ] && { echo "the MPI job did not finish" >&2; failed=$((failed + 1)); }
procs=$(echo "$left" | sed -n 's/^reaper: \([0-9]*\) process.*/\1/p')
segs=$(echo "$left" | sed -n 's/.*, \([0-9]*\) segment.*/\1/p')
if [ -z "$left" ]; then
    echo "the reaper did not report (it died?)" >&2
    failed=$((failed + 1))
else
    [ "${procs:-0}" -gt 0 ] && failed=$((failed + 1))
    [ "${segs:-0}" -gt 0 ] && failed=$((failed + 1))
fi
[ "$passed" -eq 0 ] && { echo "no MPI check ran" >&2; failed=$((failed + 1)); }
echo "mpi tests ($(basename "$mpiexec")): $passed passed, $failed failed"
[ "$failed" -eq 0 ]
