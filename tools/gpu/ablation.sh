#!/usr/bin/env bash
# The synthetic-engine A/B and the pretrained-encoder ablation in one run on one GPU machine
# (docs/ablation.md): render v1 and v2 words for the 8 languages at height 48 for RENDER_S seconds,
# pack them at each input size, then train every arm at once on the one GPU for TRAIN_S seconds
# (same max_steps, same batch, same data per group) and write each arm's bundle and logs to OUT_DIR.
#
#   V1_FONTS=dir BG=dir REAL=lmdb BANK=dir PPOCR=dir [POOL=dir] OUT_DIR=dir bash tools/gpu/ablation.sh
#
# V1_FONTS: training fonts of recipe v1 only (tools/gpu/subset_fonts.py), the only font folder the
# v1 render sees; POOL: the font pool of recipe v2 (make fonts; without it v2 uses V1_FONTS too);
# BG: background bank (make backgrounds); REAL: real fine-tuning crops (tools/gpu/pack_real.py);
# BANK: the bank every arm trains against; PPOCR: ppocrv6_rec_{small,tiny}.safetensors
# (tools/extract_ppocr.py); V2_OPTS: more options of the v2 render (e.g. "--effects 0.25", "--vocab v1";
# see docs/ablation.md for the CPU arms that chose them). Evaluate the bundles afterwards with tools/gpu/evaluate.sh.
set -u
: "${V1_FONTS:?}" "${BG:?}" "${REAL:?}" "${BANK:?}" "${PPOCR:?}" "${OUT_DIR:?}"
W=${WORK:-/tmp/ablation}; LANGS=${LANGS:-en,hi,mr,bn,ta,te,ml,kn}
RENDER_S=${RENDER_S:-150}; TRAIN_S=${TRAIN_S:-270}; STEPS=${STEPS:-2500}; BATCH=${BATCH:-256}
V1_WORKERS=${V1_WORKERS:-5}; V2_WORKERS=${V2_WORKERS:-11}; REAL_W=${REAL_W:-0.15}
M="python3 -m mstr"; T0=$(date +%s)
t() { echo "[$(( $(date +%s) - T0 ))s] $*"; }
mkdir -p "$W" "$OUT_DIR"

t "render v1 ($V1_WORKERS workers) and v2 ($V2_WORKERS workers) for ${RENDER_S}s"
(MSTR_FONT_DIRS=$V1_FONTS timeout -s INT "$RENDER_S" $M synth words --langs "$LANGS" --n 100000 --fonts all \
  --height 48 --shard-size 500 --val-frac 0 --no-merge --workers "$V1_WORKERS" --out "$W/v1" > "$W/v1.log" 2>&1) &
V2_FONTS=${POOL:+--font-pool $POOL}
(MSTR_FONT_DIRS=$V1_FONTS timeout -s INT "$RENDER_S" $M synth words --langs "$LANGS" --n 200000 --recipe v2 \
  --backgrounds "$BG" ${V2_FONTS:---fonts all} ${V2_OPTS:-} --height 48 --shard-size 500 --val-frac 0 --no-merge \
  --workers "$V2_WORKERS" --out "$W/v2" > "$W/v2.log" 2>&1) &
wait
tail -n 3 "$W/v1.log" "$W/v2.log"
# the A/B's v2 set: per language as many shards as v1 finished (the same number of samples)
ab=()
for lang in ${LANGS//,/ }; do
  k=$(ls -d "$W/v1/shards/$lang"/shard-* 2>/dev/null | wc -l)
  ab+=($(ls -d "$W/v2/shards/$lang"/shard-* 2>/dev/null | head -n "$k"))
done
t "pack"
$M data pack "$W"/v1/shards/*/shard-* --size 32x128 --out "$W/p/v1-32" --workers "${PACK_WORKERS:-16}" 2>&1 | tail -n 1
$M data pack "${ab[@]}" --size 32x128 --out "$W/p/v2ab-32" --workers "${PACK_WORKERS:-16}" 2>&1 | tail -n 1
$M data pack "$W"/v2/shards/*/shard-* --size 32x128 --out "$W/p/v2-32" --workers "${PACK_WORKERS:-16}" 2>&1 | tail -n 1
$M data pack "$W"/v2/shards/*/shard-* --size 48x192 --out "$W/p/v2-48" --workers "${PACK_WORKERS:-16}" 2>&1 | tail -n 1
$M data pack "$REAL" --size 32x128 --out "$W/p/real-32" --workers 4 2>&1 | tail -n 1
$M data pack "$REAL" --size 48x192 --out "$W/p/real-48" --workers 4 2>&1 | tail -n 1

arm() {  # name, sources, model overrides…
  local name=$1 src=$2; shift 2
  $M train spotter bank="$BANK" out="$W/arms/$name" name="ablation-$name" data.langs="$LANGS" "data.sources=$src" \
    data.val_sources=null data.batch_size="$BATCH" data.workers=3 optim.max_steps="$STEPS" optim.warmup_steps=200 \
    optim.lr=0.002 trainer.accelerator="${ACCEL:-gpu}" trainer.precision=bf16-mixed trainer.max_time="$(printf 00:00:%02d:%02d $((TRAIN_S / 60)) $((TRAIN_S % 60)))" \
    trainer.log_every=50 trainer.ckpt_every=100000 trainer.progress_bar=false model.d_model=128 "$@" \
    > "$W/$name.log" 2>&1
  echo "$name exit $? steps $(grep -c . "$W/arms/$name"/logs/version_0/metrics.csv 2>/dev/null)"
}
R32="{name: real, packed: $W/p/real-32, weight: $REAL_W}"; R48="{name: real, packed: $W/p/real-48, weight: $REAL_W}"
t "train arms for ${TRAIN_S}s"
arm ab-v1 "[{name: synth, packed: $W/p/v1-32}]" &
arm ab-v2 "[{name: synth, packed: $W/p/v2ab-32}]" &
arm scratch-32 "[{name: synth, packed: $W/p/v2-32}, $R32]" &
arm scratch-48 "[{name: synth, packed: $W/p/v2-48}, $R48]" model.image_size=[48,192] &
arm tiny-48 "[{name: synth, packed: $W/p/v2-48}, $R48]" model.image_size=[48,192] model.encoder=ppocr-tiny \
  model.encoder_init="$PPOCR/ppocrv6_rec_tiny.safetensors" optim.encoder_lr_scale=0.3 &
arm small-48 "[{name: synth, packed: $W/p/v2-48}, $R48]" model.image_size=[48,192] model.encoder=ppocr-small \
  model.encoder_init="$PPOCR/ppocrv6_rec_small.safetensors" optim.encoder_lr_scale=0.3 &
arm small-48-noinit "[{name: synth, packed: $W/p/v2-48}, $R48]" model.image_size=[48,192] model.encoder=ppocr-small optim.encoder_lr_scale=0.3 &
wait
t "arms done"
for d in "$W"/arms/*; do
  n=$(basename "$d")
  cp "$W/$n.log" "$d/train.log"
  python3 tools/gpu/half.py "$d/bundle" 2>&1 | tail -n 1
  tar czf "$OUT_DIR/$n.tgz" -C "$W/arms" "$n/bundle" "$n/logs" "$n/train.log"
done
{ cat "$W/v1.log" "$W/v2.log"; for p in "$W"/p/*; do echo "$p $(python3 -c "import json,sys; print(json.load(open('$p/meta.json'))['count'])")"; done; } \
  > "$OUT_DIR/render.log" 2>&1
ls -la "$OUT_DIR"; t "done"
