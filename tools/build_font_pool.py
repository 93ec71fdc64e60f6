#!/usr/bin/env python3
"""Build the training font pool (``make fonts``): checked, subset WOFF2 files + pool.json + report.md.

Sources, all free licences (each font's licence is recorded in pool.json):

* installed system fonts (the Makefile's Debian packages), licence from
  ``/usr/share/doc/<package>/copyright``;
* more Debian font packages (``font_pool_sources.DEBIAN_PACKAGES``), fetched with ``apt-get download`` and
  unpacked with ``dpkg-deb -x`` into the cache folder: nothing is installed on the system, so
  the system-font split of ``mstr synth fonts`` does not move;
* Google Fonts families from npm (``@fontsource/<id>``, 400-normal, script subset merged with
  the ``latin`` subset), listed with their subsets by the npm package ``google-font-metadata``.

One file per design and script (the regular weight), each shape-checked with HarfBuzz for every
language of its script (``mstr.synth.shapecheck``), Latin fonts also for caps-only and
illegible designs (``mstr.synth.poolbuild``); a font may lack up to three rare letters
(``mstr.synth.poolbuild.rare_letters``), recorded in ``lacks``, and is then trained on only.
Per script, designs are taken in
``sha1("<script>:<design>")`` order (system designs first) until the script's ``--max-mb``
budget is spent.

Split, per script, by design: a design held out (or trained on) in the system-font split of
``mstr synth fonts`` keeps its side; the new designs are split by ``split_designs`` (a quarter
held out, sha1 order). So a model trained on pool fonts has not seen the fonts of the test sets
made with system held-out fonts. Malayalam held-out designs of the traditional orthography
(``mstr.synth.shapecheck.malayalam_orthography``) are ``excluded``: out of the held-out test,
which reads today's reformed orthography, and still out of training.

    python tools/build_font_pool.py --out fontpool            # everything (about 15 min)
    python tools/build_font_pool.py --out fp --scripts Deva --max-mb Deva=2 --no-npm
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import logging
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from mstr.charsets import ALL_LANGS, load_charset
from mstr.errors import UserError
from mstr.scripts import SCRIPT_NAMES
from mstr.fonts.coverage import classify, missing_chars, required_chars
from mstr.fonts.discover import read_font_file
from mstr.fonts.info import FontInfo, design_of, from_ranges, to_ranges
from mstr.fonts.pool import POOL_FILE, POOL_VERSION
from mstr.fonts.split import script_split, split_designs
from mstr.synth.poolbuild import (MAX_RARE_MISSING, RARE_SHARE, BuildResult, build_alone, build_and_check,
                                  inkless, lacking_letters, limit_worker_memory, rare_letters)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from font_pool_sources import DEBIAN_PACKAGES, debian_sources, npm_sources, sha  # noqa: E402

log = logging.getLogger("build_font_pool")

#: Bumped when the building or checking of a pool file changes (invalidates the build cache).
BUILD_VERSION = 3  # 3: pool files keep their sources' head.created and head.modified (reproducible bytes)
SCRIPTS = ("Latn", "Deva", "Beng", "Taml", "Telu", "Mlym", "Knda", "Gujr", "Guru", "Orya", "Arab")
#: MB per script (at most 25.3 MB in all; the pool built today is about 21 MB).
DEFAULT_MB = {"Latn": 9.0, "Deva": 3.5, "Beng": 1.5, "Taml": 1.2, "Telu": 2.2, "Mlym": 1.5,
              "Knda": 1.2, "Gujr": 1.2, "Guru": 0.9, "Orya": 0.7, "Arab": 2.4}
#: Largest pool file (KB) per script ("*": the others): a 170 KB textured display face would
#: take the room of ten ordinary Latin designs.
MAX_FILE_KB = {"Latn": 60, "*": 600}
_REGULAR = ("regular", "book", "normal", "roman", "medium", "")


# ---------------------------------------------------------------------------------------------
# candidates, building, split


def _regular_rank(f: FontInfo) -> tuple:
    style = f.style.lower()
    return (style not in _REGULAR, "italic" in style or "oblique" in style, len(f.path), f.path, f.index)


def debian_candidates(srcs: list[tuple[FontInfo, str, str]], scripts: list[str],
                      rejected: dict[str, list[dict]]) -> dict[str, dict[str, dict]]:
    """script → design → candidate (its regular file and the languages it covers)."""
    fonts = [f for f, _, _ in srcs]
    meta = {f: (src, lic) for f, src, lic in srcs}
    usable: dict[str, set[FontInfo]] = {}
    out: dict[str, dict[str, dict]] = {}
    seen_bad: set[tuple[str, str]] = set()
    for lang in ALL_LANGS:
        script = load_charset(lang).script
        if script not in scripts:
            continue
        good, excluded = classify(lang, fonts, may_lack=lambda f, lang=lang: lacking_letters(f.has, lang) is not None)
        usable[lang] = set(good)
        for f, reason in excluded:
            if (script, f.design) not in seen_bad:
                seen_bad.add((script, f.design))
                rejected.setdefault(script, []).append(
                    {"font": f.name, "source": meta[f][0], "reason": f"{lang}: {reason}"})
    charsets = {lang: load_charset(lang) for lang in usable}
    used = {(charsets[lang].script, f.design) for lang, good in usable.items() for f in good}
    for f in fonts:  # a design with most of a script's letters but used for none of its languages: say why
        for lang, cs in charsets.items():
            script = cs.script
            if (script, f.design) in seen_bad or (script, f.design) in used:
                continue
            miss = missing_chars(f, cs)
            if 0 < len(miss) <= len(required_chars(cs)) // 2:
                seen_bad.add((script, f.design))
                rare = rare_letters(lang)
                common = [c for c in miss if c not in rare]
                why = (f"lacks {len(common)} letters that {RARE_SHARE:.1%} or more of its words use "
                       f"({' '.join(common[:6])})" if common else
                       f"lacks {len(miss)} rare letters, over the {MAX_RARE_MISSING} a pool font may lack "
                       f"({' '.join(miss[:6])})")
                rejected.setdefault(script, []).append({"font": f.name, "source": meta[f][0],
                                                        "reason": f"{lang}: {why}"})
    for lang, good in usable.items():
        script = load_charset(lang).script
        for f in good:
            cur = out.setdefault(script, {}).get(f.design)
            if cur is None or _regular_rank(f) < _regular_rank(cur["font"]):
                out[script][f.design] = {"font": f}
    for script, designs in out.items():
        for design, cand in designs.items():
            f = cand["font"]
            src, lic = meta[f]
            cand.update(family=f.family, style=f.style, files=[f.path], index=f.index, source=src,
                        licence=lic, system=f.path.startswith("/usr/share/fonts"),
                        langs=[lang for lang, good in usable.items()
                               if load_charset(lang).script == script and f in good])
    return out


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-") or "font"


#: Ordinary Latin fonts of the Makefile's packages: the legibility check's references.
REFERENCE_FONTS = ("DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf", "NotoSans-Regular.ttf",
                   "NotoSerif-Regular.ttf")


def _references(system_fonts: list[FontInfo]) -> list[str]:
    found = {Path(f.path).name: f.path for f in system_fonts}
    refs = [found[n] for n in REFERENCE_FONTS if n in found]
    if not refs:
        log.warning("none of %s installed: Latin fonts are not checked for legibility", REFERENCE_FONTS)
    return refs


class BuildCache:
    """Built and checked pool files of earlier runs, keyed by the sources' paths, sizes and
    times, the script, languages and references, and :data:`BUILD_VERSION`: a rerun of
    ``make fonts`` only builds what changed."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def _key(self, design: str, cand: dict, script: str, refs: list[str]) -> str:
        stats = [(p, os.stat(p).st_size, os.stat(p).st_mtime_ns) for p in cand["files"]]
        key = [BUILD_VERSION, design, script, sorted(cand["langs"]), stats, cand.get("index", 0),
               refs if script == "Latn" else []]
        rare = {lang: "".join(sorted(rare_letters(lang))) for lang in sorted(cand["langs"]) if rare_letters(lang)}
        return sha(json.dumps(key + [rare] if rare else key))  # the letters a font may lack: see rare_letters

    def get(self, design: str, cand: dict, script: str, refs: list[str], out: Path) -> BuildResult | None:
        key = self._key(design, cand, script, refs)
        meta = self.folder / f"{key}.json"
        if not meta.exists():
            return None
        data = json.loads(meta.read_text())
        res = BuildResult(**{**data, "out": str(out)})
        if not res.rejected:
            shutil.copyfile(self.folder / f"{key}.woff2", out)
        return res

    def put(self, design: str, cand: dict, script: str, refs: list[str], res: BuildResult) -> None:
        if res.rejected and res.rejected.startswith("TimeoutError"):
            return  # depends on the machine's load: try again next time
        key = self._key(design, cand, script, refs)
        if not res.rejected:
            shutil.copyfile(res.out, self.folder / f"{key}.woff2")
        (self.folder / f"{key}.json").write_text(json.dumps(dataclasses.asdict(res)))


