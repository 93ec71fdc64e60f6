#!/usr/bin/env bash
# Stage 1 (mCLIP + bank) under the font pool (issue 18 item 4): character crops drawn from the pool's
# training designs (clean and augmented, pooled, as the best run of docs/models.md), tested on the
# pool's held-out families — Malayalam in the reformed orthography only (the traditional designs are
# 'excluded' by `make fonts`) — clean and augmented; leakage also net of the declared cross-script
# glyph twins (configs/homoglyph_twins.json). 8 languages.
#   bash tools/stage1_pool.sh [STEPS=5000] [OUT=runs/stage1-pool] [N=20000] [TEST_N=3000]
# N is training crops per language and kind (clean, augmented); TEST_N test crops per language and kind.
# Prints the two retrieval tables' per-script rows; reports in OUT/eval-{clean,augmented}/report.md.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-5000}
OUT=${2:-runs/stage1-pool}
N=${3:-20000}
TEST_N=${4:-3000}
M=.venv/bin/mstr
LANGS=en,hi,mr,bn,ta,te,ml,kn
[ -d fontpool ] || make fonts
[ -d out/backgrounds ] || make backgrounds
C="--langs $LANGS --font-pool fontpool --workers 2"
chars() {  # chars OUT ARGS…: one seeded render, skipped when complete
  local out=$1; shift
  [ -f "$out/done.json" ] || $M synth chars $C "$@" --out "$out"
}
chars "$OUT/data/clean" --n "$N" --seed 0 --no-augment --val-frac 0.01 --shard-size 5000
chars "$OUT/data/aug" --n "$N" --seed 1 --val-frac 0.01 --shard-size 5000
chars "$OUT/data/test-clean" --n "$TEST_N" --seed 2 --fonts heldout --no-augment --shard-size 1500
chars "$OUT/data/test-aug" --n "$TEST_N" --seed 3 --fonts heldout --shard-size 1500
[ -f "$OUT/mclip/mclip.safetensors" ] || $M train mclip "data.root=[$OUT/data/clean, $OUT/data/aug]" \
  data.langs=$LANGS out="$OUT/mclip" optim.max_steps="$STEPS" loss.bank=1 loss.arcface=0 loss.subtype=0 \
  trainer.val_every=1000 trainer.progress_bar=false
[ -f "$OUT/bank/bank.json" ] || $M bank build --mclip "$OUT/mclip" --langs $LANGS --out "$OUT/bank"
for t in clean aug; do
  $M eval mclip --mclip "$OUT/mclip" --bank "$OUT/bank" --data "$OUT/data/test-$t" --langs $LANGS \
    --out "$OUT/eval-$t" > /dev/null
  echo "## held-out pool families, $t crops"
  sed -n '/### Per script/,/### Per language/p' "$OUT/eval-$t/report.md" | grep '^|'
done
