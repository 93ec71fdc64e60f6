"""Stage-1 evaluation: retrieve held-out character crops from the frozen bank.

Each crop of ``<data_root>/LMDB/<lang>/test_lmdb`` (written by
``mstr synth chars --fonts heldout``: fonts never seen in training) is embedded by the mCLIP image
tower and compared, by cosine similarity (the dot product of unit vectors), with every
non-special row of the bank. The *true entry* of a crop labelled ``ch`` in language ``lang`` is
the bank row ``(script of lang, ch)``, else the shared Common row ``("Zyyy", ch)`` — the same
mapping as training (a charset's ``common`` characters are Common entries).

Definitions (percentages over the queries of a group):

* **top-1** — the most similar row is the true entry;
* **top-5** — the true entry is among the 5 most similar rows;
* **leakage** (cross-script leakage) — the most similar row is script-specific and of another
  script than the true entry: ``script(top-1) ∉ {script(true), "Zyyy"}``. Predicting a Common
  entry is never leakage; for a Common query (digit ``7``, ``?``) any script-specific top-1
  (``l``, ``७``) is leakage.
* **net leakage** — leakage less the queries whose true and top-1 entries are declared glyph
  twins (``configs/homoglyph_twins.json``: characters of different scripts drawn with the same
  glyph, e.g. the Bengali and Devanagari nukta; :func:`load_twins`). No reader of an isolated
  crop can separate twins, so they set a floor under the leakage that no model can go below.

Groups: per script of the *true* entry (Common queries form their own ``Zyyy`` row), per
language, per subtype (letter / diacritic / digit / punctuation), and overall. Each table also
gets a sample-weighted *Combined* row and a *Macro* row (unweighted mean over the table's
rows), as in DESIGN §3.

Confusions: the most frequent wrong (true → top-1) pairs, and the "near-neighbour" confusions,
the wrong pairs in which either side is a diacritic (matra, virama, nukta, anusvara, …).
"""
from __future__ import annotations

import logging
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from mstr.data.lmdb import lmdb_path
from mstr.errors import UserError
from mstr.scripts import COMMON_SCRIPT, UNKNOWN_SCRIPT

__all__ = [
    "SPLITS", "TOPK", "N_CONFUSIONS", "DEFINITIONS", "TWINS_FILE", "split_path", "missing_split_error",
    "load_twins", "evaluate_retrieval", "score_retrieval", "format_retrieval", "display_token",
]

log = logging.getLogger(__name__)

SPLITS: tuple[str, ...] = ("test", "val")
TOPK = 5
N_CONFUSIONS = 20
DIACRITIC = "diacritic"

DEFINITIONS: dict[str, str] = {
    "top1": "% of queries whose most similar non-special bank row is the true entry",
    "top5": "% of queries whose true entry is among the 5 most similar non-special bank rows",
    "leakage": "% of queries whose top-1 row is script-specific and of another script than the "
               "true entry: script(top-1) not in {script(true), Zyyy}; Common predictions never "
               "leak, and a Common query predicted as a script-specific row does",
    "leakage_net": "leakage less the queries whose true and top-1 entries are declared cross-script "
                   "glyph twins (one group of the twins file)",
    "similarity": "cosine similarity = dot product of L2-normalised image embedding and bank row",
    "true_entry": "(script of the language, label) if in the bank, else (Zyyy, label)",
    "near_neighbour": "wrong top-1 pairs in which the true or the predicted entry is a diacritic",
    "combined": "sample-weighted over all queries",
    "macro": "unweighted mean over the table's rows",
}


TWINS_FILE = Path(__file__).resolve().parents[1] / "configs" / "homoglyph_twins.json"

Twins = list[frozenset[tuple[str, str]]]