def build_script(script: str, cands: dict[str, dict], out_dir: Path, budget: float, jobs: int,
                 rejected: dict[str, list[dict]], references: list[str],
                 cache: BuildCache | None = None) -> dict[str, dict]:
    """Build and check candidates in order until ``budget`` MB are used: design → record."""
    order = sorted(cands, key=lambda d: (not cands[d].get("system"), sha(f"{script}:{d}")))
    (out_dir / script).mkdir(parents=True, exist_ok=True)
    names: dict[str, str] = {}
    for d in order:  # one file name per design, unique in the folder
        base = name = _slug(d)
        while name in names.values():
            name = f"{base}-{len(names)}"
        names[d] = name
    cap = MAX_FILE_KB.get(script, MAX_FILE_KB["*"]) * 1000
    taken: dict[str, dict] = {}
    used, skipped, full = 0, 0, False
    ex = ProcessPoolExecutor(max_workers=jobs, initializer=limit_worker_memory)
    try:
        for start in range(0, len(order), 8 * jobs):
            if full:
                skipped += len(order) - start
                break
            chunk = order[start:start + 8 * jobs]
            futs = []
            for d in chunk:
                c = cands[d]
                out = out_dir / script / f"{names[d]}.woff2"
                hit = cache.get(d, c, script, references, out) if cache else None
                futs.append(hit or ex.submit(build_and_check, d, c["files"], c.get("index", 0),
                                             script, c["langs"], str(out), references))
            broken = False
            for d, fut in zip(chunk, futs):
                c = cands[d]
                try:
                    res: BuildResult = fut if isinstance(fut, BuildResult) else fut.result()
                except BrokenProcessPool:  # a font killed a worker: this chunk's rest, one at a time
                    broken = True
                    res = build_alone(d, c["files"], c.get("index", 0), script, c["langs"],
                                      str(out_dir / script / f"{names[d]}.woff2"), references)
                    if res.rejected:
                        log.warning("%s: %s rejected: %s", script, d, res.rejected)
                if cache and not isinstance(fut, BuildResult):
                    cache.put(d, c, script, references, res)
                if not res.rejected and res.size > cap:
                    res.rejected = f"{res.size / 1000:.0f} KB: over the {cap / 1000:.0f} KB limit of one file"
                if res.rejected:
                    Path(res.out).unlink(missing_ok=True)
                    rejected.setdefault(script, []).append(
                        {"font": f"{c['family']} {c.get('style', '')}".strip(), "source": c["source"],
                         "reason": res.rejected})
                elif full or used + res.size > budget * 1e6:  # the budget is spent: stop here
                    Path(res.out).unlink(missing_ok=True)
                    skipped += 1
                    full = True
                else:
                    used += res.size
                    taken[d] = {**c, "out": res.out, "langs": res.langs, "bytes": res.size, "lacking": res.lacking,
                                "failed_langs": {k: v for k, v in res.problems.items() if v}}
            if broken:  # a broken pool takes no more work
                ex.shutdown(cancel_futures=True)
                ex = ProcessPoolExecutor(max_workers=jobs, initializer=limit_worker_memory)
    finally:
        ex.shutdown(cancel_futures=True)
    log.info("%s: %d designs, %.2f MB, %d over budget", script, len(taken), used / 1e6, skipped)
    for d, rec in taken.items():
        rec["budget_skipped"] = skipped
    return taken


