"""Which reading a Recognizer with a Refiner returns, and how it finds the Refiner's reading
(torch-free, so the CLI can list the choices): one :class:`RefineSettings` value.

Two readings compete, the Spotter's and the Refiner's. Policies (``refine_policy``):

* ``joint-edit1`` (default): the ``joint`` choice, but only between readings one edit apart — the
  Refiner's reading is kept only when it differs from the Spotter's by one character substituted,
  inserted or deleted *and* both models together find it likelier. A switch then changes the
  word's edit distance to the label by at most one, so the Refiner cannot drag a wrong word
  further off (what costs ``joint`` CRR); it was chosen on a separate held-out-font dev set, see
  docs/models.md;
* ``joint``: the reading that the Spotter and the Refiner, scored together, find more likely (each
  model's log-probability of the whole reading, end of word included, summed);
* ``confidence``: the Refiner's reading only when it is at least as confident as the Spotter's;
* ``always``: the Refiner's reading.

Modes (``refine_mode``), how the Refiner's reading is found:

* ``greedy``: autoregressive greedy decoding, one position per step (up to ``max_len`` steps);
* ``parallel``: teacher-forced parallel passes of the Refiner instead. One pass on the Spotter's
  reading S gives, at every position, the Refiner's next character after S's prefix; greedy
  decoding follows S up to the first position where they disagree. With ``joint-edit1`` the
  readings one edit from S at that position (substitution, insertion, deletion: at most three) are
  checked by one more pass (rarely two), and the one the Refiner reproduces at every position is
  exactly its greedy reading (none: the greedy reading is more than one edit away, which the
  policy would not take anyway) — the same readings as ``greedy``, in two or three parallel passes
  instead of up to ``max_len`` steps. With the other policies the first pass's argmax (cut at its
  first end of word) stands in for the greedy reading — an approximation, as positions after a
  disagreement are conditioned on S's prefix — and one more pass scores it;
* ``auto`` (default): ``parallel`` with ``joint-edit1`` (where it is exact), ``greedy`` with the
  other policies.

Gates skip the Refiner for words the Spotter reads without doubt, which keep the Spotter's reading:

* ``refine_ratio`` (default 0.2): words whose every position (end of word included) has the
  Spotter's runner-up probability at most this times its best one. Chosen on the held-out-font
  dev set (``tools/refine_study.py gates``): with the shipped model it skips 24 % of the words and
  costs 0.03 WRR there (2 words in 6,000), none on the test set; the Refiner's gains come from
  words the Spotter reads with doubt somewhere (docs/speed.md). None: no such gate;
* ``refine_below`` (default off): words whose Spotter confidence is at least this.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

REFINE_POLICIES = ("joint-edit1", "joint", "confidence", "always")
DEFAULT_REFINE_POLICY = "joint-edit1"
REFINE_MODES = ("auto", "parallel", "greedy")
DEFAULT_REFINE_MODE = "auto"
DEFAULT_REFINE_RATIO = 0.2

POLICY_HELP = ("with a Refiner, which reading to keep: joint-edit1 (the Refiner's only when it is one edit "
               "from the Spotter's and both models together find it likelier), joint (the one Spotter and Refiner "
               "together find likelier), confidence (the Refiner's when at least as confident), always (the "
               f"Refiner's); default {DEFAULT_REFINE_POLICY}")
MODE_HELP = ("how the Refiner reads: parallel (teacher-forced parallel passes: with joint-edit1 the same readings "
             "as greedy, faster; with the other policies an approximation), greedy (step-by-step decoding), auto "
             f"(parallel with joint-edit1, greedy otherwise; always greedy with the onnx backends); default "
             f"{DEFAULT_REFINE_MODE}")
GATE_HELP = ("run the Refiner only on words whose Spotter confidence is below P (0..1; the others keep the "
             "Spotter's reading); default: no confidence gate")
RATIO_HELP = ("skip the Refiner for words whose Spotter reading has, at every position (end of word included), "
              "a runner-up probability at most R times the best (0 < R < 1; 'off': refine every word); "
              f"default {DEFAULT_REFINE_RATIO:g}")


def check_refine_options(policy: str, mode: str, below: float | None,
                         ratio: float | None = DEFAULT_REFINE_RATIO) -> None:
    """Raise ``ValueError`` for an unknown policy or mode, a confidence gate outside (0, 1] or a
    ratio gate outside (0, 1)."""
    if policy not in REFINE_POLICIES:
        raise ValueError(f"refine_policy must be one of {REFINE_POLICIES}, got {policy!r}")
    if mode not in REFINE_MODES:
        raise ValueError(f"refine_mode must be one of {REFINE_MODES}, got {mode!r}")
    if below is not None and not 0.0 < below <= 1.0:
        raise ValueError(f"refine_below must be in (0, 1], got {below!r}")
    if ratio is not None and (isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0.0 < ratio < 1.0):
        raise ValueError(f"refine_ratio must be in (0, 1) or None, got {ratio!r}")


@dataclass(frozen=True)
class RefineSettings:
    """How a reader with a Refiner picks its readings: ``policy`` (:data:`REFINE_POLICIES`), ``mode``
    (:data:`REFINE_MODES`), the gates ``below`` (Spotter-confidence, or None) and ``ratio``
    (runner-up/best, or None); checked when made (:func:`check_refine_options`: ``ValueError``).
    One value passed from :func:`mstr.load` down to the readers; change one field with
    :func:`dataclasses.replace`."""

    policy: str = DEFAULT_REFINE_POLICY
    mode: str = DEFAULT_REFINE_MODE
    below: float | None = None
    ratio: float | None = DEFAULT_REFINE_RATIO

    def __post_init__(self) -> None:
        check_refine_options(self.policy, self.mode, self.below, self.ratio)

    @classmethod
    def from_kwargs(cls, refine_policy: str = DEFAULT_REFINE_POLICY, refine_mode: str = DEFAULT_REFINE_MODE,
                    refine_below: float | None = None,
                    refine_ratio: float | None = DEFAULT_REFINE_RATIO) -> "RefineSettings":
        """The settings from :func:`mstr.load`'s keyword arguments (``refine_policy`` …)."""
        return cls(refine_policy, refine_mode, refine_below, refine_ratio)

    def kwargs(self) -> dict[str, Any]:
        """The settings as :func:`mstr.load`'s keyword arguments (``refine_policy`` …)."""
        return {"refine_policy": self.policy, "refine_mode": self.mode, "refine_below": self.below,
                "refine_ratio": self.ratio}

    def rows(self, readings: Sequence[tuple[list[int], list[float], float]],
             top2: Sequence[Sequence[Sequence[float]]]) -> list[int]:
        """The rows the Refiner reads, under the gates: ``readings`` are the Spotter's (ids, probs,
        confidence); ``top2`` per row and position its two best probabilities (nested lists)."""
        below, ratio = self.below, self.ratio
        rows = []
        for b, (ids, _, conf) in enumerate(readings):
            if below is not None and conf >= below:
                continue
            # (a Spotter with top-1 only gives no runner-up: the gate cannot judge, the word is refined)
            if ratio is not None and all(len(p) > 1 and p[1] <= ratio * p[0] for p in top2[b][:len(ids) + 1]):
                continue
            rows.append(b)
        return rows


