"""The mpi4py.futures anchor of the MPI bench (bench/mpi_run.sh): comm mode
(MPICommExecutor), the same workload as cfutures' unchunked row: N submits
of a trivial task, then a wait for all. Prints "submit_rate <tasks/s>" on
the root. Run as: mpiexec -n 3 python3 bench/mpi4py_anchor.py [N]"""
import sys
import time

from mpi4py import MPI
from mpi4py.futures import MPICommExecutor


def square(n):
    return n * n


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    with MPICommExecutor(MPI.COMM_WORLD, root=0) as ex:
        if ex is None:
            return
        t0 = time.monotonic()
        fs = [ex.submit(square, i) for i in range(n)]
        ok = all(f.result() == i * i for i, f in enumerate(fs))
        t = time.monotonic() - t0
        if not ok:
            sys.exit("mpi4py anchor: wrong results")
        print(f"submit_rate {n / t:.1f}")


main()
