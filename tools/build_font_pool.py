#!/usr/bin/env python3
"""Build the training font pool (``make fonts``): checked, subset WOFF2 files + pool.json + report.md.

Sources, all free licences (each font's licence is recorded in pool.json):

* installed system fonts (the Makefile's Debian packages), licence from
  ``/usr/share/doc/<package>/copyright``;
* more Debian font packages (:data:`DEBIAN_PACKAGES`), fetched with ``apt-get download`` and
  unpacked with ``dpkg-deb -x`` into the cache folder: nothing is installed on the system, so
  the system-font split of ``mstr synth fonts`` does not move;
* Google Fonts families from npm (``@fontsource/<id>``, 400-normal, script subset merged with
  the ``latin`` subset), listed with their subsets by the npm package ``google-font-metadata``.

One file per design and script (the regular weight), each shape-checked with HarfBuzz for every
language of its script (``mstr.synth.shapecheck``), Latin fonts also for caps-only designs. Per
script, designs are taken in ``sha1("<script>:<design>")`` order (system designs first) until
the script's ``--max-mb`` budget is spent.

Split, per script, by design: a design held out (or trained on) in the system-font split of
``mstr synth fonts`` keeps its side; the new designs are split by ``split_designs`` (a quarter
held out, sha1 order). So a model trained on pool fonts has not seen the fonts of the test sets
made with system held-out fonts.

    python tools/build_font_pool.py --out fontpool            # everything (about 15 min)
    python tools/build_font_pool.py --out fp --scripts Deva --max-mb Deva=2 --no-npm
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from mstr.charsets import ALL_LANGS, load_charset
from mstr.errors import UserError
from mstr.scripts import SCRIPT_NAMES
from mstr.synth import fonts as F
from mstr.synth.fontpool import POOL_FILE, POOL_VERSION
from mstr.synth.poolbuild import BuildResult, build_and_check, debian_licence

log = logging.getLogger("build_font_pool")

SCRIPTS = ("Latn", "Deva", "Beng", "Taml", "Telu", "Mlym", "Knda", "Gujr", "Guru", "Orya", "Arab")
#: MB per script (the whole pool stays under 25 MB).
DEFAULT_MB = {"Latn": 9.0, "Deva": 3.5, "Beng": 1.5, "Taml": 1.2, "Telu": 2.2, "Mlym": 1.2,
              "Knda": 1.2, "Gujr": 1.2, "Guru": 0.9, "Orya": 0.7, "Arab": 2.0}
#: Debian packages fetched (not installed) for the pool, beyond the Makefile's installed ones.
DEBIAN_PACKAGES = (
    # Indic and Arabic
    "fonts-aksharyogini2 fonts-lohit-deva-marathi fonts-lohit-deva-nepali fonts-freefont-ttf "
    "fonts-samyak-orya fonts-meera-inimai fonts-rit-sundar fonts-sil-awami-nastaliq "
    "fonts-sil-lateef fonts-sil-harmattan fonts-sil-alkalami fonts-lemonada fonts-hosny-thabit "
    "fonts-freefarsi "
    # Latin: display, signage, text faces
    "fonts-aenigma fonts-roadgeek fonts-national-park fonts-tiresias fonts-dseg fonts-allerta "
    "fonts-adf-accanthis fonts-adf-baskervald fonts-adf-berenis fonts-adf-gillius "
    "fonts-adf-ikarius fonts-adf-irianis fonts-adf-libris fonts-adf-mekanus fonts-adf-oldania "
    "fonts-adf-romande fonts-adf-solothurn fonts-adf-switzera fonts-adf-tribun "
    "fonts-adf-universalis fonts-adf-verana fonts-apropal fonts-arapey fonts-averia-gwf "
    "fonts-averia-sans-gwf fonts-averia-serif-gwf fonts-b612 fonts-bajaderka fonts-beteckna "
    "fonts-blankenburg fonts-breip fonts-cabin fonts-cabinsketch fonts-cantarell "
    "fonts-century-catalogue fonts-cherrybomb fonts-clear-sans fonts-comfortaa fonts-comic-neue "
    "fonts-compagnon fonts-courier-prime fonts-croscore fonts-crosextra-caladea "
    "fonts-crosextra-carlito fonts-dancingscript fonts-dkg-handwriting fonts-dosis fonts-dustin "
    "fonts-ebgaramond fonts-ecolier-court fonts-engadget fonts-eurofurence fonts-fanwood "
    "fonts-femkeklaver fonts-ferrite-core fonts-gamaliel fonts-go fonts-goudybookletter "
    "fonts-havana fonts-humor-sans fonts-inter fonts-isabella fonts-junction fonts-jura "
    "fonts-karla fonts-kaushanscript fonts-kristi fonts-lato fonts-le-murmure "
    "fonts-league-spartan fonts-leckerli-one fonts-liberation2 fonts-lindenhill "
    "fonts-linuxlibertine fonts-lobster fonts-lobstertwo fonts-manrope fonts-millimetre "
    "fonts-ocr-a fonts-ocr-b fonts-okolaks fonts-oldstandard fonts-open-sans fonts-opendin "
    "fonts-opendyslexic fonts-oxygen fonts-play fonts-prociono fonts-quattrocento "
    "fonts-quicksand fonts-radisnoir fonts-rampart fonts-rocknroll fonts-routed-gothic "
    "fonts-rufscript fonts-sil-andika fonts-sil-charis fonts-sil-gentiumplus fonts-sjfonts "
    "fonts-solide-mirage fonts-sora fonts-staypuft fonts-stick fonts-summersby fonts-texgyre "
    "fonts-tomsontalks fonts-train fonts-tuffy fonts-urw-base35 fonts-vollkorn "
    "fonts-yanone-kaffeesatz fonts-roboto-unhinted fonts-roboto-slab fonts-mononoki fonts-hack "
    "fonts-jetbrains-mono fonts-anonymous-pro fonts-inconsolata fonts-cmu"
).split()
#: Google Fonts subset name of each script.
GF_SUBSET = {"Deva": "devanagari", "Beng": "bengali", "Taml": "tamil", "Telu": "telugu",
             "Mlym": "malayalam", "Knda": "kannada", "Gujr": "gujarati", "Guru": "gurmukhi",
             "Orya": "oriya", "Arab": "arabic"}
#: Google Fonts families whose glyphs are not letters (barcodes, redaction, blocks, icons).
GF_NOT_TEXT = ("barcode", "redacted", "flow ", "linefont", "wavefont", "blokk", "icons", "symbols",
               "emoji", "material", "noto color", "kalnia glaze", "bungee spice", "nabla",
               "bungee color", "moirai", "jersey", "sixtyfour convergence", "danfo")
#: Share of the sampled npm Latin families per Google Fonts category.
GF_LATIN_MIX = {"sans-serif": 0.36, "serif": 0.24, "display": 0.2, "handwriting": 0.12,
                "monospace": 0.08}
_REGULAR = ("regular", "book", "normal", "roman", "medium", "")


def _sha(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def _run(cmd: list[str], cwd: Path) -> None:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise UserError(f"`{' '.join(cmd[:3])} …` failed in {cwd}: {proc.stderr.strip()[-300:]}")


# ---------------------------------------------------------------------------------------------
# sources


def _package_of_files() -> dict[str, str]:
    """Installed file path → ``package=version``, from dpkg's file lists."""
    proc = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Version}\\n"],
                          capture_output=True, text=True)
    versions = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if " " in line)
    out: dict[str, str] = {}
    for lst in Path("/var/lib/dpkg/info").glob("*.list"):
        pkg = lst.stem.split(":")[0]
        for line in lst.read_text(errors="replace").splitlines():
            if line.startswith("/usr/share/fonts/"):
                out[line] = f"{pkg}={versions.get(pkg, '?')}"
    return out


