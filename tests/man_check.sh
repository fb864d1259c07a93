#!/bin/sh
# Checks the man pages (man/), run by `make test`: each page renders
# without a groff warning, says the header's version on its .TH line, and
# each ".so" link names a page that exists.
#   sh tests/man_check.sh
set -u
root=$(dirname "$0")/..
version=$(sed -n 's/^#define CF_VERSION "\(.*\)"$/\1/p' "$root/include/cfutures.h")
fail=0
n=0
for p in "$root"/man/*.[137]; do
    n=$((n + 1))
    first=$(head -n 1 "$p")
    case $first in
    .so\ *)
        target=$root/man/$(basename "${first#.so }")
        [ -f "$target" ] || { echo "man check: $p links to a missing page" >&2; fail=1; }
        continue ;;
    esac
    case $first in
    *"\"cfutures $version\""*) ;;
    *) echo "man check: $p: .TH does not say cfutures $version" >&2; fail=1 ;;
    esac
    if command -v groff >/dev/null 2>&1; then
        warn=$(groff -man -ww -z "$p" 2>&1)
        [ -z "$warn" ] || { echo "man check: $p: $warn" >&2; fail=1; }
    fi
done
[ "$fail" = 0 ] && echo "man check: $n pages"
exit "$fail"
