# Reading the reaper's report, for the shell scripts that run a suite under
# it (tests/run.sh, tests/mpi/run.sh): sourced, POSIX sh. The reaper's last
# line is "reaper: N processes, N segments ..." (what the run left behind).

# Sets left (the reaper's last line in file $1; empty when it did not
# report), procs and segs (its counts; empty without a report).
reaper_read() {
    left=$(grep '^reaper: ' "$1" | tail -1)
    procs=$(echo "$left" | sed -n 's/^reaper: \([0-9]*\) process.*/\1/p')
    segs=$(echo "$left" | sed -n 's/.*, \([0-9]*\) segment.*/\1/p')
}

# Adds to failed what reaper_read found: one for a missing report, one for
# processes left behind, one for segments left behind.
reaper_failures() {
    if [ -z "$left" ]; then
        echo "the reaper did not report (it died?)" >&2
        failed=$((failed + 1))
    else
        [ "${procs:-0}" -gt 0 ] && failed=$((failed + 1))
        [ "${segs:-0}" -gt 0 ] && failed=$((failed + 1))
    fi
    return 0
}
