#!/bin/sh
# Checks the dynamic symbols of the shared library against the public API:
# the library is compiled with -fvisibility=hidden and the headers mark the
# public functions CF_API, so every symbol it defines must start with cf_ or
# CF_ (and not cf__, the prefix of internal functions), and every function
# declared CF_API in the headers must be exported. The suite links the
# static library, so this looks at the .so itself.
#   sh tests/check_exports.sh build/libcfutures.so [include]
set -eu
so=$1
inc=${2:-$(dirname "$0")/../include}
exported=$(nm -D --defined-only "$so" | awk 'NF >= 3 { print $3 }' | sort)
# cfutures/mpi.h belongs to libcfutures_mpi, which holds the core as well.
headers=$(ls "$inc"/cfutures.h "$inc"/cfutures/*.h)
case $(basename "$so") in
libcfutures_mpi*) ;;
*) headers=$(printf '%s\n' "$headers" | grep -v '/cfutures/mpi\.h$') ;;
esac
# shellcheck disable=SC2086
declared=$(cat $headers |
    sed -n 's/^CF_API [^(]*[ *]\(cf_[A-Za-z0-9_]*\)(.*/\1/p' | sort -u)
fail=0
bad=$(printf '%s\n' "$exported" | grep -v -E '^(cf_|CF_)' | grep . || true)
bad="$bad
$(printf '%s\n' "$exported" | grep -E '^cf__' || true)"
bad=$(printf '%s\n' "$bad" | grep . || true)
if [ -n "$bad" ]; then
    echo "exports: $so exports symbols outside the public API (objects built before -fvisibility=hidden? make clean):" >&2
    printf '%s\n' "$bad" | sed 's/^/  /' >&2
    fail=1
fi
missing=$(printf '%s\n' "$declared" | grep -v -x -F "$exported" || true)
if [ -n "$missing" ]; then
    echo "exports: declared CF_API in the headers but not exported by $so:" >&2
    printf '%s\n' "$missing" | sed 's/^/  /' >&2
    fail=1
fi
n=$(printf '%s\n' "$exported" | grep -c . || true)
if [ "$n" -eq 0 ]; then
    echo "exports: $so exports nothing" >&2
    fail=1
fi
[ "$fail" -eq 0 ] || exit 1
echo "exports: $n symbols, all public (cf_/CF_, declared CF_API)"
