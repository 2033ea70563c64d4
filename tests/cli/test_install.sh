#!/usr/bin/env bash
# cmake --install into a temporary prefix, move the prefix elsewhere, then
# build a small program against the installed headers and library through
# pkg-config, as a user would; the installed CLI, library and Python package
# find their models under the moved prefix (not in the source tree), and
# `man` shows the installed page.
set -u
src=${SACCADE_SOURCE_DIR:?run through ctest}
build=${SACCADE_BUILD_DIR:?}
tmp=$(mktemp -d "$build/install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
ok() { pass=$((pass+1)); }
bad() { fail=$((fail+1)); echo "FAIL: $*"; }

cmake --install "$build" --prefix "$tmp/first" >"$tmp/install.log" 2>&1 || { bad "cmake --install"; tail -5 "$tmp/install.log"; }
# Relocatable: nothing may depend on where it was installed.
mv "$tmp/first" "$tmp/prefix"
unset SACCADE_ASSETS
lib=$(ls -d "$tmp"/prefix/lib* | head -1)
for f in "$tmp/prefix/bin/saccade" "$tmp/prefix/include/saccade/saccade.h" "$lib/pkgconfig/saccade.pc" \
         "$tmp/prefix/share/saccade/fonts/DejaVuSans.ttf" "$tmp/prefix/share/man/man1/saccade.1"; do
  [ -e "$f" ] && ok || bad "missing installed file $f"
done
ls "$lib"/libsaccade.so* >/dev/null 2>&1 && ok || bad "no shared library installed"
[ -e "$lib/libsaccade.a" ] && ok || bad "no static library installed"
# Only public headers: internal ones stay in the source tree, and each
# installed header compiles on its own (it includes nothing uninstalled).
for h in sc_winograd.h sc_resize_cv.h sc_pyapi.h winograd.h resize_cv.h pyapi.h; do
  [ ! -e "$tmp/prefix/include/saccade/$h" ] && ok || bad "internal header $h installed"
done
for h in "$tmp"/prefix/include/saccade/*.h; do
  printf '#include <saccade/%s>\n' "$(basename "$h")" > "$tmp/one.c"
  cc -std=c11 -Wall -Wextra -Werror -fsyntax-only -I"$tmp/prefix/include" $(pkg-config --cflags-only-I fftw3f libcjson 2>/dev/null) \
    "$tmp/one.c" 2>"$tmp/one.log" && ok || { bad "installed $(basename "$h") does not compile alone"; head -3 "$tmp/one.log"; }
done

cat > "$tmp/user.c" <<'C'
#include <stdio.h>
#include <saccade/saccade.h>
int main(int argc, char **argv) {
    if (argc < 2) return 2;
    sc_image img;
    sc_image_load_params p = sc_image_load_default_params();
    if (sc_image_load(argv[1], &p, &img, NULL) != SC_OK) { fprintf(stderr, "%s\n", sc_last_error()); return 1; }
    sc_map m = {0};
    if (sc_saliency_sr_opencv(&img, &m) != SC_OK) { fprintf(stderr, "%s\n", sc_last_error()); return 1; }
    float A[4] = {1, 2, 3, 4}, C[4];
    sc_sgemm(SC_NO_TRANS, SC_NO_TRANS, 2, 2, 2, 1.0f, A, 2, A, 2, 0.0f, C, 2);
    printf("%s %dx%d map %dx%d gemm %g\n", sc_version(), img.w, img.h, m.w, m.h, C[3]);
    sc_free(m.data);
    sc_image_free(&img);
    char model[4096];
    if (sc_find_asset("models/scenes-captioner.safetensors", model, sizeof model) == SC_OK)
        printf("model %s\n", model);
    else
        printf("no model: %s\n", sc_last_error());
    /* a missing file is an error with a reason, not a crash */
    if (sc_image_load("/nonexistent.png", &p, &img, NULL) == SC_OK) return 1;
    printf("error: %s\n", sc_last_error());
    return 0;
}
C
export PKG_CONFIG_PATH="$lib/pkgconfig"
# Users' flags name saccade's headers only (stb, cJSON stay private).
cflags=$(pkg-config --cflags saccade)
set -- $cflags
[ $# -eq 1 ] && [ "$(readlink -f "${1#-I}")" = "$(readlink -f "$tmp/prefix/include")" ] && ok ||
  bad "pkg-config --cflags: $cflags"
# A sanitizer build's library needs the sanitizer runtime in the program too.
san=${SACCADE_SANITIZE:+-fsanitize=$SACCADE_SANITIZE}
cd "$tmp"  # no source tree in view
if cc -std=c11 -Wall -Wextra -Werror $san "$tmp/user.c" -o "$tmp/user" $(pkg-config --cflags --libs saccade) 2>"$tmp/cc.log"; then
  ok
  out=$(LD_LIBRARY_PATH="$lib" "$tmp/user" "$src/assets/samples/chelsea.jpg")
  echo "$out" | grep -q "451x300 map 451x300 gemm 22" && ok || bad "shared-library program printed: $out"
  echo "$out" | grep -q "error: .*nonexistent.png" && ok || bad "no error message: $out"
  echo "$out" | grep -qx "model $(readlink -f "$tmp")/prefix/share/saccade/models/scenes-captioner.safetensors" && ok ||
    bad "the installed library's model is not under the moved prefix: $out"
else
  bad "compiling against the installed library"; head -5 "$tmp/cc.log"
fi
# The static library with pkg-config --static: Libs.private is complete.
if cc -std=c11 $san "$tmp/user.c" -o "$tmp/user_static" $(pkg-config --cflags saccade) "$lib/libsaccade.a" \
     $(pkg-config --static --libs saccade | sed 's/-lsaccade//') 2>"$tmp/cc.log"; then
  "$tmp/user_static" "$src/assets/samples/chelsea.jpg" 2>&1 | grep -q "451x300 map 451x300" && ok || bad "static program"
else
  bad "linking the static library with pkg-config --static"; head -5 "$tmp/cc.log"
fi

# The installed CLI captions with the moved prefix's model: damaged there, it
# fails naming that file (so it does not use the source tree's), restored, it works.
scene="$src/assets/samples/scenes/images/test_000000.png"
model="$tmp/prefix/share/saccade/models/scenes-captioner.safetensors"
"$tmp/prefix/bin/saccade" --version | grep -q "^saccade " && ok || bad "installed CLI"
mv "$model" "$tmp/model.bak" && head -c 100 "$tmp/model.bak" >"$model"
"$tmp/prefix/bin/saccade" caption "$scene" >"$tmp/cap.out" 2>"$tmp/cap.err"
[ $? -eq 1 ] && grep -q "$model" "$tmp/cap.err" && ok || bad "damaged prefix model not the one used: $(cat "$tmp/cap.err")"
mv "$tmp/model.bak" "$model"
"$tmp/prefix/bin/saccade" caption "$scene" >"$tmp/cap.out" 2>"$tmp/cap.err"
[ "$(cut -f2 "$tmp/cap.out")" = "a white coat to the left of a blue shirt" ] && ok ||
  bad "installed CLI caption: $(cat "$tmp/cap.out" "$tmp/cap.err")"

# The man page, generated from the help: it renders, with a section per verb.
verbs=$(awk '/^verbs:/ { v = 1; next } v && /^  [a-z]/ { print $1 } v && /^$/ { v = 0 }' \
        <("$tmp/prefix/bin/saccade" --help))
[ "$(wc -w <<<"$verbs")" -ge 9 ] && ok || bad "verbs listed by --help: $verbs"
MANWIDTH=100 man -l "$tmp/prefix/share/man/man1/saccade.1" >"$tmp/man.txt" 2>"$tmp/man.err" && ok ||
  bad "man -l: $(head -3 "$tmp/man.err")"
MANPATH="$tmp/prefix/share/man" MANWIDTH=100 man saccade >"$tmp/man2.txt" 2>&1 && cmp -s "$tmp/man.txt" "$tmp/man2.txt" &&
  ok || bad "man saccade with MANPATH: $(head -3 "$tmp/man2.txt")"
grep -q "^NAME" "$tmp/man.txt" && grep -qE "saccade +- +visual +attention" "$tmp/man.txt" && ok || bad "man page NAME"
for v in $verbs; do
  grep -q "^saccade $v\$" "$tmp/man.txt" || bad "man page has no section for $v"
done
# each section holds its verb's help (its usage line, hyphens kept ASCII)
grep -q "usage: saccade caption IMAGE|DIR|-... \[--model M\]" "$tmp/man.txt" && ok || bad "caption help in man page"

# The Python package for the system python3, beside the library.
source "$src/tests/cli/lib.sh"
pydir=$(dirname "$(dirname "$(find "$tmp/prefix" -path '*/saccade/_install.py')")")
case "$pydir" in "$tmp/prefix/lib/"*) ok ;; *) bad "Python package installed in '$pydir'" ;; esac
py=${SACCADE_PYTHON:-/usr/bin/python3}
env -u SACCADE_BUILD_DIR -u SACCADE_LIB PYTHONPATH="$pydir" $(sanitizer_env "$lib/libsaccade.so") \
  OMP_NUM_THREADS=2 "$py" -c '
import sys, saccade, saccade._lib as L
print(L.LIB_PATH)
assert L.LIB_PATH.startswith(sys.argv[1]), L.LIB_PATH
with saccade.Captioner() as cap:
    print(cap.caption(saccade.load_image(sys.argv[2]), beam=3).text)
' "$tmp/prefix/" "$scene" >"$tmp/py.out" 2>&1
grep -qx "a white coat to the left of a blue shirt" "$tmp/py.out" && ok || bad "installed Python package: $(tail -3 "$tmp/py.out")"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
