"""Look inside LMDB datasets before training on them: counts, charset coverage, lengths, a grid.

:func:`inspect_lmdb` accepts one LMDB folder or a root holding ``LMDB/<lang>/<split>_lmdb``
(or ``<lang>/<split>_lmdb``) folders and returns a JSON-ready report:

* sample counts per language and split;
* charset coverage per language: the share of labels whose every character (NFKD) is in the
  language's charset, and the most frequent missing characters;
* a histogram of label lengths in NFKD code points (what ``max_len`` must allow for);
* optionally a PNG grid of sample images with their labels underneath. Labels in scripts the
  bundled DejaVu font cannot draw (Indic, Arabic) are shown as their cell number, and every
  label is written to a sidecar ``.txt`` next to the PNG.

:func:`format_report` renders the report for the terminal.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from mstr.scripts import COMMON_SCRIPT

if TYPE_CHECKING:
    from mstr.data.lmdb import LmdbLocation

__all__ = ["inspect_lmdb", "format_report"]

_TOP_MISSING = 20
_GRID_COLUMNS = 8
_CELL_W, _CELL_H, _TEXT_H, _PAD = 160, 48, 18, 4
_DRAWABLE_SCRIPTS = frozenset({"Latn", COMMON_SCRIPT})


class _LangStats:
    """Accumulates coverage and length statistics of one language."""

    def __init__(self, allowed: frozenset[str] | None) -> None:
        self.allowed = allowed
        self.labels = 0
        self.covered = 0
        self.missing: Counter[str] = Counter()
        self.lengths: Counter[int] = Counter()

    def add(self, label: str) -> None:
        self.labels += 1
        self.lengths[len(label)] += 1
        if self.allowed is None:
            return
        missing = [ch for ch in label if ch not in self.allowed]
        if missing:
            self.missing.update(missing)
        else:
            self.covered += 1

    def coverage(self) -> dict[str, Any] | None:
        if self.allowed is None:
            return None
        share = self.covered / self.labels if self.labels else 1.0
        top = [[ch, f"U+{ord(ch):04X}", n] for ch, n in self.missing.most_common(_TOP_MISSING)]
        return {"labels": self.labels, "covered": self.covered, "share": round(share, 6),
                "missing": top}


def _charset_or_none(lang: str | None) -> frozenset[str] | None:
    from mstr.charsets import ALL_LANGS
    from mstr.data.lmdb import allowed_chars

    if lang is None or lang not in ALL_LANGS:
        return None
    return allowed_chars([lang])


def inspect_lmdb(path_or_root: str | Path, *, langs: Sequence[str] | None = None,
                 grid: Path | None = None, n_grid: int = 64) -> dict[str, Any]:
    """Inspect one LMDB or a root of ``[LMDB/]<lang>/<split>_lmdb`` folders (see module doc).

    ``langs`` restricts the report to those languages. With ``grid``, a PNG of up to
    ``n_grid`` samples spread evenly over all LMDBs is written there, plus ``grid``.txt with
    every cell's key and label.
    """
    from mstr.data.lmdb import LmdbReader, find_lmdbs
    from mstr.text import normalize

    locations = find_lmdbs(path_or_root, langs)
    wanted = set(langs) if langs is not None else None
    readers: list[LmdbReader] = []
    try:
        readers += [LmdbReader(loc.path) for loc in locations]
        picks = _grid_picks([r.num_samples for r in readers], n_grid if grid else 0)
        counts: dict[str, Counter[str]] = defaultdict(Counter)
        stats: dict[str, _LangStats] = {}
        problems: Counter[str] = Counter()
        cells: list[dict[str, Any]] = []
        for number, (loc, reader) in enumerate(zip(locations, readers)):
            for record in reader.iter_labels():
                lang = record.lang or loc.lang
                if wanted is not None and lang not in wanted:
                    continue
                key = lang or "unknown"
                counts[key][loc.split] += 1
                if record.problem is not None:
                    problems[record.problem] += 1
                    continue
                label = normalize(record.label or "")
                if not label:
                    problems["empty_label"] += 1
                    continue
                if key not in stats:
                    stats[key] = _LangStats(_charset_or_none(lang))
                stats[key].add(label)
                if (number, record.index) in picks:
                    cells.append({"lmdb": str(loc.path), "index": record.index, "lang": lang,
                                  "label": record.label})
        report = _assemble(locations, readers, counts, stats, problems)
        if grid is not None:
            report["grid"], report["grid_labels"] = _write_grid(Path(grid), cells, readers,
                                                                locations)
        return report
    finally:
        for reader in readers:
            reader.close()


def _grid_picks(sizes: list[int], n: int) -> set[tuple[int, int]]:
    """``n`` (lmdb number, 1-based index) pairs spread evenly over all samples."""
    total = sum(sizes)
    if n <= 0 or total == 0:
        return set()
    n = min(n, total)
    picks = set()
    for k in range(n):
        flat = (k * total) // n
        for number, size in enumerate(sizes):
            if flat < size:
                picks.add((number, flat + 1))
                break
            flat -= size
    return picks


def _assemble(locations: list[LmdbLocation], readers: list[Any],
              counts: dict[str, Counter[str]], stats: dict[str, _LangStats],
              problems: Counter[str]) -> dict[str, Any]:
    all_lengths: Counter[int] = Counter()
    for item in stats.values():
        all_lengths.update(item.lengths)
    return {
        "lmdbs": [{"path": str(loc.path), "lang": loc.lang, "split": loc.split,
                   "num_samples": reader.num_samples} for loc, reader in zip(locations, readers)],
        "total": sum(sum(c.values()) for c in counts.values()),
        "counts": {lang: dict(sorted(c.items())) for lang, c in sorted(counts.items())},
        "coverage": {lang: s.coverage() for lang, s in sorted(stats.items())},
        "length_hist": {lang: dict(sorted(s.lengths.items())) for lang, s in sorted(stats.items())},
        "length_hist_all": dict(sorted(all_lengths.items())),
        "problems": dict(sorted(problems.items())),
        "grid": None,
        "grid_labels": None,
    }


# --------------------------------------------------------------------------------------------
# sample grid


def _load_font() -> Any:
    from PIL import ImageFont

    from mstr.fonts import font_file

    path = font_file("DejaVuSans.ttf")
    return ImageFont.truetype(path, 13) if path else ImageFont.load_default()


def _drawable(label: str) -> bool:
    """True if DejaVu Sans can draw ``label`` (Latin and common characters only)."""
    from mstr.scripts import script_of

    return all(script_of(ch) in _DRAWABLE_SCRIPTS for ch in label)


def _fit(image: Any) -> Any:
    """Scale ``image`` to fit a cell, keeping its aspect ratio."""
    scale = min(_CELL_W / image.width, _CELL_H / image.height)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size)


def _cell_image(reader: Any, cell: dict[str, Any]) -> Any:
    from mstr.data.lmdb import image_key
    from mstr.images import BadImage, decode_image

    data = reader.image_bytes(cell["index"])
    try:
        if data is None:
            raise BadImage(cell["lmdb"], "image key is missing")
        return _fit(decode_image(data, f"{cell['lmdb']} {image_key(cell['index']).decode()}"))
    except BadImage as exc:
        cell["bad_image"] = str(exc)
        return None


def _write_grid(path: Path, cells: list[dict[str, Any]], readers: list[Any],
                locations: list[LmdbLocation]) -> tuple[str, str]:
    from PIL import Image, ImageDraw

    from mstr.data.lmdb import image_key

    reader_of = {str(loc.path): reader for loc, reader in zip(locations, readers)}
    columns = max(1, min(_GRID_COLUMNS, len(cells)))
    rows = max(1, -(-len(cells) // columns))
    step_w, step_h = _CELL_W + 2 * _PAD, _CELL_H + _TEXT_H + 2 * _PAD
    canvas = Image.new("RGB", (columns * step_w, rows * step_h), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    font = _load_font()
    lines = ["# cell\tlmdb\tkey\tlang\tlabel"]
    for number, cell in enumerate(cells, start=1):
        x, y = (number - 1) % columns * step_w + _PAD, (number - 1) // columns * step_h + _PAD
        image = _cell_image(reader_of[cell["lmdb"]], cell)
        if image is None:
            draw.rectangle([x, y, x + _CELL_W, y + _CELL_H], fill=(200, 200, 200))
            draw.text((x + 4, y + 4), "bad image", fill=(160, 0, 0), font=font)
        else:
            canvas.paste(image, (x, y))
        label = cell["label"] or ""
        caption = label if _drawable(label) else f"#{number}"
        draw.text((x, y + _CELL_H + 2), caption[:24], fill=(0, 0, 0), font=font)
        lines.append(f"{number}\t{cell['lmdb']}\t{image_key(cell['index']).decode()}\t"
                     f"{cell['lang'] or '-'}\t{label}")
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path, format="PNG")
    sidecar = path.with_suffix(".txt")
    sidecar.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path), str(sidecar)


# --------------------------------------------------------------------------------------------
# terminal


def format_report(report: dict[str, Any]) -> str:
    """Render an :func:`inspect_lmdb` report as plain text for the terminal."""
    out = [f"{len(report['lmdbs'])} LMDB(s), {report['total']} samples"]
    for item in report["lmdbs"]:
        out.append(f"  {item['path']}  lang={item['lang'] or '?'}  split={item['split']}  "
                   f"num-samples={item['num_samples']}")
    out.append("samples per language and split:")
    for lang, splits in report["counts"].items():
        parts = ", ".join(f"{split}={n}" for split, n in splits.items())
        out.append(f"  {lang}: {sum(splits.values())} ({parts})")
    out.append("charset coverage (labels fully in the language's charset):")
    for lang, cov in report["coverage"].items():
        if cov is None:
            out.append(f"  {lang}: no charset for this language")
            continue
        out.append(f"  {lang}: {100 * cov['share']:.2f}% ({cov['covered']}/{cov['labels']})")
        if cov["missing"]:
            top = ", ".join(f"{_char_name(ch, code)} ×{n}" for ch, code, n in cov["missing"][:10])
            out.append(f"      missing: {top}")
    out.append("label length (NFKD code points): count")
    out += _format_hist(report["length_hist_all"])
    if report["problems"]:
        out.append("label problems: " + ", ".join(f"{k}={v}" for k, v in
                                                   report["problems"].items()))
    if report.get("grid"):
        out.append(f"sample grid: {report['grid']} (labels: {report['grid_labels']})")
    return "\n".join(out)


def _char_name(ch: str, code: str) -> str:
    """``'€' U+20AC``, or ``U+0301 COMBINING ACUTE ACCENT`` for marks and invisible characters."""
    import unicodedata

    if unicodedata.category(ch)[0] in "MCZ":
        return f"{code} {unicodedata.name(ch, '')}".rstrip()
    return f"{ch!r} {code}"


def _format_hist(hist: dict[int, int], width: int = 40) -> list[str]:
    if not hist:
        return ["  (no labels)"]
    peak = max(hist.values())
    return [f"  {length:>4}: {count:>8} {'#' * max(1, round(width * count / peak))}"
            for length, count in hist.items()]
