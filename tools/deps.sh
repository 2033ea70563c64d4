#!/usr/bin/env bash
# Install the Debian packages saccade needs, only those missing.
# usage: tools/deps.sh build|python|test
# build:  compiler, CMake and the libraries (what tools/run.sh needs; the OpenMP build of
#         OpenBLAS is for the training recipes, SACCADE_OPENBLAS in README)
# python: build + python3, numpy, pip and venv (pip install ./tools/python)
# test:   python + the oracles (PyTorch, OpenCV, scikit-image data, matplotlib),
#         Fashion-MNIST, clang for the fuzzers, chromium, man (the man page test)
set -euo pipefail
kind=${1:-build}
pkgs=(build-essential cmake pkg-config libstb-dev libopenblas-dev libopenblas0-openmp libfftw3-dev
      libcmocka-dev
      libcjson-dev zlib1g-dev)
case $kind in
  build) ;;
  python|test) pkgs+=(python3 python3-numpy python3-pip python3-venv) ;;
  *) echo "usage: tools/deps.sh build|python|test" >&2; exit 2 ;;
esac
if [ "$kind" = test ]; then
  pkgs+=(python3-torch python3-torchvision python3-opencv python3-pil python3-skimage
         python3-matplotlib dataset-fashion-mnist clang libclang-rt-14-dev chromium man-db)
  pkgs+=(python3-regex) # the GPT-2 tokenizer twin (tools/ref/ref_vit_gpt2.py)
fi
missing=()
for p in "${pkgs[@]}"; do
  st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$st" = installed ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "saccade: installing missing packages: ${missing[*]}" >&2
SUDO=
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "saccade: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >&2
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
