#!/bin/sh
# Runs a test binary under tests/reaper (cf-test-reaper, next to it), which
# checks that the run left nothing behind: no process below it and no
# shared-memory object it created. Only this run's leftovers count, so two
# suites (or any other cfutures program) may run side by side.
# The last line is "tests: N passed, N failed" for whoever reads the log.
# The reaper also names and kills a test that runs past its own timeout
# (its hang watch), and with CF_TEST_DEADLINE=SECONDS it ends a whole run
# that takes longer, naming the tests still running.
set -u
. "$(dirname "$0")/reaper/report.sh"
bin=$1
shift
reaper=$(dirname "$bin")/cf-test-reaper
log=$(mktemp)
# Leaks in our code fail the test that made them; Criterion's runner's own
# allocations are not ours to fix.
LSAN_OPTIONS="suppressions=$(dirname "$0")/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export LSAN_OPTIONS
"$reaper" --deadline "${CF_TEST_DEADLINE:-0}" -- "$bin" "$@" 2>&1 | tee "$log"
# The POSIX shell has no pipefail: read Criterion's synthesis line and the
# reaper's count.
synth=$(grep 'Synthesis:' "$log" | tail -1)
reaper_read "$log"
rm -f "$log"
tested=$(echo "$synth" | sed -n 's/.*Tested: *\([0-9]*\).*/\1/p')
passing=$(echo "$synth" | sed -n 's/.*Passing: *\([0-9]*\).*/\1/p')
failing=$(echo "$synth" | sed -n 's/.*Failing: *\([0-9]*\).*/\1/p')
crashing=$(echo "$synth" | sed -n 's/.*Crashing: *\([0-9]*\).*/\1/p')
: "${tested:=0}" "${passing:=0}" "${failing:=0}" "${crashing:=0}"
failed=$((failing + crashing))
reaper_failures
if [ -z "$synth" ]; then
    # Criterion's runner aborts (no synthesis) when a test's timer fires
    # after the test ended, e.g. in an exit handler; the reaper named the
    # test above ("the last test to end was ...").
    echo "the runner ended without its synthesis line (see the reaper's lines above)" >&2
    failed=$((failed + 1))
elif [ "$tested" -eq 0 ]; then
    echo "no test ran" >&2
    failed=$((failed + 1))
fi
echo "tests: $passing passed, $failed failed"
[ "$failed" -eq 0 ]
