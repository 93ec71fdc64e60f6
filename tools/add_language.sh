#!/usr/bin/env bash
# Add a language to a trained bundle (docs/add_language.md):
#   charset → font coverage → synthetic characters → mCLIP learns the new prompts → extend the bank
#   (existing rows bit-identical) → synthetic words → joint Stage-2 fine-tuning → evaluation of all languages.
#
#   bash tools/add_language.sh LANG BASE_BUNDLE BASE_MCLIP OLD_CHARS OLD_WORDS OLD_TEST OUT
#   e.g. bash tools/add_language.sh kn runs/recipes/6lang/refiner/bundle runs/recipes/6lang/mclip \
#          runs/data/chars6 runs/data/words6 runs/data/words6_test runs/add-kn
# Budgets (environment): N_CHARS=8000 N_WORDS=20000 N_TEST=600 MCLIP_STEPS=300 SPOTTER_STEPS=1500 REFINER_STEPS=400
# Every step is skipped when its output exists: rerun the same command to resume.
set -euo pipefail
cd "$(dirname "$0")/.."
L=${1:?language code}; BASE=${2:?base bundle}; MCLIP=${3:?base mCLIP folder}; OLDC=${4:?}; OLDW=${5:?}; OLDT=${6:?}
OUT=${7:?output folder}
N_CHARS=${N_CHARS:-8000}; N_WORDS=${N_WORDS:-20000}; N_TEST=${N_TEST:-600}
MCLIP_STEPS=${MCLIP_STEPS:-300}; SPOTTER_STEPS=${SPOTTER_STEPS:-1500}; REFINER_STEPS=${REFINER_STEPS:-400}
M=.venv/bin/mstr
OLD_LANGS=$(.venv/bin/python -c "import json,sys; print(','.join(json.load(open('$BASE/config.json'))['langs']))")
ALL="$OLD_LANGS,$L"
mkdir -p "$OUT"

echo "== 1. charset and font coverage for $L"
$M synth fonts --langs "$L" | tail -n 4
echo "== 2. synthetic characters (training fonts) and the joint character set"
[ -f "$OUT/chars/done.json" ] || $M synth chars --langs "$L" --n "$N_CHARS" --out "$OUT/chars" --workers 2
mkdir -p "$OUT/chars_all/LMDB"
for l in ${OLD_LANGS//,/ }; do ln -sfn "$(realpath "$OLDC/LMDB/$l")" "$OUT/chars_all/LMDB/$l"; done
ln -sfn "$(realpath "$OUT/chars/LMDB/$L")" "$OUT/chars_all/LMDB/$L"
echo "== 3. mCLIP continues on all languages so its text tower learns the $L prompts"
[ -f "$OUT/mclip/mclip.safetensors" ] || $M train mclip init_mclip="$MCLIP" data.root="$OUT/chars_all" \
  data.langs="$ALL" out="$OUT/mclip" optim.max_steps="$MCLIP_STEPS" optim.warmup_steps=50 optim.lr=0.0005 \
  loss.arcface=0 loss.subtype=0 trainer.progress_bar=false
echo "== 4. extend the bundle's bank (existing rows stay bit-identical)"
[ -f "$OUT/bank/bank.json" ] || $M bank extend --bank "$BASE/bank" --mclip "$OUT/mclip" --langs "$L" --out "$OUT/bank"
$M bank info "$OUT/bank" | head -n 5
echo "== 5. synthetic words: training fonts, and held-out fonts for the test"
[ -f "$OUT/words/done.json" ] || $M synth words --langs "$L" --n "$N_WORDS" --val-frac 0.01 --out "$OUT/words" --workers 2
[ -f "$OUT/words_test/done.json" ] || $M synth words --langs "$L" --n "$N_TEST" --seed 1 --fonts heldout \
  --out "$OUT/words_test" --workers 2
echo "== 6. joint Stage-2 fine-tuning: the Spotter on all languages, then the Refiner"
SRC="[{name: synth, root: $OLDW, split: train, weight: 0.5}, {name: new, root: $OUT/words, split: train, weight: 0.5}]"
VAL="[{name: synth, root: $OLDW, split: val}, {name: new, root: $OUT/words, split: val}]"
[ -f "$OUT/spotter/bundle/config.json" ] || $M train spotter init_bundle="$BASE" bank="$OUT/bank" out="$OUT/spotter" \
  data.langs="$ALL" "data.sources=$SRC" "data.val_sources=$VAL" optim.max_steps="$SPOTTER_STEPS" optim.lr=0.0005 \
  optim.warmup_steps=100 trainer.progress_bar=false
[ -f "$OUT/refiner/bundle/config.json" ] || $M train refiner init_bundle="$OUT/spotter/bundle" \
  init_weights="$BASE/refiner.safetensors" out="$OUT/refiner" data.langs="$ALL" "data.sources=$SRC" \
  "data.val_sources=$VAL" optim.max_steps="$REFINER_STEPS" optim.lr=0.0005 optim.warmup_steps=50 trainer.progress_bar=false
echo "== 7. evaluation: the new language and the old ones, before (base) and after"
mkdir -p "$OUT/test/LMDB"
for l in ${OLD_LANGS//,/ }; do ln -sfn "$(realpath "$OLDT/LMDB/$l")" "$OUT/test/LMDB/$l"; done
ln -sfn "$(realpath "$OUT/words_test/LMDB/$L")" "$OUT/test/LMDB/$L"
[ -f "$OUT/eval_base/report.json" ] || $M eval --bundle "$BASE" --lmdb "$OLDT" --langs "$OLD_LANGS" --out "$OUT/eval_base" > "$OUT/eval_base.md"
[ -f "$OUT/eval_after/report.json" ] || $M eval --bundle "$OUT/refiner/bundle" --lmdb "$OUT/test" --langs "$ALL" --out "$OUT/eval_after" > "$OUT/eval_after.md"
cat "$OUT/eval_base.md" "$OUT/eval_after.md"
