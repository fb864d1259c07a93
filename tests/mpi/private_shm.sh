#!/bin/sh
# Runs a command with Open MPI's shared-memory segments in a directory of
# its own, removed afterwards:
#   sh tests/mpi/private_shm.sh COMMAND [ARGS...]
# Open MPI's shared-memory transport (the vader BTL) keeps its backing
# files in /dev/shm ("vader_segment.<host>.<job>.<rank>") and removes them
# only when the job ends cleanly: a job whose rank is killed (the rank_dies
# test), or one stopped by a time-out, leaves them there for good. So every
# MPI job that make starts puts them in a private directory on the same
# tmpfs (btl_vader_backing_directory) and this script removes it, whatever
# the job did. MPICH ignores the variable and leaves nothing behind.
# Inside, $CF_MPI_SHM_DIR names the directory (tests/mpi/run.sh checks that
# a job that ended cleanly left it empty).
set -u
dir=$(mktemp -d /dev/shm/cf-mpi-shm.XXXXXX) || exit 1
OMPI_MCA_btl_vader_backing_directory=$dir CF_MPI_SHM_DIR=$dir "$@"
rc=$?
rm -rf "$dir"
exit "$rc"
