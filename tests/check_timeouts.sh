#!/bin/sh
# Every Test() of the suite must give its own .timeout: Criterion's
# default is none, and a test without one can hang the run (the reaper's
# hang watch, tests/reaper/reaper.c, goes by each test's timeout too).
# Reads each declaration up to its closing parenthesis, however many lines
# it spans. Prints the offenders and fails if there is one.
status=0
for f in "$@"; do
    awk -v file="$f" '
        function flush() {
            if (decl != "" && decl !~ /\.timeout[ \t]*=/) {
                print file ":" line ": no .timeout in " first
                bad = 1
            }
            decl = ""
        }
        /^[ \t]*(Test|ParameterizedTest|Theory)[ \t]*\(/ {
            decl = $0; first = $0; line = NR
            depth = gsub(/\(/, "(", $0) - gsub(/\)/, ")", $0)
            if (depth <= 0) flush()
            next
        }
        decl != "" {
            decl = decl " " $0
            depth += gsub(/\(/, "(", $0) - gsub(/\)/, ")", $0)
            if (depth <= 0) flush()
        }
        END { exit bad }
    ' "$f" || status=1
done
if [ "$status" -ne 0 ]; then
    echo "check_timeouts: every Test() needs a .timeout" >&2
else
    echo "timeouts: every Test() has one"
fi
exit "$status"
