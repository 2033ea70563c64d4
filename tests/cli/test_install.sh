#!/usr/bin/env bash
# cmake --install into a temporary prefix, then build a small program against
# the installed headers and library through pkg-config, as a user would.
set -u
src=${SACCADE_SOURCE_DIR:?run through ctest}
build=${SACCADE_BUILD_DIR:?}
tmp=$(mktemp -d "$build/install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
ok() { pass=$((pass+1)); }
bad() { fail=$((fail+1)); echo "FAIL: $*"; }

cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" 2>&1 || { bad "cmake --install"; tail -5 "$tmp/install.log"; }
lib=$(ls -d "$tmp"/prefix/lib* | head -1)
for f in "$tmp/prefix/bin/saccade" "$tmp/prefix/include/saccade/saccade.h" "$lib/pkgconfig/saccade.pc" \
         "$tmp/prefix/share/saccade/fonts/DejaVuSans.ttf"; do
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
    /* a missing file is an error with a reason, not a crash */
    if (sc_image_load("/nonexistent.png", &p, &img, NULL) == SC_OK) return 1;
    printf("error: %s\n", sc_last_error());
    return 0;
}
C
export PKG_CONFIG_PATH="$lib/pkgconfig"
# A sanitizer build's library needs the sanitizer runtime in the program too.
san=${SACCADE_SANITIZE:+-fsanitize=$SACCADE_SANITIZE}
if cc -std=c11 -Wall -Wextra -Werror $san "$tmp/user.c" -o "$tmp/user" $(pkg-config --cflags --libs saccade) 2>"$tmp/cc.log"; then
  ok
  out=$(LD_LIBRARY_PATH="$lib" "$tmp/user" "$src/assets/samples/chelsea.jpg")
  echo "$out" | grep -q "451x300 map 451x300 gemm 22" && ok || bad "shared-library program printed: $out"
  echo "$out" | grep -q "error: .*nonexistent.png" && ok || bad "no error message: $out"
else
  bad "compiling against the installed library"; head -5 "$tmp/cc.log"
fi
# Installed CLI finds its installed font (assets moved with it).
SACCADE_ASSETS= "$tmp/prefix/bin/saccade" --version | grep -q "^saccade " && ok || bad "installed CLI"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
