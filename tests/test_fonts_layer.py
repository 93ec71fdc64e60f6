"""The low-level font module (mstr.fonts): found by name, and free of synthesis imports."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mstr
from mstr.fonts import SPLITS, font_file, split_designs


def test_font_file_finds_a_file_by_name_in_sorted_order(tmp_path: Path):
    for sub in ("b", "a/deep"):
        (tmp_path / sub).mkdir(parents=True)
        (tmp_path / sub / "Toy.ttf").write_bytes(b"")
    assert font_file("Toy.ttf", [tmp_path]) == str(tmp_path / "a" / "deep" / "Toy.ttf")
    assert font_file("Absent.ttf", [tmp_path, tmp_path / "nowhere"]) is None


def test_split_is_stable_and_named():
    designs = {f"Design {i}" for i in range(8)}
    held = split_designs("Latn", {"en": designs})
    assert held == split_designs("Latn", {"en": set(sorted(designs, reverse=True))})
    assert len(held) == 2 and held < designs
    assert SPLITS == ("train", "heldout", "all")


def test_importing_fonts_loads_no_synthesis_or_font_tools():
    code = ("import sys, mstr.fonts, mstr.data.inspect, mstr.viz; "
            "bad = [m for m in sys.modules if m.startswith(('mstr.synth', 'mstr.train', 'fontTools'))]; "
            "print(bad); sys.exit(bool(bad))")
    env = {**os.environ, "PYTHONPATH": str(Path(mstr.__file__).resolve().parents[1])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
