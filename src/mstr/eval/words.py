"""Word-level evaluation of a recognizer on a manifest or on LMDBs (``mstr eval --bundle``).

Pipeline::

    load_samples(…) / samples_from_manifest / samples_from_lmdb ─► SampleSet   (mstr.eval.samples)
    SampleSet ─► evaluate(recognizer, …) ─► EvalResult

* :func:`evaluate` decodes the images lazily, ``batch_size`` at a time, with
  :func:`mstr.images.decode_image`; an image that cannot be used (empty, corrupt, zero-size,
  over the pixel limit) is recorded in :attr:`EvalResult.unreadable` with the reason and the
  rest is evaluated. ``rotation`` turns every image by 0/90/180/270 degrees counter-clockwise
  (PIL's convention, the canvas grows to fit) before reading it, to measure orientation
  robustness.
* Scores follow :mod:`mstr.eval.metrics` (DESIGN.md §3).

The recognizer is anything with ``read(images, batch_size=…) -> list[Prediction]``
(:func:`mstr.load`); nothing here imports torch.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Protocol, Sequence

from PIL import Image

from mstr.errors import UserError
from mstr.eval.metrics import (CONVENTIONS, SampleScore, Table, apply_convention, expected_script,
                               score_sample, table)
from mstr.eval.samples import ROTATIONS, EvalSample, ImageSource, SampleSet, rotate_image

__all__ = ["SampleRecord", "EvalResult", "evaluate"]


class _Recognizer(Protocol):
    def read(self, images: Sequence[Image.Image], batch_size: int = 64) -> list[Any]: ...


# --------------------------------------------------------------------------------------------
# results


@dataclass
class SampleRecord:
    """The outcome of one sample; ``gt``/``pred`` in their compared (normalised) form."""

    sample: EvalSample
    score: SampleScore
    pred_text: str
    confidence: float | None
    script: str | None
    expected_script: str | None
    error: str | None = None

    @property
    def correct(self) -> bool:
        return self.score.correct

    def to_dict(self) -> dict[str, Any]:
        """The ``predictions.jsonl`` line of this sample."""
        s = self.sample
        return {"id": s.id, "source": s.source, "dataset": s.dataset, "lang": s.lang,
                "gt": self.score.gt, "pred": self.score.pred, "gt_raw": s.gt,
                "pred_raw": self.pred_text, "confidence": self.confidence, "script": self.script,
                "expected_script": self.expected_script, "script_ok": self.score.script_ok,
                "ed": self.score.ed, "len_gt": self.score.len_gt, "len_pred": self.score.len_pred,
                "correct": self.score.correct, "error": self.error}


@dataclass
class EvalResult:
    """Everything :func:`evaluate` measured.

    ``records``: one :class:`SampleRecord` per evaluated sample, in input order;
    ``table``: the metrics table; ``unreadable``: ``{"id", "source", "dataset", "lang",
    "reason"}`` per image that could not be decoded (not scored); ``problems``: the entries
    skipped while listing the samples (see :class:`SampleSet`); ``out_of_charset``: per
    language, the number of labels with characters outside the recognizer's charsets (they are
    scored — the model cannot get them right).
    """

    records: list[SampleRecord]
    table: Table
    unreadable: list[dict[str, Any]] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)
    convention: str = "default"
    rotation: int = 0
    model: str | None = None
    data: str = ""
    out_of_charset: dict[str, int] = field(default_factory=dict)

    @property
    def failures(self) -> list[SampleRecord]:
        """The records whose prediction is not an exact match."""
        return [record for record in self.records if not record.correct]

    def summary_lines(self, max_items: int = 10) -> list[str]:
        """Lines for the terminal about what was skipped, unreadable or out of the charset."""
        lines: list[str] = []
        if self.problems:
            counts: dict[str, int] = {}
            for p in self.problems:
                counts[p["reason"]] = counts.get(p["reason"], 0) + 1
            lines.append(f"skipped {len(self.problems)} entries of the data ("
                         + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) + "):")
            lines += [f"  {p['message'] if 'line' not in p else _line_message(p)}"
                      for p in self.problems[:max_items]]
            if len(self.problems) > max_items:
                lines.append(f"  … and {len(self.problems) - max_items} more (see report.json)")
        if self.unreadable:
            lines.append(f"{len(self.unreadable)} unreadable images (not scored):")
            lines += [f"  {u['source']}: {u['reason']}" for u in self.unreadable[:max_items]]
            if len(self.unreadable) > max_items:
                lines.append(f"  … and {len(self.unreadable) - max_items} more (see report.json)")
        errors = sum(record.error is not None for record in self.records)
        if errors:
            lines.append(f"the recognizer reported an error on {errors} images (scored as empty "
                         "predictions)")
        if self.out_of_charset:
            lines.append("labels with characters outside the model's charsets (scored anyway): "
                         + ", ".join(f"{k}: {v}" for k, v in sorted(self.out_of_charset.items())))
        return lines

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready report: settings, table, unreadable images and skipped entries."""
        return {"model": self.model, "data": self.data, "convention": self.convention,
                "rotation": self.rotation, "evaluated": len(self.records),
                "table": self.table.to_dict(),
                "unreadable": list(self.unreadable),
                "unreadable_count": len(self.unreadable),
                "problems": list(self.problems),
                "problem_counts": _counts(p["reason"] for p in self.problems),
                "recognizer_errors": sum(r.error is not None for r in self.records),
                "out_of_charset": dict(self.out_of_charset)}


