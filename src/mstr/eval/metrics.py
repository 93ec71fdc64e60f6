"""Word-recognition metrics, exactly as DESIGN.md §3 defines them.

Both strings are normalised first with :func:`mstr.text.normalize` (Unicode NFKD, whitespace
removed), so a precomposed and a decomposed spelling of the same word are equal. Then, per sample,
``ED`` is the Levenshtein distance in code points, and over a set of samples:

* **WRR** (word recognition rate) = 100 × exact matches / samples;
* **CRR** (character recognition rate) = 100 × max(0, 1 − ΣED / Σ len(gt)) — the Indic STR
  convention; it is floored at 0 when predictions are much longer than the labels;
* **1−NED** = 100 × mean(1 − ED / max(len(pred), len(gt))) — the ICDAR-2019 / PARSeq convention;
  a sample whose prediction and label are both empty has NED 0;
* **confidence** = mean of the recognizer's confidences (in [0, 1]);
* **ECE** (expected calibration error, in points like WRR) = 100 × Σ_b (n_b / n) · |acc_b − conf_b|
  over 15 equal-width confidence bins b (acc_b: exact-match share, conf_b: mean confidence of the
  bin's samples; the samples with a confidence only): 0 when the confidence is the probability of
  an exact match, large when the model is over- or underconfident;
* **label length** = mean len(gt) in code points (after normalisation);
* **script-ID** = 100 × share of the words whose predicted script equals the script of their
  language (``mstr.charsets.load_charset(lang).script``); samples of an unknown language are left
  out of it.

Conventions: ``"default"`` compares the normalised strings as they are; ``"en-benchmark"`` is the
convention of the English benchmarks (IIIT5k, SVT, ICDAR, CUTE80 as reported by PARSeq and most
papers): after normalisation, lower-case and keep only ``[0-9a-z]``.

:func:`table` turns scored samples into one row per (dataset, language), a sample-weighted
"Combined" row (pooled over all samples, not an average of rows) and a "Macro (languages)" row
(the mean over languages of each language's metrics, a language pooled over its datasets).
"""
from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

from mstr.text import normalize

__all__ = [
    "CONVENTIONS", "SampleScore", "TableRow", "Table", "edit_distance", "english_benchmark",
    "apply_convention", "score_sample", "expected_script", "aggregate", "table", "format_table",
    "METRIC_KEYS", "METRIC_HEADERS", "UNKNOWN_LANG", "ECE_BINS", "expected_calibration_error",
]

#: the comparison conventions :func:`score_sample` accepts
CONVENTIONS = ("default", "en-benchmark")

#: the ``lang`` of samples whose language is not known
UNKNOWN_LANG = "unknown"

#: metric keys of :func:`aggregate` and of a table row, in the order the table prints them
METRIC_KEYS = ("n", "wrr", "crr", "one_minus_ned", "confidence", "ece", "label_length", "script_id")
#: the column titles of :data:`METRIC_KEYS` (after "Dataset" and "Lang")
METRIC_HEADERS = ("# samples", "WRR", "CRR", "1−NED", "Confidence", "ECE", "Label length", "Script-ID")

#: confidence bins of the expected calibration error
ECE_BINS = 15

COMBINED = "Combined"
MACRO = "Macro (languages)"


