"""Build a background bank from wallpaper and texture packages installed with apt.

``harvest(out)`` lists the image files of :data:`SOURCES` (``dpkg -L``), cuts many random crops
from each at random scales, stores them as small JPEG tiles (≤ 256 px a side) until a byte
budget is reached, and writes ``bank.json`` and ``licences.json`` (package, file and licence of
every source image, the licence read from the package's machine-readable
``/usr/share/doc/<pkg>/copyright``). The bank is read by :class:`mstr.synth.bgbank.BackgroundBank`.
"""
from __future__ import annotations

import fnmatch
import hashlib
import io
import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image

from mstr.errors import UserError
from mstr.synth.bgbank import read_pat

__all__ = ["SOURCES", "PACKAGES", "Source", "list_sources", "dep5_licence", "harvest"]

#: package → (install folders to take images from, file-name patterns to leave out)
SOURCES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "lomiri-wallpapers": (("/usr/share/backgrounds/",), ()),
    "lomiri-wallpapers-16.04": (("/usr/share/backgrounds/",), ()),   # lomiri-wallpapers' photos
    "mate-backgrounds": (("/usr/share/backgrounds/mate/nature/",), ()),
    "plasma-workspace-wallpapers": (("/usr/share/wallpapers/",), ("*screenshot*",)),
    "tuxpaint-data": (("/usr/share/tuxpaint/templates/",), ()),
    "gimp-data": (("/usr/share/gimp/2.0/patterns/",), ()),
    "krita-data": (("/usr/share/krita/patterns/",), ()),
    "mypaint-data": (("/usr/share/mypaint/backgrounds/",),
                     ("0*_white*", "0*_black*", "*check*", "*comic*", "*storyboard*")),
}
PACKAGES = tuple(SOURCES)
_EXTS = (".jpg", ".jpeg", ".png", ".pat", ".webp")
_SIZE_NAME = re.compile(r"^(\d+)x(\d+)$")   # plasma ships each wallpaper in 12 sizes


@dataclass(frozen=True)
class Source:
    """One source image; ``licence`` None: read from the package's copyright file."""

    package: str
    path: str
    licence: str | None = None


def _package_files(package: str) -> list[str]:
    try:
        res = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        return []
    return res.stdout.splitlines() if res.returncode == 0 else []


def _one_size_per_folder(paths: list[str]) -> list[str]:
    """Of files named ``WxH.ext`` in one folder keep one: the widest up to 1920 px."""
    keep, sized = [], {}
    for p in paths:
        m = _SIZE_NAME.match(Path(p).stem)
        if m is None:
            keep.append(p)
        else:
            sized.setdefault(str(Path(p).parent), []).append((int(m.group(1)), p))
    for options in sized.values():
        fitting = [o for o in options if o[0] <= 1920] or options
        keep.append(max(fitting)[1])
    return keep


def list_sources(packages: Iterable[str] = PACKAGES) -> tuple[list[Source], list[str]]:
    """The image files of the installed ``packages`` and the names of those not installed."""
    found, missing = [], []
    for pkg in packages:
        folders, exclude = SOURCES.get(pkg, (("/",), ()))
        files = [f for f in _package_files(pkg) if f.lower().endswith(_EXTS)
                 and any(f.startswith(d) for d in folders)
                 and not any(fnmatch.fnmatch(Path(f).name.lower(), x) for x in exclude)
                 and Path(f).is_file()]
        if not files:
            missing.append(pkg)
        found += [Source(pkg, f) for f in sorted(_one_size_per_folder(files))]
    return found, missing


def dep5_licence(copyright_text: str, path: str) -> str:
    """The licence of installed ``path`` from a DEP-5 copyright file, else ``unknown``.

    Source-tree paths differ from install paths, so the last ``Files:`` stanza matching the
    end of the path wins, then the last naming the file (no wildcard) in another folder, then
    ``Files: *``.
    """
    best: dict[int, str] = {}
    name = path.rsplit("/", 1)[-1]
    for stanza in re.split(r"\n\s*\n", copyright_text):
        files = re.search(r"^Files:(.*(?:\n[ \t].*)*)", stanza, re.M)
        lic = re.search(r"^License:[ \t]*(.+)$", stanza, re.M)
        if not files or not lic:
            continue
        for pattern in files.group(1).split():
            if pattern == "*":
                best[2] = lic.group(1).strip()
            elif fnmatch.fnmatch(path, "*/" + pattern.lstrip("./")):
                best[0] = lic.group(1).strip()
            elif not re.search(r"[*?\[]", pattern) and name == pattern.rsplit("/", 1)[-1]:
                best[1] = lic.group(1).strip()
    return best[min(best)] if best else "unknown"


