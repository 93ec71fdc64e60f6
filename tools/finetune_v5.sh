#!/usr/bin/env bash
# The CPU fine-tuning stages (b, c) and the calibration that made the default model v5 from the GPU-trained v5 preview
# (docs/ablation.md, arm small-48), as they ran on this project's 2-core machine:
#   bash tools/finetune_v5.sh b INIT_BUNDLE [WORK=runs/v5]   # stage b (2026-12-05, session 10): 1 h 50 min
#   bash tools/finetune_v5.sh c INIT_BUNDLE [WORK=runs/v5]   # stage c (2026-12-05): 2,800 steps, 59 min, from b's bundle
#   bash tools/finetune_v5.sh d INIT_BUNDLE [WORK=runs/v5]   # stage d (2026-12-06): 2,800 more steps, 66 min, from c's bundle
#   bash tools/finetune_v5.sh e INIT_BUNDLE [WORK=runs/v5]   # stage e (2026-12-06, session 15): 2,800 more steps from d's (the shipped default)
#   bash tools/finetune_v5.sh f INIT_BUNDLE [WORK=runs/v5]   # stage f (2026-12-06): 2,800 more steps from e's; flat, not shipped
#   bash tools/finetune_v5.sh w INIT_BUNDLE [WORK=runs/v5]   # stage w (2026-12-06, session 17): e's bundle continued at 48×256, 2,400 steps, 66 min
#   bash tools/finetune_v5.sh cal BUNDLE [WORK=runs/v5]      # fit BUNDLE's confidence calibration (tools/calibrate.py)
# Stage c's length: C_STEPS (cosine schedule length, default 2800, as shipped) and C_TIME (wall-clock limit,
# default 00:01:35:00); stages d, e, f and w: D_STEPS (default 2800; w 2400) and D_TIME (default 00:01:20:00; w 00:01:35:00).
# INIT for stage b is the preview: `git archive 535a7e5 src/mstr/resources/models/v5-preview | tar -x -C /tmp`.
# Needs `make fonts` (fontpool/), `make backgrounds` (out/backgrounds) and ../shared/data (real English
# fine-tuning splits). Every render is deterministic (seeded); the bundle lands in WORK/<stage>/bundle.
set -euo pipefail
cd "$(dirname "$0")/.."
STAGE=${1:?stage b, c, d, e, f, w or cal}
INIT=${2:?the bundle to start from}
WORK=${3:-runs/v5}
M=.venv/bin/mstr
LANGS=en,hi,mr,bn,ta,te,ml,kn
S="--recipe v2 --backgrounds out/backgrounds --font-pool fontpool --fonts train --height 48 --shard-size 1000 --val-frac 0 --no-merge --workers 2"
[ -d fontpool ] || make fonts
[ -d out/backgrounds ] || make backgrounds
mkdir -p "$WORK"
# the packed input size, and where the packs go: 48×192 for every stage but w (48×256, in WORK/p256)
SIZE=48x192; P=$WORK/p; EXTRA=()
[ "$STAGE" = w ] && { SIZE=48x256; P=$WORK/p256; EXTRA=(init_image_size=[48,256]); }

render() {  # render OUT SEED N LANGS: one seeded font-pool v2 render, skipped when it is complete
  [ -f "$WORK/$1/done.json" ] || $M synth words --langs "$4" $S --n "$3" --seed "$2" --out "$WORK/$1"
}

# 5,149 real English crops (the fixed fine-tuning splits; the dev splits are never trained on), height 48
real_data() {
  [ -f "$P/real/meta.json" ] && return 0
  [ -d "$WORK/real" ] || .venv/bin/python tools/gpu/pack_real.py --out "$WORK/real" --height 48 \
    configs/splits/iiit5k_train/finetune.jsonl=../shared/data/real \
    configs/splits/icdar15_train/finetune.jsonl=../shared/data/real-extra/en/icdar15_train
  $M data pack "$WORK/real" --size $SIZE --out "$P/real"
}

stage_b_data() {  # stage b's 148,000 words (28 k for each of bn, te, ml, kn; 16 k hi, mr; 12 k en, ta)
  real_data
  render v2a 11 8000 hi,mr,bn,te,ml,kn
  render v2b 12 4000 en,ta
  render v2c 21 15000 bn,te,ml,kn
  render v2d 22 8000 en,hi,mr,ta
  [ -f "$P/synth2/meta.json" ] || $M data pack "$WORK"/v2{a,b,c,d}/shards/*/shard-* --size $SIZE --out "$P/synth2"
}
stage_c_data() {  # stage b's words and stage c's 80,000 fresh ones (14 k for each of te, ml, bn, kn; 6 k for each of en, hi, mr, ta)
  stage_b_data
  render r1 31 14000 te,ml,bn,kn
  render r2 32 6000 en,hi,mr,ta
  [ -f "$P/synth3/meta.json" ] || $M data pack "$WORK"/r{1,2}/shards/*/shard-* --size $SIZE --out "$P/synth3"
}
REAL="{name: real, packed: $P/real, weight: 0.15}"

