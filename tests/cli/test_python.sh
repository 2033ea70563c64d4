#!/usr/bin/env bash
# The Python binding's unit tests (tests/python/test_binding.py, test_imagenet.py; unittest) with
# Debian's python3 + numpy/cv2/torch/matplotlib, against this build's
# libsaccade.so. In a sanitizer build the ASan/UBSan runtimes are preloaded so
# the instrumented library can load into the uninstrumented interpreter.
set -u
src=${SACCADE_SOURCE_DIR:?run through ctest}
build=${SACCADE_BUILD_DIR:?run through ctest}
py=${SACCADE_PYTHON:-/usr/bin/python3}
lib="$build/libsaccade.so"
[ -e "$lib" ] || { echo "FAIL: $lib missing"; echo "python binding: 0 passed, 1 failed"; exit 1; }
export SACCADE_LIB="$lib" OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
source "$src/tests/cli/lib.sh"
san=$(sanitizer_env "$lib")
[ -z "$san" ] || export $san
"$py" - "$src/tests/python" <<'PY'
import sys, unittest
sys.path.insert(0, sys.argv[1])
suite = unittest.defaultTestLoader.loadTestsFromNames(["test_binding", "test_imagenet"])
r = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
bad = len(r.failures) + len(r.errors) + len(r.unexpectedSuccesses)
# a class whose setUpClass failed counts its error once; count it as failed
print("python binding: %d passed, %d failed" % (r.testsRun - bad - len(r.skipped),
                                               bad + len(r.skipped)))
sys.exit(0 if bad == 0 and not r.skipped and r.testsRun > 0 else 1)
PY
