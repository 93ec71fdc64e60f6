"""The samples of a word evaluation: where each image is, its label, language and dataset.

Pipeline::

    samples_from_manifest(manifest, root) ─┐
    samples_from_lmdb(path_or_root, langs) ┴─► SampleSet ─► limit_samples(…, max_samples)

:func:`load_samples` is that pipeline behind the ``--manifest/--root``, ``--lmdb`` and
``--max-samples`` options of ``mstr eval``, ``mstr compare`` and ``mstr bench``. A
:class:`SampleSet` holds lightweight :class:`EvalSample`\\ s plus the :attr:`SampleSet.problems`
met while listing them (manifest lines that are not valid JSON, escape the root, name a missing
file…; LMDB labels that are missing, undecodable or empty): bad lines are skipped and reported,
never fatal. :class:`ImageSource` decodes the images of samples (keeping LMDBs open) and
:func:`rotate_image` turns them for the orientation-robustness evaluation.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from PIL import Image

from mstr.errors import UserError
from mstr.eval.metrics import UNKNOWN_LANG

__all__ = [
    "EvalSample", "SampleSet", "samples_from_manifest", "samples_from_lmdb", "limit_samples",
    "check_data_source", "load_samples", "rotate_image", "load_sample_image", "ImageSource", "ROTATIONS",
]

#: the rotations an evaluation accepts, in degrees counter-clockwise
ROTATIONS = (0, 90, 180, 270)


@dataclass(frozen=True)
class EvalSample:
    """One image to evaluate: a file (``path``) or an LMDB sample (``lmdb`` + ``index``)."""

    id: str
    """the manifest id, or ``image-%09d``"""
    source: str
    """names the image in messages: the file path, or ``"<lmdb folder> image-%09d"``"""
    dataset: str
    lang: str
    gt: str
    """the label as given"""
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


def check_data_source(manifest: Path | None, root: Path | None, lmdb: Path | None) -> None:
    """The data options of a word evaluation: ``--manifest`` with ``--root``, or ``--lmdb``."""
    if manifest is None and lmdb is None:
        raise UserError("give the data: --manifest M --root R, or --lmdb DIR")
    if manifest is not None and lmdb is not None:
        raise UserError("give either --manifest (with --root) or --lmdb, not both")
    if manifest is not None and root is None:
        raise UserError("--manifest needs --root, the folder its path_rel values are relative to")
    if root is not None and manifest is None:
        raise UserError("--root goes with --manifest; for LMDBs use --lmdb DIR alone")


def load_samples(*, manifest: Path | None = None, root: Path | None = None, lmdb: Path | None = None,
                 langs: Sequence[str] | None = None, max_samples: int | None = None,
                 purpose: str = "evaluate") -> SampleSet:
    """The samples named by ``--manifest M --root R`` or ``--lmdb DIR``, at most ``max_samples``.

    One-line :class:`UserError`\\ s: neither or both sources, ``--manifest`` without ``--root``, a
    missing manifest or LMDB (named), and no sample left (``"no sample to {purpose} in …"``, with
    the count and first of the skipped entries).
    """
    check_data_source(manifest, root, lmdb)
    if max_samples is not None and max_samples < 1:
        raise UserError(f"--max-samples must be at least 1, got {max_samples}")
    if manifest is not None:
        if not Path(manifest).is_file():
            raise UserError(f"--manifest {manifest} is not a file")
        samples = samples_from_manifest(manifest, root, langs=langs)  # type: ignore[arg-type]
    else:
        if not Path(lmdb).exists():  # type: ignore[arg-type]
            raise UserError(f"--lmdb {lmdb} does not exist")
        samples = samples_from_lmdb(lmdb, langs)  # type: ignore[arg-type]
    samples = limit_samples(samples, max_samples)
    if not samples.samples:
        raise UserError(_no_sample_message(samples, langs, purpose))
    return samples


def _no_sample_message(samples: SampleSet, langs: Sequence[str] | None, purpose: str) -> str:
    detail = "; ".join(f"{reason}: {count}" for reason, count in sorted(samples.problem_counts.items()))
    first = samples.problems[0] if samples.problems else None
    hint = ""
    if first is not None:
        where = f"{first['source']}:{first['line']}: " if "line" in first else ""
        hint = f" ({len(samples.problems)} entries skipped — {detail}; first: {where}{first['message']})"
    wanted = f" for languages {', '.join(langs)}" if langs else ""
    return f"no sample to {purpose} in {samples.description}{wanted}{hint}"


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
