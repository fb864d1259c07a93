#!/bin/sh
# Runs the Criterion suite, then checks that it left nothing behind: no
# shared-memory object in /dev/shm and no cfutures process alive.
# The last line is "tests: N passed, N failed" for whoever reads the log.
set -u
bin=$1
shift
log=$(mktemp)
# Leaks in our code fail the test that made them; Criterion's runner's own
# allocations are not ours to fix.
LSAN_OPTIONS="suppressions=$(dirname "$0")/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export LSAN_OPTIONS
before_shm=$(ls /dev/shm 2>/dev/null | grep -c '^cfutures-' || true)
"$bin" "$@" 2>&1 | tee "$log"
rc=$?
# The POSIX shell has no pipefail: read Criterion's own synthesis line.
synth=$(grep 'Synthesis:' "$log" | tail -1)
rm -f "$log"
tested=$(echo "$synth" | sed -n 's/.*Tested: *\([0-9]*\).*/\1/p')
passing=$(echo "$synth" | sed -n 's/.*Passing: *\([0-9]*\).*/\1/p')
failing=$(echo "$synth" | sed -n 's/.*Failing: *\([0-9]*\).*/\1/p')
crashing=$(echo "$synth" | sed -n 's/.*Crashing: *\([0-9]*\).*/\1/p')
: "${tested:=0}" "${passing:=0}" "${failing:=0}" "${crashing:=0}"
failed=$((failing + crashing))
sleep 0.2 # let the last workers of the last test finish dying
after_shm=$(ls /dev/shm 2>/dev/null | grep -c '^cfutures-' || true)
if [ "$after_shm" -gt "$before_shm" ]; then
    echo "leak: $((after_shm - before_shm)) cfutures segment(s) left in /dev/shm:" >&2
    ls /dev/shm | grep '^cfutures-' >&2
    failed=$((failed + 1))
fi
strays=$(ps -eo comm= | grep -c -E '^cf-(worker|forkserv)' || true)
if [ "$strays" -gt 0 ]; then
    echo "leak: $strays cfutures process(es) still running" >&2
    ps -eo pid=,comm= | grep -E 'cf-(worker|forkserv)' >&2
    failed=$((failed + 1))
fi
if [ "$tested" -eq 0 ]; then
    echo "no test ran" >&2
    failed=$((failed + 1))
fi
echo "tests: $passing passed, $failed failed"
[ "$failed" -eq 0 ]
