#!/bin/sh
# The compiled reading loop (package/esa_auth/_speedups.c) under AddressSanitizer
# and UndefinedBehaviorSanitizer: it reads untrusted bytes in C, so every read
# and every reference count it takes is checked here, not assumed.
#
# Builds a copy of the library under $OUT/lib (default /tmp/esa-asan) with the
# extension compiled with -fsanitize=address,undefined, preloads the sanitizer
# runtimes into CPython, makes every Python object a malloc() block of its own
# (PYTHONMALLOC=malloc: an overread of a bytes object's buffer is then seen),
# and runs, stopping at the first report:
#   1. the tests of the reading loops, golden cases and properties;
#   2. bench/check.py: the compiled loop, the Python loop and the line-by-line
#      reader on the benchmark log (if generated) and 3,000 random documents;
#   3. fuzz/replay.py: the fuzzer's seeds and the corpus directories given
#      (grown by fuzz/run_fuzz.sh), every invariant of fuzz/harness.py.
# The fuzzer itself does not run here: with a sanitizer runtime preloaded,
# atheris takes its coverage symbols from that runtime and loses its coverage
# feedback. Grow a corpus with run_fuzz.sh, then replay it here.
#
#   fuzz/asan.sh [CORPUS_DIR ...]
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-/tmp/esa-asan}
PY="$ROOT/.venv/bin/python"
rm -rf "$OUT/lib"
mkdir -p "$OUT/lib"
cp -r "$ROOT/package/esa_auth" "$OUT/lib/"
find "$OUT/lib" \( -name '*.so' -o -name __pycache__ \) -prune -exec rm -rf {} +
INCLUDE=$("$PY" -c "import sysconfig; print(sysconfig.get_paths()['include'])")
SUFFIX=$("$PY" -c "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))")
gcc -shared -fPIC -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all \
    -Wall -Wextra -Werror -I"$INCLUDE" "$OUT/lib/esa_auth/_speedups.c" -o "$OUT/lib/esa_auth/_speedups$SUFFIX"

LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
# Leaks are not checked: CPython itself does not free everything at exit.
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
PYTHONMALLOC=malloc
PYTHONPATH="$OUT/lib"
export LD_PRELOAD ASAN_OPTIONS UBSAN_OPTIONS PYTHONMALLOC PYTHONPATH

cd "$ROOT"
"$PY" -c "import esa_auth.pipeline as p; assert p._built is not None and p._built.__file__.startswith('$OUT'), p._built"
echo "=== 1. tests"
"$PY" -m pytest -q -p no:cacheprovider tests/test_speedups.py tests/test_fast_path.py tests/test_golden.py \
    tests/test_pipeline.py tests/test_properties.py tests/test_hardening.py tests/test_flood.py -k "not each_python"
echo "=== 2. three ways"
LOGS=""
[ -f bench/data/mail-1000000-seed1.log ] && LOGS=bench/data/mail-1000000-seed1.log
# check.py puts the repository's package first on sys.path: import the sanitized copy before it.
"$PY" -c "import sys; import esa_auth; sys.path.append('bench'); import check; sys.exit(check.main(sys.argv[1:]))" \
    --random 3000 $LOGS
echo "=== 3. corpora"
"$PY" fuzz/corpus.py "$OUT/seeds" > /dev/null
"$PY" fuzz/replay.py "$OUT/seeds" "$@"
