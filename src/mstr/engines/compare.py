"""Several engines on the same crops: accuracy and speed in one table (``mstr compare``).

:func:`compare` decodes every sample's image once (an image that cannot be decoded is reported
and skipped for every engine alike), then lets each engine read all of them in batches, timing
only the ``read`` calls (the engine's preprocessing included; loading the model and decoding the
image files excluded). Before the timed pass each engine reads the first few crops once, untimed
(a warm-up: first-call allocations, Tesseract's page cache). Scores follow
:mod:`mstr.eval.metrics` (DESIGN.md §3) under the chosen convention; the table per engine is the
one ``mstr eval`` prints (rows per dataset × language, "Combined", "Macro (languages)").
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

from mstr.engines import Engine
from mstr.errors import UserError
from mstr.eval.metrics import CONVENTIONS, SampleScore, Table, apply_convention, score_sample, table
from mstr.eval.samples import EvalSample, ImageSource, SampleSet

__all__ = ["EngineRun", "Comparison", "compare", "format_comparison"]

WARMUP = 4


@dataclass
class EngineRun:
    """One engine's pass: its predictions (one per compared sample), scores, table and time."""

    name: str
    info: dict[str, Any]
    preds: list[Any]
    scores: list[SampleScore]
    table: Table
    seconds: float
    errors: int = 0

    @property
    def words_per_s(self) -> float | None:
        return len(self.scores) / self.seconds if self.seconds > 0 else None

    @property
    def ms_per_word(self) -> float | None:
        return 1000.0 * self.seconds / len(self.scores) if self.scores else None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "info": self.info, "words": len(self.scores), "seconds": self.seconds,
                "words_per_s": self.words_per_s, "ms_per_word": self.ms_per_word,
                "recognizer_errors": self.errors, "table": self.table.to_dict()}


@dataclass
class Comparison:
    """Everything :func:`compare` measured; ``samples``: the compared samples, in order."""

    samples: list[EvalSample]
    runs: list[EngineRun]
    unreadable: list[dict[str, Any]] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"settings": self.settings, "compared": len(self.samples),
                "engines": [run.to_dict() for run in self.runs],
                "unreadable": list(self.unreadable), "unreadable_count": len(self.unreadable),
                "problems": list(self.problems), "problem_count": len(self.problems)}

    def prediction_rows(self) -> list[dict[str, Any]]:
        """One JSON-ready row per sample: the label and every engine's reading."""
        rows = []
        for k, s in enumerate(self.samples):
            row: dict[str, Any] = {"id": s.id, "source": s.source, "dataset": s.dataset, "lang": s.lang,
                                   "gt": self.runs[0].scores[k].gt if self.runs else s.gt, "gt_raw": s.gt}
            row["engines"] = {r.name: {"pred": r.scores[k].pred, "correct": r.scores[k].correct,
                                       "ed": r.scores[k].ed, "confidence": r.scores[k].confidence,
                                       "script": getattr(r.preds[k], "script", None),
                                       "error": getattr(r.preds[k], "error", None)} for r in self.runs}
            rows.append(row)
        return rows


def _set_threads(threads: int) -> int | None:
    """Set torch's intra-op threads; returns the previous number (None without torch)."""
    try:
        import torch
    except ImportError:  # pragma: no cover
        return None
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    return before


def compare(engines: Sequence[Engine], samples: SampleSet, *, convention: str = "default", batch_size: int = 64,
            threads: int = 1, progress: bool = True, warmup: int = WARMUP) -> Comparison:
    """Read ``samples`` with every engine and score them (see the module docstring).

    ``threads``: torch's intra-op threads for every engine (Tesseract engines are built with the
    same number of processes). ``convention``: ``default`` or ``en-benchmark``; under the latter a
    sample whose label is empty after the convention is skipped and reported.
    """
    if convention not in CONVENTIONS:
        raise UserError(f"unknown convention {convention!r}; use one of {', '.join(CONVENTIONS)}")
    if batch_size < 1 or threads < 1:
        raise UserError("batch size and threads must be at least 1")
    if not engines:
        raise UserError("no engine to compare")
    names = [e.name for e in engines]
    if len(set(names)) != len(names):
        raise UserError(f"each engine may appear once: {', '.join(names)}")
    problems = list(samples.problems)
    todo: list[EvalSample] = []
    for s in samples.samples:
        if convention != "default" and not apply_convention(s.gt, convention):
            problems.append({"source": s.source, "reason": "empty_after_convention",
                             "message": f"{s.source}: label {s.gt!r} is empty under the {convention} "
                                        "convention; sample skipped"})
        else:
            todo.append(s)

    kept: list[EvalSample] = []
    images = []
    unreadable: list[dict[str, Any]] = []
    with ImageSource() as source:
        for s in todo:
            try:
                images.append(source.load(s))
                kept.append(s)
            except UserError as exc:  # BadImage is a UserError
                unreadable.append({"id": s.id, "source": s.source, "dataset": s.dataset, "lang": s.lang,
                                   "reason": getattr(exc, "problem", str(exc))})
    if not kept:
        raise UserError(f"no readable sample to compare in {samples.description or 'the data'} "
                        f"({len(unreadable)} unreadable, {len(problems)} skipped)")

    before = _set_threads(threads)
    try:
        runs = _run_engines(engines, images, kept, convention, batch_size, warmup, progress)
    finally:
        if before is not None:
            _set_threads(before)
    settings = {"convention": convention, "batch_size": batch_size, "threads": threads, "warmup": warmup,
                "data": samples.description}
    return Comparison(samples=kept, runs=runs, unreadable=unreadable, problems=problems, settings=settings)


