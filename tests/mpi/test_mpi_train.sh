#!/usr/bin/env bash
# Data-parallel training under mpirun -np 2 against one process with the same
# global batch and seed: a tiny captioner (ViT encoder: no batch norm) and a
# tiny classifier (--no-batchnorm), dropout off, and a tiny hard-attention
# captioner (REINFORCE; dropout on), 20 steps. Every step's loss
# within 1e-5 relative, the final parameters within 1e-5; a failing rank ends
# every rank with exit 1 and its message; a rank terminated (SIGTERM) ends the
# job with exit 1, one killed (SIGKILL) with a failure, both leaving only whole
# files; resume on 2 ranks continues exactly.
. "$(dirname "$0")/lib.sh" mpi_train

# same NAME A.jsonl B.jsonl A.safetensors B.safetensors: losses and parameters agree.
same() {
  pycheck "$1" '
import json, sys, struct, numpy as np
def losses(p):
    return [json.loads(l)["loss"] for l in open(p) if "\"loss\"" in l]
def tensors(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
    return {k: np.frombuffer(b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]], np.float32)
            for k, v in h.items() if k != "__metadata__"}
a, b = losses(sys.argv[1]), losses(sys.argv[2])
assert len(a) == len(b) == int(sys.argv[5]), (len(a), len(b))
for i, (x, y) in enumerate(zip(a, b)):
    assert abs(x - y) <= 1e-5 * abs(x), f"step {i + 1}: loss {x} vs {y}"
ta, tb = tensors(sys.argv[3]), tensors(sys.argv[4])
assert ta.keys() == tb.keys() and len(ta) > 3
# Left out: parameters whose exact gradient is 0, a shift shared by all the
# logits of a softmax (the full_att bias of the additive attention over positions,
# the key third of a self-attention in_proj_bias). Their computed gradient is
# rounding noise, which AdamW scales up to steps of about lr in any two builds.
for k in ta:
    if k.endswith("full_att.bias"):
        ta[k], tb[k] = ta[k][:0], tb[k][:0]
    elif k.endswith("self_attn.in_proj_bias"):
        e = len(ta[k]) // 3
        ta[k] = np.concatenate([ta[k][:e], ta[k][2 * e:]])
        tb[k] = np.concatenate([tb[k][:e], tb[k][2 * e:]])
worst = max(float(np.max(np.abs(ta[k] - tb[k]), initial=0)) for k in ta)
assert worst <= 1e-5, f"parameters differ by {worst}"
print(f"{len(a)} losses equal, parameters within {worst:.2e}")
' "$2" "$3" "$4" "$5" "$6"
}

cap=(train captioner --encoder vit --vit-dim 16 --vit-depth 1 --vit-heads 2 --vit-mlp 32
     --embed 16 --attention 16 --decoder 32 --dropout 0 --steps 20 --batch 8 --train-size 60
     --val 0 --threads 1 --quiet --seed 5)
check "captioner, 1 process" 0 "$cli" "${cap[@]}" --metrics "$tmp/c1.jsonl" -o "$tmp/c1.safetensors"
check "captioner, 2 ranks" 0 "${mpi[@]}" "$cli" "${cap[@]}" --metrics "$tmp/c2.jsonl" -o "$tmp/c2.safetensors"
same "captioner: 2 ranks = 1 process" "$tmp/c1.jsonl" "$tmp/c2.jsonl" "$tmp/c1.safetensors" "$tmp/c2.safetensors" 20
yes_ "one summary line, from rank 0" '[ "$(grep -c "trained 20 steps" "$tmp/out")" -eq 1 ]'

# Hard attention: sampled cells, expectation coins and dropout drawn per
# example (sc_trainer_example_rng), the REINFORCE baseline from the whole
# batch's mean reward: 2 ranks = 1 process, and a resume on 2 ranks continues
# exactly (the baseline is a checkpoint buffer; the draws follow the step).
hard=(train captioner --encoder vit --vit-dim 16 --vit-depth 1 --vit-heads 2 --vit-mlp 32
      --embed 16 --attention hard --attention-dim 16 --decoder 32 --hard-expect 0.5
      --hard-entropy 0.02 --dropout 0.2 --steps 20 --batch 8 --train-size 60 --val 0 --threads 1
      --quiet --seed 7)
check "hard captioner, 1 process" 0 "$cli" "${hard[@]}" --metrics "$tmp/h1.jsonl" -o "$tmp/h1.safetensors"
check "hard captioner, 2 ranks" 0 "${mpi[@]}" "$cli" "${hard[@]}" --metrics "$tmp/h2.jsonl" -o "$tmp/h2.safetensors"
same "hard captioner: 2 ranks = 1 process" "$tmp/h1.jsonl" "$tmp/h2.jsonl" "$tmp/h1.safetensors" "$tmp/h2.safetensors" 20
pycheck "hard captioner: rewards and baselines agree, cells were drawn" '
import json, sys
def rows(p):
    return [json.loads(l) for l in open(p) if "\"reward\"" in l]
