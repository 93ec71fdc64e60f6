"""A self-contained HTML gallery of the failures of a word evaluation.

:func:`write_gallery` writes one UTF-8 HTML file with no external resources: each failing image
is inlined as a base64 PNG thumbnail (rotated as the recognizer saw it), next to its label and
the prediction, with the differing characters highlighted, the confidence, the edit distance,
the language, the dataset and where the image came from. The failures are grouped per language
and sorted by confidence, highest first: the most confident mistakes are the most instructive.

Differences are computed on grapheme-like clusters (a base character with its combining marks,
joined through a virama), so a wrong matra highlights its whole akshara; hovering a highlight
shows its code points. Every piece of text is HTML-escaped.
"""
from __future__ import annotations

import base64
import difflib
import html
import io
import os
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mstr.errors import UserError

if TYPE_CHECKING:
    from mstr.eval.words import EvalResult, SampleRecord

__all__ = ["write_gallery", "clusters", "diff_html"]

_THUMB = (320, 96)
_MAX_UNREADABLE = 100
_ZW_JOINERS = frozenset("\u200c\u200d")

_CSS = """
body{font-family:system-ui,'Noto Sans','Noto Sans Devanagari','Noto Sans Bengali',
'Noto Sans Tamil','Noto Sans Telugu','Noto Sans Malayalam',sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ccc}
table.metrics{border-collapse:collapse;font-size:.9em}
table.metrics td,table.metrics th{border:1px solid #ccc;padding:2px 8px;text-align:right}
table.metrics td:nth-child(-n+2),table.metrics th:nth-child(-n+2){text-align:left}
.grid{display:flex;flex-wrap:wrap;gap:10px}
.card{border:1px solid #ddd;border-radius:6px;padding:8px;width:340px;background:#fafafa}
.card img{max-width:320px;max-height:96px;min-height:32px;display:block;margin-bottom:6px;
image-rendering:auto;background:#fff;border:1px solid #eee}
.txt{font-size:1.35em;word-break:break-all}
.lbl{display:inline-block;width:3.2em;color:#777;font-size:.75em}
mark.gt{background:#ffd6a5}mark.pr{background:#ffadad}
.empty{color:#999;font-style:italic}
.meta{font-size:.8em;color:#555;margin-top:4px;word-break:break-all}
.noimg{color:#a00;font-size:.8em}
"""


def clusters(text: str) -> list[str]:
    """Split ``text`` into grapheme-like clusters for display and diffing.

    A cluster is a base character with the combining marks (Unicode category M*) and zero-width
    joiners that follow it; a letter after a virama joins the cluster (an Indic conjunct).
    """
    out: list[str] = []
    for ch in text:
        if out and (unicodedata.category(ch).startswith("M") or ch in _ZW_JOINERS
                    or (unicodedata.combining(out[-1][-1]) == 9
                        and unicodedata.category(ch).startswith("L"))):
            out[-1] += ch
        else:
            out.append(ch)
    return out


def diff_html(gt: str, pred: str) -> tuple[str, str]:
    """HTML of ``gt`` and ``pred`` with the clusters that differ wrapped in ``<mark>``."""
    a, b = clusters(gt), clusters(pred)
    gt_parts: list[str] = []
    pred_parts: list[str] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        left, right = "".join(a[i1:i2]), "".join(b[j1:j2])
        if tag == "equal":
            gt_parts.append(html.escape(left))
            pred_parts.append(html.escape(right))
            continue
        if left:
            gt_parts.append(_mark(left, "gt"))
        if right:
            pred_parts.append(_mark(right, "pr"))
    return "".join(gt_parts), "".join(pred_parts)


def _mark(text: str, css: str) -> str:
    points = " ".join(f"U+{ord(ch):04X}" for ch in text)
    return f'<mark class="{css}" title="{html.escape(points)}">{html.escape(text)}</mark>'


