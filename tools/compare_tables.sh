#!/usr/bin/env bash
# The side-by-side tables of docs/baselines.md, in one command (threads: 2, this machine's cores; the torch
# engines read with 2 worker processes of 1 thread each, as Tesseract runs 2 processes):
#   1. 6-language held-out-font synthetic test: v4, the previous default (Spotter + Refiner, Spotter alone) vs Tesseract;
#   2. equal training budget: mSTR Spotter vs CRNN-CTC vs softmax-head Spotter vs Tesseract, on English
#      (500 steps × 64: runs/recipes/1lang-en + runs/baselines/*-en) and on en/hi/bn (1,500 steps:
#      runs/recipes/3lang + runs/baselines/*-3lang) and on all six languages (3,000 steps: the 6lang
#      recipe's first Spotter phase runs/recipes/6lang/spotter-1 + runs/baselines/*-6lang), same data;
#   3. real English dev splits (IIIT5K, ICDAR15; case-insensitive alphanumeric): v4 vs Tesseract
#      and the English peers RapidOCR (PP-OCRv6) and EasyOCR (english_g2) — `make peers` installs them.
# Comparisons whose baseline bundles or peer packages are missing are skipped with a note.
#   bash tools/compare_tables.sh [OUT=runs/compare]
# The mSTR engines read in float32 (the tables in docs/baselines.md were measured so); PRECISION=auto
# or bf16 changes that.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/compare}
M=.venv/bin/mstr
export MSTR_PRECISION=${PRECISION:-fp32}
DEF=src/mstr/resources/models/v4
S3=runs/recipes/3lang/spotter-1/bundle
C3=runs/baselines/crnn-3lang/bundle
X3=runs/baselines/softmax-3lang/bundle
S1=runs/recipes/1lang-en/spotter-1/bundle
C1=runs/baselines/crnn-en/bundle
X1=runs/baselines/softmax-en/bundle
S6=runs/recipes/6lang/spotter-1/bundle
C6=runs/baselines/crnn-6lang/bundle
X6=runs/baselines/softmax-6lang/bundle
have() { for b in "$@"; do [ -f "$b/config.json" ] || { echo "skipped: $b missing" >&2; return 1; }; done; }
$M compare --lmdb runs/data/words6_test --langs 6lang --engines mstr,mstr-spotter,tesseract --bundle $DEF \
  --threads 2 --workers 2 --out "$OUT/synth-6lang" > /dev/null
have $S1 $C1 $X1 && $M compare --lmdb runs/data/words6_test --langs en --engines mstr-spotter,crnn,softmax,tesseract \
  --bundle $S1 --crnn $C1 --softmax $X1 --threads 2 --workers 2 --out "$OUT/synth-en-budget" > /dev/null
have $S3 $C3 $X3 && $M compare --lmdb runs/data/words6_test --langs en,hi,bn --engines mstr-spotter,crnn,softmax,tesseract \
  --bundle $S3 --crnn $C3 --softmax $X3 --threads 2 --workers 2 --out "$OUT/synth-3lang-budget" > /dev/null
have $S6 $C6 $X6 && $M compare --lmdb runs/data/words6_test --langs 6lang --engines mstr-spotter,crnn,softmax,tesseract \
  --bundle $S6 --crnn $C6 --softmax $X6 --threads 2 --workers 2 --out "$OUT/synth-6lang-budget" > /dev/null
PEERS=rapidocr,easyocr
.venv/bin/python -c "import importlib.util as u; assert all(map(u.find_spec, ('rapidocr', 'easyocr', 'easyocr_en_models')))" \
  2>/dev/null || { echo "skipped the rapidocr and easyocr columns: make peers" >&2; PEERS=; }
$M compare --manifest configs/splits/iiit5k_train/dev.jsonl --root ../shared/data/real --langs en \
  --convention en-benchmark --engines mstr,mstr-spotter,tesseract${PEERS:+,$PEERS} --bundle $DEF --threads 2 --workers 2 \
  --out "$OUT/iiit5k-dev" > /dev/null
$M compare --manifest configs/splits/icdar15_train/dev.jsonl --root ../shared/data/real-extra/en/icdar15_train --langs en \
  --convention en-benchmark --engines mstr,mstr-spotter,tesseract${PEERS:+,$PEERS} --bundle $DEF --threads 2 --workers 2 \
  --out "$OUT/icdar15-dev" > /dev/null
have $S1 $C1 $X1 && $M compare --manifest configs/splits/iiit5k_train/dev.jsonl --root ../shared/data/real --langs en \
  --convention en-benchmark --engines mstr-spotter,crnn,softmax --bundle $S1 --crnn $C1 --softmax $X1 \
  --threads 2 --workers 2 --out "$OUT/iiit5k-dev-en-budget" > /dev/null
for t in synth-6lang iiit5k-dev icdar15-dev synth-en-budget iiit5k-dev-en-budget synth-3lang-budget synth-6lang-budget; do
  [ -f "$OUT/$t/compare.md" ] && { echo "### $t"; echo; cat "$OUT/$t/compare.md"; echo; }
done
true
