"""The shipped word lists: ``mstr/resources/vocab/<lang>.txt`` read, and the ``word`` mode's
draw tables built from them.

``load_vocab(lang)`` reads the shipped list (one NFKD word a line: the frequency-ranked words
first, then dictionary words in code-point order; see the README in that folder and
``tools/build_vocab.py``). :class:`mstr.synth.vocab.TextSampler` draws from it.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from importlib import resources

import numpy as np

from mstr.errors import UserError
from mstr.text import normalize

__all__ = ["vocab_path", "load_vocab", "ranked_prefix_len", "vocab_tables"]

_LANG_RE = re.compile(r"^[a-z]{2,3}$")


def vocab_path(lang: str):
    """The shipped word list of ``lang`` (an importlib.resources Traversable)."""
    if not isinstance(lang, str) or not _LANG_RE.match(lang):
        raise UserError(f"invalid language code {lang!r}: use an ISO 639-1 code such as 'hi'")
    return resources.files("mstr").joinpath("resources", "vocab", f"{lang}.txt")


@functools.lru_cache(maxsize=None)
def load_vocab(lang: str) -> tuple[str, ...]:
    """The word list of ``lang``: a tuple of NFKD words, frequency-ranked words first."""
    path = vocab_path(lang)
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        raise UserError(
            f"no word list for language {lang!r} ({path}); the shipped languages have one — "
            "regenerate them with `python tools/build_vocab.py`") from None
    lines = [line for line in text.split("\n") if line]
    if unicodedata.is_normalized("NFKD", text) and text.split() == lines:
        words = tuple(lines)  # already normalised (the shipped files): skip the slow path
    else:
        words = tuple(w for w in (normalize(line) for line in lines) if w)
    if not words:
        raise UserError(f"the word list {path} is empty; regenerate it with "
                        "`python tools/build_vocab.py`")
    return words


def ranked_prefix_len(words: tuple[str, ...]) -> int:
    """Length of the frequency-ranked head: everything before the sorted dictionary tail.

    A list from a dictionary only is sorted as a whole (no ranked head). A list from a frequency
    source only has (almost) no sorted tail. A handful of ranked words that happen to sort before
    the first dictionary word are counted as dictionary words, which is harmless.
    """
    i = len(words) - 1
    while i > 0 and words[i - 1] <= words[i]:
        i -= 1
    return 0 if i == 0 else i


@functools.lru_cache(maxsize=64)
def vocab_tables(lang: str, max_len: int):
    """Per (language, max_len): the draw tables of the ``word`` mode.

    Returns ``(ok, ranked_cdf, dict_idx)``: which words the charset covers; the CDF over the
    frequency-ranked head (Zipf over rank with a uniform floor) restricted to the words that fit
    ``max_len`` (None when none does); the indices of the dictionary words that fit.
    """
    from mstr.charsets import load_charset

    words = load_vocab(lang)
    covered = frozenset(load_charset(lang).chars())
    ok = np.fromiter((covered.issuperset(w) for w in words), dtype=bool, count=len(words))
    fits = np.fromiter((len(w) <= max_len for w in words), dtype=bool, count=len(words))
    n_ranked = ranked_prefix_len(words)
    cdf = None
    if n_ranked and fits[:n_ranked].any():
        zipf = 1.0 / (np.arange(n_ranked, dtype=np.float64) + 10.0)
        zipf /= zipf.sum()
        # 80 % Zipf over the frequency rank, 20 % uniform floor so rare words keep appearing.
        p = (0.8 * zipf + 0.2 / n_ranked) * fits[:n_ranked]
        cdf = np.cumsum(p / p.sum())
        cdf[-1] = 1.0
        cdf.flags.writeable = False
    dict_idx = np.flatnonzero(fits[n_ranked:]) + n_ranked
    ok.flags.writeable = False
    dict_idx.flags.writeable = False
    return ok, cdf, dict_idx
