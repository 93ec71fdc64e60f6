"""Build the bundled demo sample (samples/demo): real English crops + held-out-font synthetic words.

    .venv/bin/python tools/make_demo_samples.py [--real ../shared/data/real] [--synth runs/data/words6_test]

* real: the first --n-real records of the recorded IIIT5K dev split
  (configs/splits/iiit5k_train/dev.jsonl), copied with their manifest records;
* synthetic: evenly spaced --n-synth words per language from the held-out-font test LMDBs
  (``mstr synth words --langs 6lang --n 600 --fonts heldout --seed 1``).

Writes samples/demo/manifest.jsonl (seed-format records, path_rel relative to samples/demo).
Deterministic: rerunning gives the same files.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from mstr.data.lmdb import LmdbDataset
from mstr.data.manifest import make_record, read_manifest, write_manifest

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--real", type=Path, default=ROOT.parent / "shared" / "data" / "real")
    ap.add_argument("--split", type=Path, default=ROOT / "configs" / "splits" / "iiit5k_train" / "dev.jsonl")
    ap.add_argument("--synth", type=Path, default=ROOT / "runs" / "data" / "words6_test")
    ap.add_argument("--langs", default="en,hi,bn,ta,te,ml")
    ap.add_argument("--n-real", type=int, default=40)
    ap.add_argument("--n-synth", type=int, default=20)
    ap.add_argument("--out", type=Path, default=ROOT / "samples" / "demo")
    a = ap.parse_args()

    if a.out.exists():
        shutil.rmtree(a.out)
    records = []
    for rec in read_manifest(a.split, a.real).records[: a.n_real]:
        dst = a.out / "real" / rec.filename
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(rec.image_path(a.real), dst)
        records.append(make_record(a.out, dst, rec.gt_text, rec.lang, "iiit5k_dev"))
    for lang in a.langs.split(","):
        ds = LmdbDataset(a.synth / "LMDB" / lang / "test_lmdb", lang=lang)
        step = max(1, len(ds) // a.n_synth)
        for k in range(a.n_synth):
            i = k * step
            img, label = ds[i][0], ds.label_at(i)
            dst = a.out / "synth" / lang / f"{lang}_{i:04d}.png"
            dst.parent.mkdir(parents=True, exist_ok=True)
            img.save(dst)
            records.append(make_record(a.out, dst, label, lang, "synth_heldout"))
        ds.close()
    write_manifest(records, a.out / "manifest.jsonl")
    print(f"wrote {len(records)} samples to {a.out}")


if __name__ == "__main__":
    main()
