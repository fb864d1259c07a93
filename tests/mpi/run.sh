#!/bin/sh
# Runs the MPI tests as one job under the reaper (tests/reaper), which
# checks that the job left no process and no /dev/shm object behind:
#   sh tests/mpi/run.sh REAPER MPIEXEC RANKS TEST_BIN [CHECK]
# The job is bounded as a whole too (each check has its own alarm). The
# last line is "mpi tests: N passed, N failed".
set -u
. "$(dirname "$0")/../reaper/report.sh"
reaper=$1 mpiexec=$2 ranks=$3 bin=$4
shift 4
log=$(mktemp)
{
    timeout -k 10 1200 "$reaper" -- "$mpiexec" -n "$ranks" "$bin" "$@"
    echo "job exit status $?"
} 2>&1 | tee "$log"
line=$(grep '^mpi tests: ' "$log" | tail -1)
status=$(sed -n 's/^job exit status //p' "$log" | tail -1)
reaper_read "$log"
rm -f "$log"
passed=$(echo "$line" | sed -n 's/^mpi tests: \([0-9]*\) passed.*/\1/p')
failed=$(echo "$line" | sed -n 's/.*, \([0-9]*\) failed.*/\1/p')
: "${passed:=0}" "${failed:=0}"
[ -z "$line" ] && { echo "the MPI job did not finish" >&2; failed=$((failed + 1)); }
# A rank that failed after the closing line (a sanitizer at exit) counts.
[ "${status:-1}" -ne 0 ] && { echo "the MPI job exited with status ${status:-?}" >&2; failed=$((failed + 1)); }
reaper_failures
[ "$passed" -eq 0 ] && { echo "no MPI check ran" >&2; failed=$((failed + 1)); }
# A job that ended cleanly leaves no shared-memory segment (Open MPI's go to
# the private directory of tests/mpi/private_shm.sh, when it runs us).
if [ -n "${CF_MPI_SHM_DIR:-}" ] && [ -n "$(ls -A "$CF_MPI_SHM_DIR" 2>/dev/null)" ]; then
    echo "leak: the MPI job left shared-memory segments:" >&2
    ls -A "$CF_MPI_SHM_DIR" >&2
    failed=$((failed + 1))
fi

# A serving rank killed in the middle of a job, with local pools on every
# serving rank: the launcher must end the job (a non-zero status, within
# the bound) and nothing may be left: no process, no /dev/shm object.
if [ $# -eq 0 ]; then
    # Jobs for what happens once per job: MPI initialised by the pool (and
    # finalised at release), and MPI initialised below SERIALIZED.
    for mode in --self-init --thread-single; do
        echo "== $mode"
        if timeout -k 10 120 "$mpiexec" -n "$ranks" "$bin" "$mode" >"$log.$$" 2>&1 &&
            grep -q '^mpi tests: 1 passed, 0 failed' "$log.$$"; then
            echo "ok   $mode ($(grep '^mpi tests' "$log.$$"))"
            passed=$((passed + 1))
        else
            cat "$log.$$"
            echo "FAIL $mode" >&2
            failed=$((failed + 1))
        fi
        rm -f "$log.$$"
    done

    echo "== a serving rank dies: the job must end and leave nothing"
    log=$(mktemp)
    t0=$(date +%s)
    timeout -k 10 120 "$reaper" -- "$mpiexec" -n "$ranks" "$bin" --rank-dies >"$log" 2>&1
    rc=$?
    # Open MPI's launcher exits 137 (the rank's SIGKILL), as timeout's -k
    # would: the time tells them apart.
    took=$(($(date +%s) - t0))
    reaper_read "$log"
    if [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ] || [ "$took" -ge 110 ] || [ -z "$left" ] ||
        [ "${procs:-1}" -gt 0 ] || [ "${segs:-1}" -gt 0 ]; then
        cat "$log"
        echo "FAIL rank_dies: status $rc, ${left:-no reaper report}" >&2
        failed=$((failed + 1))
    else
        echo "ok   rank_dies (job ended in $took s with status $rc; $left)"
        passed=$((passed + 1))
    fi
    rm -f "$log"
fi
echo "mpi tests ($(basename "$mpiexec")): $passed passed, $failed failed"
[ "$failed" -eq 0 ]
