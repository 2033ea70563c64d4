# Shared set-up of the mpirun tests (sourced with the test's name): $cli,
# $py, $src, a scratch folder $tmp removed at exit, pass/fail counters and the
# helpers of tests/cli/lib.sh, and $mpi, the 2-rank launcher (Open MPI wants
# the allow-root variables as root, and --oversubscribe beyond the cores).
# Open MPI never frees some of its own allocations (in MPI_Init and in the
# components it loads), so LeakSanitizer is off for the ranks of a sanitizer
# build; the 1-process runs of the same tests still check saccade's leaks.
set -u
cli=${SACCADE_CLI:?run through ctest}
py=${SACCADE_PYTHON:-/usr/bin/python3}
mpirun=${SACCADE_MPIEXEC:-mpirun}
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tmp=$(mktemp -d "${SACCADE_BUILD_DIR:-/tmp}/$1.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
. "$src/tests/cli/lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
mpirun=(env "ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0" "$mpirun")
mpi=("${mpirun[@]}" --oversubscribe -np 2)
# rank_pid JOB R: the process id of rank R among the children of mpirun JOB
# (nothing while it has not started).
rank_pid() {
  local p
  for p in $(pgrep -P "$1"); do
    if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2"; then
      echo "$p"
      return
    fi
  done
}
# stop_signals_caught PID: PID catches SIGHUP, SIGINT and SIGTERM (bits 0, 1
# and 14 of its SigCgt mask), i.e. saccade has installed its handlers.
stop_signals_caught() {
  local m
  m=$(awk '/^SigCgt:/ { print $2 }' "/proc/$1/status" 2>/dev/null)
  [ -n "$m" ] && [ $((0x$m & 0x4003)) -eq $((0x4003)) ]
}