def _line_message(problem: dict[str, Any]) -> str:
    return f"{problem['source']}:{problem['line']}: {problem['message']}"


def _counts(items: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return dict(sorted(counts.items()))


# --------------------------------------------------------------------------------------------
# evaluation


def evaluate(recognizer: _Recognizer, samples: SampleSet | Sequence[EvalSample], *,
             convention: str = "default", rotation: int = 0, batch_size: int = 64,
             progress: bool = True, hint: str | None = None) -> EvalResult:
    """Read every sample with ``recognizer`` and score it (see the module docstring).

    ``samples``: a :class:`SampleSet` (its problems are carried into the result) or a sequence
    of :class:`EvalSample`. ``convention``: ``"default"`` or ``"en-benchmark"``; under the latter
    a sample whose label has no ``[0-9a-z]`` character left is skipped and reported
    (``empty_after_convention``). ``rotation``: degrees counter-clockwise, one of
    :data:`ROTATIONS`. ``progress``: a progress bar on stderr when it is a terminal. ``hint``: a
    language hint for every read (codes, e.g. ``"hi"``), or ``"sample"``: each sample's own language.
    """
    if convention not in CONVENTIONS:
        raise UserError(f"unknown convention {convention!r}; use one of {', '.join(CONVENTIONS)}")
    if rotation not in ROTATIONS:
        raise UserError(f"rotation must be one of {', '.join(map(str, ROTATIONS))}, got {rotation}")
    if batch_size < 1:
        raise UserError(f"batch size must be at least 1, got {batch_size}")
    if isinstance(samples, SampleSet):
        listed, problems, data = samples.samples, list(samples.problems), samples.description
    else:
        listed, problems, data = list(samples), [], ""

    todo: list[EvalSample] = []
    for sample in listed:
        if convention != "default" and not apply_convention(sample.gt, convention):
            problems.append({"source": sample.source, "reason": "empty_after_convention",
                             "message": f"{sample.source}: label {sample.gt!r} is empty under the "
                                        f"{convention} convention; sample skipped"})
        else:
            todo.append(sample)

    from mstr.reading.lang_decode import read_with_hints

    allowed = _model_chars(recognizer)
    records: list[SampleRecord] = []
    unreadable: list[dict[str, Any]] = []
    out_of_charset: dict[str, int] = {}
    with ImageSource() as source, _progress(len(todo), progress) as bar:
        for batch in _batches(todo, batch_size):
            images: list[Image.Image] = []
            kept: list[EvalSample] = []
            for sample in batch:
                try:
                    images.append(rotate_image(source.load(sample), rotation))
                    kept.append(sample)
                except UserError as exc:  # BadImage is a UserError
                    reason = getattr(exc, "problem", str(exc))
                    unreadable.append({"id": sample.id, "source": sample.source,
                                       "dataset": sample.dataset, "lang": sample.lang,
                                       "reason": reason})
            if images:
                predictions = (read_with_hints(recognizer, images, [s.lang for s in kept], batch_size=batch_size)
                               if hint == "sample" else list(recognizer.read(images, batch_size=batch_size,
                                                                             **({"langs": hint} if hint else {}))))
                if len(predictions) != len(images):
                    raise RuntimeError(f"the recognizer returned {len(predictions)} predictions "
                                       f"for {len(images)} images")
                for sample, prediction in zip(kept, predictions):
                    record = _record(sample, prediction, convention)
                    records.append(record)
                    if allowed is not None and any(ch not in allowed for ch in
                                                   apply_convention(sample.gt, "default")):
                        out_of_charset[sample.lang] = out_of_charset.get(sample.lang, 0) + 1
            bar.update(len(batch))

    tbl = table((r.sample.dataset, r.sample.lang, r.score) for r in records)
    return EvalResult(records=records, table=tbl, unreadable=unreadable, problems=problems,
                      convention=convention, rotation=rotation,
                      model=getattr(recognizer, "name", None), data=data,
                      out_of_charset=out_of_charset)


def _record(sample: EvalSample, prediction: Any, convention: str) -> SampleRecord:
    text = getattr(prediction, "text", "") or ""
    confidence = getattr(prediction, "confidence", None)
    script = getattr(prediction, "script", None)
    error = getattr(prediction, "error", None)
    score = score_sample(text, sample.gt, convention=convention, confidence=confidence,
                         script=script, lang=sample.lang)
    return SampleRecord(sample=sample, score=score, pred_text=text,
                        confidence=None if confidence is None else float(confidence),
                        script=script, expected_script=expected_script(sample.lang), error=error)


def _model_chars(recognizer: Any) -> frozenset[str] | None:
    """The union of the charsets of the recognizer's languages, or None if it does not say."""
    langs = getattr(recognizer, "langs", None)
    if not langs:
        return None
    try:
        from mstr.data.lmdb import allowed_chars

        return allowed_chars(list(langs))
    except (UserError, TypeError):
        return None


def _batches(items: Sequence[EvalSample], size: int) -> Iterator[Sequence[EvalSample]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _progress(total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc="eval", unit="img", file=sys.stderr, leave=False,
                disable=None if enabled else True)
