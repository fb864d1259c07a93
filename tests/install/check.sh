#!/bin/sh
# Proves that an installed cfutures can be used from outside the tree:
#  1. make install PREFIX=<tmp>/prefix; the expected files, the version
#     symlinks and the soname are there;
#  2. examples/primes.c built with `pkg-config --cflags --libs cfutures`
#     and examples/stats.c built with CMake (tests/install/CMakeLists.txt,
#     find_package(cfutures) and cfutures::cfutures), both linked against
#     the shared library of the prefix, and run;
#  3. when make install also installed the MPI pool (an MPI compiler
#     wrapper was there): examples/mpi_primes.c built with pkg-config
#     cfutures-mpi and with CMake's cfutures::mpi, run under mpiexec -n 3;
#  4. make uninstall leaves the prefix without a file; the same round trip
#     with PREFIX=/usr/local DESTDIR=<tmp>/stage.
# Runs from any directory; needs cmake (tools/deps.sh installs it).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
fail() { echo "install check: $*" >&2; exit 1; }
sh "$root/tools/deps.sh" cmake

# The version is the header's (the Makefile takes VERSION and the soname,
# major.minor before 1.0, from the same macro).
version=$(sed -n 's/^#define CF_VERSION "\(.*\)"$/\1/p' "$root/include/cfutures.h")
sover=${version%.*}
[ -n "$version" ] || fail "no CF_VERSION in include/cfutures.h"
real=libcfutures.so.$version soname=libcfutures.so.$sover
# The soname for grep: its dots are literal.
soname_re=$(printf '%s' "$soname" | sed 's/\./\\./g')

echo "== make install PREFIX=<tmp>/prefix"
make -s -C "$root" install PREFIX="$prefix" DESTDIR= >/dev/null
for f in include/cfutures.h include/cfutures/thread_pool.h lib/libcfutures.a \
         lib/$real lib/pkgconfig/cfutures.pc \
         lib/cmake/cfutures/cfuturesConfig.cmake \
         lib/cmake/cfutures/cfuturesConfigVersion.cmake \
         share/man/man7/cfutures.7 share/man/man3/cf_submit.3 \
         share/man/man3/cf_submit_args.3 share/man/man1/cfmap.1 bin/cfmap; do
    [ -f "$prefix/$f" ] || fail "missing $f"
done
[ "$(readlink "$prefix/lib/$soname")" = "$real" ] ||
    fail "lib/$soname does not point to $real"
[ "$(readlink "$prefix/lib/libcfutures.so")" = "$soname" ] ||
    fail "lib/libcfutures.so does not point to $soname"
readelf -d "$prefix/lib/$real" | grep -q "SONAME.*\[$soname_re\]" ||
    fail "soname is not $soname"
sh "$root/tests/check_exports.sh" "$prefix/lib/libcfutures.so" "$prefix/include"

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export LD_LIBRARY_PATH="$prefix/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

echo "== examples/primes.c with pkg-config --cflags --libs cfutures"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror -o "$tmp/primes" "$root/examples/primes.c" \
    $(pkg-config --cflags --libs cfutures) -lm
readelf -d "$tmp/primes" | grep -q "NEEDED.*\[$soname_re\]" ||
    fail "primes is not linked against $soname"
"$tmp/primes" >"$tmp/primes.out" 2>&1 || fail "primes failed"
tail -n 3 "$tmp/primes.out"

echo "== cfmap installed: --help, a run, man cfmap"
"$prefix/bin/cfmap" --help | grep -q "usage: cfmap" || fail "cfmap --help"
[ "$(printf 'a\nb\n' | "$prefix/bin/cfmap" -j 2 echo x)" = "x a
x b" ] || fail "cfmap -j 2 echo x"
MANPATH="$prefix/share/man" man -P cat 1 cfmap 2>/dev/null | grep -q "xargs" ||
    fail "man cfmap does not show the page"

echo "== man cfutures, man cf_submit_args (a .so link)"
MANPATH="$prefix/share/man" man -P cat cf_submit_args 2>/dev/null | grep -q "CF_ARGS" ||
    fail "man cf_submit_args does not show the page"
MANPATH="$prefix/share/man" man -P cat 7 cfutures 2>/dev/null | grep -q "CF_WORKERS" ||
    fail "man 7 cfutures does not show the page"

echo "== examples/stats.c with CMake: the README's snippet, as written"
# The snippet is the README's first cmake block, used verbatim as the
# consumer's CMake code (with prog built from examples/stats.c).
awk '/^```cmake$/ {on = 1; next} on && /^```$/ {exit} on' "$root/README.md" >"$tmp/snippet.cmake"
grep -q "find_package(cfutures" "$tmp/snippet.cmake" || fail "no cmake snippet in README.md"
cmake -S "$root/tests/install" -B "$tmp/cmake" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCFUTURES_SNIPPET="$tmp/snippet.cmake" -DCMAKE_BUILD_TYPE=Release >"$tmp/cmake.log" 2>&1 ||
    { cat "$tmp/cmake.log" >&2; fail "cmake configure with the README's snippet failed"; }
want=${version%.*} # major.minor
# Another ABI version must be refused (before 1.0 the minor one counts).
older=${version%%.*}.$((${want#*.} - 1))
if cmake -S "$root/tests/install" -B "$tmp/cmake-older" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCFUTURES_WANT="$older" >"$tmp/cmake-older.log" 2>&1; then
    fail "find_package(cfutures $older) accepted version $version"
fi
cmake --build "$tmp/cmake" >>"$tmp/cmake.log" 2>&1 ||
    { cat "$tmp/cmake.log" >&2; fail "cmake build failed"; }
readelf -d "$tmp/cmake/prog" | grep -q "NEEDED.*\[$soname_re\]" ||
    fail "prog is not linked against $soname"
"$tmp/cmake/prog" >"$tmp/stats.out" 2>&1 || fail "prog (examples/stats.c) failed"
tail -n 3 "$tmp/stats.out"

if [ -f "$prefix/lib/libcfutures_mpi.a" ]; then
    # make install also installed the MPI pool (an MPI wrapper was there).
    echo "== examples/mpi_primes.c with pkg-config cfutures-mpi and CMake cfutures::mpi, mpiexec -n 3"
    mpisoname_re=$(printf 'libcfutures_mpi.so.%s' "$sover" | sed 's/\./\\./g')
    # shellcheck disable=SC2046
    mpicc.openmpi -std=c11 -Wall -Werror -o "$tmp/mpi_primes" "$root/examples/mpi_primes.c" \
        $(pkg-config --cflags --libs cfutures-mpi) -lm
    readelf -d "$tmp/mpi_primes" | grep -q "NEEDED.*\[$mpisoname_re\]" ||
        fail "mpi_primes is not linked against libcfutures_mpi.so.$sover"
    [ -x "$tmp/cmake/mpi_primes" ] || fail "CMake did not build mpi_primes with cfutures::mpi"
    for exe in "$tmp/mpi_primes" "$tmp/cmake/mpi_primes"; do
        OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
            OMPI_MCA_rmaps_base_oversubscribe=1 sh "$root/tests/mpi/private_shm.sh" \
            timeout 300 mpiexec.openmpi -n 3 "$exe" \
            >"$tmp/mpi.out" 2>&1 || { cat "$tmp/mpi.out" >&2; fail "$exe failed"; }
        tail -n 1 "$tmp/mpi.out"
    done
fi

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