# --------------------------------------------------------------------------------------------
# per sample


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance between ``a`` and ``b`` in code points (insert, delete, substitute).

    Plain dynamic programming over two rows: O(len(a) × len(b)) time, O(min) memory.
    """
    if a == b:
        return 0
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return len(a)
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        append = current.append
        left = i
        for j, cb in enumerate(b, start=1):
            diagonal = previous[j - 1] + (ca != cb)
            up = previous[j] + 1
            best = left + 1
            if up < best:
                best = up
            if diagonal < best:
                best = diagonal
            append(best)
            left = best
        previous = current
    return previous[-1]


def english_benchmark(text: str) -> str:
    """The English benchmark convention: normalise, lower-case, keep only ``[0-9a-z]``.

    ``"Hello!"`` → ``"hello"``; ``"café"`` → ``"cafe"`` (NFKD splits off the accent, which is
    then dropped).
    """
    return "".join(ch for ch in normalize(text).lower() if ch in _EN_KEEP)


_EN_KEEP = frozenset("0123456789abcdefghijklmnopqrstuvwxyz")


def apply_convention(text: str, convention: str = "default") -> str:
    """``text`` in the form it is compared under ``convention`` (see :data:`CONVENTIONS`)."""
    if convention == "default":
        return normalize(text)
    if convention == "en-benchmark":
        return english_benchmark(text)
    raise ValueError(f"unknown convention {convention!r}; use one of {', '.join(CONVENTIONS)}")


@dataclass(frozen=True)
class SampleScore:
    """One compared (prediction, label) pair; ``gt`` and ``pred`` in their compared form.

    ``confidence`` (the recognizer's, in [0, 1]) and ``script_ok`` (predicted script == the
    script of the sample's language; None when the language is unknown) are optional: metrics
    that need them skip samples that lack them.
    """

    gt: str
    pred: str
    ed: int
    confidence: float | None = None
    script_ok: bool | None = None

    @property
    def len_gt(self) -> int:
        """Length of the compared label in code points."""
        return len(self.gt)

    @property
    def len_pred(self) -> int:
        """Length of the compared prediction in code points."""
        return len(self.pred)

    @property
    def correct(self) -> bool:
        """An exact match (edit distance 0)."""
        return self.ed == 0

    @property
    def ned(self) -> float:
        """Normalised edit distance ED / max(len(pred), len(gt)); 0 for two empty strings."""
        longest = max(self.len_gt, self.len_pred)
        return self.ed / longest if longest else 0.0


def score_sample(pred: str, gt: str, *, convention: str = "default",
                 confidence: float | None = None, script: str | None = None,
                 lang: str | None = None) -> SampleScore:
    """Compare a prediction with its label under ``convention`` (both normalised first).

    ``script`` (the predicted ISO 15924 script) and ``lang`` (the sample's language) give
    :attr:`SampleScore.script_ok`; it is None when ``lang`` is None or not a known language.
    """
    gt_c = apply_convention(gt, convention)
    pred_c = apply_convention(pred or "", convention)
    ed = edit_distance(pred_c, gt_c)
    want = expected_script(lang) if lang is not None else None
    return SampleScore(gt=gt_c, pred=pred_c, ed=ed, confidence=None if confidence is None else float(confidence),
                       script_ok=None if want is None else script == want)


@functools.lru_cache(maxsize=None)
def expected_script(lang: str) -> str | None:
    """ISO 15924 script of language ``lang`` (its charset's ``script``); None if unknown."""
    from mstr.charsets import ALL_LANGS, load_charset

    if lang not in ALL_LANGS:
        return None
    return load_charset(lang).script


# --------------------------------------------------------------------------------------------
# aggregates


def expected_calibration_error(pairs: Iterable[tuple[float, bool]], bins: int = ECE_BINS) -> float | None:
    """100 × the expected calibration error of ``(confidence, correct)`` pairs over ``bins``
    equal-width bins of [0, 1] (a confidence of 1 falls in the top bin); None for no pairs."""
    count = [0] * bins
    hits = [0] * bins
    conf = [0.0] * bins
    for c, ok in pairs:
        b = min(bins - 1, max(0, int(c * bins)))
        count[b] += 1
        hits[b] += bool(ok)
        conf[b] += c
    n = sum(count)
    if not n:
        return None
    return 100.0 * sum(abs(hits[b] - conf[b]) for b in range(bins)) / n


def aggregate(samples: Iterable[SampleScore]) -> dict[str, Any]:
    """The metrics of a set of samples (percentages in 0…100; see the module docstring).

    Returns ``{"n", "wrr", "crr", "one_minus_ned", "confidence", "ece", "label_length",
    "script_id"}``; a metric with nothing to measure (no samples, no confidences, no known
    language) is None.
    """
    n = exact = total_ed = total_gt = 0
    ned_sum = 0.0
    conf_sum, conf_n = 0.0, 0
    calibration: list[tuple[float, bool]] = []
    script_hits, script_n = 0, 0
    for s in samples:
        n += 1
        exact += s.correct
        total_ed += s.ed
        total_gt += s.len_gt
        ned_sum += 1.0 - s.ned
        if s.confidence is not None and not math.isnan(s.confidence):
            conf_sum += s.confidence
            conf_n += 1
            calibration.append((s.confidence, s.correct))
        if s.script_ok is not None:
            script_hits += s.script_ok
            script_n += 1
    if n == 0:
        return {"n": 0, "wrr": None, "crr": None, "one_minus_ned": None, "confidence": None, "ece": None,
                "label_length": None, "script_id": None}
    if total_gt:
        crr = 100.0 * max(0.0, 1.0 - total_ed / total_gt)
    else:  # only empty labels: perfect if every prediction is empty too
        crr = 100.0 if total_ed == 0 else 0.0
    return {
        "n": n,
        "wrr": 100.0 * exact / n,
        "crr": crr,
        "one_minus_ned": 100.0 * ned_sum / n,
        "confidence": conf_sum / conf_n if conf_n else None,
        "ece": expected_calibration_error(calibration),
        "label_length": total_gt / n,
        "script_id": 100.0 * script_hits / script_n if script_n else None,
    }


@dataclass
class TableRow:
    """One line of the results table: a (dataset, lang) cell, "Combined" or "Macro"."""

    dataset: str
    lang: str
    n: int
    wrr: float | None
    crr: float | None
    one_minus_ned: float | None
    confidence: float | None
    ece: float | None
    label_length: float | None
    script_id: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Table:
    """Rows per (dataset, lang), then the pooled ``combined`` row and the ``macro`` row."""

    rows: list[TableRow] = field(default_factory=list)
    combined: TableRow | None = None
    macro: TableRow | None = None
    langs: list[str] = field(default_factory=list)

    def all_rows(self) -> list[TableRow]:
        """The rows in print order (cells, Combined, Macro)."""
        return self.rows + [row for row in (self.combined, self.macro) if row is not None]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"rows": [...], "combined": {...}, "macro": {...}, "langs": [...]}``."""
        return {"rows": [row.to_dict() for row in self.rows],
                "combined": self.combined.to_dict() if self.combined else None,
                "macro": self.macro.to_dict() if self.macro else None,
                "langs": list(self.langs)}


def table(rows: Iterable[tuple[str, str, SampleScore]]) -> Table:
    """Build the results table from ``(dataset, lang, score)`` triples (one per sample).

    Cells are sorted by (dataset, lang). "Combined" pools all samples (sample-weighted);
    "Macro (languages)" is, for each metric, the mean over languages of that language's value
    (each language pooled over its datasets; languages where the metric is None are left out).
    """
    cells: dict[tuple[str, str], list[SampleScore]] = {}
    by_lang: dict[str, list[SampleScore]] = {}
    everything: list[SampleScore] = []
    for dataset, lang, score in rows:
        lang = lang or UNKNOWN_LANG
        cells.setdefault((dataset, lang), []).append(score)
        by_lang.setdefault(lang, []).append(score)
        everything.append(score)
    out = Table(rows=[_row(dataset, lang, aggregate(scores))
                      for (dataset, lang), scores in sorted(cells.items())],
                langs=sorted(by_lang))
    if not everything:
        return out
    out.combined = _row(COMBINED, "all", aggregate(everything))
    per_lang = [aggregate(scores) for _, scores in sorted(by_lang.items())]
    macro: dict[str, Any] = {"n": len(everything)}
    for key in METRIC_KEYS[1:]:
        values = [metrics[key] for metrics in per_lang if metrics[key] is not None]
        macro[key] = sum(values) / len(values) if values else None
    out.macro = _row(MACRO, f"{len(per_lang)} langs", macro)
    return out


def _row(dataset: str, lang: str, metrics: dict[str, Any]) -> TableRow:
    return TableRow(dataset=dataset, lang=lang, **{key: metrics.get(key) for key in METRIC_KEYS})


_HEADER = ("Dataset", "Lang") + METRIC_HEADERS


def format_table(tbl: Table | dict[str, Any], *, decimals: int = 2) -> str:
    """The table as GitHub markdown, numbers with ``decimals`` decimals ("-" for None).

    Accepts a :class:`Table` or its :meth:`Table.to_dict`.
    """
    if isinstance(tbl, dict):
        cells_rows = list(tbl.get("rows", []))
        summary = [row for row in (tbl.get("combined"), tbl.get("macro")) if row]
    else:
        cells_rows = [row.to_dict() for row in tbl.rows]
        summary = [row.to_dict() for row in (tbl.combined, tbl.macro) if row is not None]
    lines = ["| " + " | ".join(_HEADER) + " |",
             "|" + "|".join(["---", "---"] + ["---:"] * (len(_HEADER) - 2)) + "|"]
    for row, bold in [(row, False) for row in cells_rows] + [(row, True) for row in summary]:
        cells = [_md(row["dataset"]), _md(row["lang"]), str(row["n"])]
        cells += [_number(row.get(key), decimals) for key in METRIC_KEYS[1:]]  # (reports before ECE lack it)
        if bold:
            cells[0] = f"**{cells[0]}**"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _number(value: float | None, decimals: int) -> str:
    return "-" if value is None else f"{value:.{decimals}f}"


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
