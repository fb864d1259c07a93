#!/bin/sh
# Compile-time checks of the public header, run by `make test`:
#   tests/compile/ok_*.c   must compile under -std=c11 -Wall -Wextra
#                          -Wpedantic -Werror (CF_TASK(fn); CF_ARGS ...)
#   tests/compile/fail_*.c must NOT compile, and fail for the reason their
#                          "expect:" comment names (so that a typo in the
#                          test cannot pass for the check)
#   sh tests/compile_check.sh "$CC" "<cflags>"
set -u
cc=${1:-cc}
flags=${2:-}
dir=$(dirname "$0")
root=$dir/..
fail=0
n=0
for f in "$dir"/compile/ok_*.c; do
    n=$((n + 1))
    if ! $cc -std=c11 -Wall -Wextra -Wpedantic -Werror -fsyntax-only -I"$root/include" $flags "$f" \
        >/tmp/cf-compile-$$.log 2>&1; then
        echo "compile check: $f must compile cleanly:" >&2
        cat /tmp/cf-compile-$$.log >&2
        fail=1
    fi
done
for f in "$dir"/compile/fail_*.c; do
    n=$((n + 1))
    expect=$(sed -n "s/.*expect: \([^ *]*\).*/\1/p" "$f" | head -n 1)
    if $cc -std=c11 -Wall -Wextra -Werror -fsyntax-only -I"$root/include" $flags "$f" \
        >/tmp/cf-compile-$$.log 2>&1; then
        echo "compile check: $f compiled, but must not" >&2
        fail=1
    elif [ -n "$expect" ] && ! grep -q -- "$expect" /tmp/cf-compile-$$.log; then
        echo "compile check: $f failed, but not for '$expect':" >&2
        cat /tmp/cf-compile-$$.log >&2
        fail=1
    fi
done
rm -f /tmp/cf-compile-$$.log
[ "$fail" = 0 ] && echo "compile checks: $n sources, each compiled or refused as expected"
exit "$fail"
