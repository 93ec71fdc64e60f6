"""Language-aware decoding, shared by the torch and ONNX readers (docs/decoding.md).

* **A language hint** (``read(images, langs=["hi"])``, ``mstr read --lang hi``): the Spotter's
  logits ``B, L, N`` are masked to the bank rows of those languages (entries whose ``langs``
  include one of them, or that the language's charset reads — a bank extended to a language
  shares the script's existing rows without tagging them), the Common rows (script ``Zyyy``: digits, punctuation, dandas) and the
  specials (``<eos>``) before decoding; the Refiner's teacher-forced logits are masked the same
  way, and a Refiner reading that still leaves the allowed rows (its greedy mode, which cannot be
  masked inside the loop) gives way to the Spotter's reading. A hinted reading never holds a row
  outside the allowed set.
* **Script consistency** (no hint; on by default, ``script_consistency=False`` to turn it off): a
  word is written in one script plus Common. A reading whose script-specific characters come from
  two or more scripts is decoded again with the logits masked to each of those scripts in turn
  (+ Common); the constrained reading the Spotter finds likeliest replaces it unless the mixed
  reading's Spotter log-probability (:func:`mstr.reading.decode.sequence_logprob`, end of word
  included) is higher by more than ``script_margin`` nats (:data:`DEFAULT_SCRIPT_MARGIN`, chosen
  on the dev sets). Single-script readings are never touched.

The lexicon mode is :mod:`mstr.reading.lexicon`. Imports torch and the bank, no training code.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

import torch

from mstr.bank import COMMON_SCRIPT, SPECIAL_SCRIPT, Bank, bank_entries
from mstr.reading.decode_options import DEFAULT_SCRIPT_CONSISTENCY, DEFAULT_SCRIPT_MARGIN
from mstr.errors import UserError
from mstr.reading.decode import Reading, sequence_logprob

__all__ = ["DEFAULT_SCRIPT_CONSISTENCY", "DEFAULT_SCRIPT_MARGIN", "parse_lang_hint", "allowed_rows",
           "mask_logits", "leaves", "reading_scripts", "decode_words", "read_with_hints", "LangSettings"]


#: ``decode(rows, allowed)`` → readings, top-K ids and probs (``len(rows), L, K``) of batch rows
#: ``rows`` with the logits masked to ``allowed`` (``N`` booleans; None: no mask)
Decode = Callable[[list[int], "torch.Tensor | None"], tuple[list[Reading], torch.Tensor, torch.Tensor]]


def parse_lang_hint(langs: str | Iterable[str] | None, available: Sequence[str]) -> tuple[str, ...] | None:
    """``langs`` (codes, or one comma-separated string such as ``"hi,en"``) checked against the
    model's languages ``available``; None for no hint. Unknown or empty → one-line UserError."""
    if langs is None:
        return None
    items = langs.split(",") if isinstance(langs, str) else list(langs)
    if not all(isinstance(x, str) for x in items):
        raise UserError(f"langs must be language codes (e.g. ['hi'] or 'hi,en'), got {langs!r}")
    codes = tuple(dict.fromkeys(x.strip() for x in items if x.strip()))
    unknown = [x for x in codes if x not in available]
    if not codes or unknown:
        what = f"unknown language code(s) {', '.join(unknown)}" if unknown else "no language code given"
        raise UserError(f"{what} for the language hint: this model reads {', '.join(available)}")
    return codes


def allowed_rows(bank: Bank, *, langs: Iterable[str] = (), scripts: Iterable[str] = ()) -> torch.Tensor:
    """``N`` booleans: the bank rows of ``langs`` (tagged with one of them, or a character of one
    of their charsets) or of ``scripts``, plus Common and the specials."""
    langs, scripts = set(langs), set(scripts)
    charset_keys = {e.key for e in bank_entries(sorted(langs))} if langs else set()
    return torch.tensor([e.script in (COMMON_SCRIPT, SPECIAL_SCRIPT) or e.script in scripts
                         or not langs.isdisjoint(e.langs) or e.key in charset_keys for e in bank.entries],
                        dtype=torch.bool)


def mask_logits(logits: torch.Tensor, allowed: torch.Tensor | None) -> torch.Tensor:
    """``…, N`` logits (or log-probabilities) with the rows not ``allowed`` at −inf (float)."""
    if allowed is None:
        return logits
    return logits.float().masked_fill(~allowed.to(logits.device), float("-inf"))


def leaves(ids: Sequence[int], allowed: torch.Tensor | None) -> bool:
    """Whether a reading ``ids`` holds a row outside ``allowed``."""
    return allowed is not None and not all(bool(allowed[i]) for i in ids)