def _licence_of(doc_root: Path, pkg: str) -> str:
    path = doc_root / "usr/share/doc" / pkg / "copyright"
    try:
        return debian_licence(path.read_text(errors="replace"))
    except OSError:
        return "see copyright"


def debian_sources(cache: Path, packages: list[str], offline: bool) -> list[tuple[F.FontInfo, str, str]]:
    """(font, source, licence) of system fonts and of the extra packages unpacked in ``cache``."""
    owner = _package_of_files()
    out = [(f, f"debian:{owner.get(os.path.realpath(f.path), owner.get(f.path, '?'))}", "")
           for f in F.discover_fonts([Path("/usr/share/fonts")])]
    out = [(f, src, _licence_of(Path("/"), src.split(":", 1)[1].split("=")[0])) for f, src, _ in out]
    debs = cache / "deb"
    debs.mkdir(parents=True, exist_ok=True)
    todo = [p for p in packages if not (debs / p / ".done").exists()]
    if todo and not offline:
        log.info("apt-get download %d packages", len(todo))
        _run(["apt-get", "download", "-q", *todo], debs)
    for pkg in packages:
        root = debs / pkg
        if not (root / ".done").exists():
            found = sorted(debs.glob(f"{pkg}_*.deb"))
            if not found:
                log.warning("no .deb for %s (skipped)", pkg)
                continue
            _run(["dpkg-deb", "-x", str(found[-1]), str(root)], debs)
            (root / ".done").write_text(found[-1].name)
        version = (root / ".done").read_text().strip().removesuffix("_all.deb").split("_", 1)[-1]
        lic = _licence_of(root, pkg)
        out += [(f, f"debian:{pkg}={version}", lic) for f in F.discover_fonts([root])]
    return out


