#!/usr/bin/env bash
# Stage-1 ablation at equal budget (same data, steps, batch, seed): InfoNCE alone, + ArcFace,
# + ArcFace + subtype, and InfoNCE + the image → full-bank cross-entropy ("bank"). Then a bank and
# held-out-font retrieval for each. (ArcFace at weight 1.0, scale 30, margin 0.2 from scratch
# stalled training: loss flat, val top-1 1.3 % at step 500.)
#   bash tools/stage1_ablation.sh [STEPS] [DATA] [TEST] [OUT]
#   defaults: 1500 runs/data/chars6b runs/data/chars6b_test runs/stage1b
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-1500}
DATA=${2:-runs/data/chars6b}
TEST=${3:-runs/data/chars6b_test}
ROOT=${4:-runs/stage1b}
M=.venv/bin/mstr
declare -A LOSS=(
  [infonce]="loss.bank=0 loss.arcface=0 loss.subtype=0"
  [arcface]="loss.bank=0 loss.arcface=0.2 loss.arcface_scale=16 loss.arcface_margin=0.1 loss.subtype=0"
  [subtype]="loss.bank=0 loss.arcface=0.2 loss.arcface_scale=16 loss.arcface_margin=0.1 loss.subtype=0.2"
  [bank]="loss.bank=1 loss.arcface=0 loss.subtype=0"
)
for name in ${VARIANTS:-infonce arcface subtype bank}; do
  out=$ROOT/$name
  if [ ! -f "$out/mclip.safetensors" ]; then
    $M train mclip data.root=$DATA out=$out optim.max_steps=$STEPS trainer.progress_bar=false ${LOSS[$name]}
  fi
  [ -f "$out/bank/bank.json" ] || $M bank build --mclip "$out" --langs 6lang --out "$out/bank"
  $M eval mclip --mclip "$out" --bank "$out/bank" --data "$TEST" --langs 6lang --out "$out/eval" > "$out/eval.md"
done
