# Shared by the encoder-decoder benchmarks (blip.sh, blip_vqa.sh, vit_gpt2.sh;
# source it after stats.sh): the build, the work folder and photo, the rounds'
# bookkeeping and the ratio lines. Each engine prints one line of
# "key value" fields; bench_run keeps each field's values over the rounds.
#
# bench_setup TARGET...   builds the targets in build/run (Release) and sets
#                         build, py, work (SACCADE_BENCH_DIR, or a temporary
#                         folder removed at exit) and img: $work/photo.png,
#                         assets/samples/coffee.jpg resized to 640x480 by PIL
#                         and saved as PNG so that every engine decodes the
#                         same pixels (JPEG decoders differ)
# bench_fields FIELD...   the fields bench_run keeps: one associative array
#                         per field, named after it (median_ms[NAME], ...)
# bench_run NAME CMD...   runs CMD, prints its line with the load average,
#                         appends each field's value to FIELD[NAME] and puts
#                         the text after " caption " or " answers " in
#                         text[NAME]
# bench_last FIELD NAME   the last round's value of FIELD for run NAME
# bench_same LABEL A B    "LABEL: saccade "..", twin "..": same" (or DIFFERENT)
#                         for the texts of runs A (saccade) and B (the twin)
# bench_ratio LABEL A B [EXTRA]  time and peak memory of run A over run B
#                         (medians over the rounds) against the targets
#                         (<= 0.6x, <= 0.5x), EXTRA appended to the line
root=${root:?set root before sourcing rounds.sh}
py=/usr/bin/python3
build="$root/build/run"
declare -A text
bench_field_names=()

bench_setup() {
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSACCADE_TESTS=OFF >/dev/null
  cmake --build "$build" -j2 --target "$@" >/dev/null
  work=${SACCADE_BENCH_DIR:-$(mktemp -d)}
  mkdir -p "$work"
  [ -n "${SACCADE_BENCH_DIR:-}" ] || trap 'rm -rf "$work"' EXIT
  img="$work/photo.png"
  [ -f "$img" ] || "$py" -c "
from PIL import Image
Image.open('$root/assets/samples/coffee.jpg').convert('RGB').resize((640, 480), Image.BICUBIC).save('$img')"
}

bench_fields() {
  bench_field_names=("$@")
  local f
  for f in "$@"; do declare -gA "$f"; done
}

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
num() { sed -n "s/.* $1 \([-0-9.e+]*\).*/\1/p" <<<"$2"; }

bench_run() {
  local name=$1; shift
  local line f; line=$("$@")
  echo "  $name: ${line:0:220} [load $(loadavg)]"
  for f in "${bench_field_names[@]}"; do
    local -n arr=$f
    arr[$name]+=" $(num "$f" "$line")"
  done
  text[$name]=$(sed -n 's/.* \(caption\|answers\) //p' <<<"$line")
}

bench_last() {
  local -n arr=$1
  tr ' ' '\n' <<<"${arr[$2]}" | grep . | tail -1
}

bench_same() {
  local same=DIFFERENT
  [ "${text[$2]}" != "${text[$3]}" ] || same=same
  echo "$1: saccade \"${text[$2]}\", twin \"${text[$3]}\": $same"
}

bench_ratio() {
  awk -v b="$1" -v t="$(median "${median_ms[$2]}")" -v p="$(median "${median_ms[$3]}")" \
    -v rs="$(median "${maxrss_kb[$2]}")" -v rp="$(median "${maxrss_kb[$3]}")" \
    -v cs="$(median "${cpu_ms[$2]}")" -v cp="$(median "${cpu_ms[$3]}")" -v x="${4:-}" \
    'BEGIN{printf "%s time %.2fx the twin (target <= 0.6): %s (CPU time %.2fx); peak memory %.2fx (target <= 0.5): %s%s\n",
      b, t/p, t/p <= 0.6 ? "ok" : "MISSED", cs/cp, rs/rp, rs/rp <= 0.5 ? "ok" : "MISSED", x}'
}