def load_twins(path: str | Path | None = None) -> Twins:
    """The declared cross-script glyph twins: groups of ``(script, character)`` bank keys
    (``Zyyy`` for Common characters) that share a glyph. ``path`` defaults to the shipped
    :data:`TWINS_FILE` (made by ``tools/homoglyph_floor.py``; see its ``about``)."""
    import json

    path = Path(path) if path is not None else TWINS_FILE
    fix = "give a JSON file {\"groups\": [[[\"Beng\", \"০\"], [\"Deva\", \"०\"]], ...]}"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"twins file {path} not found; {fix}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"twins file {path} is unreadable ({exc}); {fix}") from None
    groups = data.get("groups") if isinstance(data, dict) else None
    if not isinstance(groups, list):
        raise UserError(f"twins file {path} has no list \"groups\"; {fix}")
    out: Twins = []
    for i, group in enumerate(groups):
        ok = isinstance(group, list) and len(group) >= 2 and all(
            isinstance(k, list) and len(k) == 2 and all(isinstance(v, str) and v for v in k) for k in group)
        if not ok:
            raise UserError(f"twins file {path}: group {i} is not a list of two or more [script, character] "
                            f"pairs ({group!r}); {fix}")
        out.append(frozenset((script, ch) for script, ch in group))
    return out


# --------------------------------------------------------------------------------------------
# data


def split_path(data_root: str | Path, lang: str, split: str = "test") -> Path:
    """``<data_root>/LMDB/<lang>/<split>_lmdb``."""
    return lmdb_path(data_root, lang, split)


def missing_split_error(data_root: str | Path, langs: Sequence[str], split: str = "test") -> UserError:
    """The UserError for absent ``<split>_lmdb`` folders, with the command that makes them."""
    langs = list(langs)
    paths = ", ".join(str(split_path(data_root, lang, split)) for lang in langs[:4])
    more = f" and {len(langs) - 4} more" if len(langs) > 4 else ""
    if split == "test":
        how = (f"render held-out character crops first: 'mstr synth chars --langs {','.join(langs)} "
               f"--n 2000 --fonts heldout --out {data_root}' (fonts never used for training)")
    else:
        how = (f"generate character crops first: 'mstr synth chars --langs {','.join(langs)} "
               f"--n 40000 --out {data_root}' (the {split} split uses training fonts)")
    return UserError(f"no {split} character crops: {paths}{more} not found; {how}")


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise UserError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")


class _Crops(torch.utils.data.Dataset):
    """The chosen samples of one language LMDB → ``(image 3×S×S, true bank row or -1)``.

    Holds only the dataset, positions, expected labels and rows (picklable for DataLoader
    workers under any start method).
    """

    def __init__(self, ds: Any, positions: Sequence[int], labels: Sequence[str], rows: Sequence[int],
                 size: int) -> None:
        self.ds, self.positions, self.labels, self.rows = ds, list(positions), list(labels), list(rows)
        self.size = size

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        from mstr.preprocess import to_tensor

        image, label, _ = self.ds[self.positions[i]]
        # a corrupt image is replaced by the dataset with the next good sample: drop it (-1)
        row = self.rows[i] if label == self.labels[i] else -1
        return to_tensor(image, (self.size, self.size)), row


