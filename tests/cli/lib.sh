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
# word_saliency_checks KIND MODEL IMG WORD TWIN_RESULT_JSON MIN_DIFF FIRST: for an
# encoder-decoder captioner folder (BLIP, ViT-GPT2; $cli, $py set): saccade
# saliency --method attention and gradcam of WORD of the caption, their
# --json (model kind, word, the twin's caption and the word's id at its
# step, with FIRST 1 also that the step is the id's first place) and maps
# (the image's size, in [0, 1], differing by MIN_DIFF somewhere), a word not in the caption refused naming it, and --method
# gradient refused; nothing written by the errors.
word_saliency_checks() { # kind, model, image, word, twin result.json, min difference, first
  local kind=$1 model=$2 image=$3 word=$4 ref=$5 diff=$6 first=$7 m
  for m in attention gradcam; do
    check "saliency $m --word" 0 "$cli" saliency --method $m --word "$word" --model "$model" "$image" \
      -o "$tmp/sal_$m.png" --raw "$tmp/sal_$m.npy" --json
    cp "$tmp/out" "$tmp/sal_$m.json"
  done
  pycheck "saliency: $kind, the word's step, maps in [0, 1] that differ" "
import sys, json, numpy as np
a, g = (json.load(open(sys.argv[i])) for i in (1, 2))
ref = json.load(open(sys.argv[3]))
for o in (a, g):
    assert o['model_kind'] == sys.argv[7] and o['word'] == sys.argv[4], o
    assert o['caption'] == ref['text'], (o['caption'], ref['text'])
    assert o['target'] == ref['ids'][1 + o['step']], (o['step'], ref['ids'])
    assert sys.argv[9] != '1' or o['step'] == ref['ids'][1:].index(o['target'])
ma, mg = np.load(sys.argv[5]), np.load(sys.argv[6])
assert ma.shape == mg.shape == (300, 451), ma.shape
assert ma.min() == 0 and ma.max() == 1 and 0 <= mg.min() and mg.max() == 1
assert np.abs(ma - mg).max() > float(sys.argv[8])
" "$tmp/sal_attention.json" "$tmp/sal_gradcam.json" "$ref" "$word" "$tmp/sal_attention.npy" \
    "$tmp/sal_gradcam.npy" "$kind" "$diff" "$first"
  check "saliency: word not in the caption" 1 "$cli" saliency --method attention --word zebra --model "$model" "$image" -o "$tmp/nope.png"
  expect_grep "names the caption" "$tmp/err" "not in the caption"
  check "saliency: gradient is not for $kind" 1 "$cli" saliency --method gradient --model "$model" "$image" -o "$tmp/nope.png"
  expect_grep "gradient: message" "$tmp/err" "explains words with attention or gradcam"
  yes_ "saliency errors wrote nothing" "[ ! -e $tmp/nope.png ]"
}
sanitizer_env() { # lib
  readelf -d "$1" 2>/dev/null | grep -q libasan || return 0
  local pre
  pre=$(gcc -print-file-name=libasan.so)
  readelf -d "$1" | grep -q libubsan && pre="$pre:$(gcc -print-file-name=libubsan.so)"
  echo "LD_PRELOAD=$pre ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0:quarantine_size_mb=4"
}
