#!/usr/bin/env bash
# Stage-1 ablation at equal budget (same data, steps, batch, seed): InfoNCE alone, + ArcFace,
# + ArcFace + subtype. Then a bank and held-out-font retrieval for each. (ArcFace at weight 1.0,
# scale 30, margin 0.2 from scratch stalled training: loss flat, val top-1 1.3 % at step 500.)
#   bash tools/stage1_ablation.sh [STEPS]      (data: runs/data/chars6, runs/data/chars6_test)
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-1500}
M=.venv/bin/mstr
declare -A LOSS=(
  [infonce]="loss.arcface=0 loss.subtype=0"
  [arcface]="loss.arcface=0.2 loss.arcface_scale=16 loss.arcface_margin=0.1 loss.subtype=0"
  [subtype]="loss.arcface=0.2 loss.arcface_scale=16 loss.arcface_margin=0.1 loss.subtype=0.2"
)
for name in infonce arcface subtype; do
  out=runs/stage1/$name
  if [ ! -f "$out/mclip.safetensors" ]; then
    $M train mclip out=$out optim.max_steps=$STEPS trainer.progress_bar=false ${LOSS[$name]}
  fi
  [ -f "$out/bank/bank.json" ] || $M bank build --mclip "$out" --langs 6lang --out "$out/bank"
  if $M eval mclip --help >/dev/null 2>&1; then
    $M eval mclip --mclip "$out" --bank "$out/bank" --data runs/data/chars6_test --langs 6lang --out "$out/eval" \
      > "$out/eval.md" || true
  fi
done
