#!/usr/bin/env bash
# Sharded batch inference: `mpirun -np 2 saccade caption DIR --json` prints
# exactly the lines of one process, in input order, whether the ranks take
# images from a shared counter (the default) or run fixed slices; --shard 1/3 .. 3/3
# together cover every input once; a bad image on one rank is reported and
# the others still run (exit 1, as with one process); --html builds one
# gallery over both ranks; saliency and classify likewise; --shard usage
# errors; SIGTERM to one rank ends the job with exit 1 and no output.
. "$(dirname "$0")/lib.sh" mpi_batch
imgs="$tmp/imgs"
mkdir -p "$imgs/sub"
cp "$src"/assets/samples/scenes/images/*.png "$imgs/"
mv "$imgs/test_000004.png" "$imgs/sub/"
n=$(find "$imgs" -name '*.png' | wc -l)

# The counter the ranks take images from (sc_comm_counter): 20000 items
# taken in chunks by both ranks at full speed, each exactly once.
check "shared counter: every item once, both ranks took some" 0 \
  env SACCADE_TEST_COMM_RANKS=1 "${mpi[@]}" "${SACCADE_BUILD_DIR:?}/test_comm"

check "caption, 1 process" 0 "$cli" caption "$imgs" --json --threads 1
cp "$tmp/out" "$tmp/one.jsonl"
check "caption, 2 ranks" 0 "${mpi[@]}" "$cli" caption "$imgs" --json --threads 1
yes_ "2 ranks print the 1-process lines, in order" 'cmp -s "$tmp/one.jsonl" "$tmp/out"'
yes_ "one line per input ($n)" '[ "$(wc -l <"$tmp/out")" -eq "$n" ]'
check "caption, 2 ranks, fixed slices" 0 env SACCADE_MPI_HANDOUT=static "${mpi[@]}" "$cli" caption "$imgs" --json --threads 1
yes_ "fixed slices: the same lines" 'cmp -s "$tmp/one.jsonl" "$tmp/out"'

# shards_cover LABEL WHOLE.jsonl ARGS...: `saccade ARGS --shard K/3` for K = 1..3
# print, one after another, the lines of WHOLE.jsonl (the 1-process run), and
# name every input exactly once.
shards_cover() {
  local label=$1 whole=$2 k; shift 2
  : >"$tmp/shards.jsonl"
  for k in 1 2 3; do
    check "$label: shard $k/3" 0 "$cli" "$@" --shard "$k/3"
    cat "$tmp/out" >>"$tmp/shards.jsonl"
  done
  yes_ "$label: shards 1/3..3/3 = the whole run" 'cmp -s "$whole" "$tmp/shards.jsonl"'
  yes_ "$label: every input exactly once" \
    '[ "$(grep -o "\"path\": \"[^\"]*\"" "$tmp/shards.jsonl" | sort | uniq -d | wc -l)" -eq 0 ] &&
     [ "$(grep -o "\"path\": \"[^\"]*\"" "$tmp/shards.jsonl" | sort -u | wc -l)" -eq "$n" ]'
}
shards_cover caption "$tmp/one.jsonl" caption "$imgs" --json --threads 1
check "shard 2/9 of 6 images (some shards empty)" 0 "$cli" caption "$imgs" --json --threads 1 --shard 2/9
check "shard 2/3, 1 process" 0 "$cli" caption "$imgs" --json --threads 1 --shard 2/3
cp "$tmp/out" "$tmp/shard2.jsonl"
check "shard 2/3 under mpirun" 0 "${mpi[@]}" "$cli" caption "$imgs" --json --threads 1 --shard 2/3
yes_ "the ranks split the shard" 'cmp -s "$tmp/shard2.jsonl" "$tmp/out" && [ "$(wc -l <"$tmp/out")" -eq 2 ]'
for bad in 0/3 4/3 x 1/0 1/3x; do
  check "--shard $bad is a usage error" 2 "$cli" caption "$imgs" --json --shard "$bad"
done
expect_grep "--shard hint" "$tmp/err" "--shard needs K/N"

# Bad images (one early, one late): reported, the rest captioned, exit 1.
printf 'not an image' >"$imgs/test_000003b.png"
printf 'nor this' >"$imgs/test_000000b.png" # two failures: failed.html in input order too
check "bad image, 1 process" 1 "$cli" caption "$imgs" --json --threads 1 --html "$tmp/g1"
cp "$tmp/out" "$tmp/one_bad.jsonl"
check "bad image, 2 ranks" 1 "${mpi[@]}" "$cli" caption "$imgs" --json --threads 1 --html "$tmp/g2"
expect_grep "bad image named" "$tmp/err" "test_000003b.png: not a recognised image format"
yes_ "the other images captioned as by 1 process" \
  'cmp -s <(sed "s#/g1/#/gX/#g" "$tmp/one_bad.jsonl") <(sed "s#/g2/#/gX/#g" "$tmp/out")'
yes_ "one gallery over both ranks = 1 process's" \
  'for f in index.html failed.html search.js items/test_000002.html; do cmp -s "$tmp/g1/$f" "$tmp/g2/$f" || exit 1; done'
yes_ "gallery lists every image and the failure" \
  '[ "$(grep -c "images/test_0000" "$tmp/g2/index.html")" -eq 6 ] && grep -q "test_000003b.png" "$tmp/g2/failed.html" &&
   grep -q "test_000000b.png" "$tmp/g2/failed.html"'
yes_ "every thumbnail written" '[ "$(ls "$tmp/g2/images" | wc -l)" -eq 6 ]'
rm "$imgs/test_000003b.png" "$imgs/test_000000b.png"

check "saliency, 1 process" 0 "$cli" saliency "$imgs" -o "$tmp/s1" --json --threads 1
sed "s#$tmp/s1/#OUT/#g" "$tmp/out" >"$tmp/s1.jsonl"
check "saliency, 2 ranks" 0 "${mpi[@]}" "$cli" saliency "$imgs" -o "$tmp/s2" --json --threads 1
yes_ "saliency lines equal" 'cmp -s "$tmp/s1.jsonl" <(sed "s#$tmp/s2/#OUT/#g" "$tmp/out")'
yes_ "saliency maps equal" 'diff -r "$tmp/s1" "$tmp/s2" >/dev/null'

# classify: a small random ViT (tools/convert_torchvision.py, as in
# tests/cli/test_classify.sh, which checks it against torchvision).
check "convert a small vit" 0 "$py" "$src/tools/convert_torchvision.py" --arch vit \
  --vit-shape 32,8,2,2,32,64,10 -o "$tmp/vit.safetensors"
cls=(classify "$imgs" --model "$tmp/vit.safetensors" --top-k 3 --json --threads 1)
check "classify, 1 process" 0 "$cli" "${cls[@]}"
cp "$tmp/out" "$tmp/k1.jsonl"
yes_ "classify: one line per input ($n)" '[ "$(wc -l <"$tmp/k1.jsonl")" -eq "$n" ]'
shards_cover classify "$tmp/k1.jsonl" "${cls[@]}"
check "classify, 2 ranks" 0 "${mpi[@]}" "$cli" "${cls[@]}"
yes_ "classify: 2 ranks print the 1-process lines, in order" 'cmp -s "$tmp/k1.jsonl" "$tmp/out"'
check "classify text, 1 process" 0 "$cli" "${cls[@]:0:6}" --threads 1
cp "$tmp/out" "$tmp/k1.txt"
check "classify text, 2 ranks" 0 "${mpi[@]}" "$cli" "${cls[@]:0:6}" --threads 1
yes_ "classify text: 2 ranks = 1 process" 'cmp -s "$tmp/k1.txt" "$tmp/out"'

# vqa: the questions of standard input, sharded the same way; a bad line
# (over the limit) in the second rank's half is reported, the rest answered.
img="$src/assets/samples/scenes/images/test_000002.png"
{ printf 'is there a coat?\n\nhow many shoes are there?\nwhat colour is the bag?\n'
  printf 'is there a bag?\n'; head -c 70000 /dev/zero | tr '\0' a; printf '\nwhat is left of the bag?\n'; } >"$tmp/q.txt"
mkdir -p "$tmp/v1" "$tmp/v2"
check "vqa, 1 process" 1 "$cli" vqa "$img" --json --threads 1 --attention "$tmp/v1/a.png" <"$tmp/q.txt"
cp "$tmp/out" "$tmp/v1.jsonl"
# --questions FILE, not standard input, under mpirun: Open MPI 4.1's mpirun
# can crash forwarding standard input (open-mpi/ompi issue 7483).
check "vqa, 2 ranks" 1 "${mpi[@]}" --stdin none "$cli" vqa "$img" --json --threads 1 --attention "$tmp/v2/a.png" --questions "$tmp/q.txt"
expect_grep "vqa bad line named" "$tmp/err" "$tmp/q.txt line 6: skipped, the question is over the limit"
yes_ "vqa: 2 ranks answer as 1 process" 'cmp -s "$tmp/v1.jsonl" "$tmp/out" && [ "$(wc -l <"$tmp/out")" -eq 5 ]'
yes_ "vqa: figures numbered as in one process" '[ "$(ls "$tmp/v1")" = "$(ls "$tmp/v2")" ] && [ "$(ls "$tmp/v2")" = "$(printf "a-1.png\na-2.png\na-3.png\na-4.png\na-6.png")" ]'
: >"$tmp/vs.jsonl"
for k in 1 2 3; do
  "$cli" vqa "$img" --json --threads 1 --shard "$k/3" <"$tmp/q.txt" >>"$tmp/vs.jsonl" 2>/dev/null
done
yes_ "vqa: shards 1/3..3/3 = the whole run" 'cmp -s "$tmp/v1.jsonl" "$tmp/vs.jsonl"'
check "vqa --shard with a QUESTION" 2 "$cli" vqa "$img" "is there a bag?" --shard 1/2

# SIGTERM to one rank mid-run: it stops at its next image and ends the job,
# exit 1 with the reason; nothing is printed (the ranks' lines are only
# printed, merged, at the end).
# 1000 images: rank 1 still has hundreds to go when the signal comes, even on
# a quiet machine.
mkdir "$tmp/many"
"$py" -c 'import shutil, sys
for i in range(1000): shutil.copyfile(sys.argv[1], f"{sys.argv[2]}/{i:04d}.png")' \
  "$src/assets/samples/scenes/images/test_000002.png" "$tmp/many"
"${mpi[@]}" "$cli" caption "$tmp/many" --json --threads 1 >"$tmp/out" 2>"$tmp/err" &
job=$!
killed=0
for _ in $(seq 300); do
  p=$(rank_pid "$job" 1)
  if [ -n "$p" ] && stop_signals_caught "$p"; then
    kill -s TERM "$p" && killed=1
    break
  fi
  sleep 0.1
done
wait "$job"; rc=$?
yes_ "SIGTERM: rank 1 was signalled" '[ "$killed" -eq 1 ]'
yes_ "SIGTERM: exit 1 ($rc)" '[ "$rc" -eq 1 ]'
expect_grep "SIGTERM: the reason" "$tmp/err" "stopped by SIGTERM"
yes_ "SIGTERM: no partial output" '[ ! -s "$tmp/out" ]'

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
