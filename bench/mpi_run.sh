#!/bin/sh
# The MPI rows of the bench (make bench-mpi; make bench runs it when an MPI
# compiler wrapper exists): the mpi4py.futures anchor, then bench/mpi_bench.c,
# both as jobs of 3 ranks. Prints the rows and writes them to
# bench/RESULTS-mpi.md. Never fails on time.
#   sh bench/mpi_run.sh MPIEXEC BENCH_DIR
set -u
mpiexec=$1 dir=$2
ranks=${MPI_RANKS:-3}
out=$dir/mpi4py.txt
: >"$out"
# Debian's python3-mpi4py is built against Open MPI: its anchor always runs
# with Open MPI's launcher, whatever flavor cfutures was built with.
sh tools/deps.sh mpibench >&2 || true
# Debian's python3 (python3-mpi4py is installed for it), not another one
# earlier on PATH.
py=/usr/bin/python3
if $py -c 'import mpi4py.futures' 2>/dev/null; then
    echo "bench: mpi4py.futures anchor (bench/mpi4py_anchor.py) ..." >&2
    timeout 600 mpiexec.openmpi -n "$ranks" $py bench/mpi4py_anchor.py 20000 \
        >"$out" 2>"$dir/mpi4py.log" ||
        echo "bench: the mpi4py anchor failed, see $dir/mpi4py.log" >&2
fi
echo "bench: $mpiexec -n $ranks $dir/mpi_bench ..." >&2
BENCH_MPI4PY=$out timeout 1800 "$mpiexec" -n "$ranks" "$dir/mpi_bench" >"$dir/mpi_bench.out"
status=$?
# Node mode against the process pool: one serving rank with 2 workers.
echo "bench: $mpiexec -n 2 $dir/mpi_node ..." >&2
timeout 1800 "$mpiexec" -n 2 "$dir/mpi_node" >>"$dir/mpi_bench.out" || status=1
cat "$dir/mpi_bench.out"
{
    echo "# cfutures MPI benchmark rows"
    echo
    echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- Machine: $(nproc) CPUs, Linux $(uname -r); $ranks ranks ($(basename "$mpiexec"))"
    echo "- Command: \`make bench-mpi\`; load average (1 min) at the end: $(cut -d' ' -f1 /proc/loadavg) (other work on the machine skews every figure)"
    echo
    echo "| workload | cfutures | anchor | ratio | target | met? |"
    echo "|---|---|---|---|---|---|"
    grep '^| ' "$dir/mpi_bench.out"
    echo
    grep '^# ' "$dir/mpi_bench.out" | sed 's/^# /Raw figures: /'
} >bench/RESULTS-mpi.md
exit $status
