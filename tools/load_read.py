"""Reading under load: N concurrent ``mstr read`` processes, and N threads sharing one loaded model,
on the same bundle and crops, checked against one process reading them alone.

    .venv/bin/python tools/load_read.py [--bundle B] [--images samples/demo] [--procs 1,2,4] [--threads 1,2,4]

Every concurrent reader reads all the crops; the figure is the total words read per second (all
readers together, wall clock, model loading included for the processes) and whether every
reader's output is identical to the single reader's (the text, and the confidence to 3 decimals
as ``mstr read`` prints it). Prints a markdown table (docs/reliability.md holds one).
"""
from __future__ import annotations

import argparse
import concurrent.futures
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _crops(folder: Path) -> list[str]:
    exts = {".png", ".jpg", ".jpeg"}
    return sorted(str(p) for p in folder.rglob("*") if p.suffix.lower() in exts)


def _cli(bundle: str | None, crops: list[str]) -> list[str]:
    argv = [sys.executable, "-m", "mstr", "read", *crops] + (["--bundle", bundle] if bundle else [])
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(argv, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"mstr read failed ({proc.returncode}): {proc.stderr[-500:]}")
    return proc.stdout.splitlines()


def _processes(n: int, bundle: str | None, crops: list[str]) -> tuple[float, list[list[str]]]:
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        outs = list(pool.map(lambda _: _cli(bundle, crops), range(n)))
    return time.perf_counter() - start, outs


def _threads(n: int, rec, crops: list[str]) -> tuple[float, list[list[str]]]:
    def one(_: int) -> list[str]:
        return [f"{c}\t{p.text}\t{p.confidence:.3f}\t{p.script or '-'}" for c, p in zip(crops, rec.read(crops))]

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        outs = list(pool.map(one, range(n)))
    return time.perf_counter() - start, outs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", default=None, help="bundle folder (default: the shipped model)")
    ap.add_argument("--images", type=Path, default=ROOT / "samples" / "demo", help="folder of crops (searched below)")
    ap.add_argument("--procs", default="1,2,4", help="numbers of concurrent mstr read processes")
    ap.add_argument("--threads", default="1,2,4", help="numbers of API threads sharing one model")
    a = ap.parse_args(argv)
    import torch

    import mstr

    crops = _crops(a.images)
    reference = _cli(a.bundle, crops)
    print(f"{len(crops)} crops from {a.images}, {os.cpu_count()} CPU cores, bundle {a.bundle or 'default'}\n")
    print("| readers | how | words read | seconds | words/s | identical to one reader |")
    print("|---:|---|---:|---:|---:|---|")
    for n in [int(x) for x in a.procs.split(",") if x]:
        seconds, outs = _processes(n, a.bundle, crops)
        same = all(o == reference for o in outs)
        print(f"| {n} | `mstr read` processes (1 torch thread each) | {n * len(crops)} | {seconds:.1f} | "
              f"{n * len(crops) / seconds:.1f} | {'yes' if same else 'NO'} |", flush=True)
    torch.set_num_threads(1)
    rec = mstr.load(a.bundle)
    for n in [int(x) for x in a.threads.split(",") if x]:
        seconds, outs = _threads(n, rec, crops)
        same = all(o == reference for o in outs)
        print(f"| {n} | API threads on one loaded model (1 torch thread) | {n * len(crops)} | {seconds:.1f} | "
              f"{n * len(crops) / seconds:.1f} | {'yes' if same else 'NO'} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