def excluded_designs(script: str, held: set[str], orthography: dict[str, str]) -> set[str]:
    """Held-out designs left out of the test: Malayalam ones of the traditional orthography (the
    test reads the reformed orthography of today's signs, issue 18 item 4). They stay out of
    training too (split ``excluded``), so the system split's held-out test is never trained on."""
    if script != "Mlym":
        return set()
    return {d for d in held if orthography.get(d) == "traditional"}


def split_pool(script: str, taken: dict[str, dict], system_fonts: list[FontInfo]) -> set[str]:
    """Held-out designs: the system split's held-out designs, plus a quarter of the new ones.

    A design's languages whose rare letters it lacks (``lacking``) take no part: it is held out
    for none of them (:func:`_record` drops them from a held-out design), so the held-out tests
    draw only fonts with every letter, and the split is what it was before such fonts joined."""
    usable_sys, held_sys = script_split(script, system_fonts)
    sys_designs = {f.design for fs in usable_sys.values() for f in fs}
    new: dict[str, set[str]] = {}
    for d, rec in taken.items():
        if d not in sys_designs:
            for lang in rec["langs"]:
                if not rec.get("lacking", {}).get(lang):
                    new.setdefault(lang, set()).add(d)
    return (held_sys & set(taken)) | split_designs(script, new)


