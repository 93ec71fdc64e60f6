"""Synthetic data at scale: sharded, deterministic, resumable generation into LMDBs.

Layout under ``out``::

    spec.json                         what is being generated (checked on resume)
    shards/<lang>/shard-00000/        one LMDB per shard (kept until the merge succeeds)
    LMDB/<lang>/train_lmdb, val_lmdb  the result with training fonts
    LMDB/<lang>/test_lmdb             the result with held-out fonts
    done.json                         written last: counts, problems and the fonts drawn from

Sample ``g`` of language ``lang`` is a pure function of ``(seed, kind, lang, g)``: its random
generator is seeded with exactly that, so the data do not depend on the shard size, on the
number of worker processes, or on where a killed run stopped. A rerun of the same command
continues each shard after its last committed sample. Shards can also be spread over machines
(``part=(k, m)`` makes only shards ``i`` with ``i % m == k``) and merged afterwards.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import multiprocessing as mp
import queue as queue_mod
import shutil
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from tqdm import tqdm

from mstr.errors import UserError

log = logging.getLogger(__name__)

__all__ = ["GenSpec", "generate", "merge", "sample_rng", "make_sample", "SampleMaker", "bench"]

KINDS = ("words", "chars")
FONT_SPLITS = ("train", "heldout", "all")  # "all": both sides (train/val LMDBs), e.g. a folder of training fonts copied elsewhere


@dataclass(frozen=True)
class GenSpec:
    """What to generate. ``n`` is the number of samples per language."""

    kind: str
    langs: tuple[str, ...]
    n: int
    seed: int = 0
    fonts: str = "train"          # "train" → train/val LMDBs; "heldout" → test LMDBs
    shard_size: int = 2000
    val_frac: float = 0.02
    height: int = 32
    char_size: int = 32
    augment: bool = True
    font_px: tuple[int, int] = (28, 48)
    version: int = 1              # bump when the rendering changes what a seed produces
    recipe: str = "v1"            # rendering recipe (mstr.synth.pipeline.RECIPES); v1 is unchanged
    backgrounds: str | None = None  # recipe v2: the background bank folder (resolved, absolute)
    font_pool: str | None = None    # the font pool folder drawn from (resolved, absolute); None: system fonts
    effects: float = 1.0            # recipe v2's effect strength (SynthOptions.effects)
    vocab: str | None = None        # words: the text sampler's profile (mstr.synth.vocab.PROFILES); None: the recipe's

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise UserError(f"unknown kind {self.kind!r}: use one of {', '.join(KINDS)}")
        if self.fonts not in FONT_SPLITS:
            raise UserError(f"--fonts must be one of {', '.join(FONT_SPLITS)}, got {self.fonts!r}")
        if self.n < 1:
            raise UserError(f"--n must be at least 1, got {self.n}")
        if self.shard_size < 1:
            raise UserError(f"--shard-size must be at least 1, got {self.shard_size}")
        if not 0.0 <= self.val_frac < 1.0:
            raise UserError(f"--val-frac must be in [0, 1), got {self.val_frac}")
        if self.recipe not in ("v1", "v2"):
            raise UserError(f"--recipe must be v1 or v2, got {self.recipe!r}")
        from mstr.synth.pipeline import check_effects
        check_effects(self.effects, self.recipe)
        if self.vocab is not None:
            from mstr.synth.vocab import PROFILES
            if self.kind != "words":
                raise UserError(f"--vocab chooses the words' vocabulary; it has no meaning for {self.kind}")
            if self.vocab not in PROFILES:
                raise UserError(f"--vocab must be one of {', '.join(PROFILES)}, got {self.vocab!r}")

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["langs"] = list(self.langs)
        d["font_px"] = list(self.font_px)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "GenSpec":
        """Inverse of :meth:`to_json` (lists back to tuples)."""
        return cls(**{**d, "langs": tuple(d["langs"]), "font_px": tuple(d["font_px"])})

    def n_shards(self) -> int:
        return math.ceil(self.n / self.shard_size)

    def shard_range(self, shard: int) -> tuple[int, int]:
        lo = shard * self.shard_size
        return lo, min(self.n, lo + self.shard_size)


def sample_rng(spec: GenSpec, lang: str, g: int) -> np.random.Generator:
    """The random generator of sample ``g`` of ``lang``: depends on nothing else."""
    return np.random.default_rng([spec.seed, KINDS.index(spec.kind), zlib.crc32(lang.encode()), g])


class SampleMaker:
    """Builds samples of one language for a spec (fonts, text sampler, synthesizer)."""

    def __init__(self, spec: GenSpec, lang: str, fonts: Sequence[Any] | None = None) -> None:
        from mstr.charsets import load_charset
        from mstr.fonts import fonts_for_lang
        from mstr.synth.pipeline import Synthesizer, SynthOptions
        from mstr.synth.render import char_render_text

        self.spec, self.lang = spec, lang
        self.fonts = list(fonts) if fonts is not None else fonts_for_lang(lang, spec.fonts)
        if not self.fonts:
            raise UserError(f"no {spec.fonts} font renders language {lang!r}: run 'mstr synth fonts --langs {lang}'")
        options = SynthOptions(height=spec.height, char_size=spec.char_size, augment=spec.augment,
                               font_px=tuple(spec.font_px), recipe=spec.recipe, backgrounds=spec.backgrounds,
                               effects=spec.effects)
        self.synth = Synthesizer(self.fonts, options)
        self.sampler = None
        if spec.kind == "words":
            from mstr.synth.vocab import TextSampler
            # v2 renders draw the signboard vocabulary unless --vocab says otherwise
            self.sampler = TextSampler(lang, profile=spec.vocab or spec.recipe)
        else:
            chars = load_charset(lang).chars()
            self.chars = [c for c in chars if any(f.has(char_render_text(c)) for f in self.fonts)]
            self.unrenderable = [c for c in chars if c not in self.chars]
            if self.unrenderable:
                log.warning("%s: no %s font has %d character(s) %s; they are left out of the crops",
                            lang, spec.fonts, len(self.unrenderable), " ".join(self.unrenderable))
        self.retries = 0

    def make(self, g: int) -> tuple[bytes, str]:
        """PNG bytes and label of sample ``g``."""
        rng = sample_rng(self.spec, self.lang, g)
        if self.spec.kind == "chars":
            ch = label = self.chars[g % len(self.chars)]
            img = self._char_image(ch, rng)
        else:
            last = "no font covers them"
            for _ in range(50):
                label = self.sampler.sample(rng)
                try:  # a text that leaves no ink in the drawn font: draw another (rare, counted)
                    img = self.synth.render_word(label, rng)
                except ValueError as exc:
                    img, last = None, str(exc)
                if img is not None:
                    break
                self.retries += 1
            else:
                raise UserError(f"{self.lang}: 50 sampled texts in a row could not be drawn (last: {last}); "
                                f"check the {self.spec.fonts} fonts with 'mstr synth fonts --langs {self.lang}'")
        buf = io.BytesIO()
        img.save(buf, format="PNG", compress_level=1)
        return buf.getvalue(), label

    def _char_image(self, ch: str, rng: np.random.Generator):
        """A crop of ``ch``; a font whose glyph leaves no ink (an empty ``_`` in a display face)
        is passed over for another font that has the character (counted in :attr:`retries`)."""
        from mstr.synth.render import char_render_text

        text = char_render_text(ch)
        font = self.synth.pick_font(text, rng)  # the draw render_char would make: seeded crops unchanged
        failed, last = [], ""
        while True:
            try:
                return self.synth.render_char(ch, rng, font=font)
            except ValueError as exc:
                failed.append(font.path)
                last = str(exc)
                self.retries += 1
            others = [f for f in self.fonts if f.has(text) and f.path not in failed]
            if not others or len(failed) >= 50:
                raise UserError(f"{self.lang}: no {self.spec.fonts} font draws {ch!r} (U+{ord(ch[0]):04X}) with ink "
                                f"(last: {last}); check the fonts with 'mstr synth fonts --langs {self.lang}'")
            font = others[int(rng.integers(len(others)))]


def make_sample(spec: GenSpec, lang: str, g: int) -> tuple[bytes, str]:
    """Convenience: one sample without keeping a :class:`SampleMaker` around."""
    return SampleMaker(spec, lang).make(g)


# ----------------------------------------------------------------------------- shards

def _shard_dir(out: Path, lang: str, shard: int) -> Path:
    return out / "shards" / lang / f"shard-{shard:05d}"


_PROGRESS: Any = None  # a multiprocessing queue in worker processes


def _init_worker(q: Any) -> None:
    global _PROGRESS
    _PROGRESS = q


def _run_shard(task: tuple[GenSpec, str, int, str, Any], progress: Any = None, stop_after: int | None = None) -> int:
    """Generate (or finish) one shard; returns the number of samples written now."""
    from mstr.data.lmdb import LmdbWriter

    spec, lang, shard, out, fonts = task
    progress = progress or _PROGRESS
    lo, hi = spec.shard_range(shard)
    maker = SampleMaker(spec, lang, fonts)
    written = 0
    with LmdbWriter(_shard_dir(Path(out), lang, shard), commit_every=128) as writer:
        start = lo + writer.num_samples
        if start > hi:
            raise UserError(f"{_shard_dir(Path(out), lang, shard)} holds more samples than its shard; delete it")
        for g in range(start, hi):
            if stop_after is not None and written >= stop_after:
                break
            data, label = maker.make(g)
            writer.add(data, label, lang=lang)
            written += 1
            if progress is not None and written % 32 == 0:
                _report(progress, 32)
        if progress is not None and written % 32:
            _report(progress, written % 32)
    return written


def _report(progress: Any, k: int) -> None:
    if callable(progress):
        progress(k)
    else:
        progress.put(k)


_NEW_FIELDS = {"recipe": "v1", "backgrounds": None, "font_pool": None, "effects": 1.0, "vocab": None}  # absent from older spec.json files


def _check_spec(out: Path, spec: GenSpec) -> None:
    path = out / "spec.json"
    if path.exists():
        try:
            old = {**_NEW_FIELDS, **json.loads(path.read_text())}
        except json.JSONDecodeError as exc:
            raise UserError(f"{path} is not valid JSON ({exc}); delete {out} or use another --out") from None
        if old != spec.to_json():
            diff = {k: (old.get(k), v) for k, v in spec.to_json().items() if old.get(k) != v}
            raise UserError(f"{out} already holds data generated with other settings {diff}; "
                            "use another --out, or rerun with the same settings to resume")
    else:
        if out.exists() and any(out.iterdir()):
            raise UserError(f"{out} exists and is not an mstr synth output; give an empty or new --out")
        out.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(spec.to_json(), indent=2) + "\n")


def generate(spec: GenSpec, out: str | Path, *, workers: int = 1, part: tuple[int, int] = (0, 1),
             merge_after: bool = True, progress: bool | None = None) -> dict[str, Any]:
    """Generate every shard of ``spec`` (of ``part``), then merge into the LMDB layout.

    Resumes whatever a previous run of the same spec left in ``out``. Returns the merge report
    (or the shard counts when ``merge_after`` is false).
    """
    from mstr.charsets import parse_langs
    from mstr.fonts import fonts_for_lang
    from mstr.synth.render import require_raqm

    require_raqm()
    out = Path(out)
    spec = GenSpec.from_json({**spec.to_json(), "langs": parse_langs(list(spec.langs))})
    if spec.recipe == "v2" and spec.augment:
        from mstr.synth.bgbank import load_bank
        bank = load_bank(spec.backgrounds)   # fails early, names the fix; forked workers share it
        spec = GenSpec.from_json({**spec.to_json(), "backgrounds": str(bank.folder)})
    done = out / "done.json"
    _check_spec(out, spec)
    if done.exists() and merge_after:
        return json.loads(done.read_text())
    k, m = part
    if not (m >= 1 and 0 <= k < m):
        raise UserError(f"--part must be K/M with 0 <= K < M, got {k}/{m}")
    fonts = {lang: fonts_for_lang(lang, spec.fonts) for lang in spec.langs}
    # shard-major order: an interrupted run has every language equally far
    tasks = [(spec, lang, s, str(out), fonts[lang]) for s in range(spec.n_shards()) if s % m == k
             for lang in spec.langs]
    total = sum(spec.shard_range(t[2])[1] - spec.shard_range(t[2])[0] for t in tasks)
    already = sum(_shard_count(out, t[1], t[2]) for t in tasks)
    bar = tqdm(total=total, initial=already, desc=f"synth {spec.kind}", unit="img", disable=progress is False)
    t0 = time.time()
    try:
        if workers <= 1:
            for t in tasks:
                _run_shard(t, progress=bar.update)
        else:
            ctx = mp.get_context("fork")
            q = ctx.Queue()
            with ctx.Pool(workers, initializer=_init_worker, initargs=(q,)) as pool:
                pending = pool.map_async(_run_shard, tasks, chunksize=1)
                while not pending.ready():
                    try:
                        bar.update(q.get(timeout=0.2))
                    except queue_mod.Empty:
                        pass
                pending.get()  # re-raise a worker's error
                while True:
                    try:
                        bar.update(q.get_nowait())
                    except queue_mod.Empty:
                        break
    finally:
        bar.close()
    log.info("generated %d samples in %.1fs", total - already, time.time() - t0)
    if not merge_after:
        return {"shards": len(tasks), "samples": total}
    return merge(out)


def _shard_count(out: Path, lang: str, shard: int) -> int:
    from mstr.data.lmdb import LmdbReader

    path = _shard_dir(out, lang, shard)
    if not (path / "data.mdb").exists():
        return 0
    with LmdbReader(path) as r:
        return r.num_samples


def spec_fonts(spec: GenSpec, lang: str) -> list[Any]:
    """The fonts ``spec`` draws ``lang`` from: its side of the split, from its pool or the system
    fonts (whatever ``$MSTR_FONT_POOL`` says now)."""
    from mstr.fonts import discover_fonts, fonts_for_lang

    if spec.font_pool is not None:
        return fonts_for_lang(lang, spec.fonts, pool=spec.font_pool)
    return fonts_for_lang(lang, spec.fonts, fonts=discover_fonts())


def fonts_record(spec: GenSpec) -> dict[str, dict[str, Any]]:
    """Per language, the font files ``spec`` draws from (:func:`spec_fonts`) and one fingerprint of
    their names and bytes: two renders of one spec are the same draw only when their fingerprints
    agree (a rebuilt pool or new system fonts change it)."""
    from mstr.atomic import sha256_file

    record, digests = {}, {}  # a file shared by languages of one script is read once
    for lang in spec.langs:
        fonts = spec_fonts(spec, lang)
        h = hashlib.sha256()
        paths = sorted({f.path for f in fonts}, key=lambda p: (Path(p).name, p))
        for path in paths:
            if path not in digests:
                digests[path] = bytes.fromhex(sha256_file(path))
            h.update(Path(path).name.encode() + b"\0" + digests[path])
        record[lang] = {"files": len(paths), "designs": sorted({f.design for f in fonts}),
                        "fingerprint": h.hexdigest()[:16]}
    return record


def merge(out: str | Path, *, keep_shards: bool = False) -> dict[str, Any]:
    """Merge the shards of ``out`` into ``LMDB/<lang>/<split>_lmdb`` and write ``done.json``.

    Fails with a clear message when a shard is missing or incomplete (e.g. a part of a
    multi-machine run was not copied in). Deterministic: the split of sample ``g`` into val is
    ``g % round(1/val_frac) == 0``.
    """
    from mstr.data.lmdb import LmdbReader, LmdbWriter

    out = Path(out)
    spec_path = out / "spec.json"
    if not spec_path.exists():
        raise UserError(f"{out} has no spec.json: not an mstr synth output folder")
    spec = GenSpec.from_json({**_NEW_FIELDS, **json.loads(spec_path.read_text())})
    for lang in spec.langs:
        for s in range(spec.n_shards()):
            lo, hi = spec.shard_range(s)
            have = _shard_count(out, lang, s)
            if have != hi - lo:
                raise UserError(f"shard {_shard_dir(out, lang, s)} has {have} of {hi - lo} samples: "
                                "rerun the same 'mstr synth' command to finish it (or copy it in) before merging")
    val_every = round(1 / spec.val_frac) if spec.fonts != "heldout" and spec.val_frac > 0 else 0
    report: dict[str, Any] = {"spec": spec.to_json(), "counts": {}}
    if spec.recipe == "v2" and spec.backgrounds and (Path(spec.backgrounds) / "bank.json").is_file():
        bank = json.loads((Path(spec.backgrounds) / "bank.json").read_text())
        report["backgrounds"] = {"path": spec.backgrounds, "fingerprint": bank.get("fingerprint"),
                                 "tiles": len(bank.get("tiles", []))}
    report["fonts"] = fonts_record(spec)
    for lang in spec.langs:
        final_dir = out / "LMDB" / lang
        splits = ("train", "val") if spec.fonts != "heldout" else ("test",)
        tmp = {sp: final_dir / f".tmp-{sp}_lmdb" for sp in splits}
        for p in tmp.values():
            shutil.rmtree(p, ignore_errors=True)
        writers = {sp: LmdbWriter(p, commit_every=2000) for sp, p in tmp.items()}
        try:
            for s in range(spec.n_shards()):
                lo, _ = spec.shard_range(s)
                with LmdbReader(_shard_dir(out, lang, s)) as r:
                    for rec in r.iter_labels():
                        if rec.problem is not None:
                            raise UserError(f"{_shard_dir(out, lang, s)} sample {rec.index}: {rec.problem}; "
                                            "delete that shard and rerun the generation command")
                        g = lo + rec.index - 1
                        split = "test" if spec.fonts == "heldout" else (
                            "val" if val_every and g % val_every == 0 else "train")
                        writers[split].add(r.image_bytes(rec.index), rec.label, lang=lang)
        finally:
            for w in writers.values():
                w.close()
        counts = {}
        for sp, p in tmp.items():
            dest = final_dir / f"{sp}_lmdb"
            shutil.rmtree(dest, ignore_errors=True)
            p.rename(dest)
            counts[sp] = writers[sp].num_samples
        report["counts"][lang] = counts
    (out / "done.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    if not keep_shards:
        shutil.rmtree(out / "shards", ignore_errors=True)
    return report


def bench(lang: str, kind: str = "words", n: int = 300, seed: int = 0, augment: bool = True,
          recipe: str = "v1", backgrounds: str | None = None, height: int = 32,
          repeats: int = 1, effects: float = 1.0) -> dict[str, float]:
    """Single-process throughput of rendering + PNG encoding (samples per second).

    With ``repeats`` > 1 the same ``n`` samples are timed that many times and the fastest
    run counts (the CPU may be shared); ``cpu_per_second`` uses this process's CPU time.
    """
    spec = GenSpec(kind=kind, langs=(lang,), n=n, seed=seed, augment=augment, recipe=recipe,
                   backgrounds=backgrounds, height=height, effects=effects)
    maker = SampleMaker(spec, lang)
    maker.make(0)  # warm font caches (and load the background bank)
    best, best_cpu = float("inf"), float("inf")
    for _ in range(max(1, repeats)):
        t0, c0 = time.perf_counter(), time.process_time()
        for g in range(n):
            maker.make(g)
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return {"lang": lang, "kind": kind, "n": n, "seconds": best, "per_second": n / best,
            "cpu_per_second": n / max(best_cpu, 1e-9)}