def write_gallery(result: "EvalResult", out_html: str | Path, *, max_items: int = 200) -> int:
    """Write the failure gallery of ``result`` to ``out_html``; return the failures shown.

    The ``max_items`` most confident failures are shown (failures without a confidence last),
    grouped per language, each group sorted by confidence descending. Images are reloaded from
    their source; one that cannot be reloaded is shown as a note instead of a thumbnail.
    """
    from mstr.eval.samples import ImageSource, rotate_image

    failures = sorted(result.failures, key=_confidence_key)
    shown = failures[:max(0, max_items)]
    by_lang: dict[str, list[SampleRecord]] = {}
    for record in shown:
        by_lang.setdefault(record.sample.lang, []).append(record)

    parts = [_head(result, len(failures), len(shown))]
    with ImageSource() as source:
        for lang in sorted(by_lang):
            records = by_lang[lang]
            n_lang = sum(1 for r in failures if r.sample.lang == lang)
            script = records[0].expected_script
            parts.append(f"<h2 id=\"lang-{html.escape(lang)}\">{html.escape(lang)}"
                         f"{' (' + html.escape(script) + ')' if script else ''} — "
                         f"{len(records)} of {n_lang} failures</h2>\n<div class=\"grid\">")
            for record in records:
                parts.append(_card(record, source, rotate_image, result.rotation))
            parts.append("</div>")
    if not shown:
        parts.append("<p>No failures: every evaluated word was read exactly.</p>")
    if result.unreadable:
        items = "".join(f"<li>{html.escape(str(u['source']))}: {html.escape(str(u['reason']))}</li>"
                        for u in result.unreadable[:_MAX_UNREADABLE])
        more = len(result.unreadable) - _MAX_UNREADABLE
        tail = f"<li>… and {more} more (see report.json)</li>" if more > 0 else ""
        parts.append(f"<h2 id=\"unreadable\">Unreadable images (not scored): "
                     f"{len(result.unreadable)}</h2>\n<ul class=\"meta\">{items}{tail}</ul>")
    parts.append("</body>\n</html>\n")

    out_html = Path(out_html)
    try:
        out_html.parent.mkdir(parents=True, exist_ok=True)
        tmp = out_html.with_name(f".{out_html.name}.{os.getpid()}.tmp")
        tmp.write_text("\n".join(parts), encoding="utf-8")
        os.replace(tmp, out_html)
    except OSError as exc:
        raise UserError(f"cannot write the gallery {out_html}: {exc}") from None
    return len(shown)


def _confidence_key(record: "SampleRecord") -> tuple[int, float]:
    conf = record.confidence
    return (1, 0.0) if conf is None else (0, -conf)


def _head(result: "EvalResult", n_failures: int, n_shown: int) -> str:
    e = html.escape
    settings = [("model", result.model or "-"), ("data", result.data or "-"),
                ("convention", result.convention), ("rotation", f"{result.rotation}° ccw"),
                ("evaluated", str(len(result.records))), ("failures", str(n_failures)),
                ("shown", f"{n_shown} most confident"),
                ("unreadable images", str(len(result.unreadable))),
                ("skipped entries", str(len(result.problems)))]
    items = "".join(f"<li><b>{e(k)}</b>: {e(v)}</li>" for k, v in settings)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>mstr eval failures — {e(result.model or 'model')}</title>\n"
            f"<style>{_CSS}</style>\n</head>\n<body>\n<h1>Failures of {e(result.model or 'the model')}"
            f"</h1>\n<ul>{items}</ul>\n{_metrics_html(result)}\n"
            "<p>Label (gt) and prediction (pred) are compared after normalisation (NFKD, no "
            "whitespace" + (", lower-case [0-9a-z] only" if result.convention == "en-benchmark"
                            else "") + "). Highlighted: the characters that differ (hover for "
            "code points).</p>")


def _metrics_html(result: "EvalResult") -> str:
    from mstr.eval.metrics import METRIC_HEADERS, METRIC_KEYS

    e = html.escape
    tbl = result.table
    head = "<tr>" + "".join(f"<th>{e(h)}</th>" for h in ("Dataset", "Lang") + METRIC_HEADERS) + "</tr>"
    rows = []
    for row in tbl.all_rows():
        d = row.to_dict()
        cells = [e(str(d["dataset"])), e(str(d["lang"])), str(d["n"])]
        cells += ["-" if d.get(k) is None else f"{d[k]:.2f}" for k in METRIC_KEYS[1:]]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<table class=\"metrics\">{head}{''.join(rows)}</table>"


def _card(record: "SampleRecord", source: Any, rotate: Any, rotation: int) -> str:
    e = html.escape
    gt_html, pred_html = diff_html(record.score.gt, record.score.pred)
    if not record.score.pred:
        pred_html = "<span class=\"empty\">(empty)</span>"
    conf = "-" if record.confidence is None else f"{record.confidence:.3f}"
    sample = record.sample
    script = (f"{record.script or '-'} (expected {record.expected_script or '-'})")
    meta = (f"conf {e(conf)} · ED {record.score.ed} · {e(sample.lang)} · {e(sample.dataset)} · "
            f"script {e(script)}<br>{e(sample.source)}")
    if record.error:
        meta += f"<br>recognizer error: {e(record.error)}"
    return ("<div class=\"card\">" + _thumbnail(record, source, rotate, rotation)
            + f"<div class=\"txt\"><span class=\"lbl\">gt</span>{gt_html}</div>"
            + f"<div class=\"txt\"><span class=\"lbl\">pred</span>{pred_html}</div>"
            + f"<div class=\"meta\">{meta}</div></div>")


def _thumbnail(record: "SampleRecord", source: Any, rotate: Any, rotation: int) -> str:
    try:
        image = rotate(source.load(record.sample), rotation)
    except UserError as exc:
        return f"<div class=\"noimg\">image unavailable: {html.escape(str(exc))}</div>"
    image = image.copy()
    image.thumbnail(_THUMB)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return (f"<img alt=\"{html.escape(record.score.gt)}\" "
            f"src=\"data:image/png;base64,{data}\">")