train() {  # train STAGE SOURCES LANG_WEIGHTS MAX_STEPS WARMUP LR MAX_TIME: one fine-tune from INIT, batch 64
  $M train spotter init_bundle="$INIT" out="$WORK/$1" name=mstr-v5 data.langs=$LANGS "data.sources=[$2]" \
    "data.lang_weights={$3}" data.val_sources=null data.batch_size=64 data.workers=1 optim.max_steps="$4" \
    optim.warmup_steps="$5" optim.lr="$6" optim.encoder_lr_scale=0.3 trainer.max_time="$7" \
    trainer.log_every=25 trainer.progress_bar=false trainer.ckpt_every=500 "${EXTRA[@]}"
}

words80k() {  # words80k R1 R2 R3 SEED NAME: 80,000 fresh words (16 k each of te, ml, bn; 8 k each of hi, mr, kn;
  # 4 k each of en, ta; seeds SEED..SEED+2), packed as NAME
  render "$1" "$4" 16000 te,ml,bn
  render "$2" $(($4 + 1)) 8000 hi,mr,kn
  render "$3" $(($4 + 2)) 4000 en,ta
  [ -f "$P/$5/meta.json" ] || $M data pack "$WORK"/{"$1","$2","$3"}/shards/*/shard-* --size $SIZE --out "$P/$5"
}

more_words() {  # more_words STAGE R1 R2 R3 SEED NEW PREV: stages d, e, f and w: words80k R1 R2 R3 SEED NEW,
  # trained at 55 % beside PREV at 30 % and the real crops at 15 %, lr 4e-4, D_STEPS steps within D_TIME
  words80k "$2" "$3" "$4" "$5" "$6"
  train "$1" "{name: $6, packed: $P/$6, weight: 0.55}, {name: $7, packed: $P/$7, weight: 0.3}, $REAL" \
    "en: 0.6, hi: 0.8, mr: 0.9, ta: 0.7, bn: 1.3, te: 1.5, ml: 1.7, kn: 1.0" "${D_STEPS:-2800}" 150 0.0004 "${D_TIME:-00:01:20:00}"
}

case $STAGE in
b)
  stage_b_data
  train b "{name: synth, packed: $P/synth2}, $REAL" \
    "en: 0.7, hi: 0.8, mr: 0.8, ta: 0.8, bn: 1.2, te: 1.5, ml: 1.5, kn: 1.2" 4500 200 0.0007 00:01:50:00
  ;;
c)
  # 80,000 fresh words (14 k for each of te, ml, bn, kn; 6 k for each of en, hi, mr, ta) beside stage b's
  stage_c_data
  train c "{name: synth3, packed: $P/synth3, weight: 0.55}, {name: synth2, packed: $P/synth2, weight: 0.3}, $REAL" \
    "en: 0.6, hi: 0.8, mr: 0.8, ta: 0.8, bn: 1.2, te: 1.5, ml: 1.6, kn: 1.1" "${C_STEPS:-2800}" 150 0.0005 "${C_TIME:-00:01:35:00}"
  ;;
cal)
  # 2,400 words in the pool's training designs, a seed no stage trained on; the power goes into INIT/config.json
  CAL="--langs $LANGS --n 300 --fonts train --font-pool fontpool --seed 7 --height 48 --recipe v2 --val-frac 0"
  [ -f "$WORK/calib/done.json" ] || $M synth words $CAL --backgrounds out/backgrounds --workers 2 --out "$WORK/calib"
  $M eval --bundle "$INIT" --lmdb "$WORK/calib" --out "$WORK/calib-eval"
  .venv/bin/python tools/calibrate.py --bundle "$INIT" --predictions "$WORK/calib-eval/predictions.jsonl" --write \
    --about "mstr synth words $CAL (2,400 words in training designs, not trained on)"
  ;;
d)
  # 80,000 more fresh words, most for the weakest languages (16 k each of te, ml, bn; 8 k each of hi, mr,
  # kn; 4 k each of en, ta), beside stage c's fresh words and the real crops
  stage_c_data
  more_words d r3 r4 r5 41 synth4 synth3
  ;;
e)
  # 80,000 more fresh words in the same shares as stage d, new seeds, beside stage d's words and the real crops
  real_data
  [ -f "$P/synth4/meta.json" ] || { echo "stage e mixes in stage d's words: run stage d first" >&2; exit 2; }
  more_words e r6 r7 r8 51 synth5 synth4
  ;;
f)
  # 80,000 more fresh words in the same shares as stages d and e, new seeds, beside stage e's words and the real crops
  real_data
  [ -f "$P/synth5/meta.json" ] || { echo "stage f mixes in stage e's words: run stage e first" >&2; exit 2; }
  more_words f r9 r10 r11 61 synth6 synth5
  ;;
w)
  # stage e's bundle read at 48×256 (init_image_size: position embeddings resampled), so that long words are
  # squeezed less; stage f's words and stage e's (re-rendered when gone, the same seeds) packed at 48×256
  real_data
  words80k r6 r7 r8 51 synth5
  D_STEPS=${D_STEPS:-2400} D_TIME=${D_TIME:-00:01:35:00} more_words w r9 r10 r11 61 synth6 synth5
  ;;
*) echo "unknown stage $STAGE: use b, c, d, e, f, w or cal" >&2; exit 2 ;;
esac
