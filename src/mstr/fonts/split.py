"""The deterministic train / held-out font split, and the fonts a renderer draws from.

The split is by **design** (:func:`mstr.fonts.info.design_of`), not by file. Designs are ordered
by ``sha1("<script>:<design>")`` (stable across machines) and the first quarter (at least one
when there are two or more) is held out. The split is made per *script* over the designs usable
for any supported language of that script, so languages that share a script (hi / mr, bn / as)
never see a held-out design of one another in training. :func:`fonts_for_lang` draws from the
font pool (:mod:`mstr.fonts.pool`) when one is named, else from the system fonts.
"""
from __future__ import annotations

import hashlib
import logging
import os
from typing import Sequence

from mstr.errors import UserError
from mstr.fonts import pool as fontpool
from mstr.fonts.coverage import all_langs, classify, lang_charset, lang_coverage, missing_chars, required_chars
from mstr.fonts.discover import discover_fonts
from mstr.fonts.info import SPLITS, FontInfo
from mstr.scripts import SCRIPT_NAMES

__all__ = ["fonts_for_lang", "split_designs", "script_split", "HELDOUT_FRACTION", "SPLITS",
           "FONT_PACKAGES"]

log = logging.getLogger(__name__)

HELDOUT_FRACTION = 0.25

#: Debian packages that provide fonts for each script (for the "no font" error message).
_LOHIT_PACKAGE = {"Deva": "deva", "Beng": "beng-bengali", "Guru": "guru", "Gujr": "gujr", "Orya": "orya",
                  "Taml": "taml", "Telu": "telu", "Knda": "knda", "Mlym": "mlym"}
FONT_PACKAGES: dict[str, tuple[str, ...]] = {
    "Latn": ("fonts-dejavu-core", "fonts-noto-core"),
    **{script: ("fonts-noto-core", f"fonts-lohit-{name}") for script, name in _LOHIT_PACKAGE.items()},
    "Arab": ("fonts-noto-core", "fonts-paktype"),
}
_LANG_PACKAGES: dict[str, tuple[str, ...]] = {"as": ("fonts-noto-core", "fonts-lohit-beng-assamese")}



def _design_key(script: str, design: str) -> str:
    return hashlib.sha1(f"{script}:{design}".encode("utf-8")).hexdigest()


def split_designs(script: str, usable: dict[str, set[str]]) -> set[str]:
    """Held-out designs of one script, given each language's usable designs.

    Designs (the union over languages) are ordered by ``sha1("<script>:<design>")``; the first
    ``max(1, round(0.25 * n))`` are held out when ``n >= 2``, skipping a language's only design.
    Then no language may be left with no training design, and every language with two or more
    designs gets at least one held-out design (its first design in that order).
    """
    order = sorted(set().union(*usable.values()) if usable else set(),
                   key=lambda d: _design_key(script, d))
    if len(order) < 2:
        return set()
    protected = set().union(*(d for d in usable.values() if len(d) == 1))
    k = max(1, round(HELDOUT_FRACTION * len(order)))
    held = set([d for d in order if d not in protected][:k])
    for lang in sorted(usable):
        designs = usable[lang]
        while designs and designs <= held:
            held.discard(max(designs & held, key=lambda d: _design_key(script, d)))
    for lang in sorted(usable):
        designs = usable[lang]
        if len(designs) >= 2 and not designs & held:
            for d in sorted(designs, key=lambda d: _design_key(script, d)):
                if all(not (u <= held | {d}) for u in usable.values() if u):
                    held.add(d)
                    break
    return held


_WARNED: set[tuple[str, str]] = set()


def script_split(script: str, fonts: Sequence[FontInfo]) -> tuple[dict[str, list[FontInfo]], set[str]]:
    """Usable fonts of every supported language of ``script`` and the script's held-out designs."""
    langs = [lang for lang in all_langs() if lang_charset(lang).script == script]
    usable = {lang: classify(lang, fonts)[0] for lang in langs}
    held = split_designs(script, {lang: {f.design for f in fs} for lang, fs in usable.items()})
    return usable, held


def _no_font_error(lang: str, script: str, fonts: Sequence[FontInfo]) -> UserError:
    cs = lang_charset(lang)
    packages = _LANG_PACKAGES.get(lang) or FONT_PACKAGES.get(script, ("fonts-noto-core",))
    name = SCRIPT_NAMES.get(script, script)
    msg = f"no usable font for the {name} script ({script}), needed by language '{lang}': "
    excluded = classify(lang, fonts)[1]
    if excluded:
        msg += (f"the {len(excluded)} fonts with all its letters and diacritics are excluded "
                f"({excluded[0][0].name}: {excluded[0][1]})")
    else:
        msg += f"none of the {len(fonts)} fonts found has all its letters and diacritics"
        best = max(fonts, key=lambda f: (lang_coverage(f, cs), f.path), default=None)
        miss = missing_chars(best, cs) if best is not None else []
        if best is not None and len(miss) < len(required_chars(cs)):
            shown = " ".join(f"U+{ord(m[0]):04X}" for m in miss[:8])
            msg += f" (closest: {best.name}, lacking {len(miss)}: {shown})"
    msg += (f". Install one, e.g. `sudo apt-get install {' '.join(packages)}`, or put .ttf/.otf "
            f"files in a folder listed in MSTR_FONT_DIRS")
    return UserError(msg)


def fonts_for_lang(lang: str, split: str = "train", *, fonts: list[FontInfo] | None = None,
                   pool: str | os.PathLike[str] | None = None) -> list[FontInfo]:
    """Fonts usable for ``lang`` on one side of the design split.

    ``split``: ``"train"``, ``"heldout"`` or ``"all"``. Raises :class:`UserError` (with the
    Debian package to install) when no font at all can render the language.
    Font source: ``fonts`` when given; else the font pool folder ``pool`` or, without it,
    ``$MSTR_FONT_POOL`` (its own split, see :mod:`mstr.fonts.pool`); else system fonts.
    """
    if split not in SPLITS:
        raise UserError(f"unknown font split {split!r}: use one of {', '.join(SPLITS)}")
    if fonts is None:
        if fontpool.resolve_pool(pool) is not None:
            return fontpool.pool_fonts_for_lang(lang, split, pool)
    cs = lang_charset(lang)
    fonts = discover_fonts() if fonts is None else fonts
    usable, held = script_split(cs.script, fonts)
    mine = usable.get(lang)
    if mine is None:  # a language outside ALL_LANGS
        mine = classify(lang, fonts)[0]
    if not mine:
        raise _no_font_error(lang, cs.script, fonts)
    if not held & {f.design for f in mine} and (cs.script, lang) not in _WARNED:
        _WARNED.add((cs.script, lang))
        log.warning("only one usable font design for '%s' (%s: %s): no font is held out, so "
                    "held-out-font tests are impossible for it; install more fonts (e.g. %s)",
                    lang, SCRIPT_NAMES.get(cs.script, cs.script), mine[0].design,
                    " ".join(_LANG_PACKAGES.get(lang) or FONT_PACKAGES.get(cs.script, ())))
    if split == "all":
        return list(mine)
    want_held = split == "heldout"
    return [f for f in mine if (f.design in held) == want_held]
