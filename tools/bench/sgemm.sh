#!/usr/bin/env bash
# sgemm GFLOP/s (1024^3, best of 3) with and without saccade's OpenBLAS core
# fix, for 1 and 2 threads, in one run. "generic" forces the SSE3 Prescott
# kernel that Debian's OpenBLAS 0.3.21 falls back to on CPUs it does not
# recognise, to show what the fix protects against on this machine.
#   tools/bench/sgemm.sh [path/to/saccade]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cli=${1:-}
if [ -z "$cli" ]; then
  "$root/tools/deps.sh" build
  cmake -S "$root" -B "$root/build/run" -DCMAKE_BUILD_TYPE=Release -DSACCADE_TESTS=OFF >/dev/null
  cmake --build "$root/build/run" -j"$(nproc)" --target saccade_cli >/dev/null
  cli="$root/build/run/saccade"
fi
field() { sed -n "s/.*\"$1\": *\"\{0,1\}\([^\",}]*\).*/\1/p"; }
printf '%-8s %-28s %-12s %10s\n' threads setting core GFLOP/s
for t in 1 2; do
  fixed=$(env -u OPENBLAS_CORETYPE "$cli" info --system --json --threads "$t")
  nofix=$(env -u OPENBLAS_CORETYPE SACCADE_BLAS_AUTOFIX=0 "$cli" info --system --json --threads "$t")
  generic=$(OPENBLAS_CORETYPE=Prescott "$cli" info --system --json --threads "$t")
  gf=$(echo "$fixed" | field sgemm_gflops); gn=$(echo "$nofix" | field sgemm_gflops)
  gg=$(echo "$generic" | field sgemm_gflops)
  printf '%-8s %-28s %-12s %10s\n' "$t" "saccade autofix" "$(echo "$fixed" | field blas_core)" "$gf"
  printf '%-8s %-28s %-12s %10s\n' "$t" "OpenBLAS own detection" "$(echo "$nofix" | field blas_core)" "$gn"
  printf '%-8s %-28s %-12s %10s\n' "$t" "generic fallback (Prescott)" "$(echo "$generic" | field blas_core)" "$gg"
  awk -v f="$gf" -v n="$gn" -v g="$gg" 'BEGIN{printf "         ratio autofix/own %.2f, autofix/generic %.2f\n", f/n, f/g}'
done
