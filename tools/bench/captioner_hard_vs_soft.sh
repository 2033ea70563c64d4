#!/bin/sh
# Hard (stochastic, REINFORCE) against soft attention for the scenes captioner:
# the shipped recipe (assets/models/README.md) trained twice per kind (seeds 1
# and 2), then each model scored on the held-out test scenes (not part of the
# test suite; the figures go into assets/models/README.md and README.md).
#
# Usage: tools/bench/captioner_hard_vs_soft.sh [BUILD_DIR] [OUT]
#   BUILD_DIR defaults to build; OUT work folder (default a fresh temporary
#   one; models, metrics and evaluations stay there).
# Environment:
#   STEPS   optimiser steps per run (default 15000, the shipped budget: about 54
#           minutes a run on 2 quiet cores, so 4 runs take about 4 hours)
#   N       held-out test scenes scored (default 1000), beam 3
#   SEEDS   training seeds (default "1 2")
#   THREADS threads per training run (default 2)
#   PARALLEL 1 trains all runs side by side (THREADS each, e.g. THREADS=1 on 2
#           cores: three or four 1-thread runs do more steps per core-second
#           than one 2-thread run at a time); the evaluations then run one after
#           another on all cores
#   EXTRA   flags added to both kinds' training (default none)
#   HARD    flags of the hard runs (default "--attention hard --hard-expect 0.5
#           --hard-entropy 0.01": the paper's mix of draws and the expectation)
#   NICE    prefix for every run (default "nice -n 10")
#
# Per model: BLEU-4, CIDEr-D, colour / class / relation (slot) accuracies, the
# pointing game (soft: the attention's argmax at the noun's step; hard: the
# cell read, argmax decoding, and again with drawn cells, --attention-mode
# sample --sample-seed 0) and the training time (seconds in MODEL.metrics.json).
# The load during the runs is printed with each row (uptime): the times are
# only comparable on an otherwise idle machine.
#
# A model already in OUT is not trained again: copying the shipped model
# (assets/models/scenes-captioner.safetensors and .metrics.json, this recipe at
# seed 1) to OUT/soft-seed1.safetensors and OUT/soft-seed1.metrics.json saves
# one run.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
out=${2:-$(mktemp -d "${TMPDIR:-/tmp}/hardsoft.XXXXXX")}
cli="$build/saccade"
py=/usr/bin/python3
steps=${STEPS:-15000}
n=${N:-1000}
seeds=${SEEDS:-1 2}
threads=${THREADS:-2}
extra=${EXTRA:-}
hard=${HARD:---attention hard --hard-expect 0.5 --hard-entropy 0.01}
nice=${NICE:-nice -n 10}
parallel=${PARALLEL:-0}
eval_threads=$(nproc)
mkdir -p "$out"
# The shipped model's recipe (assets/models/README.md), budget $steps steps.
recipe="--train-size 60000 --ctx2out --att-coords --att-sup 1 --aux-items 1
  --channels 16,32,64,64,128 --kernels 3,3,3,3,5 --pools 1,1,1,0,0 --steps $steps --batch 32
  --threads $threads --val 200 --quiet"
export SACCADE_OPENBLAS="${SACCADE_OPENBLAS:-/usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0}"
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"

train() { # kind seed (the loops' own variables left alone)
  t_flags=""
  [ "$1" = hard ] && t_flags=$hard
  echo "training $1 seed $2 ($steps steps; load: $(uptime | sed 's/.*load average: //'))" >&2
  # shellcheck disable=SC2086
  $nice "$cli" train captioner $recipe $extra $t_flags --seed "$2" -o "$out/$1-seed$2.safetensors" \
    --metrics "$out/$1-seed$2.jsonl" >"$out/$1-seed$2.log"
}
pids=""
for kind in soft hard; do
  for seed in $seeds; do
    [ -s "$out/$kind-seed$seed.safetensors" ] && continue
    if [ "$parallel" = 1 ]; then
      train "$kind" "$seed" &
      pids="$pids $!"
    else
      train "$kind" "$seed"
    fi
  done
done
for pid in $pids; do wait "$pid"; done

for kind in soft hard; do
  for seed in $seeds; do
    m="$out/$kind-seed$seed.safetensors"
    # shellcheck disable=SC2086
    $nice "$cli" eval captioner --model "$m" --n "$n" --beam 3 --threads "$eval_threads" --json \
      >"$out/$kind-seed$seed.eval.json"
    if [ "$kind" = hard ]; then
      $nice "$cli" eval captioner --model "$m" --n "$n" --beam 3 --threads "$eval_threads" --json \
        --attention-mode sample --sample-seed 0 >"$out/$kind-seed$seed.eval-sample.json"
    fi
    uptime >"$out/$kind-seed$seed.load"
  done
done

"$py" - "$out" $seeds <<'PY'
import json, os, sys
out, seeds = sys.argv[1], sys.argv[2:]
print("| model | BLEU-4 | CIDEr-D | colour | class | relation | pointing (cell read) | "
      "pointing (drawn cells) | training s | load after |")
print("|---|---|---|---|---|---|---|---|---|---|")
for kind in ("soft", "hard"):
    for s in seeds:
        base = os.path.join(out, "%s-seed%s" % (kind, s))
        e = json.load(open(base + ".eval.json"))
        t = json.load(open(base + ".metrics.json"))["seconds"]
        smp = "-"
        if os.path.exists(base + ".eval-sample.json"):
            smp = "%.1f %%" % (100 * json.load(open(base + ".eval-sample.json"))["pointing_game"])
        load = open(base + ".load").read().split("load average:")[-1].strip()
        print("| %s, seed %s | %.3f | %.3f | %.1f %% | %.1f %% | %.1f %% | %.1f %% | %s | %.0f | %s |"
              % (kind, s, e["bleu4"], e["cider_d"], 100 * e["colour_accuracy"],
                 100 * e["class_accuracy"], 100 * e["relation_accuracy"],
                 100 * e["pointing_game"], smp, t, load))
PY
echo "models and evaluations in $out" >&2