def _run_engines(engines: Sequence[Engine], images: list[Any], kept: list[EvalSample], convention: str,
                 batch_size: int, warmup: int, progress: bool) -> list[EngineRun]:
    langs = [s.lang for s in kept]
    runs = []
    for engine in engines:
        if warmup > 0:
            engine.read(images[:warmup], langs[:warmup])
        preds: list[Any] = []
        seconds = 0.0
        bar = _progress(len(kept), progress, engine.name)
        for start in range(0, len(kept), batch_size):
            chunk, chunk_langs = images[start:start + batch_size], langs[start:start + batch_size]
            t0 = time.perf_counter()
            out = engine.read(chunk, chunk_langs)
            seconds += time.perf_counter() - t0
            if len(out) != len(chunk):
                raise RuntimeError(f"engine {engine.name} returned {len(out)} predictions for {len(chunk)} images")
            preds += out
            bar.update(len(chunk))
        bar.close()
        scores = [score_sample(getattr(p, "text", "") or "", s.gt, convention=convention,
                               confidence=getattr(p, "confidence", None), script=getattr(p, "script", None),
                               lang=s.lang) for p, s in zip(preds, kept)]
        tbl = table((s.dataset, s.lang, sc) for s, sc in zip(kept, scores))
        errors = sum(getattr(p, "error", None) is not None for p in preds)
        runs.append(EngineRun(engine.name, engine.info(), preds, scores, tbl, seconds, errors))
    return runs


def _progress(total: int, enabled: bool, name: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=name, unit="img", file=sys.stderr, leave=False,
                disable=None if enabled else True)


def _num(v: float | None, decimals: int = 2) -> str:
    return "-" if v is None else f"{v:.{decimals}f}"


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def format_comparison(result: Comparison | dict[str, Any], decimals: int = 2) -> str:
    """The comparison as one markdown table: a row per metric × (dataset, language), Combined
    and Macro rows, then words/s and ms/word; a column per engine."""
    d = result.to_dict() if isinstance(result, Comparison) else result
    runs = d["engines"]
    head = ["Metric", "Dataset", "Lang", "# samples"] + [_md(r["name"]) for r in runs]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 3 + ["---:"] * (len(head) - 3)) + "|"]
    if not runs:
        return "\n".join(lines)
    first = runs[0]["table"]
    cells = [(row["dataset"], row["lang"], row["n"]) for row in first["rows"]]

    def metric_rows(label: str, key: str, with_cells: bool) -> None:
        if with_cells:
            for k, (dataset, lang, n) in enumerate(cells):
                values = [_num(r["table"]["rows"][k][key], decimals) for r in runs]
                lines.append(f"| {label} | {_md(dataset)} | {_md(lang)} | {n} | " + " | ".join(values) + " |")
        for part in ("combined", "macro"):
            row = first.get(part)
            if not row:
                continue
            values = [_num((r["table"].get(part) or {}).get(key), decimals) for r in runs]
            lines.append(f"| {label} | **{_md(row['dataset'])}** | {_md(row['lang'])} | {row['n']} | "
                         + " | ".join(values) + " |")

    metric_rows("WRR", "wrr", True)
    metric_rows("CRR", "crr", True)
    metric_rows("1−NED", "one_minus_ned", False)
    n = d.get("compared", "")
    lines.append(f"| words/s | | | {n} | " + " | ".join(_num(r["words_per_s"], 1) for r in runs) + " |")
    lines.append(f"| ms/word | | | {n} | " + " | ".join(_num(r["ms_per_word"], 2) for r in runs) + " |")
    return "\n".join(lines)
