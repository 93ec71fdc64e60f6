#!/usr/bin/env bash
# The side-by-side tables of docs/baselines.md, in one command (threads: 2, this machine's cores):
#   1. 6-language held-out-font synthetic test: the shipped model (Spotter + Refiner, Spotter alone) vs Tesseract;
#   2. equal training budget, en/hi/bn: mSTR Spotter vs CRNN-CTC vs softmax-head Spotter (all 1,500 steps
#      × 64 on the same data, runs/recipes/3lang + runs/baselines/*-3lang) vs Tesseract;
#   3. real English dev split (IIIT5K, case-insensitive alphanumeric): all engines.
#   bash tools/compare_tables.sh [OUT=runs/compare]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/compare}
M=.venv/bin/mstr
DEF=src/mstr/resources/models/default
S3=runs/recipes/3lang/spotter-1/bundle
C3=runs/baselines/crnn-3lang/bundle
X3=runs/baselines/softmax-3lang/bundle
$M compare --lmdb runs/data/words6_test --langs 6lang --engines mstr,mstr-spotter,tesseract --bundle $DEF \
  --threads 2 --out "$OUT/synth-6lang" > /dev/null
$M compare --lmdb runs/data/words6_test --langs en,hi,bn --engines mstr-spotter,crnn,softmax,tesseract \
  --bundle $S3 --crnn $C3 --softmax $X3 --threads 2 --out "$OUT/synth-3lang-budget" > /dev/null
$M compare --manifest configs/splits/iiit5k_train/dev.jsonl --root ../shared/data/real --langs en \
  --convention en-benchmark --engines mstr,mstr-spotter,tesseract --bundle $DEF --threads 2 \
  --out "$OUT/iiit5k-dev" > /dev/null
$M compare --manifest configs/splits/iiit5k_train/dev.jsonl --root ../shared/data/real --langs en \
  --convention en-benchmark --engines mstr-spotter,crnn,softmax --bundle $S3 --crnn $C3 --softmax $X3 \
  --threads 2 --out "$OUT/iiit5k-dev-3lang-budget" > /dev/null
for t in synth-6lang synth-3lang-budget iiit5k-dev iiit5k-dev-3lang-budget; do echo "### $t"; echo; cat "$OUT/$t/compare.md"; echo; done
