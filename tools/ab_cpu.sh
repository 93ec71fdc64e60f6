#!/usr/bin/env bash
# The synthetic-engine A/B (issue "Synthetic engine v2") at a CPU budget: the same small Spotter
# (the pretrained PP-OCRv6 *tiny* encoder at 48×192, d_model 128 — the configuration v5 is built on,
# at a third of its size) trained for the same number of steps, the same batch and the same number of
# words per language on recipe v1 (system fonts' training designs, flat backgrounds, the v1 vocabulary)
# or on recipe v2 (the font pool's training designs, photo backgrounds, the realism recipe, the
# signboard vocabulary); synthetic words only, no real data. Evaluated on the two real English dev
# splits (case-insensitive alphanumeric) and on a held-out-font synthetic test (TEST, default the
# v2 test of the model card: recipe v2 in the held-out designs of the v1 fonts, 500 words per language).
#
#   bash tools/ab_cpu.sh [STEPS=1200] [N=6000] [WORK=runs/ab-cpu] [TEST=runs/data/v2_test]
#
# N: words per language per arm (8 languages); batch 64. The arms train at once, THREADS threads each
# (default 1). ARMS (default "v1 v2"): also v1pool, recipe v1 drawn in the font pool's training designs
# (tells the fonts' part from the rest of recipe v2), and v2mild, recipe v2 with its effects at half
# strength (`--effects 0.5`: tests whether v2's distortions are too strong for a small model's budget),
# v2light, the same at a quarter strength (`--effects 0.25`), and v2plain, with no effects at all
# (`--effects 0`: v2's fonts, backgrounds, colour pairs and vocabulary alone), and v2lightv1vocab,
# v2light drawing v1's vocabulary (`--vocab v1`: tells the signboard vocabulary's part).
# An arm whose bundle exists is not trained again.
# Prints the table (tools/gpu/ablation_table.py; 'test xx': WRR on TEST per language) into WORK/table.md.
#
# The same A/B on a lent GPU machine (the A/B at convergence the issue asks for; nothing else changes):
#   M="python3 -m mstr" ARMS="v1 v2light" ACCEL=gpu BATCH=256 DATA_WORKERS=3 RENDER_WORKERS=14 EVAL=0 \
#     bash tools/ab_cpu.sh 6000 30000 runs/ab-gpu
# (carry fontpool/ and out/backgrounds; bring runs/ab-gpu/arms/*/bundle back and run the same command
# here with EVAL=1 to evaluate them: an arm whose bundle exists is not trained again).
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-1200}
N=${2:-6000}
WORK=${3:-runs/ab-cpu}
TEST=${4:-runs/data/v2_test}
ARMS=${ARMS:-v1 v2}
THREADS=${THREADS:-1}
ACCEL=${ACCEL:-cpu}; BATCH=${BATCH:-64}; DATA_WORKERS=${DATA_WORKERS:-0}; RENDER_WORKERS=${RENDER_WORKERS:-2}
EVAL=${EVAL:-1}
M=${M:-.venv/bin/mstr}  # on a machine without the venv: M="python3 -m mstr"
LANGS=en,hi,mr,bn,ta,te,ml,kn
BANK=src/mstr/resources/models/default/bank
SHARED=${SHARED:-../shared/data}
[ -d fontpool ] || make fonts
[ -d out/backgrounds ] || make backgrounds
[ "$EVAL" = 0 ] || [ -d "$SHARED/real" ] || {
  echo "needs $SHARED/real and $SHARED/real-extra (the real English dev splits); EVAL=0 trains only" >&2; exit 2; }
mkdir -p "$WORK"
if [ "$EVAL" != 0 ] && [ ! -f "$TEST/done.json" ]; then
  $M synth words --langs $LANGS --n 500 --fonts heldout --seed 1 --height 48 --recipe v2 \
    --backgrounds out/backgrounds --out "$TEST"
fi

C="--langs $LANGS --n $N --fonts train --height 48 --shard-size 1000 --val-frac 0 --no-merge --workers $RENDER_WORKERS --seed 41"
recipe() {  # the render options of an arm
  case $1 in
    v1) echo "--recipe v1" ;;                                   # system fonts' training designs
    v2) echo "--recipe v2 --backgrounds out/backgrounds --font-pool fontpool" ;;
    v1pool) echo "--recipe v1 --font-pool fontpool" ;;          # v1's rendering, the pool's fonts
    v2mild) echo "--recipe v2 --backgrounds out/backgrounds --font-pool fontpool --effects 0.5" ;;
    v2light) echo "--recipe v2 --backgrounds out/backgrounds --font-pool fontpool --effects 0.25" ;;
    v2plain) echo "--recipe v2 --backgrounds out/backgrounds --font-pool fontpool --effects 0" ;;
    v2lightv1vocab) echo "--recipe v2 --backgrounds out/backgrounds --font-pool fontpool --effects 0.25 --vocab v1" ;;
    *) echo "unknown arm $1 (v1, v2, v1pool, v2mild, v2light, v2plain, v2lightv1vocab)" >&2; exit 2 ;;
  esac
}
for a in $ARMS; do  # render and pack, skipped once the pack is complete
  opts=$(recipe "$a")
  [ -f "$WORK/p/$a/meta.json" ] && continue
  $M synth words $C $opts --out "$WORK/$a"
  $M data pack "$WORK/$a"/shards/*/shard-* --size 48x192 --out "$WORK/p/$a"
done

arm() {  # arm NAME: train on WORK/p/NAME
  [ -f "$WORK/arms/$1/bundle/spotter.safetensors" ] && return 0
  $M train spotter bank="$BANK" out="$WORK/arms/$1" name="ab-$1" data.langs=$LANGS \
    "data.sources=[{name: synth, packed: $WORK/p/$1}]" data.val_sources=null data.batch_size="$BATCH" \
    data.workers="$DATA_WORKERS" trainer.accelerator="$ACCEL" \
    model.encoder=ppocr-tiny model.encoder_init=wheel model.image_size=[48,192] model.d_model=128 \
    optim.max_steps="$STEPS" optim.warmup_steps=100 optim.lr=0.002 optim.encoder_lr_scale=0.3 \
    trainer.threads="$THREADS" trainer.log_every=50 trainer.ckpt_every=100000 trainer.progress_bar=false \
    > "$WORK/$1.log" 2>&1
}
pids=()
for a in $ARMS; do arm "$a" & pids+=($!); done
for pid in "${pids[@]}"; do wait "$pid"; done

[ "$EVAL" = 0 ] && { echo "EVAL=0: bundles in $WORK/arms/*/bundle, not evaluated"; exit 0; }
for a in $ARMS; do
  B=$WORK/arms/$a/bundle; E=$WORK/arms/$a/eval
  [ -f "$E/iiit5k-dev/report.json" ] || $M eval --bundle "$B" --manifest configs/splits/iiit5k_train/dev.jsonl \
    --root "$SHARED/real" --langs en --convention en-benchmark --out "$E/iiit5k-dev" > /dev/null
  [ -f "$E/icdar15-dev/report.json" ] || $M eval --bundle "$B" --manifest configs/splits/icdar15_train/dev.jsonl \
    --root "$SHARED/real-extra/en/icdar15_train" --langs en --convention en-benchmark --out "$E/icdar15-dev" > /dev/null
  [ -f "$E/synth-test/report.json" ] || $M eval --bundle "$B" --lmdb "$TEST" --out "$E/synth-test" > /dev/null
done
.venv/bin/python tools/gpu/ablation_table.py "$WORK/arms" | tee "$WORK/table.md"