def _subsample(n: int, limit: int | None) -> list[int]:
    """``limit`` evenly spaced positions of ``range(n)`` (all when ``limit`` is None or ≥ n)."""
    if limit is None or limit >= n:
        return list(range(n))
    return [i * n // limit for i in range(limit)]


def _model_device(model: Any) -> torch.device:
    try:
        return next(model.parameters()).device
    except (AttributeError, StopIteration, TypeError):
        return torch.device("cpu")


def evaluate_retrieval(model: Any, bank: Any, data_root: str | Path, langs: str | Sequence[str], *,
                       split: str = "test", batch_size: int = 512, max_per_lang: int | None = None,
                       progress: bool = True, workers: int = 0, image_size: int | None = None,
                       device: str | torch.device | None = None, twins: Twins | None = None) -> dict[str, Any]:
    """Retrieval of the ``split`` character crops of ``langs`` against ``bank`` (see the module).

    ``model`` needs ``encode_image(B, 3, S, S in [-1, 1]) -> B, D`` (an :class:`~mstr.models.
    mclip.MClip`); ``S`` is ``image_size``, else ``model.cfg.image_size``. Runs in eval mode
    under ``torch.no_grad`` on ``device`` (default: the model's). ``max_per_lang`` keeps that
    many evenly spaced samples per language. Labels outside the language's charset or the bank
    are skipped and counted. ``twins`` (:func:`load_twins`) are left out of the net leakage. Returns the JSON-able report of :func:`score_retrieval` plus
    ``split``, ``data_root`` and per-language ``skipped`` counts.

    Raises UserError for an unknown split, a language the bank lacks, missing LMDBs (naming
    the ``mstr synth chars`` command that makes them), or a model/bank dimension mismatch.
    """
    from tqdm import tqdm

    from mstr.charsets import parse_langs
    from mstr.data.lmdb import LmdbDataset

    _check_split(split)
    langs = parse_langs(langs)
    if batch_size < 1:
        raise UserError(f"batch size must be at least 1, got {batch_size}")
    if max_per_lang is not None and max_per_lang < 1:
        raise UserError(f"--max-per-lang must be at least 1, got {max_per_lang}")
    absent = [lang for lang in langs if lang not in bank.langs()]
    if absent:
        raise UserError(f"language(s) {', '.join(absent)} not in the bank (it covers "
                        f"{', '.join(bank.langs()) or 'no language'}); evaluate the bank's "
                        "languages, or build a bank with them ('mstr bank')")
    missing = [lang for lang in langs if not (split_path(data_root, lang, split) / "data.mdb").is_file()]
    if missing:
        raise missing_split_error(data_root, missing, split)
    size = int(image_size if image_size is not None else model.cfg.image_size)
    dev = torch.device(device) if device is not None else _model_device(model)

    candidates = torch.tensor([i for i, e in enumerate(bank.entries) if e.subtype != "special"],
                              dtype=torch.long)
    if candidates.numel() == 0:
        raise UserError("the bank has no character entries (only specials)")
    cand_vectors = bank.vectors[candidates].to(dev, torch.float32)
    k = min(TOPK, int(candidates.numel()))

    true_rows: list[np.ndarray] = []
    top_rows: list[np.ndarray] = []
    query_langs: list[str] = []
    skipped: dict[str, dict[str, int]] = {}
    if hasattr(model, "eval"):
        model.eval()
    for lang in langs:
        path = split_path(data_root, lang, split)
        ds = LmdbDataset(path, charset_langs=[lang], lang=lang)
        script = bank.lang_script(lang)

        def row_of(label: str | None, script: str = script) -> int | None:
            if not label or len(label) != 1:
                return None
            row = bank.index(label, script)
            return row if row is not None else bank.index(label, COMMON_SCRIPT)

        skips: Counter[str] = Counter(ds.skipped)
        usable: list[tuple[int, str, int]] = []
        for p in range(len(ds)):
            label = ds.label_at(p)
            row = row_of(label)
            if row is None:
                skips["not_one_char" if len(label) != 1 else "not_in_bank"] += 1
            else:
                usable.append((p, label, row))
        usable = [usable[i] for i in _subsample(len(usable), max_per_lang)]
        crops = _Crops(ds, [u[0] for u in usable], [u[1] for u in usable], [u[2] for u in usable], size)
        loader = torch.utils.data.DataLoader(crops, batch_size=batch_size, num_workers=workers, shuffle=False)
        bar = tqdm(loader, desc=f"mclip eval {lang}", unit="batch", disable=None if progress else True,
                   leave=False)
        n_lang = 0
        with torch.no_grad():
            for x, rows in bar:
                keep = rows >= 0
                if not bool(keep.all()):
                    skips["bad_image"] += int((~keep).sum())
                    x, rows = x[keep], rows[keep]
                if rows.numel() == 0:
                    continue
                emb = model.encode_image(x.to(dev)).float()
                if emb.ndim != 2 or emb.shape[1] != cand_vectors.shape[1]:
                    raise UserError(f"the model embeds crops in dimension {tuple(emb.shape)[1:]} but "
                                    f"the bank has dimension {cand_vectors.shape[1]}: use the bank "
                                    "built from this mCLIP")
                emb = torch.nn.functional.normalize(emb, dim=-1)
                top = (emb @ cand_vectors.T).topk(k, dim=1).indices.cpu()
                top_rows.append(candidates[top].numpy())
                true_rows.append(rows.numpy().astype(np.int64))
                n_lang += int(rows.numel())
        query_langs += [lang] * n_lang
        skipped[lang] = dict(sorted(skips.items()))
        if n_lang == 0:
            log.warning("%s: no usable crops of %s (skipped: %s)", path, lang, skipped[lang] or "none")

    true = np.concatenate(true_rows) if true_rows else np.zeros(0, dtype=np.int64)
    top = np.concatenate(top_rows) if top_rows else np.zeros((0, k), dtype=np.int64)
    report = score_retrieval(bank, true, top, query_langs, lang_order=langs, twins=twins)
    report.update(split=split, data_root=str(data_root), skipped=skipped,
                  max_per_lang=max_per_lang, image_size=size)
    return report


# --------------------------------------------------------------------------------------------
# scoring


def _pct(x: int | float, n: int) -> float | None:
    return round(100.0 * float(x) / n, 4) if n else None


def _group(mask: np.ndarray, hit1: np.ndarray, hit5: np.ndarray, leak: np.ndarray,
           net_leak: np.ndarray, pred_script: np.ndarray) -> dict[str, Any]:
    n = int(mask.sum())
    leaked = Counter(pred_script[mask & leak].tolist())
    return {"n": n, "top1": _pct(hit1[mask].sum(), n), "top5": _pct(hit5[mask].sum(), n),
            "leakage": _pct(leak[mask].sum(), n), "leakage_net": _pct(net_leak[mask].sum(), n),
            "leaked_to": dict(sorted(leaked.items(), key=lambda kv: (-kv[1], kv[0])))}


def _macro(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"n": sum(r["n"] for r in rows)}
    for key in ("top1", "top5", "leakage", "leakage_net"):
        vals = [r[key] for r in rows if r[key] is not None]
        out[key] = round(float(np.mean(vals)), 4) if vals else None
    return out


def _token_info(bank: Any, row: int) -> dict[str, Any]:
    e = bank.entries[row]
    return {"row": int(row), "token": e.token, "script": e.script, "subtype": e.subtype,
            "codepoint": f"U+{ord(e.token):04X}" if len(e.token) == 1 else "",
            "name": unicodedata.name(e.token, "") if len(e.token) == 1 else e.token}


def score_retrieval(bank: Any, true_rows: np.ndarray, top_rows: np.ndarray,
                    query_langs: Sequence[str], *, lang_order: Sequence[str] | None = None,
                    n_confusions: int = N_CONFUSIONS, twins: Twins | None = None) -> dict[str, Any]:
    """The report for retrieved bank rows ``top_rows`` [Q, K] (best first) of queries whose
    true rows are ``true_rows`` [Q] and languages ``query_langs`` [Q]. ``twins``: groups of
    ``(script, character)`` keys (:func:`load_twins`) whose leaks the net leakage leaves out
    (none when None).

    Returns ``{"n", "bank", "overall", "per_script", "per_lang", "per_subtype", "combined"/
    "macro" rows per table, "confusions", "near_neighbour", "definitions"}`` (JSON-able).
    """
    true = np.asarray(true_rows, dtype=np.int64).reshape(-1)
    top = np.asarray(top_rows, dtype=np.int64).reshape(len(true), -1)
    langs_q = np.asarray(list(query_langs), dtype=object)
    if len(langs_q) != len(true):
        raise ValueError(f"{len(true)} true rows but {len(langs_q)} query languages")
    scripts = np.asarray([e.script for e in bank.entries], dtype=object)
    subtypes = np.asarray([e.subtype for e in bank.entries], dtype=object)
    group_of = {key: g for g, group in enumerate(twins or []) for key in group}
    twin_group = np.asarray([group_of.get((e.script, e.token), -1) for e in bank.entries], dtype=np.int64)
    q = len(true)
    if q:
        pred = top[:, 0]
        hit1 = pred == true
        hit5 = (top[:, :TOPK] == true[:, None]).any(axis=1)
        true_script, pred_script = scripts[true], scripts[pred]
        leak = (pred_script != true_script) & (pred_script != COMMON_SCRIPT)
        net_leak = leak & ~((twin_group[true] >= 0) & (twin_group[true] == twin_group[pred]))
        true_sub = subtypes[true]
    else:
        pred = np.zeros(0, dtype=np.int64)
        hit1 = hit5 = leak = net_leak = np.zeros(0, dtype=bool)
        true_script = pred_script = true_sub = np.zeros(0, dtype=object)
    everything = np.ones(q, dtype=bool)

    def table(values: np.ndarray, order: Sequence[str], key: str) -> list[dict[str, Any]]:
        present = set(values.tolist())
        ordered = [v for v in order if v in present] + sorted(present - set(order))
        return [{key: v, **_group(values == v, hit1, hit5, leak, net_leak, pred_script)} for v in ordered]

    from mstr.scripts import SCRIPT_NAMES

    bank_scripts = [s for s in bank.scripts() if s not in (COMMON_SCRIPT, UNKNOWN_SCRIPT)] + [COMMON_SCRIPT]
    per_script = table(true_script, bank_scripts, "script")
    for row in per_script:
        row["name"] = SCRIPT_NAMES.get(row["script"], row["script"])
    per_lang = table(langs_q, list(lang_order or []), "lang")
    for row in per_lang:
        row["script"] = bank.lang_script(row["lang"])
    per_subtype = table(true_sub, ["letter", DIACRITIC, "digit", "punctuation"], "subtype")
    overall = _group(everything, hit1, hit5, leak, net_leak, pred_script)

    wrong = ~hit1
    pairs = Counter(zip(true[wrong].tolist(), pred[wrong].tolist()))
    n_true = Counter(true.tolist())

    def pair_rows(items: Sequence[tuple[tuple[int, int], int]]) -> list[dict[str, Any]]:
        return [{"true": _token_info(bank, t), "pred": _token_info(bank, p), "count": int(c),
                 "share": _pct(c, n_true[t])} for (t, p), c in items]

    ranked = sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0][0], kv[0][1]))
    near = [(tp, c) for tp, c in ranked
            if subtypes[tp[0]] == DIACRITIC or subtypes[tp[1]] == DIACRITIC]
    kinds: Counter[str] = Counter()
    for (t, p), c in near:
        kinds[f"{'diacritic' if subtypes[t] == DIACRITIC else 'other'}→"
              f"{'diacritic' if subtypes[p] == DIACRITIC else 'other'}"] += c
    dia_q = true_sub == DIACRITIC
    near_neighbour = {
        "n_errors": int(sum(c for _, c in near)),
        "share_of_errors": _pct(sum(c for _, c in near), int(wrong.sum())),
        "by_kind": {kind: int(kinds.get(kind, 0)) for kind in
                    ("diacritic→diacritic", "diacritic→other", "other→diacritic")},
        "diacritic_queries": int(dia_q.sum()),
        "diacritic_top1": _pct(hit1[dia_q].sum(), int(dia_q.sum())),
        "pairs": pair_rows(near[:n_confusions]),
    }
    return {
        "n": q,
        "bank": {"size": len(bank.entries), "candidates": int((subtypes != "special").sum()),
                 "dim": int(bank.dim), "fingerprint": bank.fingerprint()},
        "langs": list(lang_order) if lang_order is not None else sorted(set(langs_q.tolist())),
        "twin_groups": len(twins or []),
        "overall": overall,
        "per_script": per_script,
        "per_script_macro": _macro(per_script),
        "per_lang": per_lang,
        "per_lang_macro": _macro(per_lang),
        "per_subtype": per_subtype,
        "errors": int(wrong.sum()),
        "confusions": pair_rows(ranked[:n_confusions]),
        "near_neighbour": near_neighbour,
        "definitions": dict(DEFINITIONS),
    }