def _gf_metadata(cache: Path, offline: bool) -> tuple[dict, dict]:
    npm = cache / "npm"
    npm.mkdir(parents=True, exist_ok=True)
    meta = npm / "google-font-metadata"
    if not meta.exists():
        if offline:
            raise UserError(f"no Google Fonts metadata in {npm}: run once without --offline")
        _run(["npm", "pack", "-q", "google-font-metadata"], npm)
        tgz = sorted(npm.glob("google-font-metadata-*.tgz"))[-1]
        with tarfile.open(tgz) as tar:
            for name in ("google-fonts-v2.json", "licenses.json"):
                member = tar.getmember(f"package/data/{name}")
                member.name = name
                tar.extract(member, meta, filter="data")
        tgz.unlink()
    return (json.loads((meta / "google-fonts-v2.json").read_text()),
            json.loads((meta / "licenses.json").read_text()))


def _gf_weight(fam: dict) -> int:
    weights = fam.get("weights") or [400]
    return min(weights, key=lambda w: abs(w - 400))


def npm_sources(cache: Path, scripts: list[str], n_latin: int, offline: bool) -> list[dict]:
    """Google Fonts candidates: dicts with family, script, files, source, licence."""
    fams, lics = _gf_metadata(cache, offline)
    other = set(GF_SUBSET.values())
    want: dict[str, list[str]] = {}  # id → scripts
    for fid, fam in fams.items():
        if "normal" not in fam.get("styles", []) or any(w in fam["family"].lower() for w in GF_NOT_TEXT):
            continue
        for s in scripts:
            if s != "Latn" and GF_SUBSET[s] in fam["subsets"] and "latin" in fam["subsets"]:
                want.setdefault(fid, []).append(s)
    if "Latn" in scripts:
        latin = [fid for fid, fam in fams.items() if "latin" in fam["subsets"]
                 and not other.intersection(fam["subsets"]) and "normal" in fam.get("styles", [])
                 and not any(w in fam["family"].lower() for w in GF_NOT_TEXT)
                 and not F._OTHER_SCRIPT_NAME.search(fam["family"])]
        for cat, share in GF_LATIN_MIX.items():
            pick = sorted((f for f in latin if fams[f]["category"] == cat), key=lambda f: _sha(f"Latn:{f}"))
            for fid in pick[:round(share * n_latin)]:
                want.setdefault(fid, []).append("Latn")
    npm = cache / "npm"
    todo = [fid for fid in sorted(want) if not (npm / fid / ".done").exists()]
    if todo and offline:
        log.warning("%d npm families not in the cache (--offline): skipped", len(todo))
        want = {k: v for k, v in want.items() if k not in todo}
    for start in range(0, 0 if offline else len(todo), 40):
        batch = todo[start:start + 40]
        log.info("npm pack %d-%d of %d families", start + 1, start + len(batch), len(todo))
        try:
            _run(["npm", "pack", "-q", *[f"@fontsource/{fid}" for fid in batch]], npm)
        except UserError:  # one missing package fails the batch: fetch one by one
            for fid in batch:
                try:
                    _run(["npm", "pack", "-q", f"@fontsource/{fid}"], npm)
                except UserError as exc:
                    log.warning("skipped @fontsource/%s: %s", fid, str(exc)[-120:])
        for fid in batch:
            _unpack_family(npm, fid, fams[fid], want[fid])
    out = []
    for fid, scripts_of in sorted(want.items()):
        done = npm / fid / ".done"
        if not done.exists():
            continue
        fam, version = fams[fid], done.read_text().strip()
        lic = lics.get(fid, {}).get("license", {}).get("type", "see LICENSE")
        w = _gf_weight(fam)
        for s in scripts_of:
            sub = "latin" if s == "Latn" else GF_SUBSET[s]
            files = [npm / fid / f"{fid}-{sub}-{w}-normal.woff2"]
            if s != "Latn":
                files.append(npm / fid / f"{fid}-latin-{w}-normal.woff2")
            if all(p.exists() for p in files):
                out.append({"family": fam["family"], "script": s, "files": [str(p) for p in files],
                            "source": f"npm:@fontsource/{fid}@{version}", "licence": lic,
                            "category": fam.get("category", "")})
    return out


