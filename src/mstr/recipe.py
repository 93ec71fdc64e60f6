"""Recipes: one YAML file describes a whole training run, end to end, as a list of ``mstr`` commands.

``mstr recipe run configs/recipes/6lang.yaml`` generates the data, trains Stage 1 (or reuses an
mCLIP), builds the bank, trains the Spotter (one or more phases, each continuing from the previous
bundle), fine-tunes on real data where the recipe has some, trains the Refiner, and evaluates the
final bundle on every evaluation set. Each step is an ordinary ``mstr`` command (printed before it
runs, and listed by ``--dry-run``) and is skipped when its output already exists, so an interrupted
recipe resumes by running the same command again.

A finished step records its command in ``recipe-step.json`` beside its output. A step whose output
exists but is *out of date* — its command changed since it ran (a recipe edit), or a step it reads
from (a folder named in its command) is newer or runs again — is not silently kept: the run stops
before doing anything and names the steps to rerun with ``--force``. ``--force STEP`` moves the old
output aside (``OUT.old``, ``OUT.old2``, …; nothing is deleted) so a training step starts afresh
instead of resuming its finished run.

Recipe keys (see ``configs/recipes/*.yaml``)::

    name: mstr-6lang            # bundle name
    langs: 6lang                # codes or a preset
    work: runs/recipes/6lang    # every output goes under here (data paths may point elsewhere)
    workers: 2                  # data-generation processes
    data:                       # 'mstr synth chars|words' runs: {kind, n, seed, fonts, val_frac, out}
      chars: {...}  chars_test: {...}  words: {...}  words_test: {...}
    mclip: {use: PATH} | {overrides: [key=value, ...]}
    bank: {alpha: 0.0}          # text prototypes, optionally blended with image centroids
    spotter: [[key=value, ...], ...]      # phases; phase k>1 starts from phase k-1's bundle
    finetune: {for_langs, sources, synth_weight, overrides} | null   # real data (skipped when absent);
                                # overrides: [key=value, ...] (one phase) or [[...], [...]] (phases:
                                # phase k>1 continues from phase k-1's bundle, in finetune-k/)
    refiner: [key=value, ...]
    refiner_data: finetune | synth   # the Refiner's data: the last fine-tuning phase's mix (default;
                                # its data.sources override if it has one) or synthetic only
    eval: [{name, lmdb | manifest+root, langs, convention, no_refiner, optional, bundle: STEP-FOLDER}, ...]
"""
from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mstr.charsets import parse_langs
from mstr.errors import UserError

__all__ = ["Step", "load_recipe", "out_of_date", "plan", "run"]

_DATA_KINDS = ("chars", "words")


@dataclass
class Step:
    """One ``mstr`` command, the file whose existence means it is done, and why it may be skipped."""

    name: str
    argv: list[str]
    done: Path
    skip_reason: str | None = None
    stdout: Path | None = None       # capture stdout here (evaluation tables)
    notes: list[str] = field(default_factory=list)

    def shell(self) -> str:
        cmd = "mstr " + " ".join(shlex.quote(a) for a in self.argv)
        return cmd + (f" > {shlex.quote(str(self.stdout))}" if self.stdout else "")

    @property
    def out(self) -> Path:
        """The step's output folder (a training step's, not its ``bundle/``)."""
        parent = self.done.parent
        return parent.parent if parent.name == "bundle" else parent

    @property
    def stamp(self) -> Path:
        return self.out / STAMP

    def reads(self, other: "Step") -> bool:
        """Whether this step's command names ``other``'s output folder (or a path inside it)."""
        pattern = re.compile(re.escape(str(other.out)) + r"(?=$|[/,}\]\s])")
        return any(pattern.search(a) for a in self.argv)


STAMP = "recipe-step.json"


