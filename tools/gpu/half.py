"""Store a bundle's weight files in float16 (to carry it back within a transfer limit), or with
``--float`` back in float32. Bank vectors are left alone (their fingerprint covers their bytes).
The ``sha256`` table of config.json is updated to the rewritten files.

    python tools/gpu/half.py BUNDLE [--float]
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file


def main(argv: list[str]) -> int:
    folder, to_float = Path(argv[0]), "--float" in argv[1:]
    for f in sorted(folder.glob("*.safetensors")):
        sd = load_file(str(f))
        dtype = torch.float32 if to_float else torch.float16
        save_file({k: v.to(dtype) if v.is_floating_point() else v for k, v in sd.items()}, str(f))
        print(f"{f}: {sum(v.numel() for v in sd.values())} values as {dtype}")
    cfg_path = folder / "config.json"
    cfg = json.loads(cfg_path.read_text())
    if "sha256" in cfg:
        from mstr.bundle import file_checksums

        cfg["sha256"] = file_checksums(folder)
        cfg_path.write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
