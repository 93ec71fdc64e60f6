"""Which reading a Recognizer with a Refiner returns, and how it finds the Refiner's reading
(torch-free, so the CLI can list the choices).

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

``refine_below`` (a Spotter-confidence gate, default off): words whose Spotter confidence is at
least this keep the Spotter's reading without running the Refiner.
"""
REFINE_POLICIES = ("joint-edit1", "joint", "confidence", "always")
DEFAULT_REFINE_POLICY = "joint-edit1"
REFINE_MODES = ("auto", "parallel", "greedy")
DEFAULT_REFINE_MODE = "auto"

POLICY_HELP = ("with a Refiner, which reading to keep: joint-edit1 (the Refiner's only when it is one edit "
               "from the Spotter's and both models together find it likelier), joint (the one Spotter and Refiner "
               "together find likelier), confidence (the Refiner's when at least as confident), always (the "
               f"Refiner's); default {DEFAULT_REFINE_POLICY}")
MODE_HELP = ("how the Refiner reads: parallel (teacher-forced parallel passes: with joint-edit1 the same readings "
             "as greedy, faster; with the other policies an approximation), greedy (step-by-step decoding), auto "
             f"(parallel with joint-edit1, greedy otherwise; always greedy with the onnx backends); default "
             f"{DEFAULT_REFINE_MODE}")
GATE_HELP = ("run the Refiner only on words whose Spotter confidence is below P (0..1; the others keep the "
             "Spotter's reading); default: every word")


def check_refine_options(policy: str, mode: str, below: float | None) -> None:
    """Raise ``ValueError`` for an unknown policy or mode, or a gate outside (0, 1]."""
    if policy not in REFINE_POLICIES:
        raise ValueError(f"refine_policy must be one of {REFINE_POLICIES}, got {policy!r}")
    if mode not in REFINE_MODES:
        raise ValueError(f"refine_mode must be one of {REFINE_MODES}, got {mode!r}")
    if below is not None and not 0.0 < below <= 1.0:
        raise ValueError(f"refine_below must be in (0, 1], got {below!r}")


class RefineSettings:
    """``refine_policy``, ``refine_mode`` and ``refine_below`` as attributes checked on every change
    (:func:`check_refine_options`), for the recognizers of both backends."""

    def _init_refine(self, policy: str, mode: str, below: float | None) -> None:
        check_refine_options(policy, mode, below)
        self._refine = {"policy": policy, "mode": mode, "below": below}

    def _set_refine(self, **change) -> None:
        new = {**self._refine, **change}
        check_refine_options(new["policy"], new["mode"], new["below"])
        self._refine = new

    refine_policy = property(lambda self: self._refine["policy"],
                             lambda self, v: self._set_refine(policy=v), doc="see :data:`REFINE_POLICIES`")
    refine_mode = property(lambda self: self._refine["mode"],
                           lambda self, v: self._set_refine(mode=v), doc="see :data:`REFINE_MODES`")
    refine_below = property(lambda self: self._refine["below"],
                            lambda self, v: self._set_refine(below=v), doc="Spotter-confidence gate, or None")


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


def add_refine_arguments(p) -> None:
    """``--refine-policy``, ``--refine-mode`` and ``--refine-below`` on an argparse parser."""
    p.add_argument("--refine-policy", choices=REFINE_POLICIES, default=DEFAULT_REFINE_POLICY, help=POLICY_HELP)
    p.add_argument("--refine-mode", choices=REFINE_MODES, default=DEFAULT_REFINE_MODE, help=MODE_HELP)
    p.add_argument("--refine-below", type=_gate, default=None, metavar="P", help=GATE_HELP)


def apply_refine_arguments(recognizer, args) -> None:
    """Set the parsed refine mode and gate on a loaded recognizer (the policy goes to ``mstr.load``)."""
    recognizer.refine_mode = args.refine_mode
    recognizer.refine_below = args.refine_below


def refine_command_parts(args) -> list[str]:
    """The refine options of ``args`` that differ from the defaults, as command-line words."""
    parts = []
    if args.refine_policy != DEFAULT_REFINE_POLICY:
        parts += ["--refine-policy", args.refine_policy]
    if args.refine_mode != DEFAULT_REFINE_MODE:
        parts += ["--refine-mode", args.refine_mode]
    if args.refine_below is not None:
        parts += ["--refine-below", f"{args.refine_below:g}"]
    return parts