a, b = rows(sys.argv[1]), rows(sys.argv[2])
assert len(a) == len(b) == 20
for x, y in zip(a, b):
    for k in ("reward", "baseline", "att_entropy"):
        assert abs(x[k] - y[k]) <= 1e-5 * abs(x[k]), (k, x, y)
assert len({round(x["reward"], 4) for x in a}) > 10   # a live, moving reward
' "$tmp/h1.jsonl" "$tmp/h2.jsonl"
check "hard captioner, other seed" 0 "$cli" "${hard[@]}" --seed 8 -o "$tmp/h8.safetensors"
yes_ "hard captioner: the seed matters" '! cmp -s "$tmp/h1.safetensors" "$tmp/h8.safetensors"'
check "hard captioner 10 steps, 2 ranks" 0 "${mpi[@]}" "$cli" "${hard[@]}" --max-steps 10 \
  --checkpoint "$tmp/hck.safetensors" --metrics "$tmp/hr.jsonl" -o "$tmp/hr.safetensors"
check "hard captioner: resume to 20, 2 ranks" 0 "${mpi[@]}" "$cli" "${hard[@]}" --resume \
  --checkpoint "$tmp/hck.safetensors" --metrics "$tmp/hr.jsonl" -o "$tmp/hr.safetensors"
same "hard captioner: resumed on 2 ranks = 1 process straight" "$tmp/h1.jsonl" "$tmp/hr.jsonl" "$tmp/h1.safetensors" "$tmp/hr.safetensors" 20

cls=(train classifier --channels 8,16 --no-batchnorm --dropout 0 --max-steps 20 --batch 30
     --threads 1 --quiet --seed 2)
check "classifier, 1 process" 0 "$cli" "${cls[@]}" --metrics "$tmp/k1.jsonl" -o "$tmp/k1.safetensors"
check "classifier, 2 ranks" 0 "${mpi[@]}" "$cli" "${cls[@]}" --metrics "$tmp/k2.jsonl" -o "$tmp/k2.safetensors"
same "classifier: 2 ranks = 1 process" "$tmp/k1.jsonl" "$tmp/k2.jsonl" "$tmp/k1.safetensors" "$tmp/k2.safetensors" 20

# Resume on 2 ranks: 10 steps, stop, 10 more = the 20 straight.
check "captioner 10 steps, 2 ranks" 0 "${mpi[@]}" "$cli" "${cap[@]}" --max-steps 10 \
  --checkpoint "$tmp/ck.safetensors" --metrics "$tmp/r.jsonl" -o "$tmp/r.safetensors"
check "resume to 20, 2 ranks" 0 "${mpi[@]}" "$cli" "${cap[@]}" --resume \
  --checkpoint "$tmp/ck.safetensors" --metrics "$tmp/r.jsonl" -o "$tmp/r.safetensors"
expect_grep "resume says where" "$tmp/err" "resuming from .* at step 10"
same "resumed on 2 ranks = straight" "$tmp/c2.jsonl" "$tmp/r.jsonl" "$tmp/c2.safetensors" "$tmp/r.safetensors" 20
# ... and on 1 process from a 2-rank checkpoint (no random numbers drawn: still exact)
check "captioner 10 steps again, 2 ranks" 0 "${mpi[@]}" "$cli" "${cap[@]}" --max-steps 10 \
  --checkpoint "$tmp/ck1.safetensors" --metrics "$tmp/r1.jsonl" -o "$tmp/r1.safetensors"
check "resume on 1 process" 0 "$cli" "${cap[@]}" --resume \
  --checkpoint "$tmp/ck1.safetensors" --metrics "$tmp/r1.jsonl" -o "$tmp/r1.safetensors"
expect_grep "other rank count noted" "$tmp/err" "written by 2 ranks, resuming on 1"
same "resumed on 1 process = straight" "$tmp/c2.jsonl" "$tmp/r1.jsonl" "$tmp/c2.safetensors" "$tmp/r1.safetensors" 20

# The other two trainers run data-parallel too (batch norm: no exact check):
# the ST-CNN through sc_trainer_reduce (group clipping on summed gradients).
check "stn, 2 ranks" 0 "${mpi[@]}" "$cli" train stn --distortion rts --model stcnn --clip-groups \
  --max-steps 3 --batch 16 --eval-n 20 --threads 1 --quiet -o "$tmp/stn.safetensors"
yes_ "stn: one summary, one model" '[ "$(grep -c "3 steps" "$tmp/out")" -eq 1 ] && [ -s "$tmp/stn.safetensors" ]'
check "vqa, 2 ranks" 0 "${mpi[@]}" "$cli" train vqa --max-steps 2 --batch 8 --eval-n 0 --threads 1 \
  --quiet -o "$tmp/vqa.safetensors"
yes_ "vqa: one summary, one model" '[ "$(grep -c "after 2 steps" "$tmp/out")" -eq 1 ] && [ -s "$tmp/vqa.safetensors" ]'

