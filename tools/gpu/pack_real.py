"""Pack real word crops (manifests) into one small LMDB for training elsewhere: each crop resized
to a fixed height (aspect kept, width capped) and stored as JPEG, labels and languages as given.

    python tools/gpu/pack_real.py --out .dev/real_ft --height 48 \
        configs/splits/iiit5k_train/finetune.jsonl=../shared/data/real \
        configs/splits/icdar15_train/finetune.jsonl=../shared/data/real-extra/en/icdar15_train

The training models resize every crop to their input size anyway (``mstr.preprocess``); a
48-pixel height keeps the detail of the 48-high inputs and makes ~6,000 crops a few MB.
"""
from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from PIL import Image

    from mstr.data.lmdb import LmdbWriter
    from mstr.data.manifest import read_manifest
    from mstr.images import load_image

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sources", nargs="+", help="MANIFEST=ROOT pairs")
    ap.add_argument("--out", type=Path, required=True, help="LMDB folder to write (must not exist)")
    ap.add_argument("--height", type=int, default=48)
    ap.add_argument("--max-aspect", type=float, default=10.0)
    ap.add_argument("--quality", type=int, default=90)
    a = ap.parse_args(argv)
    if a.out.exists():
        print(f"error: {a.out} exists; remove it first", file=sys.stderr)
        return 2
    n = 0
    with LmdbWriter(a.out) as w:
        for pair in a.sources:
            manifest, _, root = pair.partition("=")
            read = read_manifest(Path(manifest), Path(root or "."))
            if read.problems:
                print(f"{manifest}: {len(read.problems)} line(s) skipped", file=sys.stderr)
            for rec in read.records:
                im = load_image(rec.image_path(Path(root)))
                width = max(1, min(round(im.width * a.height / max(im.height, 1)), int(a.height * a.max_aspect)))
                buf = io.BytesIO()
                im.resize((width, a.height), Image.BICUBIC).save(buf, "JPEG", quality=a.quality)
                w.add(buf.getvalue(), rec.gt_text, rec.lang)
                n += 1
        w.commit()
    size = sum(p.stat().st_size for p in a.out.iterdir())
    print(f"{a.out}: {n} crops, {size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