def _record(out_dir: Path, design: str, rec: dict, held: set[str], script: str,
            excluded: set[str] = frozenset()) -> dict:
    info = read_font_file(rec["out"])[0]
    cps = from_ranges(info["cps"])
    lacking = rec.get("lacking", {})
    split = "excluded" if design in excluded else "heldout" if design in held else "train"
    # a held-out design is for the languages it has every letter of (see split_pool)
    langs = [lang for lang in rec["langs"] if split == "train" or not lacking.get(lang)]
    needed = {lang: [*dict.fromkeys((*cs.digits, *cs.punctuation, *cs.common))]
              for lang in langs for cs in [load_charset(lang)]}
    # a listed code point whose glyph is empty counts as missing: the pool does not claim it
    blank = set(inkless(rec["out"], sorted({c for cs in needed.values() for c in cs
                                            if all(ord(x) in cps for x in c)})))
    cps = cps - {ord(c) for c in blank if len(c) == 1} - {ord(c) for c in "".join(lacking.values())}
    lacks = {}
    for lang, chars in needed.items():
        miss = [c for c in chars if c in blank or not all(ord(x) in cps for x in c)]
        if miss or lacking.get(lang):
            lacks[lang] = lacking.get(lang, "") + "".join(miss)
    return {"file": str(Path(rec["out"]).relative_to(out_dir)), "family": rec["family"],
            "design": design, "style": rec.get("style") or info["style"], "script": script,
            "langs": langs, "split": split,
            "licence": rec["licence"], "source": rec["source"], "cps": to_ranges(cps),
            "ot": info["ot"], "variable": info["var"], "lacks": lacks, "bytes": rec["bytes"]}