def reading_scripts(bank: Bank, ids: Iterable[int]) -> list[str]:
    """The scripts of a reading's script-specific characters, in order of first appearance."""
    seen: dict[str, None] = {}
    for i in ids:
        script = bank.entries[int(i)].script
        if script not in (COMMON_SCRIPT, SPECIAL_SCRIPT):
            seen.setdefault(script, None)
    return list(seen)


def decode_words(bank: Bank, logits: torch.Tensor, decode: Decode, *, allowed: torch.Tensor | None,
                 consistency: bool, margin: float, trace: list[dict[str, Any]] | None = None
                 ) -> tuple[list[Reading], torch.Tensor, torch.Tensor]:
    """Readings and the Spotter's top-K (``B, L, K`` ids and probs) of a batch whose Spotter logits
    are ``logits`` (``B, L, N``, unmasked): ``decode`` under ``allowed`` (a hint), else unmasked
    and, with ``consistency``, the script-consistency constraint (module docstring). ``trace``
    collects, per mixed reading, its row, both readings' ids and the log-probability gap (mixed
    minus constrained) that ``margin`` is compared with (tools/lang_decode_study.py)."""
    n = logits.shape[0]
    readings, top_i, top_p = decode(list(range(n)), allowed)
    if allowed is not None or not consistency:
        return readings, top_i, top_p
    mixed = {b: s for b, r in enumerate(readings) if len(s := reading_scripts(bank, r[0])) > 1}
    if not mixed:
        return readings, top_i, top_p
    by_script: dict[str, list[int]] = {}
    for b, scripts in mixed.items():
        for s in scripts:
            by_script.setdefault(s, []).append(b)
    best: dict[int, tuple[float, Reading, torch.Tensor, torch.Tensor]] = {}
    for script, rows in by_script.items():
        got, ti, tp = decode(rows, allowed_rows(bank, scripts=[script]))
        lps = sequence_logprob(logits[torch.tensor(rows)], [r[0] for r in got]).tolist()
        for k, (b, r, lp) in enumerate(zip(rows, got, lps)):
            if b not in best or lp > best[b][0]:
                best[b] = (lp, r, ti[k], tp[k])
    rows = sorted(mixed)
    plain = sequence_logprob(logits[torch.tensor(rows)], [readings[b][0] for b in rows]).tolist()
    readings, top_i, top_p = list(readings), top_i.clone(), top_p.clone()
    for b, lp in zip(rows, plain):
        lp_c, r, ti, tp = best[b]
        if trace is not None:
            trace.append({"row": b, "mixed": readings[b][0], "mixed_probs": readings[b][1], "single": r[0],
                          "gap": lp - lp_c})
        if not lp > lp_c + margin:
            readings[b], top_i[b], top_p[b] = r, ti, tp
    return readings, top_i, top_p


def read_with_hints(reader: Any, images: Sequence[Any], langs: Sequence[str], **read_kwargs: Any) -> list[Any]:
    """Read ``images[i]`` with the hint ``langs[i]`` (one read call per language), in order."""
    if len(langs) != len(images):
        raise ValueError(f"{len(images)} images but {len(langs)} languages")
    out: list[Any] = [None] * len(images)
    for lang in dict.fromkeys(langs):
        idx = [i for i, x in enumerate(langs) if x == lang]
        for i, p in zip(idx, reader.read([images[i] for i in idx], langs=[lang], **read_kwargs)):
            out[i] = p
    return out


class LangSettings:
    """The language-aware decoding settings of a reader (torch and ONNX): ``script_consistency``,
    ``script_margin`` and a default ``lexicon`` (:class:`mstr.reading.lexicon.Lexicon` or None), with the
    helpers their ``read`` uses (:class:`mstr.reading.reader.SpotterReader`)."""

    script_consistency: bool = DEFAULT_SCRIPT_CONSISTENCY
    script_margin: float = DEFAULT_SCRIPT_MARGIN
    lexicon: Any = None

    def lang_mask(self, langs: str | Iterable[str] | None) -> torch.Tensor | None:
        """The allowed rows for a hint ``langs`` (None: no hint), checked (UserError) and cached."""
        codes = parse_lang_hint(langs, self.bank.langs())
        if codes is None:
            return None
        cache = self.__dict__.setdefault("_lang_masks", {})
        if codes not in cache:
            cache[codes] = allowed_rows(self.bank, langs=codes)
        return cache[codes]

    def _consistency(self, script_consistency: bool | None) -> bool:
        return self.script_consistency if script_consistency is None else bool(script_consistency)

    def apply_lexicon(self, predictions: list[Any], lexicon: Any = None) -> list[Any]:
        """``predictions`` after the lexicon (``lexicon``: a Lexicon or path; None: the reader's
        default; False: none)."""
        from mstr.reading.lexicon import as_lexicon

        lex = self.lexicon if lexicon is None else (None if lexicon is False else as_lexicon(lexicon))
        return lex.correct_all(predictions) if lex is not None else predictions