def _unpack_family(npm: Path, fid: str, fam: dict, scripts: list[str]) -> None:
    found = sorted(npm.glob(f"fontsource-{fid}-*.tgz"))
    if not found:
        log.warning("npm pack gave no tarball for @fontsource/%s", fid)
        return
    tgz = found[-1]
    w = _gf_weight(fam)
    subs = {"latin"} | {GF_SUBSET[s] for s in scripts if s != "Latn"}
    names = {f"package/files/{fid}-{sub}-{w}-normal.woff2" for sub in subs} | {"package/LICENSE"}
    dest = npm / fid
    dest.mkdir(exist_ok=True)
    with tarfile.open(tgz) as tar:
        for member in tar.getmembers():
            if member.name in names:
                member.name = Path(member.name).name
                tar.extract(member, dest, filter="data")
    (dest / ".done").write_text(tgz.stem.removeprefix(f"fontsource-{fid}-"))
    tgz.unlink()


# ---------------------------------------------------------------------------------------------
# candidates, building, split


def _regular_rank(f: F.FontInfo) -> tuple:
    style = f.style.lower()
    return (style not in _REGULAR, "italic" in style or "oblique" in style, len(f.path), f.path, f.index)


def debian_candidates(srcs: list[tuple[F.FontInfo, str, str]], scripts: list[str],
                      rejected: dict[str, list[dict]]) -> dict[str, dict[str, dict]]:
    """script → design → candidate (its regular file and the languages it covers)."""
    fonts = [f for f, _, _ in srcs]
    meta = {f: (src, lic) for f, src, lic in srcs}
    usable: dict[str, set[F.FontInfo]] = {}
    out: dict[str, dict[str, dict]] = {}
    seen_bad: set[tuple[str, str]] = set()
    for lang in ALL_LANGS:
        script = load_charset(lang).script
        if script not in scripts:
            continue
        good, excluded = F._classify(lang, fonts)
        usable[lang] = set(good)
        for f, reason in excluded:
            if (script, f.design) not in seen_bad:
                seen_bad.add((script, f.design))
                rejected.setdefault(script, []).append(
                    {"font": f.name, "source": meta[f][0], "reason": f"{lang}: {reason}"})
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