# The captioner's data is read by rank 0 and broadcast (the equal losses above
# say the ranks got the same); when rank 0 cannot read it, every rank says so.
check "captioner, no data, 2 ranks" 1 "${mpi[@]}" "$cli" "${cap[@]}" --data "$tmp/nowhere" -o "$tmp/nd.safetensors"
expect_grep "rank 0's reason" "$tmp/err" "cannot load Fashion-MNIST: .*nowhere"
expect_grep "the other rank's reason" "$tmp/err" "rank 0 could not load the train split"
yes_ "no data: no model written" '[ ! -e "$tmp/nd.safetensors" ]'

# A rank that fails (rank 1 cannot read the data) stops both: exit 1, its message.
mkdir "$tmp/fail"
check "failing rank ends the job" 1 "${mpirun[@]}" --oversubscribe -np 1 "$cli" "${cls[@]}" \
  --checkpoint "$tmp/fail/ck.safetensors" -o "$tmp/fail/m.safetensors" : \
  -np 1 "$cli" "${cls[@]}" --data "$tmp/nowhere" -o "$tmp/fail/m.safetensors"
expect_grep "failing rank's reason" "$tmp/err" "cannot load Fashion-MNIST"
expect_grep "every rank stopped" "$tmp/err" "rank 1 of 2: .*stopping every rank"
yes_ "nothing written by the failed job" '[ -z "$(ls -A "$tmp/fail")" ]'

# A rank terminated mid-run. SIGTERM (also SIGINT, SIGHUP) is caught: that
# rank stops at its next step and ends the job, exit 1 and a message. SIGKILL
# cannot be caught: mpirun ends the job and exits 137 (128 + 9). Either way
# the last checkpoint is whole (resumable) and no other file is left behind
# (outputs are written to an unnamed file and linked in when complete).
# kill_rank1 SIGNAL: start the long run, send SIGNAL to rank 1 once the first
# checkpoint is written; sets rc (the job's exit code) and killed.
long=(train classifier --channels 8,16 --no-batchnorm --max-steps 100000 --batch 30 --threads 1
      --quiet --checkpoint "$tmp/kill/ck.safetensors" --checkpoint-every 2 -o "$tmp/kill/m.safetensors")
kill_rank1() {
  rm -rf "$tmp/kill" && mkdir "$tmp/kill"
  "${mpi[@]}" "$cli" "${long[@]}" >"$tmp/out" 2>"$tmp/err" &
  local job=$! p
  for _ in $(seq 300); do [ -s "$tmp/kill/ck.safetensors" ] && break; sleep 0.1; done
  sleep 0.5
  killed=0
  p=$(rank_pid "$job" 1)
  [ -n "$p" ] && kill -s "$1" "$p" && killed=1
  wait "$job"; rc=$?
}
whole_checkpoint() {
  pycheck "$1: the checkpoint is whole" '
import json, struct, sys, os
b = open(sys.argv[1], "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
end = max(v["data_offsets"][1] for k, v in h.items() if k != "__metadata__")
assert len(b) == 8 + n + end, (len(b), 8 + n + end)
assert json.loads(h["__metadata__"]["saccade.train"])["ranks"] == 2
' "$tmp/kill/ck.safetensors"
}
kill_rank1 TERM
yes_ "SIGTERM: rank 1 was signalled" '[ "$killed" -eq 1 ]'
yes_ "SIGTERM: the job ended with exit 1 ($rc)" '[ "$rc" -eq 1 ]'
expect_grep "SIGTERM: the reason" "$tmp/err" "stopped by SIGTERM"
expect_grep "SIGTERM: every rank stopped" "$tmp/err" "rank 1 of 2: .*stopping every rank"
yes_ "SIGTERM: only the checkpoint is left" '[ "$(ls -A "$tmp/kill")" = ck.safetensors ]'
whole_checkpoint SIGTERM
kill_rank1 KILL
yes_ "SIGKILL: rank 1 was killed" '[ "$killed" -eq 1 ]'
yes_ "SIGKILL: the job ended with a failure ($rc)" '[ "$rc" -ne 0 ]'
yes_ "SIGKILL: only the checkpoint is left" '[ "$(ls -A "$tmp/kill")" = ck.safetensors ]'
whole_checkpoint SIGKILL
check "the checkpoint resumes" 0 "$cli" "${long[@]}" --max-steps 3 --resume
# One process: SIGINT (Ctrl-C) stops training the same way.
rm -rf "$tmp/kill" && mkdir "$tmp/kill"
"$cli" "${long[@]}" >"$tmp/out" 2>"$tmp/err" &
job=$!
for _ in $(seq 300); do [ -s "$tmp/kill/ck.safetensors" ] && break; sleep 0.1; done
kill -s INT "$job"; wait "$job"; rc=$?
yes_ "SIGINT, 1 process: exit 1 ($rc)" '[ "$rc" -eq 1 ]'
expect_grep "SIGINT, 1 process: the reason" "$tmp/err" "stopped by SIGINT"
yes_ "SIGINT, 1 process: only the checkpoint is left" '[ "$(ls -A "$tmp/kill")" = ck.safetensors ]'

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