def resolve_refine_mode(policy: str, mode: str) -> str:
    """``parallel`` or ``greedy``: what ``mode`` means under ``policy`` (``auto``: parallel with
    ``joint-edit1``, where it gives the greedy readings, greedy with the other policies)."""
    if mode == "auto":
        return "parallel" if policy == "joint-edit1" else "greedy"
    return mode


def _gate(text: str) -> float:
    import argparse

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def _ratio(text: str) -> float | None:
    import argparse

    if text.strip().lower() == "off":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number or 'off': {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1) or 'off', got {text}")
    return value


def add_refine_arguments(p) -> None:
    """``--refine-policy``, ``--refine-mode``, ``--refine-below`` and ``--refine-ratio`` on an argparse parser."""
    p.add_argument("--refine-policy", choices=REFINE_POLICIES, default=DEFAULT_REFINE_POLICY, help=POLICY_HELP)
    p.add_argument("--refine-mode", choices=REFINE_MODES, default=DEFAULT_REFINE_MODE, help=MODE_HELP)
    p.add_argument("--refine-below", type=_gate, default=None, metavar="P", help=GATE_HELP)
    p.add_argument("--refine-ratio", type=_ratio, default=DEFAULT_REFINE_RATIO, metavar="R", help=RATIO_HELP)


def refine_command_parts(args) -> list[str]:
    """The refine options of ``args`` that differ from the defaults, as command-line words."""
    parts = []
    if args.refine_policy != DEFAULT_REFINE_POLICY:
        parts += ["--refine-policy", args.refine_policy]
    if args.refine_mode != DEFAULT_REFINE_MODE:
        parts += ["--refine-mode", args.refine_mode]
    if args.refine_below is not None:
        parts += ["--refine-below", f"{args.refine_below:g}"]
    if args.refine_ratio != DEFAULT_REFINE_RATIO:
        parts += ["--refine-ratio", "off" if args.refine_ratio is None else f"{args.refine_ratio:g}"]
    return parts
