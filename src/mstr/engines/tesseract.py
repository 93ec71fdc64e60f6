"""Tesseract OCR as an :class:`~mstr.engines.Engine` (an optional extra: Debian packages
``tesseract-ocr`` and ``tesseract-ocr-<pack>`` per language).

How crops are read:

* **Language.** Tesseract needs its language packs named. In mode ``given`` (the default of
  ``mstr compare``) each crop is read with the pack of the language the data gives it
  (:data:`PACKS`: en→eng, hi→hin, bn→ben, ta→tam, te→tel, ml→mal, kn→kan, …); crops of an unknown
  language are read with the union of the engine's languages (``eng+hin+ben+…``). In mode
  ``union`` every crop is read with the union — closer to what mSTR does (it is never told the
  language), and slower and less accurate for Tesseract. ``given`` is an upper bound for
  Tesseract: it is told what mSTR has to find out.
* **Page segmentation** ``--psm 8`` (one word), LSTM engine (Tesseract 4/5 default).
* **Preprocessing.** Crops lower than ``min_height`` pixels are scaled up (bicubic, aspect kept)
  to that height, and every crop gets a border of a tenth of its height in the colour of its
  own edge pixels (Tesseract expects some background around text).
* **Batching.** Crops are written as PNG to a temporary folder and read by one ``tesseract``
  process per list of images (one process per language group and thread), with
  ``OMP_THREAD_LIMIT=1``; ``threads`` processes run side by side. The TSV output gives each
  crop's words and their confidences.
* **Output.** The words of a crop are joined and normalised with :func:`mstr.text.normalize`;
  the confidence is the lowest word confidence / 100 (0 when nothing was read); the script is
  the one holding most script-specific characters (:func:`mstr.scripts.script_of`).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Sequence

from PIL import Image, ImageOps

from mstr.engines import Engine
from mstr.errors import UserError
from mstr.reading.prediction import Prediction
from mstr.scripts import script_of_text
from mstr.text import normalize

__all__ = ["TesseractEngine", "PACKS", "apt_packages", "installed_packs"]

#: our language code → Tesseract language pack (Debian package ``tesseract-ocr-<pack>``)
PACKS: dict[str, str] = {"en": "eng", "hi": "hin", "bn": "ben", "ta": "tam", "te": "tel", "ml": "mal",
                         "kn": "kan", "gu": "guj", "mr": "mar", "pa": "pan", "or": "ori", "as": "asm",
                         "ur": "urd"}

MODES = ("given", "union")


def apt_packages(packs: Sequence[str]) -> list[str]:
    """The Debian packages that install the ``tesseract`` binary and ``packs``."""
    return ["tesseract-ocr"] + [f"tesseract-ocr-{p}" for p in packs]


def _install_hint(packs: Sequence[str]) -> str:
    return "apt-get install " + " ".join(apt_packages(packs))


def installed_packs(binary: str = "tesseract") -> set[str]:
    """The language packs ``tesseract --list-langs`` reports."""
    try:
        done = subprocess.run([binary, "--list-langs"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UserError(f"cannot run {binary!r} --list-langs ({exc})") from None
    lines = (done.stdout + "\n" + done.stderr).splitlines()
    return {ln.strip() for ln in lines if ln.strip() and " " not in ln.strip() and not ln.startswith("List")}


class TesseractEngine(Engine):
    """Tesseract through its command line; ``langs``: our codes of the languages it must read."""

    name = "tesseract"

    def __init__(self, langs: Sequence[str], *, mode: str = "given", threads: int = 1, min_height: int = 48,
                 binary: str = "tesseract", timeout_s: float = 600.0) -> None:
        if mode not in MODES:
            raise UserError(f"tesseract mode must be one of {', '.join(MODES)}, got {mode!r}")
        if threads < 1:
            raise UserError(f"threads must be at least 1, got {threads}")
        unknown = [lang for lang in langs if lang not in PACKS]
        if unknown:
            raise UserError(f"Tesseract has no language pack mapped for {', '.join(unknown)}; "
                            f"mapped: {', '.join(sorted(PACKS))}")
        self.langs = list(dict.fromkeys(langs)) or ["en"]
        self.mode, self.threads, self.min_height, self.timeout_s = mode, int(threads), int(min_height), timeout_s
        found = shutil.which(binary)
        if found is None:
            raise UserError(f"the tesseract engine needs the Tesseract OCR program, which is not installed: "
                            f"{_install_hint([PACKS[lang] for lang in self.langs])}")
        self.binary = found
        have = installed_packs(found)
        missing = [PACKS[lang] for lang in self.langs if PACKS[lang] not in have]
        if missing:
            raise UserError(f"Tesseract lacks the language pack(s) {', '.join(missing)} "
                            f"(installed: {', '.join(sorted(have)) or 'none'}); install them: "
                            f"apt-get install {' '.join(f'tesseract-ocr-{p}' for p in missing)}")
        self.union = "+".join(PACKS[lang] for lang in self.langs)
        self.version = _version(found)

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "mode": self.mode, "langs": self.langs,
                "union": self.union, "psm": 8, "min_height": self.min_height, "processes": self.threads}

    def pack_for(self, lang: str | None) -> str:
        """The ``-l`` argument for a crop of language ``lang``."""
        if self.mode == "given" and lang in self.langs:
            return PACKS[lang]  # type: ignore[index]
        return self.union

    def prepare(self, image: Image.Image) -> Image.Image:
        """Upscale a low crop to ``min_height`` and add a border of its own edge colour."""
        im = image.convert("RGB")
        if im.height < self.min_height:
            w = max(1, round(im.width * self.min_height / im.height))
            im = im.resize((w, self.min_height), Image.BICUBIC)
        pad = max(2, im.height // 10)
        return ImageOps.expand(im, border=pad, fill=_edge_colour(im))

    def read(self, images: Sequence[Image.Image], langs: Sequence[str | None] | None = None) -> list[Prediction]:
        if langs is not None and len(langs) != len(images):
            raise ValueError(f"{len(langs)} languages for {len(images)} images")
        groups: dict[str, list[int]] = {}
        for i in range(len(images)):
            groups.setdefault(self.pack_for(langs[i] if langs is not None else None), []).append(i)
        jobs: list[tuple[str, list[int]]] = []
        for pack, idx in groups.items():
            n = min(self.threads, len(idx))
            size = -(-len(idx) // n)
            jobs += [(pack, idx[k:k + size]) for k in range(0, len(idx), size)]
        results: list[Prediction | None] = [None] * len(images)
        with tempfile.TemporaryDirectory(prefix="mstr-tess-") as tmp:
            def run(job: tuple[int, tuple[str, list[int]]]) -> None:
                j, (pack, idx) = job
                folder = Path(tmp) / str(j)
                folder.mkdir()
                for pred_i, pred in zip(idx, self._read_files(folder, [images[i] for i in idx], pack)):
                    results[pred_i] = pred

            if len(jobs) == 1 or self.threads == 1:
                for job in enumerate(jobs):
                    run(job)
            else:
                with ThreadPoolExecutor(max_workers=self.threads) as pool:
                    list(pool.map(run, enumerate(jobs)))
        return results  # type: ignore[return-value]

    # -- one tesseract process ---------------------------------------------------------------

    def _read_files(self, folder: Path, images: Sequence[Image.Image], pack: str) -> list[Prediction]:
        paths = []
        for k, im in enumerate(images):
            p = folder / f"{k:06d}.png"
            self.prepare(im).save(p, format="PNG", compress_level=1)
            paths.append(p)
        listing = folder / "images.txt"
        listing.write_text("".join(f"{p}\n" for p in paths), encoding="utf-8")
        try:
            pages = self._run(listing, pack, len(paths))
        except _Failed:
            pages = None
        if pages is None:  # one bad page broke the list: read one by one, keep what can be read
            out = []
            for p in paths:
                try:
                    out.append(_prediction(self._run(p, pack, 1)[0]))
                except _Failed as exc:
                    out.append(Prediction(text="", confidence=0.0, script=None, error=str(exc)))
            return out
        return [_prediction(words) for words in pages]

    def _run(self, source: Path, pack: str, n: int) -> list[list[tuple[str, float]]]:
        env = dict(os.environ, OMP_THREAD_LIMIT="1")
        cmd = [self.binary, str(source), "stdout", "--psm", "8", "-l", pack, "tsv"]
        try:
            done = subprocess.run(cmd, capture_output=True, env=env, timeout=self.timeout_s)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise _Failed(f"tesseract failed ({exc})") from None
        if done.returncode != 0:
            tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            raise _Failed(f"tesseract exited with status {done.returncode}: {tail[0]}")
        return parse_tsv(done.stdout.decode("utf-8", "replace"), n)


class _Failed(Exception):
    pass


def parse_tsv(text: str, pages: int) -> list[list[tuple[str, float]]]:
    """Tesseract's TSV output → per page (1-based ``page_num``) the ``(word, conf)`` of its words."""
    out: list[list[tuple[str, float]]] = [[] for _ in range(pages)]
    for line in text.splitlines()[1:]:
        cols = line.split("\t")
        if len(cols) < 12 or cols[0] != "5":
            continue
        try:
            page, conf = int(cols[1]), float(cols[10])
        except ValueError:
            continue
        word = cols[11]
        if 1 <= page <= pages and word.strip():
            out[page - 1].append((word, conf))
    return out


def _prediction(words: list[tuple[str, float]]) -> Prediction:
    text = normalize("".join(w for w, _ in words))
    conf = min((c for _, c in words), default=0.0) / 100.0 if text else 0.0
    return Prediction(text=text, confidence=max(0.0, min(1.0, conf)), script=script_of_text(text))


def _edge_colour(im: Image.Image) -> tuple[int, int, int]:
    """The median colour of the outermost pixels."""
    import numpy as np

    a = np.asarray(im)
    edge = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    return tuple(int(v) for v in np.median(edge, axis=0))  # type: ignore[return-value]


def _version(binary: str) -> str | None:
    try:
        done = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    first = (done.stdout or done.stderr).strip().splitlines()
    return first[0] if first else None