def write_report(out_dir: Path, pool: dict, seconds: float) -> None:
    lines = ["# Font pool report", "",
             f"Built by `tools/build_font_pool.py` in {seconds / 60:.1f} min; "
             f"{len(pool['fonts'])} files, {sum(r['bytes'] for r in pool['fonts']) / 1e6:.1f} MB.", ""]
    lines += ["| script | families | files | train | held out | MB | rejected | over budget |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    by_script: dict[str, list[dict]] = {}
    for r in pool["fonts"]:
        by_script.setdefault(r["script"], []).append(r)
    for s, recs in by_script.items():
        train = sum(r["split"] == "train" for r in recs)
        held = sum(r["split"] == "heldout" for r in recs)
        lines.append(f"| {SCRIPT_NAMES.get(s, s)} | {len({r['design'] for r in recs})} | {len(recs)} | "
                     f"{train} | {held} | {sum(r['bytes'] for r in recs) / 1e6:.2f} | "
                     f"{len(pool['rejected'].get(s, []))} | {pool['over_budget'].get(s, 0)} |")
    for s, recs in by_script.items():
        lines += ["", f"## {SCRIPT_NAMES.get(s, s)} ({s})", ""]
        langs = sorted({lang for r in recs for lang in r["langs"]})
        lines.append("Languages: " + ", ".join(
            f"{lang} {sum(1 for r in recs if lang in r['langs'])}" for lang in langs))
        lines.append("")
        lines.append("Held out: " + ", ".join(sorted(r["design"] for r in recs if r["split"] == "heldout")))
        lines.append("")
        out_of_test = sorted(f"{r['design']} ({r.get('orthography', '?')} orthography)"
                             for r in recs if r["split"] == "excluded")
        if out_of_test:
            lines += ["Excluded (held out of training, and out of the held-out test): " + ", ".join(out_of_test), ""]
        short = sorted(f"{r['design']} ({lang}: {' '.join(rare)})" for r in recs for lang in r["langs"]
                       for rare in [[c for c in r["lacks"].get(lang, "") if c in rare_letters(lang)]] if rare)
        if short:
            lines += [f"Lacking a few rare letters (drawing the other words; training only): {', '.join(short)}", ""]
        if any("orthography" in r for r in recs):
            lines += ["Orthography (vowel sign u joined to the consonant or drawn apart): " + ", ".join(
                f"{r['design']} {r['orthography']}" for r in recs if "orthography" in r), ""]
        sources: dict[str, int] = {}
        for r in recs:
            key = r["source"].split("@")[0] if r["source"].startswith("npm:") else r["source"].split("=")[0]
            key = "npm:@fontsource" if key.startswith("npm:") else key
            sources[key] = sources.get(key, 0) + 1
        lines.append("Sources: " + ", ".join(f"{k} {v}" for k, v in sorted(sources.items(), key=lambda kv: -kv[1])))
        rej = pool["rejected"].get(s, [])
        if rej:
            lines += ["", f"Rejected ({len(rej)}):", ""]
            lines += [f"- {r['font']} ({r['source']}): {r['reason']}" for r in rej]
    (out_dir / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _parse_mb(spec: str | None) -> dict[str, float]:
    mb = dict(DEFAULT_MB)
    if not spec:
        return mb
    for part in spec.split(","):
        if "=" in part:
            k, v = part.split("=", 1)
            if k.strip() not in DEFAULT_MB:
                raise UserError(f"--max-mb: unknown script {k!r}; use one of {', '.join(DEFAULT_MB)}")
            mb[k.strip()] = float(v)
        else:
            mb = {k: float(part) for k in mb}
    return mb


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("fontpool"), help="pool folder (replaced)")
    ap.add_argument("--cache", type=Path, default=Path("~/.cache/mstr/fontpool-src").expanduser(),
                    help="downloaded packages (kept for reruns)")
    ap.add_argument("--scripts", default=",".join(SCRIPTS), help="ISO 15924 codes, e.g. Latn,Deva")
    ap.add_argument("--max-mb", default=None,
                    help="MB per script: one number for all, or e.g. Latn=9,Deva=3.5 (defaults: "
                         + ",".join(f"{k}={v:g}" for k, v in DEFAULT_MB.items()) + ")")
    ap.add_argument("--npm-latin", type=int, default=400, help="Google Fonts Latin families to sample (400)")
    ap.add_argument("--no-npm", action="store_true", help="Debian fonts only")
    ap.add_argument("--no-debian-extra", action="store_true", help="only the installed system fonts from Debian")
    ap.add_argument("--offline", action="store_true", help="use the cache only, download nothing")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (2)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    t0 = time.time()
    scripts = [s.strip() for s in args.scripts.split(",") if s.strip()]
    bad = [s for s in scripts if s not in SCRIPTS]
    if bad:
        raise UserError(f"--scripts: unknown {', '.join(bad)}; use some of {', '.join(SCRIPTS)}")
    budget = _parse_mb(args.max_mb)
    srcs = debian_sources(args.cache, [] if args.no_debian_extra else list(DEBIAN_PACKAGES), args.offline)
    system_fonts = [f for f, _, _ in srcs if f.path.startswith("/usr/share/fonts")]
    rejected: dict[str, list[dict]] = {}
    cands = debian_candidates(srcs, scripts, rejected)
    if not args.no_npm:
        for c in npm_sources(args.cache, scripts, args.npm_latin, args.offline):
            design = design_of(c["family"])
            script_langs = [lang for lang in ALL_LANGS if load_charset(lang).script == c["script"]]
            cands.setdefault(c["script"], {}).setdefault(design, {**c, "langs": script_langs})
    tmp = args.out.with_name(args.out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    pool = {"version": POOL_VERSION, "fonts": [], "rejected": rejected, "over_budget": {},
            "budget_mb": {s: budget[s] for s in scripts}}
    for script in scripts:
        taken = build_script(script, cands.get(script, {}), tmp, budget[script], args.jobs, rejected,
                             _references(system_fonts), BuildCache(args.cache / "built"))
        held = split_pool(script, taken, system_fonts)
        orthography = {}
        if script == "Mlym":
            from mstr.synth.shapecheck import malayalam_orthography

            orthography = {d: malayalam_orthography(rec["out"]) for d, rec in taken.items()}
        excluded = excluded_designs(script, held, orthography)
        if held and held <= excluded:
            log.warning("%s: every held-out design is excluded; the held-out test has no font", script)
        pool["over_budget"][script] = next(iter(taken.values()), {}).get("budget_skipped", 0)
        for d in sorted(taken, key=str.casefold):
            record = _record(tmp, d, taken[d], held, script, excluded)
            if d in orthography:
                record["orthography"] = orthography[d]
            pool["fonts"].append(record)
    (tmp / POOL_FILE).write_text(json.dumps(pool, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    write_report(tmp, pool, time.time() - t0)
    shutil.rmtree(args.out, ignore_errors=True)
    tmp.rename(args.out)
    total = sum(r["bytes"] for r in pool["fonts"]) / 1e6
    print(f"wrote {args.out}: {len(pool['fonts'])} fonts, {total:.1f} MB, "
          f"{sum(len(v) for v in rejected.values())} rejected, {(time.time() - t0) / 60:.1f} min "
          f"(see {args.out / 'report.md'})")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
