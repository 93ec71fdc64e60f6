"""Word-level evaluation of a recognizer on a manifest or on LMDBs (``mstr eval --bundle``).

Pipeline::

    samples_from_manifest(manifest, root) ─┐
    samples_from_lmdb(path_or_root, langs) ┴─► SampleSet ─► evaluate(recognizer, …) ─► EvalResult

* A :class:`SampleSet` holds lightweight :class:`EvalSample`\\ s (where the image is, its label,
  language and dataset) plus the :attr:`SampleSet.problems` met while listing them (manifest
  lines that are not valid JSON, escape the root, name a missing file…; LMDB labels that are
  missing, undecodable or empty). Bad lines are skipped and reported, never fatal.
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
from pathlib import Path
from typing import Any, Iterable, Iterator, Protocol, Sequence

from PIL import Image

from mstr.errors import UserError
from mstr.eval.metrics import (CONVENTIONS, UNKNOWN_LANG, SampleScore, Table, apply_convention,
                               expected_script, score_sample, table)

__all__ = [
    "EvalSample", "SampleSet", "SampleRecord", "EvalResult", "samples_from_manifest",
    "samples_from_lmdb", "limit_samples", "rotate_image", "load_sample_image", "ImageSource",
    "evaluate", "ROTATIONS",
]

#: the rotations :func:`evaluate` accepts, in degrees counter-clockwise
ROTATIONS = (0, 90, 180, 270)


class _Recognizer(Protocol):
    def read(self, images: Sequence[Image.Image], batch_size: int = 64) -> list[Any]: ...


# --------------------------------------------------------------------------------------------
# samples


@dataclass(frozen=True)
class EvalSample:
    """One image to evaluate: a file (``path``) or an LMDB sample (``lmdb`` + ``index``).

    ``id`` is the manifest id or ``image-%09d``; ``source`` names the image in messages (the
    file path, or ``"<lmdb folder> image-%09d"``); ``gt`` is the label as given.
    """

    id: str
    source: str
    dataset: str
    lang: str
    gt: str
    path: Path | None = None
    lmdb: Path | None = None
    index: int | None = None


@dataclass
class SampleSet:
    """The samples to evaluate and the problems met while listing them.

    Each problem is a dict with ``source`` (manifest or LMDB), ``line`` (manifest line number)
    or ``key`` (LMDB key), ``reason`` (a short code) and ``message``.
    """

    samples: list[EvalSample] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)
    description: str = ""

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def problem_counts(self) -> dict[str, int]:
        """Number of skipped entries per reason."""
        counts: dict[str, int] = {}
        for problem in self.problems:
            counts[problem["reason"]] = counts.get(problem["reason"], 0) + 1
        return counts


def samples_from_manifest(manifest: str | Path, root: str | Path, *,
                          langs: Sequence[str] | None = None) -> SampleSet:
    """The samples of a JSON-lines manifest (DESIGN.md §2), images under ``root``.

    Lines that :func:`mstr.data.manifest.read_manifest` rejects (invalid JSON, missing keys,
    unknown lang, a ``path_rel`` that escapes ``root``, a missing image, empty ``gt_text``) are
    skipped and listed in :attr:`SampleSet.problems` with their line number. ``langs``, when
    given, keeps only those languages. The dataset of a sample is its ``dataset`` field.
    """
    from mstr.data.manifest import read_manifest

    read = read_manifest(manifest, root)
    wanted = set(langs) if langs else None
    out = SampleSet(description=f"manifest {manifest} (root {root})")
    out.problems = [{"source": p.manifest, "line": p.line, "reason": p.reason,
                     "message": p.message} for p in read.problems]
    for record in read.records:
        if wanted is not None and record.lang not in wanted:
            continue
        out.samples.append(EvalSample(
            id=record.id, source=str(Path(root) / record.path_rel), dataset=record.dataset or "-",
            lang=record.lang, gt=record.gt_text, path=record.image_path(root)))
    return out


def samples_from_lmdb(path_or_root: str | Path, langs: Sequence[str] | None = None) -> SampleSet:
    """The samples of one LMDB, or of every ``[LMDB/]<lang>/<split>_lmdb`` under a root.

    The dataset name is the LMDB folder's name (``test_lmdb``); the language of a sample is its
    ``lang-%09d`` key, else the folder layout's language, else — when ``langs`` names exactly one
    language — that one, else ``"unknown"`` (no script-ID for it). ``langs``, when given, keeps
    only those languages. Labels that are missing, not UTF-8 or empty after normalisation are
    skipped and listed in :attr:`SampleSet.problems` with their key.
    """
    from mstr.data.lmdb import find_lmdbs
    from mstr.data.lmdb import LmdbReader, image_key, label_key
    from mstr.text import normalize

    wanted = list(langs) if langs else None
    fallback = wanted[0] if wanted is not None and len(wanted) == 1 else None
    out = SampleSet(description=f"LMDB {path_or_root}")
    for location in find_lmdbs(path_or_root, wanted):
        with LmdbReader(location.path) as reader:
            folder = reader.path
            dataset = folder.name
            default = location.lang or fallback or UNKNOWN_LANG
            for record in reader.iter_labels():
                key = label_key(record.index).decode()
                if record.problem is not None:
                    what = ("no label key" if record.problem == "missing_label"
                            else "label is not valid UTF-8")
                    out.problems.append({"source": str(folder), "key": key,
                                         "reason": record.problem,
                                         "message": f"{folder} {key}: {what}; sample skipped"})
                    continue
                lang = record.lang or default
                if wanted is not None and lang not in wanted:
                    continue
                if not normalize(record.label or ""):
                    out.problems.append({"source": str(folder), "key": key, "reason": "empty_label",
                                         "message": f"{folder} {key}: label is empty; sample "
                                                    "skipped"})
                    continue
                ikey = image_key(record.index).decode()
                out.samples.append(EvalSample(
                    id=ikey, source=f"{folder} {ikey}", dataset=dataset, lang=lang,
                    gt=record.label or "", lmdb=folder, index=record.index))
    return out


def limit_samples(samples: SampleSet, max_samples: int | None) -> SampleSet:
    """At most ``max_samples`` samples, evenly spaced over the list (every group keeps its share)."""
    if max_samples is None or len(samples.samples) <= max_samples:
        return samples
    if max_samples < 1:
        raise UserError(f"--max-samples must be at least 1, got {max_samples}")
    n = len(samples.samples)
    picked = [samples.samples[(i * n) // max_samples] for i in range(max_samples)]
    return SampleSet(samples=picked, problems=samples.problems,
                     description=f"{samples.description}, {max_samples} of {n} samples")


# --------------------------------------------------------------------------------------------
# images


def rotate_image(image: Image.Image, rotation: int) -> Image.Image:
    """``image`` turned ``rotation`` ∈ {0, 90, 180, 270} degrees counter-clockwise (lossless)."""
    if rotation not in ROTATIONS:
        raise UserError(f"rotation must be one of {', '.join(map(str, ROTATIONS))}, got {rotation}")
    if rotation == 0:
        return image
    op = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180,
          270: Image.Transpose.ROTATE_270}[rotation]
    return image.transpose(op)


class ImageSource:
    """Reads sample images, keeping each LMDB open for the whole evaluation."""

    def __init__(self) -> None:
        self._readers: dict[Path, Any] = {}

    def load(self, sample: EvalSample) -> Image.Image:
        """The decoded RGB image of ``sample``; raises :class:`mstr.images.BadImage`."""
        from mstr.images import BadImage, decode_image, load_image

        if sample.path is not None:
            return load_image(sample.path)
        if sample.lmdb is None or sample.index is None:
            raise BadImage(sample.source, "sample names neither a file nor an LMDB entry")
        reader = self._readers.get(sample.lmdb)
        if reader is None:
            from mstr.data.lmdb import LmdbReader

            try:
                reader = self._readers[sample.lmdb] = LmdbReader(sample.lmdb)
            except UserError as exc:
                raise BadImage(sample.source, f"cannot open the LMDB ({exc})") from None
        data = reader.image_bytes(sample.index)
        if data is None:
            raise BadImage(sample.source, "image key is missing from the LMDB")
        return decode_image(data, sample.source)

    def close(self) -> None:
        for reader in self._readers.values():
            reader.close()
        self._readers.clear()

    def __enter__(self) -> "ImageSource":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


def load_sample_image(sample: EvalSample, rotation: int = 0) -> Image.Image:
    """The image of one sample as the recognizer saw it (decoded, then rotated)."""
    with ImageSource() as source:
        return rotate_image(source.load(sample), rotation)


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
