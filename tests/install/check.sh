#!/bin/sh
# Proves that an installed cfutures can be used from outside the tree:
#  1. make install PREFIX=<tmp>/prefix; the expected files, the version
#     symlinks and the soname are there;
#  2. examples/primes.c built with `pkg-config --cflags --libs cfutures`
#     and examples/stats.c built with CMake (tests/install/CMakeLists.txt,
#     find_package(cfutures) and cfutures::cfutures), both linked against
#     the shared library of the prefix, and run;
#  3. make uninstall leaves the prefix without a file; the same round trip
#     with PREFIX=/usr/local DESTDIR=<tmp>/stage.
# Runs from any directory; needs cmake (tools/deps.sh installs it).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
fail() { echo "install check: $*" >&2; exit 1; }
sh "$root/tools/deps.sh" cmake

echo "== make install PREFIX=<tmp>/prefix"
make -s -C "$root" install PREFIX="$prefix" DESTDIR= >/dev/null
for f in include/cfutures.h include/cfutures/thread_pool.h lib/libcfutures.a \
         lib/libcfutures.so.0.1.0 lib/pkgconfig/cfutures.pc \
         lib/cmake/cfutures/cfuturesConfig.cmake \
         lib/cmake/cfutures/cfuturesConfigVersion.cmake; do
    [ -f "$prefix/$f" ] || fail "missing $f"
done
[ "$(readlink "$prefix/lib/libcfutures.so.0")" = libcfutures.so.0.1.0 ] ||
    fail "lib/libcfutures.so.0 does not point to libcfutures.so.0.1.0"
[ "$(readlink "$prefix/lib/libcfutures.so")" = libcfutures.so.0 ] ||
    fail "lib/libcfutures.so does not point to libcfutures.so.0"
readelf -d "$prefix/lib/libcfutures.so.0.1.0" | grep -q 'SONAME.*\[libcfutures\.so\.0\]' ||
    fail "soname is not libcfutures.so.0"
sh "$root/tests/check_exports.sh" "$prefix/lib/libcfutures.so" "$prefix/include"

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export LD_LIBRARY_PATH="$prefix/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

echo "== examples/primes.c with pkg-config --cflags --libs cfutures"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror -o "$tmp/primes" "$root/examples/primes.c" \
    $(pkg-config --cflags --libs cfutures) -lm
readelf -d "$tmp/primes" | grep -q 'NEEDED.*\[libcfutures\.so\.0\]' ||
    fail "primes is not linked against libcfutures.so.0"
"$tmp/primes" >"$tmp/primes.out" 2>&1 || fail "primes failed"
tail -n 3 "$tmp/primes.out"

echo "== examples/stats.c with CMake, find_package(cfutures), cfutures::cfutures"
cmake -S "$root/tests/install" -B "$tmp/cmake" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_BUILD_TYPE=Release >"$tmp/cmake.log" 2>&1 ||
    { cat "$tmp/cmake.log" >&2; fail "cmake configure failed"; }
cmake --build "$tmp/cmake" >>"$tmp/cmake.log" 2>&1 ||
    { cat "$tmp/cmake.log" >&2; fail "cmake build failed"; }
readelf -d "$tmp/cmake/stats" | grep -q 'NEEDED.*\[libcfutures\.so\.0\]' ||
    fail "stats is not linked against libcfutures.so.0"
"$tmp/cmake/stats" >"$tmp/stats.out" 2>&1 || fail "stats failed"
tail -n 3 "$tmp/stats.out"

echo "== make uninstall"
make -s -C "$root" uninstall PREFIX="$prefix" DESTDIR= >/dev/null
left=$(find "$prefix" ! -type d)
[ -z "$left" ] || fail "left after uninstall: $left"

echo "== make install/uninstall PREFIX=/usr/local DESTDIR=<tmp>/stage"
stage=$tmp/stage
make -s -C "$root" install PREFIX=/usr/local DESTDIR="$stage" >/dev/null
grep -q '^prefix=/usr/local$' "$stage/usr/local/lib/pkgconfig/cfutures.pc" ||
    fail "cfutures.pc does not name the final prefix"
n=$(find "$stage" ! -type d | wc -l)
make -s -C "$root" uninstall PREFIX=/usr/local DESTDIR="$stage" >/dev/null
left=$(find "$stage" ! -type d)
[ -z "$left" ] || fail "left after uninstall: $left"
echo "install check: ok ($n files and links installed and removed)"
