"""The language-aware decoding settings and their command-line options (torch-free, so the CLI can
build its parsers without loading torch). The decoding itself is :mod:`mstr.reading.lang_decode` and
:mod:`mstr.reading.lexicon`; docs/decoding.md has the measurements behind the defaults."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mstr.errors import UserError
from mstr.reading.lexicon import DEFAULT_MAX_DISTANCE, Lexicon

__all__ = ["DEFAULT_SCRIPT_CONSISTENCY", "DEFAULT_SCRIPT_MARGIN", "DEFAULT_TURN_TALL", "add_decoding_arguments",
           "decoding_command_parts", "decoding_load_kwargs"]

#: the script-consistency constraint is on unless turned off
DEFAULT_SCRIPT_CONSISTENCY = True
#: nats by which a mixed-script reading must beat the best single-script one to be kept
DEFAULT_SCRIPT_MARGIN = 2.0
#: images over 1.5× as tall as wide are also read turned a quarter each way, the most confident
#: reading kept (:func:`mstr.inputs.read_images`; PaddleOCR turns its crops at the same ratio).
#: ICDAR15 dev 70.45 → 72.00; IIIT5K dev has no crop that tall (docs/decoding.md)
DEFAULT_TURN_TALL = 1.5


def _margin(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {text}")
    return value


def add_decoding_arguments(p: argparse.ArgumentParser, *, hint_per_sample: bool = False) -> None:
    """``--lang``, ``--no-script-consistency``, ``--script-margin``, ``--no-turn``, ``--lexicon``, ``--lexicon-limit`` (and, for
    evaluation, ``--lang-hint``: each sample's own language as the hint)."""
    p.add_argument("--lang", default=None, metavar="CODES",
                   help="language hint, e.g. hi or hi,en: read only those languages' characters (+ digits and "
                        "punctuation); codes of the model's languages")
    if hint_per_sample:
        p.add_argument("--lang-hint", action="store_true",
                       help="give each sample its own language (the manifest's lang) as the hint")
    p.add_argument("--no-script-consistency", action="store_true",
                   help="without a hint, keep readings that mix scripts (default: re-decode them in one script "
                        "unless the mixed reading is likelier by more than --script-margin)")
    p.add_argument("--script-margin", type=_margin, default=DEFAULT_SCRIPT_MARGIN, metavar="NATS",
                   help=f"log-probability margin of the script-consistency constraint (default "
                        f"{DEFAULT_SCRIPT_MARGIN:g}; 'inf': always one script)")
    p.add_argument("--no-turn", action="store_true",
                   help=f"read every crop as it is (default: a crop over {DEFAULT_TURN_TALL:g}× as tall as wide is also "
                        "read turned a quarter each way, and the most confident reading is kept)")
    p.add_argument("--lexicon", type=Path, default=None, metavar="WORDS.txt",
                   help="word list (one per line): replace each reading by the closest listed word within the "
                        "confidence-weighted edit distance limit (needs rapidfuzz)")
    p.add_argument("--lexicon-limit", type=_margin, default=DEFAULT_MAX_DISTANCE, metavar="D",
                   help=f"with --lexicon: the largest weighted edit distance a listed word may replace a reading "
                        f"at (default {DEFAULT_MAX_DISTANCE:g}: only letters read with confidence below 2/3 change; "
                        f"1.5 or more for a closed vocabulary that holds every word; docs/decoding.md)")


def decoding_command_parts(args: argparse.Namespace) -> list[str]:
    """The decoding options of ``args`` that differ from the defaults, as command-line words."""
    parts = []
    if args.lang:
        parts += ["--lang", args.lang]
    if getattr(args, "lang_hint", False):
        parts.append("--lang-hint")
    if args.no_script_consistency:
        parts.append("--no-script-consistency")
    if args.script_margin != DEFAULT_SCRIPT_MARGIN:
        parts += ["--script-margin", f"{args.script_margin:g}"]
    if getattr(args, "no_turn", False):
        parts.append("--no-turn")
    if args.lexicon is not None:
        parts += ["--lexicon", str(args.lexicon)]
        if args.lexicon_limit != DEFAULT_MAX_DISTANCE:
            parts += ["--lexicon-limit", f"{args.lexicon_limit:g}"]
    return parts


def decoding_load_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The :func:`mstr.load` keywords for ``args``' decoding options."""
    lexicon = args.lexicon
    if args.lexicon_limit != DEFAULT_MAX_DISTANCE:
        if lexicon is None:
            raise UserError("--lexicon-limit sets how far --lexicon may correct a reading: give the word list "
                            "with --lexicon WORDS.txt too")
        lexicon = Lexicon.load(lexicon, max_distance=args.lexicon_limit)
    return {"script_consistency": not args.no_script_consistency, "script_margin": args.script_margin,
            "lexicon": lexicon, "turn_tall": None if getattr(args, "no_turn", False) else DEFAULT_TURN_TALL}
