#!/usr/bin/env bash
# The caption gallery's cost and size: `saccade caption --html` against the
# same captioning without it, on Fashion scenes from `saccade data scenes`.
#   1. 400 scenes, ROUNDS interleaved rounds of plain / --html: median wall
#      times, their ratio (target <= 1.30) and bytes per image (target <= 60 KB)
#   2. N_BIG scenes (default 10000) with --html once: time, bytes per image,
#      and the gallery opened in headless Chromium: the page's own load time
#      (navigation to load event, target < 2000 ms), the wall time of the
#      whole browser process, console errors, and a search over every image.
# usage: tools/bench/gallery.sh [ROUNDS=3] [N_BIG=10000]
#   SACCADE_CLI=PATH   the saccade program (default build/run/saccade)
#   SACCADE_BENCH_DIR=DIR  keep the scenes and galleries there (default: a
#                      temporary folder, removed at the end)
#   SACCADE_GALLERY_WRITER=build/test/test_gallery_scale  write the big gallery
#                      with the library alone (the sample scenes' real captions
#                      many times over) instead of captioning N_BIG scenes: the
#                      time to write a gallery, without the captioning
set -eu
rounds=${1:-3}
nbig=${2:-10000}
here=$(cd "$(dirname "$0")/../.." && pwd)
cli=${SACCADE_CLI:-$here/build/run/saccade}
[ -x "$cli" ] || { echo "no saccade program at $cli (build it, or set SACCADE_CLI)" >&2; exit 1; }
export SACCADE_ASSETS=${SACCADE_ASSETS:-$here/assets}
browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || { echo "chromium not found (tools/deps.sh test installs it)" >&2; exit 1; }
if [ -n "${SACCADE_BENCH_DIR:-}" ]; then
  work=$SACCADE_BENCH_DIR; mkdir -p "$work"
else
  work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
fi
echo "uptime before: $(uptime)"
now() { date +%s.%N; }
median() { sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
bytes_per_image() { du -sb "$1" | awk -v n="$2" '{printf "%.1f", $1 / n / 1024}'; }

# scenes N SEED: $work/scenesN (kept between runs; complete or absent)
scenes() {
  [ -d "$work/scenes$1" ] && return
  rm -rf "$work/scenes$1.part"
  "$cli" data scenes --n "$1" --seed "$2" --split test -o "$work/scenes$1.part" >/dev/null 2>&1
  mv "$work/scenes$1.part" "$work/scenes$1"
}
scenes 400 1
[ -n "${SACCADE_GALLERY_WRITER:-}" ] || scenes "$nbig" 2

# Wall time, and CPU time (user + system: what a loaded machine distorts least).
echo "== 400 scenes, $rounds rounds (plain / --html interleaved)"
: >"$work/plain.txt"; : >"$work/html.txt"; : >"$work/plain_cpu.txt"; : >"$work/html_cpu.txt"
run() { # RESULT-PREFIX ARGS...: wall and CPU seconds into $work/PREFIX.txt and PREFIX_cpu.txt
  local pre=$1; shift
  /usr/bin/time -f '%e %U %S' -o "$work/time.txt" "$cli" caption "$@" >/dev/null
  awk '{print $1}' "$work/time.txt" >>"$work/$pre.txt"
  awk '{print $2 + $3}' "$work/time.txt" >>"$work/${pre}_cpu.txt"
}
for r in $(seq "$rounds"); do
  run plain "$work/scenes400/images"
  rm -rf "$work/gal400"
  run html --html "$work/gal400" "$work/scenes400/images"
  printf 'round %d: plain %.2f s (CPU %.2f s), --html %.2f s (CPU %.2f s)\n' "$r" \
    "$(tail -1 "$work/plain.txt")" "$(tail -1 "$work/plain_cpu.txt")" \
    "$(tail -1 "$work/html.txt")" "$(tail -1 "$work/html_cpu.txt")"
done
verdict() { if [ "$(echo "$1" | bc -l)" = 1 ]; then echo ok; else echo MISSED; fi; }
mp=$(median <"$work/plain.txt"); mh=$(median <"$work/html.txt")
cp_=$(median <"$work/plain_cpu.txt"); ch=$(median <"$work/html_cpu.txt")
ratio=$(echo "$mh / $mp" | bc -l); cratio=$(echo "$ch / $cp_" | bc -l)
kb=$(bytes_per_image "$work/gal400" 400)
printf 'median wall: plain %.2f s, --html %.2f s, ratio %.2f (target <= 1.30: %s)\n' "$mp" "$mh" \
  "$ratio" "$(verdict "$ratio <= 1.30")"
printf 'median CPU:  plain %.2f s, --html %.2f s, ratio %.2f\n' "$cp_" "$ch" "$cratio"
printf 'gallery: %s KB per image (target <= 60: %s)\n' "$kb" "$(verdict "$kb <= 60")"

echo "== $nbig scenes with --html"
rm -rf "$work/galbig"
if [ -n "${SACCADE_GALLERY_WRITER:-}" ]; then
  export SACCADE_CLI=$cli
  /usr/bin/time -f '%e %U %S' -o "$work/time.txt" "$SACCADE_GALLERY_WRITER" "$work/galbig" "$nbig"
  awk '{print $1}' "$work/time.txt" >>"$work/big.txt"
  awk '{print $2 + $3}' "$work/time.txt" >>"$work/big_cpu.txt"
  what="library writer"; item=scene-00123
else
  run big --html "$work/galbig" "$work/scenes$nbig/images"
  what="caption --html"; item=test_000123
fi
printf '%s: %.1f s (CPU %.1f s); %s KB per image; %s files\n' "$what" "$(tail -1 "$work/big.txt")" \
  "$(tail -1 "$work/big_cpu.txt")" "$(bytes_per_image "$work/galbig" "$nbig")" \
  "$(find "$work/galbig" -type f | wc -l)"
# open PAGE LABEL: the page's load time from its own clock, the browser's wall time
open_page() {
  local prof; prof=$(mktemp -d)
  local t0 t1; t0=$(now)
  timeout 120 "$browser" --headless --no-sandbox --disable-gpu --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$prof" --enable-logging=stderr --v=0 --window-size=1280,900 \
    --dump-dom "$1" >"$work/dom.html" 2>"$work/browser.log" || true
  t1=$(now)
  rm -rf "$prof"
  local ms state hits errs
  ms=$(grep -o 'data-load-ms="[0-9]*"' "$work/dom.html" | grep -o '[0-9]*' || echo '?')
  state=$(grep -o 'data-gallery="[a-z]*"' "$work/dom.html" | head -1 || echo '?')
  hits=$(grep -o '<span id="hits"[^>]*>[^<]*' "$work/dom.html" | sed 's/.*>//' || true)
  errs=$(grep -cE 'CONSOLE|Uncaught' "$work/browser.log" || true)
  printf '%-28s load event %s ms, browser process %.2f s, %s, console errors %s%s\n' "$2" "$ms" \
    "$(echo "$t1 - $t0" | bc -l)" "$state" "$errs" "${hits:+, search: $hits}"
}
for r in $(seq "$rounds"); do
  open_page "file://$work/galbig/index.html" "index.html (round $r)"
done
last=$(( (nbig + 99) / 100 ))
open_page "file://$work/galbig/page-$last.html" "page-$last.html"
open_page "file://$work/galbig/items/$item.html" "items/$item.html"
open_page "file://$work/galbig/index.html?q=boot" "index.html?q=boot"
echo "uptime after: $(uptime)"
