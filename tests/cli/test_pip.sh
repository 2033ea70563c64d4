#!/usr/bin/env bash
# The Python package as a user installs it: `pip install ./tools/python` with no
# package index (so nothing can be downloaded), into a venv over Debian's python3
# (numpy from Debian) and for /usr/bin/python3 itself (--target); then import it
# from another folder with the source tree out of view, and run README.md's
# Python snippet verbatim, installed and in the source tree.
set -u
src=${SACCADE_SOURCE_DIR:?run through ctest}
build=${SACCADE_BUILD_DIR:?run through ctest}
py=${SACCADE_PYTHON:-/usr/bin/python3}
source "$src/tests/cli/lib.sh"
tmp=$(mktemp -d "$build/pip.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
export OMP_NUM_THREADS=2 PIP_NO_INDEX=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
san=$(sanitizer_env "$build/libsaccade.so")
# what the installed package must know alone
clean=(env -u SACCADE_ASSETS -u SACCADE_BUILD_DIR -u SACCADE_LIB -u PYTHONPATH $san)
scene="$src/assets/samples/scenes/images/test_000000.png"

# README.md's Python snippet: the first python block of its "## Python" section.
awk '/^## / { sec = ($0 == "## Python") } sec && /^```python/ { on = 1; next }
     on && /^```/ { exit } on' "$src/README.md" >"$tmp/readme.py"
expect_grep "README snippet extracted" "$tmp/readme.py" '^import saccade'
# run_readme NAME PYTHON DIR...: run the snippet in a fresh folder holding the
# README's relative paths (assets/, and tools/ for the source-tree case), with
# the environment "${clean[@]}" "${extra[@]}".
extra=()
run_readme() { # name, python, links to make (assets, tools)
  local name=$1 python=$2 dir="$tmp/user-$1"; shift 2
  mkdir -p "$dir"
  for l in "$@"; do ln -s "$src/$l" "$dir/$l"; done
  (cd "$dir" && "${clean[@]}" "${extra[@]}" "$python" "$tmp/readme.py") >"$tmp/readme-$name.out" 2>&1
  local rc=$?
  if [ $rc -eq 0 ] && grep -q '^a white coat to the left of a blue shirt ' "$tmp/readme-$name.out" &&
     [ "$(head -c 4 "$dir/chelsea-overlay.png" | od -An -c | tr -d ' ')" = "211PNG" ]; then
    pass=$((pass+1))
  else
    fail=$((fail+1)); echo "FAIL README snippet ($name): exit $rc"; tail -5 "$tmp/readme-$name.out" | sed 's/^/  /'
  fi
}
# where NAME PYTHON PREFIX: the package imported from another folder (same
# environment) loads the library and the shipped models installed under PREFIX.
where() { # name, python, prefix
  mkdir -p "$tmp/elsewhere"
  (cd "$tmp/elsewhere" && "${clean[@]}" "${extra[@]}" "$2" -c '
import sys, saccade, saccade._lib as L
m = L.model_path(None, "models/scenes-captioner.safetensors")
print(saccade.__file__, L.LIB_PATH, m, sep="\n")
assert all(p.startswith(sys.argv[1]) for p in (saccade.__file__, L.LIB_PATH, m)), sys.argv[1]
' "$3") >"$tmp/where-$1.out" 2>&1 && pass=$((pass+1)) || {
    fail=$((fail+1)); echo "FAIL $1: not all from $3:"; sed 's/^/  /' "$tmp/where-$1.out" | tail -5; }
}

# 1. A venv sharing Debian's packages (numpy), as README says.
check "venv" 0 "$py" -m venv --system-site-packages "$tmp/venv"
check "pip install ./tools/python in a venv" 0 "$tmp/venv/bin/pip" install \
  --config-settings "build-dir=$build" "$src/tools/python"
where venv "$tmp/venv/bin/python" "$tmp/venv/"
run_readme venv "$tmp/venv/bin/python" assets
# pip's record of the files is complete: uninstall leaves nothing
check "pip uninstall" 0 "$tmp/venv/bin/pip" uninstall -y saccade
yes_ "uninstall removed the package" "! ls -d $tmp/venv/lib/python3*/site-packages/saccade* 2>/dev/null"

# 2. Debian's /usr/bin/python3 itself (pip refuses its system folders, PEP 668:
#    --target), numpy from Debian.
check "pip install --target for $py" 0 "$py" -m pip install --no-deps --target "$tmp/site" \
  --config-settings "build-dir=$build" "$src/tools/python"
extra=(PYTHONPATH="$tmp/site")
where system "$py" "$tmp/site/"

# 3. The source tree as it is (README: after tools/run.sh), the library of this
#    build.
extra=(SACCADE_BUILD_DIR="$build")
run_readme tree "$py" assets tools

# A package not built: a clear error, nothing installed.
check "library=installed without an installed saccade" 1 env PKG_CONFIG_PATH=/nonexistent \
  PKG_CONFIG_LIBDIR=/nonexistent "$py" -m pip install --no-deps --target "$tmp/site2" \
  --config-settings library=installed "$src/tools/python"
expect_grep "its message" "$tmp/err" "no installed libsaccade"
yes_ "nothing installed" "[ ! -e $tmp/site2/saccade ]"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