def _phase_sources(phase: list[str], sources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The data a fine-tuning phase trains on: ``sources``, or the phase's own ``data.sources=``
    override (the last one, as the command line reads them)."""
    for item in phase:
        if isinstance(item, str) and item.startswith("data.sources="):
            value = yaml.safe_load(item.split("=", 1)[1])
            if not isinstance(value, list):
                raise UserError(f"recipe finetune override {item!r}: data.sources must be a list of sources")
            sources = value
    return sources


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> dict[str, Any]:
    from mstr.config import load_config

    r = load_config(path, overrides or [])
    for key in ("name", "langs", "work", "data", "spotter", "eval"):
        if key not in r:
            raise UserError(f"recipe {path} has no '{key}:' (see configs/recipes/6lang.yaml for a complete one)")
    for key, spec in r["data"].items():
        if not isinstance(spec, dict) or spec.get("kind") not in _DATA_KINDS or "out" not in spec:
            raise UserError(f"recipe {path}: data.{key} needs kind: chars|words and out: a folder")
    if not r["spotter"] or not all(isinstance(p, list) for p in r["spotter"]):
        raise UserError(f"recipe {path}: spotter must be a list of phases, each a list of key=value overrides")
    return r


def _data_step(key: str, spec: dict[str, Any], langs: str, workers: int) -> Step:
    out = Path(spec["out"])
    argv = ["synth", spec["kind"], "--langs", str(spec.get("langs", langs)), "--n", str(spec["n"]),
            "--seed", str(spec.get("seed", 0)), "--fonts", spec.get("fonts", "train"), "--out", str(out),
            "--workers", str(workers)]
    if "val_frac" in spec:
        argv += ["--val-frac", str(spec["val_frac"])]
    if "shard_size" in spec:
        argv += ["--shard-size", str(spec["shard_size"])]
    return Step(f"data.{key}", argv, out / "done.json")


def plan(r: dict[str, Any], *, real_root_exists=lambda p: Path(p).exists()) -> list[Step]:
    """The recipe's steps in order (nothing is run)."""
    work = Path(r["work"])
    langs = str(r["langs"])
    workers = int(r.get("workers", 1))
    data = r["data"]
    steps = [_data_step(k, spec, langs, workers) for k, spec in data.items()]

    mc = r.get("mclip") or {}
    if mc.get("use"):
        mclip = Path(mc["use"])
    else:
        mclip = work / "mclip"
        chars = data.get("chars")
        if chars is None:
            raise UserError("recipe: training mCLIP needs data.chars (or mclip: {use: PATH})")
        steps.append(Step("mclip", ["train", "mclip", f"data.root={chars['out']}", f"data.langs={langs}",
                                    f"out={mclip}", "trainer.progress_bar=false", *mc.get("overrides", [])],
                          mclip / "mclip.safetensors"))
    bank = work / "bank"
    bargv = ["bank", "build", "--mclip", str(mclip), "--langs", langs, "--out", str(bank)]
    alpha = float((r.get("bank") or {}).get("alpha", 0.0))
    if alpha > 0:
        bargv += ["--centroids", str(data["chars"]["out"]), "--alpha", str(alpha)]
    steps.append(Step("bank", bargv, bank / "bank.json"))
    if "chars_test" in data:
        steps.append(Step("eval.mclip", ["eval", "mclip", "--mclip", str(mclip), "--bank", str(bank), "--data",
                                         str(data["chars_test"]["out"]), "--langs", langs, "--out",
                                         str(work / "eval" / "mclip")],
                          work / "eval" / "mclip" / "report.json", stdout=work / "eval" / "mclip.md"))

    words = data.get("words")
    synth = [{"name": "synth", "root": str(words["out"]), "split": "train", "weight": 1.0}] if words else []
    val = [{"name": "synth", "root": str(words["out"]), "split": "val"}] if words else []
    common = [f"data.langs={langs}", "trainer.progress_bar=false"]
    if synth:
        common += [f"data.val_sources={_flow(val)}"]
    train_synth = [f"data.sources={_flow(synth)}"] if synth else []
    prev: Path | None = None
    for k, phase in enumerate(r["spotter"], start=1):
        out = work / f"spotter-{k}"
        start = [f"bank={bank}"] if prev is None else [f"init_bundle={prev}"]
        steps.append(Step(f"spotter.{k}", ["train", "spotter", *start, f"out={out}", f"name={r['name']}", *common,
                                            *train_synth, *phase],
                          out / "bundle" / "config.json"))
        prev = out / "bundle"

    ft = r.get("finetune")
    ft_sources: list[dict[str, Any]] = []
    if ft:
        missing = [s.get("root") or s.get("manifest") or s.get("lmdb") for s in ft["sources"]
                   if not real_root_exists(s.get("root") or s.get("manifest") or s.get("lmdb"))]
        sources = list(ft["sources"]) + [dict(s, weight=ft.get("synth_weight", 1.0)) for s in synth]
        overrides = ft.get("overrides") or []
        phases = overrides if overrides and all(isinstance(o, list) for o in overrides) else [overrides]
        skip = None
        if ft.get("for_langs") and not set(ft["for_langs"]) & set(parse_langs(langs)):
            skip = f"no real data for {langs} (the fine-tuning sources are {ft['for_langs']})"
        elif missing:
            skip = f"real data not found ({', '.join(map(str, missing))})"
        for k, phase in enumerate(phases, start=1):
            name, out = ("finetune", work / "finetune") if k == 1 else (f"finetune.{k}", work / f"finetune-{k}")
            step = Step(name, ["train", "spotter", f"init_bundle={prev}", f"out={out}", f"name={r['name']}", *common,
                               f"data.sources={_flow(sources)}", *phase], out / "bundle" / "config.json")
            step.skip_reason = skip
            if skip is None:
                prev = out / "bundle"
                ft_sources = _phase_sources(phase, sources)
            steps.append(step)

    if r.get("refiner") is not None:
        out = work / "refiner"
        # the Refiner sees what the Spotter was last trained on (real data included when there was some)
        use_ft = ft_sources and r.get("refiner_data", "finetune") == "finetune"
        refiner_data = [f"data.sources={_flow(ft_sources)}"] if use_ft else train_synth
        steps.append(Step("refiner", ["train", "refiner", f"init_bundle={prev}", f"out={out}",
                                      *common, *refiner_data, *r["refiner"]],
                          out / "bundle" / "config.json"))
        prev = out / "bundle"

    final = prev
    for ev in r["eval"]:
        out = work / "eval" / ev["name"]
        bundle = work / ev["bundle"] / "bundle" if ev.get("bundle") else final   # e.g. bundle: spotter-1
        argv = ["eval", "--bundle", str(bundle), "--out", str(out)]
        src = ev.get("lmdb") or ev.get("manifest")
        if ev.get("lmdb"):
            argv += ["--lmdb", str(ev["lmdb"])]
        else:
            argv += ["--manifest", str(ev["manifest"]), "--root", str(ev["root"])]
        argv += ["--langs", str(ev.get("langs", langs))]
        if ev.get("convention"):
            argv += ["--convention", ev["convention"]]
        if ev.get("no_refiner"):
            argv += ["--no-refiner"]
        step = Step(f"eval.{ev['name']}", argv, out / "report.json", stdout=out.with_suffix(".md"))
        if ev.get("langs") and not set(parse_langs(str(ev["langs"]))) & set(parse_langs(langs)):
            step.skip_reason = f"the model reads {langs}, this evaluation is {ev['langs']}"
        elif ev.get("optional") and not real_root_exists(ev.get("root") or src):
            step.skip_reason = f"evaluation data not found ({ev.get('root') or src})"
        steps.append(step)
    return steps


def missing_inputs(r: dict[str, Any]) -> list[str]:
    """What the recipe reads but neither has nor makes (one line each, with the fix): an mCLIP given
    with ``mclip: {use: PATH}`` that is not there. Checked before any step runs, and by ``--dry-run``."""
    use = (r.get("mclip") or {}).get("use")
    if not use:
        return []
    missing = [name for name in ("mclip.json", "mclip.safetensors") if not (Path(use) / name).is_file()]
    if not missing:
        return []
    return [f"recipe: mclip.use={use} has no {' and no '.join(missing)} (the --out folder of 'mstr train mclip'); "
            "train it first (e.g. the 6lang recipe), fix the path, or drop 'use' to train one in this recipe"]


def _flow(value: Any) -> str:
    """A YAML flow-style string for a key=value override."""
    return yaml.safe_dump(value, default_flow_style=True, width=10_000, allow_unicode=True).strip()


def out_of_date(steps: list[Step], force: tuple[str, ...] = ()) -> dict[str, str]:
    """``{step name: why}`` for the steps whose output exists but no longer matches the recipe: the
    command differs from the one recorded when it ran, or a step it reads from is newer, runs again
    (not done yet, forced) or is itself out of date."""
    stale: dict[str, str] = {}
    rerun: set[str] = set()           # steps that will run in this invocation, or must
    for i, s in enumerate(steps):
        if s.skip_reason:
            continue
        if not s.done.exists():
            rerun.add(s.name)
            continue
        if s.name in force:
            rerun.add(s.name)
        why = None
        try:
            recorded = json.loads(s.stamp.read_text(encoding="utf-8")).get("command")
        except (OSError, ValueError, AttributeError):
            recorded = None           # outputs made before commands were recorded: trusted
        if recorded is not None and recorded != s.shell():
            why = f"its command changed since it ran (then: {recorded})"
        for dep in steps[:i]:
            if why or dep.skip_reason or not s.reads(dep):
                continue
            if dep.name in rerun:
                why = f"it reads {dep.out}, which {dep.name} makes again"
            elif dep.done.exists() and dep.done.stat().st_mtime > s.done.stat().st_mtime:
                why = f"it reads {dep.out}, which is newer than its output"
        if why:
            stale[s.name] = why
            rerun.add(s.name)
    return stale


def _move_aside(out: Path) -> Path:
    k, target = 1, out.with_name(out.name + ".old")
    while target.exists() or target.is_symlink():
        k += 1
        target = out.with_name(f"{out.name}.old{k}")
    out.rename(target)
    return target


def run(steps: list[Step], *, dry_run: bool = False, force: tuple[str, ...] = ()) -> int:
    """Run the steps not done yet, in order; print each command first. Returns an exit code.
    Steps whose output is out of date (:func:`out_of_date`) stop the run unless forced."""
    mstr = [sys.executable, "-m", "mstr.cli.main"]
    unknown = sorted(set(force) - {s.name for s in steps})
    if unknown:
        print(f"error: --force {', '.join(unknown)}: no such step (the steps: "
              f"{', '.join(s.name for s in steps)})", file=sys.stderr)
        return 2
    stale = out_of_date(steps, force)
    blocked = [name for name in stale if name not in force]
    for i, s in enumerate(steps, 1):
        head = f"[{i}/{len(steps)}] {s.name}"
        if s.skip_reason:
            print(f"{head}: skipped, {s.skip_reason}", flush=True)
            continue
        if s.name in stale and s.name not in force:
            print(f"{head}: OUT OF DATE ({s.out}): {stale[s.name]}", flush=True)
            continue
        if s.done.exists() and s.name not in force:
            print(f"{head}: done ({s.done})", flush=True)
            continue
        if blocked and not dry_run:
            print(f"{head}: not run: {s.shell()}", flush=True)
            continue
        print(f"{head}: {s.shell()}", flush=True)
        if dry_run:
            continue
        if s.name in force and (s.out.exists() or s.out.is_symlink()):
            print(f"  (old output moved to {_move_aside(s.out)})", flush=True)
        if s.stdout:
            s.stdout.parent.mkdir(parents=True, exist_ok=True)
            with open(s.stdout, "w", encoding="utf-8") as fh:
                rc = subprocess.call(mstr + s.argv, stdout=fh)
            if rc == 0:
                sys.stdout.write(s.stdout.read_text(encoding="utf-8"))
        else:
            rc = subprocess.call(mstr + s.argv)
        if rc != 0:
            print(f"error: step {s.name} failed (exit {rc}); fix the cause and run the recipe again "
                  f"(finished steps are kept)", file=sys.stderr)
            return rc
        if s.out.is_dir():
            s.stamp.write_text(json.dumps({"step": s.name, "command": s.shell()}, ensure_ascii=False, indent=1)
                               + "\n", encoding="utf-8")
    if blocked and not dry_run:
        flags = " ".join(f"--force {name}" for name in blocked)
        print(f"error: {len(blocked)} finished step(s) are out of date (listed above); nothing was run. Rerun "
              f"them with: mstr recipe run RECIPE … {flags}   (each old output is moved to OUT.old, not deleted)",
              file=sys.stderr)
        return 2
    return 0
