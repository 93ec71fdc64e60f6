#!/usr/bin/env bash
# Evaluate the arms that tools/gpu/ablation.sh trained (their .tgz files in FROM) on this machine:
# the two real English dev splits (case-insensitive alphanumeric), the held-out-font synthetic
# test LMDBs (TESTS: a space-separated list NAME=DIR, e.g. v2=runs/data/v2_test), and the Spotter's
# speed (mstr bench, 2 threads, batch 64); then the table (tools/gpu/ablation_table.py).
#
#   FROM=/path/with/tgz WORK=runs/ablation TESTS="v2=runs/data/v2_test v1=runs/data/v1_test" bash tools/gpu/evaluate.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${FROM:?}" "${WORK:?}"; TESTS=${TESTS:-}
M=.venv/bin/mstr; PY=.venv/bin/python
SHARED=${SHARED:-../shared/data}
mkdir -p "$WORK"
for f in "$FROM"/*.tgz; do
  arm=$(basename "$f" .tgz)
  [ -d "$WORK/$arm/bundle" ] || { tar xzf "$f" -C "$WORK" && $PY tools/gpu/half.py "$WORK/$arm/bundle" --float > /dev/null; }
  B=$WORK/$arm/bundle; E=$WORK/$arm/eval
  echo "== $arm"
  [ -f "$E/iiit5k-dev/report.json" ] || $M eval --bundle "$B" --manifest configs/splits/iiit5k_train/dev.jsonl \
    --root "$SHARED/real" --langs en --convention en-benchmark --out "$E/iiit5k-dev" | tail -n 2 | head -n 1
  [ -f "$E/icdar15-dev/report.json" ] || $M eval --bundle "$B" --manifest configs/splits/icdar15_train/dev.jsonl \
    --root "$SHARED/real-extra/en/icdar15_train" --langs en --convention en-benchmark --out "$E/icdar15-dev" | tail -n 2 | head -n 1
  for t in $TESTS; do
    name=${t%%=*}; dir=${t#*=}
    [ -f "$E/synth-$name/report.json" ] || $M eval --bundle "$B" --lmdb "$dir" --out "$E/synth-$name" | tail -n 2 | head -n 1
  done
  [ -n "${NO_BENCH:-}" ] || [ -f "$E/bench.json" ] || $M bench --bundle "$B" --threads 2 --no-onnx --json "$E/bench.json" > /dev/null
done
$PY tools/gpu/ablation_table.py "$WORK"