def _open(path: str) -> Image.Image:
    if path.lower().endswith(".pat"):
        return read_pat(path)
    img = Image.open(path)
    img.draft("RGB", (1024, 1024))  # JPEG: decode at a reduced size, much faster
    if img.mode in ("RGBA", "LA", "P"):
        img = img.convert("RGBA")
        base = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(base, img)
    return img.convert("RGB")


def _tiles_of(img: Image.Image, rng: np.random.Generator, k: int, max_side: int) -> list[Image.Image]:
    """``k`` random crops: aspect 1:1 to 3:1 (wide), tile side 64..max_side, random scale."""
    out = []
    w, h = img.size
    for _ in range(k):
        tw = int(rng.integers(min(96, max_side), max_side + 1))
        th = int(np.clip(tw / rng.uniform(1.0, 3.0), 48, max_side))
        # a box of the tile's aspect covering 1x..(whole image) the tile size, log-uniform
        max_scale = min(w / tw, h / th)
        scale = float(np.exp(rng.uniform(0, np.log(max_scale)))) if max_scale > 1 else max_scale
        bw, bh = tw * scale, th * scale
        x0, y0 = rng.uniform(0, max(0.0, w - bw)), rng.uniform(0, max(0.0, h - bh))
        out.append(img.resize((min(tw, max(8, round(bw))), min(th, max(8, round(bh)))),
                              Image.LANCZOS, box=(x0, y0, x0 + bw, y0 + bh)))
    return out


def harvest(out: str | Path, *, packages: Iterable[str] = PACKAGES, sources: list[Source] | None = None,
            max_bytes: int = 7_500_000, max_side: int = 192, seed: int = 0, quality: int = 85,
            log=print) -> dict:
    """Write a bank to ``out`` from ``sources`` (default: the installed ``packages``).

    Large images (photos, wallpapers) give 30 tiles each, small ones (patterns) 3; the
    tiles are shuffled and kept until ``max_bytes`` of JPEG. Returns the ``bank.json`` dict.
    """
    if sources is None:
        sources, missing = list_sources(packages)
        for pkg in missing:
            log(f"warning: package {pkg} is not installed or has no images; skipped "
                f"(apt-get install {pkg})")
    if not sources:
        raise UserError("no background images found: install the packages with 'make backgrounds' "
                        f"or 'apt-get install {' '.join(PACKAGES)}'")
    out = Path(out)
    (out / "tiles").mkdir(parents=True, exist_ok=True)
    for old in (out / "tiles").glob("*.jpg"):
        old.unlink()
    rng = np.random.default_rng(seed)
    copyrights: dict[str, str] = {}
    licences, encoded = [], []
    for i, src in enumerate(sources):
        try:
            img = _open(src.path)
        except (OSError, ValueError) as exc:
            log(f"warning: {src.path} skipped ({exc})")
            continue
        if src.package not in copyrights:
            cp = Path("/usr/share/doc") / src.package / "copyright"
            copyrights[src.package] = cp.read_text(errors="replace") if cp.is_file() else ""
        licence = src.licence or dep5_licence(copyrights[src.package], src.path)
        if licence == "unknown":
            log(f"warning: {src.path} skipped (no licence for it in {src.package}'s copyright file)")
            continue
        licences.append({"source": i, "package": src.package, "file": src.path, "licence": licence,
                         "copyright_file": f"/usr/share/doc/{src.package}/copyright"})
        k = 30 if min(img.size) >= 512 else 3
        for tile in _tiles_of(img, rng, k, max_side):
            if np.asarray(tile.convert("L"), np.float32).std() < 1.5:
                continue  # a flat tile: the procedural backgrounds cover those
            buf = io.BytesIO()
            tile.save(buf, format="JPEG", quality=quality, optimize=True)
            encoded.append((i, buf.getvalue()))
    order = rng.permutation(len(encoded))
    tiles, total, digest = [], 0, hashlib.sha1()
    for j in order:
        src_i, data = encoded[int(j)]
        if total + len(data) > max_bytes:
            continue
        name = f"tiles/{len(tiles):05d}.jpg"
        (out / name).write_bytes(data)
        digest.update(data)
        tiles.append({"file": name, "source": src_i})
        total += len(data)
    used = {t["source"] for t in tiles}
    meta = {"version": 1, "fingerprint": digest.hexdigest()[:16], "bytes": total, "max_side": max_side,
            "seed": seed, "tiles": tiles}
    (out / "bank.json").write_text(json.dumps(meta, indent=1) + "\n")
    (out / "licences.json").write_text(json.dumps([x for x in licences if x["source"] in used],
                                                  indent=1) + "\n")
    log(f"wrote {len(tiles)} tiles ({total / 1e6:.1f} MB) from {len(used)} images of "
        f"{len({x['package'] for x in licences})} packages to {out}")
    return meta
