#!/bin/sh
# Run the coverage-guided fuzzer the way the reliability figures were made:
# niced, time-bounded, output under $OUT (default /tmp/esa-fuzz). libFuzzer
# stops at the first crash; this loop saves the crash (artifacts/), keeps the
# grown corpus (work/) and starts again until the time budget is spent.
# (libFuzzer's -fork mode does not work with atheris: every child fails.)
#   fuzz/run_fuzz.sh [SECONDS]
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUDGET=${1:-1800}
OUT=${OUT:-/tmp/esa-fuzz}
PY="$ROOT/.venv-fuzz/bin/python"
[ -x "$PY" ] || "$ROOT/fuzz/make_venv.sh"
mkdir -p "$OUT/work" "$OUT/artifacts"
"$PY" "$ROOT/fuzz/corpus.py" "$OUT/seeds"
cd "$OUT"
END=$(( $(date +%s) + BUDGET ))
ROUND=0
while [ "$(date +%s)" -lt "$END" ]; do
    ROUND=$((ROUND + 1))
    LEFT=$(( END - $(date +%s) ))
    echo "=== round $ROUND, $LEFT s left"
    nice -n 10 "$PY" "$ROOT/fuzz/fuzz_pipeline.py" "$OUT/work" "$OUT/seeds" \
        -max_total_time="$LEFT" -max_len=8192 -timeout=10 -rss_limit_mb=1024 \
        -artifact_prefix="$OUT/artifacts/" -print_final_stats=1 2>&1 | grep -v "^INFO: Instrumenting" || true
done
echo "=== done: $ROUND rounds, $(ls "$OUT/artifacts" | wc -l) artifacts"