def build_script(script: str, cands: dict[str, dict], out_dir: Path, budget: float, jobs: int,
                 rejected: dict[str, list[dict]]) -> dict[str, dict]:
    """Build and check candidates in order until ``budget`` MB are used: design → record."""
    order = sorted(cands, key=lambda d: (not cands[d].get("system"), _sha(f"{script}:{d}")))
    (out_dir / script).mkdir(parents=True, exist_ok=True)
    taken: dict[str, dict] = {}
    used, skipped = 0, 0
    with ProcessPoolExecutor(max_workers=jobs) as ex:
        for start in range(0, len(order), 8 * jobs):
            if used >= budget * 1e6:
                skipped += len(order) - start
                break
            chunk = order[start:start + 8 * jobs]
            futs = []
            for d in chunk:
                c = cands[d]
                out = out_dir / script / f"{_slug(d)}.woff2"
                futs.append(ex.submit(build_and_check, d, c["files"], c.get("index", 0), script,
                                      c["langs"], str(out)))
            for d, fut in zip(chunk, futs):
                res: BuildResult = fut.result()
                c = cands[d]
                if res.rejected:
                    Path(res.out).unlink(missing_ok=True)
                    rejected.setdefault(script, []).append(
                        {"font": f"{c['family']} {c.get('style', '')}".strip(), "source": c["source"],
                         "reason": res.rejected})
                elif used + res.size > budget * 1e6:
                    Path(res.out).unlink(missing_ok=True)
                    skipped += 1
                else:
                    used += res.size
                    taken[d] = {**c, "out": res.out, "langs": res.langs, "bytes": res.size,
                                "failed_langs": {k: v for k, v in res.problems.items() if v}}
    log.info("%s: %d designs, %.2f MB, %d over budget", script, len(taken), used / 1e6, skipped)
    for d, rec in taken.items():
        rec["budget_skipped"] = skipped
    return taken


def split_pool(script: str, taken: dict[str, dict], system_fonts: list[F.FontInfo]) -> set[str]:
    """Held-out designs: the system split's held-out designs, plus a quarter of the new ones."""
    usable_sys, held_sys = F._script_split(script, system_fonts)
    sys_designs = {f.design for fs in usable_sys.values() for f in fs}
    new: dict[str, set[str]] = {}
    for d, rec in taken.items():
        if d not in sys_designs:
            for lang in rec["langs"]:
                new.setdefault(lang, set()).add(d)
    return (held_sys & set(taken)) | F.split_designs(script, new)


def _record(out_dir: Path, design: str, rec: dict, held: set[str], script: str) -> dict:
    info = F._read_font_file(rec["out"])[0]
    cps = F._from_ranges(info["cps"])
    lacks = {}
    for lang in rec["langs"]:
        cs = load_charset(lang)
        miss = [c for c in (*cs.digits, *cs.punctuation, *cs.common) if not all(ord(x) in cps for x in c)]
        if miss:
            lacks[lang] = "".join(miss)
    return {"file": str(Path(rec["out"]).relative_to(out_dir)), "family": rec["family"],
            "design": design, "style": rec.get("style") or info["style"], "script": script,
            "langs": rec["langs"], "split": "heldout" if design in held else "train",
            "licence": rec["licence"], "source": rec["source"], "cps": info["cps"],
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
        held = sorted({r["design"] for r in recs if r["split"] == "heldout"})
        lines.append(f"| {SCRIPT_NAMES.get(s, s)} | {len({r['design'] for r in recs})} | {len(recs)} | "
                     f"{len(recs) - len(held)} | {len(held)} | {sum(r['bytes'] for r in recs) / 1e6:.2f} | "
                     f"{len(pool['rejected'].get(s, []))} | {pool['over_budget'].get(s, 0)} |")
    for s, recs in by_script.items():
        lines += ["", f"## {SCRIPT_NAMES.get(s, s)} ({s})", ""]
        langs = sorted({lang for r in recs for lang in r["langs"]})
        lines.append("Languages: " + ", ".join(
            f"{lang} {sum(1 for r in recs if lang in r['langs'])}" for lang in langs))
        lines.append("")
        lines.append("Held out: " + ", ".join(sorted(r["design"] for r in recs if r["split"] == "heldout")))
        lines.append("")
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
            design = F.design_of(c["family"])
            script_langs = [lang for lang in ALL_LANGS if load_charset(lang).script == c["script"]]
            cands.setdefault(c["script"], {}).setdefault(design, {**c, "langs": script_langs})
    tmp = args.out.with_name(args.out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    pool = {"version": POOL_VERSION, "fonts": [], "rejected": rejected, "over_budget": {},
            "budget_mb": {s: budget[s] for s in scripts}}
    for script in scripts:
        taken = build_script(script, cands.get(script, {}), tmp, budget[script], args.jobs, rejected)
        held = split_pool(script, taken, system_fonts)
        pool["over_budget"][script] = next(iter(taken.values()), {}).get("budget_skipped", 0)
        pool["fonts"] += [_record(tmp, d, taken[d], held, script) for d in sorted(taken, key=str.casefold)]
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