# --------------------------------------------------------------------------------------------
# markdown

_MD_ESCAPE = set("\\`*_{}[]()<>#+-.!|~")


def display_token(token: str) -> str:
    """A token as shown in tables: combining marks on a dotted circle (◌ा), markdown escaped."""
    if len(token) == 1 and unicodedata.category(token) in ("Mn", "Mc", "Me"):
        return "\u25cc" + token
    return "".join("\\" + ch if ch in _MD_ESCAPE else ch for ch in token)


def _f(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _scores(r: dict[str, Any]) -> str:
    """``top-1 | top-5 | leakage | net of twins`` cells of one row (reports written before the
    net leakage existed show –)."""
    return " | ".join(_f(r.get(k)) for k in ("top1", "top5", "leakage", "leakage_net"))


def _leaked(d: dict[str, int]) -> str:
    return ", ".join(f"{s} {c}" for s, c in d.items()) or "–"


def _pair_table(rows: Sequence[dict[str, Any]]) -> list[str]:
    out = ["| # | true | predicted | count | % of true | true name | predicted name |",
           "|---:|---|---|---:|---:|---|---|"]
    for i, r in enumerate(rows, 1):
        t, p = r["true"], r["pred"]
        out.append(f"| {i} | {display_token(t['token'])} {t['script']} {t['codepoint']} | "
                   f"{display_token(p['token'])} {p['script']} {p['codepoint']} | {r['count']} | "
                   f"{_f(r['share'])} | {t['name']} | {p['name']} |")
    return out


def format_retrieval(report: dict[str, Any]) -> str:
    """Markdown for a :func:`evaluate_retrieval` report: per-script, per-language and
    per-subtype tables (n | top-1 | top-5 | leakage), then the confusions."""
    o = report["overall"]
    split = report.get("split", "test")
    lines = [f"## mCLIP character retrieval ({split} split)", ""]
    bank = report["bank"]
    lines.append(f"{report['n']} queries over {', '.join(report['langs'])}; bank of {bank['size']} "
                 f"entries ({bank['candidates']} retrievable, dim {bank['dim']}, fingerprint "
                 f"{bank['fingerprint'][:12]}).")
    if split != "test":
        lines.append("")
        lines.append(f"Note: the {split} split is rendered with training fonts; the held-out "
                     "test split is the honest measure.")
    lines += ["", "### Per script (of the true entry)", "",
              "| script | n | top-1 | top-5 | leakage | net of twins | leaked to |",
              "|---|---:|---:|---:|---:|---:|---|"]
    for r in report["per_script"]:
        lines.append(f"| {r['script']} ({r['name']}) | {r['n']} | {_scores(r)} | {_leaked(r['leaked_to'])} |")
    m = report["per_script_macro"]
    lines.append(f"| **Combined** | {o['n']} | {_scores(o)} | {_leaked(o['leaked_to'])} |")
    lines.append(f"| **Macro** | {m['n']} | {_scores(m)} | |")

    lines += ["", "### Per language", "",
              "| lang | script | n | top-1 | top-5 | leakage | net of twins | skipped |",
              "|---|---|---:|---:|---:|---:|---:|---|"]
    skipped = report.get("skipped", {})
    for r in report["per_lang"]:
        sk = ", ".join(f"{k} {v}" for k, v in skipped.get(r["lang"], {}).items()) or "–"
        lines.append(f"| {r['lang']} | {r['script']} | {r['n']} | {_scores(r)} | {sk} |")
    m = report["per_lang_macro"]
    lines.append(f"| **Combined** | | {o['n']} | {_scores(o)} | |")
    lines.append(f"| **Macro** | | {m['n']} | {_scores(m)} | |")

    lines += ["", "### Per subtype", "", "| subtype | n | top-1 | top-5 | leakage | net of twins |",
              "|---|---:|---:|---:|---:|---:|"]
    for r in report["per_subtype"]:
        lines.append(f"| {r['subtype']} | {r['n']} | {_scores(r)} |")

    conf = report["confusions"]
    lines += ["", f"### Most confused pairs (true → top-1; {report['errors']} errors in all)", ""]
    lines += _pair_table(conf) if conf else ["No errors."]
    nn = report["near_neighbour"]
    kinds = ", ".join(f"{k} {v}" for k, v in nn["by_kind"].items())
    lines += ["", "### Near-neighbour confusions (a diacritic on either side)", "",
              f"{nn['n_errors']} error(s) ({_f(nn['share_of_errors'])} % of all errors): {kinds}. "
              f"Diacritic queries: {nn['diacritic_queries']}, top-1 {_f(nn['diacritic_top1'])} %.", ""]
    lines += _pair_table(nn["pairs"]) if nn["pairs"] else ["No diacritic confusions."]
    lines += ["", "Definitions: top-1 / top-5 = % of queries whose true entry is the nearest / among "
              "the 5 nearest non-special bank rows (cosine). Leakage = % of queries whose top-1 row "
              "is script-specific and of another script than the true entry (script(top-1) ∉ "
              "{script(true), Zyyy}); net of twins = the same less the queries whose true and top-1 "
              f"entries are declared glyph twins ({report.get('twin_groups', 0)} groups). "
              "Combined = sample-weighted; Macro = mean over the rows above.", ""]
    return "\n".join(lines)
