#!/usr/bin/env bash
# Every figure of the default model's card (src/mstr/resources/models/default/MODEL_CARD.md), in one command:
#   bash tools/measure_default.sh [BUNDLE=src/mstr/resources/models/default] [OUT=runs/card]
# 1. the real English dev splits, side by side with Tesseract, RapidOCR and EasyOCR (`mstr compare`;
#    the peers come with `make peers`, skipped with a note when missing; needs ../shared);
# 2. the held-out-font v2 synthetic tests, 500 words per language: the v1 held-out designs and the
#    font pool's held-out families (`make fonts`; skipped with a note when fontpool/ is missing);
# 3. the `make demo` sample; 4. whole photos: the rendered multi-script signs (tools/photo_signs.py).
# Readers use the default precision (bf16 on CPUs that have it; PRECISION=fp32 to change it).
# The test sets are generated once into runs/data (deterministic seeds) and reused.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-src/mstr/resources/models/default}
OUT=${2:-runs/card}
M=.venv/bin/mstr
export MSTR_PRECISION=${PRECISION:-auto}
LANGS=en,hi,mr,bn,ta,te,ml,kn
mkdir -p "$OUT"

ENGINES=mstr,tesseract
.venv/bin/python -c "import importlib.util as u; assert all(map(u.find_spec, ('rapidocr', 'easyocr', 'easyocr_en_models')))" \
  2>/dev/null && ENGINES=mstr,tesseract,rapidocr,easyocr || echo "note: peers missing (make peers): Tesseract only" >&2
if [ -d ../shared/data/real ]; then
  $M compare --manifest configs/splits/iiit5k_train/dev.jsonl --root ../shared/data/real --langs en \
    --convention en-benchmark --engines $ENGINES --bundle "$B" --threads 2 --out "$OUT/iiit5k-dev"
  $M compare --manifest configs/splits/icdar15_train/dev.jsonl --root ../shared/data/real-extra/en/icdar15_train \
    --langs en --convention en-benchmark --engines $ENGINES --bundle "$B" --threads 2 --out "$OUT/icdar15-dev"
else
  echo "note: ../shared/data missing: real English dev sets skipped" >&2
fi

SYNTH="--langs $LANGS --n 500 --fonts heldout --seed 1 --height 48 --recipe v2 --backgrounds out/backgrounds --workers 2"
[ -d out/backgrounds ] || make backgrounds
[ -f runs/data/v2_test/done.json ] || $M synth words $SYNTH --out runs/data/v2_test
$M eval --bundle "$B" --lmdb runs/data/v2_test --out "$OUT/v2-test"
if [ -d fontpool ]; then
  [ -f runs/data/v2pool_test/done.json ] || $M synth words $SYNTH --font-pool fontpool --out runs/data/v2pool_test
  $M eval --bundle "$B" --lmdb runs/data/v2pool_test --out "$OUT/v2pool-test"
else
  echo "note: fontpool/ missing (make fonts): the pool's held-out test skipped" >&2
fi

$M eval --bundle "$B" --manifest samples/demo/manifest.jsonl --root samples/demo --out "$OUT/demo"
.venv/bin/python tools/photo_signs.py --signs 24 --bundle "$B" | tee "$OUT/photo_signs.txt"
