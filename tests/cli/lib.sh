# Shared helpers for the end-to-end CLI tests (sourced). Each test sets $tmp
# (a scratch folder) and pass=0 fail=0 before using them, and ends with
#   echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ]
# check NAME STATUS COMMAND...: run COMMAND (stdout in $tmp/out, stderr in
# $tmp/err) and count a pass if it exits with STATUS.
check() { # name, expected status, command...
  local name=$1 want=$2; shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"; local got=$?
  if [ "$got" -eq "$want" ]; then pass=$((pass+1)); else
    fail=$((fail+1)); echo "FAIL $name: exit $got, wanted $want"; sed 's/^/  stderr: /' "$tmp/err" | head -5
  fi
}
# expect_grep NAME FILE PATTERN: count a pass if FILE matches the ERE PATTERN.
expect_grep() { # name, file, pattern
  if grep -qE -- "$3" "$2"; then pass=$((pass+1)); else
    fail=$((fail+1)); echo "FAIL $1: '$3' not in $2:"; head -5 "$2" | sed 's/^/  /'; fi
}
# pycheck NAME CODE ARGS...: count a pass if $py -c CODE ARGS... succeeds
# (output in $tmp/py). Needs $py.
pycheck() { # name, python code (argv: the rest)
  local name=$1 code=$2; shift 2
  if "$py" -c "$code" "$@" >"$tmp/py" 2>&1; then pass=$((pass+1)); else
    fail=$((fail+1)); echo "FAIL $name:"; sed 's/^/  /' "$tmp/py" | tail -5; fi
}
# yes_ NAME CONDITION: count a pass if the shell CONDITION holds.
yes_() { # name, shell condition
  if eval "$2"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL $1: $2"; fi
}
# sanitizer_env LIB: for a sanitizer build of LIB, the environment (words for env
# or export) that lets it load into the uninstrumented python3: the ASan/UBSan
# runtimes preloaded, and no leak report (CPython's own allocations are never
# freed at exit; later options win over the caller's). A small quarantine keeps
# RSS-growth checks meaningful. Prints nothing for a normal build.
sanitizer_env() { # lib
  readelf -d "$1" 2>/dev/null | grep -q libasan || return 0
  local pre
  pre=$(gcc -print-file-name=libasan.so)
  readelf -d "$1" | grep -q libubsan && pre="$pre:$(gcc -print-file-name=libubsan.so)"
  echo "LD_PRELOAD=$pre ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0:quarantine_size_mb=4"
}
