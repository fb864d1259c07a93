#!/bin/sh
# Installs the Debian packages cfutures builds against, when one is missing.
# Called by the Makefile before the first compile. As root it runs
# `apt-get update` once and `apt-get install -y`; otherwise it prints the
# exact command and fails, so a build never half-works.
# `sh tools/deps.sh fuzz` (make fuzz) also wants clang and its libFuzzer
# runtime; `sh tools/deps.sh cmake` (tests/install/check.sh) cmake, for the
# out-of-tree CMake build; `sh tools/deps.sh docs` (make docs) doxygen;
# `sh tools/deps.sh mpibench` (make bench-mpi) mpi4py, the MPI bench's anchor.
set -eu
# Open MPI and MPICH side by side (mpicc.openmpi, mpicc.mpich): the MPI
# backend (libcfutures_mpi) is built and tested against both.
pkgs="gcc make pkg-config libmsgpack-dev libcriterion-dev libpng-dev libuv1-dev libglib2.0-dev
      libopenmpi-dev openmpi-bin libmpich-dev mpich"
case "${1:-}" in
"") ;;
fuzz) pkgs="$pkgs clang libclang-rt-14-dev" ;;
cmake) pkgs="$pkgs cmake" ;;
docs) pkgs="$pkgs doxygen" ;;
mpibench) pkgs="$pkgs python3-mpi4py" ;;
*) echo "usage: sh tools/deps.sh [fuzz|cmake|docs|mpibench]" >&2; exit 2 ;;
esac
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
    echo "cfutures: installing missing packages:$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    # shellcheck disable=SC2086
    apt-get install -y -qq $missing >&2
else
    echo "cfutures: missing packages:$missing" >&2
    echo "run:  sudo apt-get update && sudo apt-get install -y$missing" >&2
    exit 1
fi
