"""Sources of the font pool (``tools/build_font_pool.py``): Debian font packages and Google Fonts
families from npm, fetched into a cache folder with the ordinary clients (``apt-get download``,
``npm pack``) and unpacked there; nothing is installed on the system."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import subprocess
import tarfile
from pathlib import Path

from mstr.errors import UserError
from mstr.fonts import FontInfo, discover_fonts
from mstr.fonts.coverage import OTHER_SCRIPT_NAME
from mstr.synth.poolbuild import debian_licence

log = logging.getLogger("build_font_pool")

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
#: A Latin family of its own has only these subsets (else its Latin is another family's: the
#: Noto Sans <script> families carry Noto Sans' Latin).
GF_LATIN_SUBSETS = {"latin", "latin-ext", "vietnamese", "cyrillic", "cyrillic-ext", "greek",
                    "greek-ext", "math", "symbols", "menu"}
#: Google Fonts families whose glyphs are not letters (barcodes, redaction, blocks, icons).
GF_NOT_TEXT = ("barcode", "redacted", "flow ", "linefont", "wavefont", "blokk", "icons", "symbols",
               "emoji", "material", "noto color", "kalnia glaze", "bungee spice", "nabla",
               "bungee color", "moirai", "jersey", "sixtyfour convergence", "danfo")
#: Share of the sampled npm Latin families per Google Fonts category.
GF_LATIN_MIX = {"sans-serif": 0.36, "serif": 0.24, "display": 0.2, "handwriting": 0.12,
                "monospace": 0.08}


def sha(text: str) -> str:
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


def debian_sources(cache: Path, packages: list[str], offline: bool) -> list[tuple[FontInfo, str, str]]:
    """(font, source, licence) of system fonts and of the extra packages unpacked in ``cache``."""
    owner = _package_of_files()
    out = [(f, f"debian:{owner.get(os.path.realpath(f.path), owner.get(f.path, '?'))}", "")
           for f in discover_fonts([Path("/usr/share/fonts")])]
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
        out += [(f, f"debian:{pkg}={version}", lic) for f in discover_fonts([root])]
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
    want: dict[str, list[str]] = {}  # id → scripts
    for fid, fam in fams.items():
        if "normal" not in fam.get("styles", []) or any(w in fam["family"].lower() for w in GF_NOT_TEXT):
            continue
        for s in scripts:
            if s != "Latn" and GF_SUBSET[s] in fam["subsets"] and "latin" in fam["subsets"]:
                want.setdefault(fid, []).append(s)
    if "Latn" in scripts:
        latin = [fid for fid, fam in fams.items() if "latin" in fam["subsets"]
                 and set(fam["subsets"]) <= GF_LATIN_SUBSETS and "normal" in fam.get("styles", [])
                 and not any(w in fam["family"].lower() for w in GF_NOT_TEXT)
                 and not OTHER_SCRIPT_NAME.search(fam["family"])]
        for cat, share in GF_LATIN_MIX.items():
            pick = sorted((f for f in latin if fams[f]["category"] == cat), key=lambda f: sha(f"Latn:{f}"))
            for fid in pick[:round(share * n_latin)]:
                want.setdefault(fid, []).append("Latn")
    npm = cache / "npm"
    want = {fid: v for fid, v in want.items() if not (npm / fid / ".missing").exists()}
    todo = [fid for fid in sorted(want) if not (npm / fid / ".done").exists()]
    if todo and offline:
        log.warning("%d npm families not in the cache (--offline): skipped", len(todo))
        want = {k: v for k, v in want.items() if k not in todo}
    for start in range(0, 0 if offline else len(todo), 40):
        batch = todo[start:start + 40]
        log.info("npm pack %d-%d of %d families", start + 1, start + len(batch), len(todo))
        _npm_pack(npm, batch)
        for fid in batch:
            _unpack_family(npm, fid, fams[fid], want[fid])
    out = []
    for fid, scripts_of in sorted(want.items()):
        done = npm / fid / ".done"
        if not done.exists():
            continue
        fam, version = fams[fid], done.read_text().strip()
        lic = lics.get(fid, {}).get("license", {}).get("type")
        if not lic:  # not in the metadata: the package's LICENSE file
            path = npm / fid / "LICENSE"
            lic = debian_licence(path.read_text(errors="replace")) if path.exists() else "see LICENSE"
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


_NPM_404 = re.compile(r"404.*@fontsource(?:/|%2[fF])([a-z0-9-]+)")


def _npm_pack(npm: Path, batch: list[str]) -> None:
    """``npm pack`` the families of ``batch``; one not in the registry is dropped and skipped."""
    batch = list(batch)
    while batch:
        proc = subprocess.run(["npm", "pack", "-q", *[f"@fontsource/{fid}" for fid in batch]],
                              cwd=npm, capture_output=True, text=True)
        if proc.returncode == 0:
            return
        missing = _NPM_404.search(proc.stderr)
        if not missing or missing.group(1) not in batch:
            raise UserError(f"npm pack failed in {npm}: {proc.stderr.strip()[-300:]}")
        log.warning("@fontsource/%s is not in the npm registry: skipped", missing.group(1))
        (npm / missing.group(1)).mkdir(exist_ok=True)
        (npm / missing.group(1) / ".missing").write_text("404\n")
        batch.remove(missing.group(1))


def _unpack_family(npm: Path, fid: str, fam: dict, scripts: list[str]) -> None:
    found = sorted(p for p in npm.glob(f"fontsource-{fid}-*.tgz")
                   if re.fullmatch(rf"fontsource-{re.escape(fid)}-\d[^-]*(?:-[a-z0-9.]+)?\.tgz", p.name))
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
