#!/usr/bin/env bash
# Stage 2 on the 6-language synthetic set: Spotter on a frozen bank, Refiner behind it, then the
# held-out-font evaluation of the Spotter alone and of Spotter + Refiner.
#   bash tools/stage2_6lang.sh BANK [SPOTTER_STEPS] [REFINER_STEPS]
# data: runs/data/words6 (mstr synth words --langs 6lang --n 30000 --val-frac 0.01)
#       runs/data/words6_test (mstr synth words --langs 6lang --n 600 --fonts heldout --seed 1)
set -euo pipefail
cd "$(dirname "$0")/.."
BANK=${1:?usage: stage2_6lang.sh BANK [SPOTTER_STEPS] [REFINER_STEPS]}
S=${2:-4000}; R=${3:-1200}
M=.venv/bin/mstr
[ -f runs/stage2/spotter/bundle/config.json ] || \
  $M train spotter bank="$BANK" out=runs/stage2/spotter optim.max_steps=$S trainer.progress_bar=false
[ -f runs/stage2/refiner/bundle/config.json ] || \
  $M train refiner init_bundle=runs/stage2/spotter/bundle out=runs/stage2/refiner optim.max_steps=$R trainer.progress_bar=false
$M eval --bundle runs/stage2/refiner/bundle --no-refiner --lmdb runs/data/words6_test --out runs/stage2/eval_spotter
$M eval --bundle runs/stage2/refiner/bundle --lmdb runs/data/words6_test --out runs/stage2/eval_refiner
