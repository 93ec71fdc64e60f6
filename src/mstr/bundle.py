"""Self-describing model bundles: one folder with config, weights, bank and model card.

```
bundle/
  config.json          format, languages, charset fingerprint, image size, architectures,
                       bank fingerprint, versions
  bank/                bank.safetensors + bank.json (the frozen prototypes)
  spotter.safetensors
  refiner.safetensors  (optional)
  MODEL_CARD.md        data, compute, measured results and the commands that measured them
```
Loading checks every file: the SHA-256 of every weight and bank file against ``config.json``'s
``sha256`` table (bundles saved before it existed load without this check), the bank's
fingerprint against the one the Spotter was trained with, the languages and charset fingerprint
against this mstr's charsets, and that the weights fit the architecture; weights are safetensors
only. Saving builds the bundle in a folder beside it and renames it into place when complete
(:func:`mstr.atomic.publish_dir`), so an interrupted save never leaves a half-written bundle.
"""
from __future__ import annotations

import hashlib
import json
import logging
import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import torch

from mstr import __version__
from mstr.atomic import publish_dir, sha256_file
from mstr.bank import PAD_ID, Bank
from mstr.errors import UserError
from mstr.models.refiner import Refiner, RefinerConfig
from mstr.models.spotter import Spotter, SpotterConfig
from mstr.weights import load_weights, save_weights

if TYPE_CHECKING:
    from mstr.reading.refine_policy import RefineSettings

__all__ = ["FORMAT", "save_bundle", "load_bundle", "charset_fingerprint", "file_checksums", "verify_bundle"]

log = logging.getLogger(__name__)

FORMAT = "mstr-bundle"
FORMAT_VERSION = 1


def charset_fingerprint(langs: Sequence[str]) -> str:
    """sha256 of the ordered charsets of ``langs`` (what the labels could contain)."""
    from mstr.charsets import load_charset

    h = hashlib.sha256()
    for lang in langs:
        cs = load_charset(lang)
        h.update(json.dumps([lang, cs.script, list(cs.chars())], ensure_ascii=True).encode())
    return h.hexdigest()


def file_checksums(folder: str | Path) -> dict[str, str]:
    """``{relative path: sha256}`` of a bundle's weight and bank files (the ``sha256`` table)."""
    folder = Path(folder)
    names = ["bank/bank.json", "bank/bank.safetensors", "spotter.safetensors", "refiner.safetensors"]
    return {name: sha256_file(folder / name) for name in names if (folder / name).is_file()}


def save_bundle(folder: str | Path, *, spotter: Spotter, bank: Bank, refiner: Refiner | None = None,
                name: str = "mstr", extra: dict[str, Any] | None = None, card: str | None = None) -> Path:
    """Write a bundle to ``folder``, whole or not at all (built aside, then renamed into place; other
    files already in ``folder``, e.g. an ``onnx/`` export, are kept, a stale Refiner is not)."""
    folder = Path(folder)
    langs = bank.langs()
    with publish_dir(folder, what="model bundle", drop=("refiner.safetensors",)) as work:
        bank.save(work / "bank")
        save_weights(spotter, work / "spotter.safetensors")
        if refiner is not None:
            save_weights(refiner, work / "refiner.safetensors")
        config = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "name": name, "langs": langs,
            "charset_fingerprint": charset_fingerprint(langs), "bank_fingerprint": bank.fingerprint(),
            "image_size": list(spotter.cfg.image_size), "spotter": spotter.cfg.to_dict(),
            "refiner": refiner.cfg.to_dict() if refiner is not None else None,
            "versions": {"mstr": __version__, "torch": torch.__version__, "python": platform.python_version()},
            "sha256": file_checksums(work),
            **(extra or {}),
        }
        (work / "config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        if card is not None:
            (work / "MODEL_CARD.md").write_text(card, encoding="utf-8")
    return folder


def read_config(folder: str | Path, *, fmt: str = FORMAT, version: int = FORMAT_VERSION,
                what: str = "model bundle", contents: str = "config.json, bank/, spotter.safetensors",
                file: str = "config.json", hints: dict[str, str] | None = None) -> dict[str, Any]:
    """The JSON description ``folder/file`` of a folder on disk (a model bundle, a baseline bundle, an
    mCLIP export), checked to exist, parse and declare format ``fmt`` version ``version``; every failure
    is a :class:`UserError` naming the file. ``contents`` lists what such a folder holds; ``hints`` maps
    a format found instead of ``fmt`` to advice appended to the mismatch message."""
    folder = Path(folder)
    path = folder / file
    if not folder.is_dir():
        kind = what.split()[-1]  # "model bundle" → "a bundle is a folder with …"
        raise UserError(f"{what} {folder} not found ({'an' if kind[0] in 'aeiou' else 'a'} {kind} is a folder with "
                        f"{contents})")
    if not path.is_file():
        raise UserError(f"{folder} is not a {what}: {file} is missing")
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(cfg, dict):
        raise UserError(f"{path}: expected a JSON object, found {type(cfg).__name__}")
    if cfg.get("format") != fmt or cfg.get("format_version") != version:
        raise UserError(f"{path}: not an {fmt} v{version} config (format={cfg.get('format')!r}, "
                        f"version={cfg.get('format_version')!r}){(hints or {}).get(cfg.get('format'), '')}")
    return cfg


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in str(text).split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def verify_bundle(folder: Path, cfg: dict[str, Any], *, refiner: bool = True) -> None:
    """Check ``folder``'s files against ``cfg`` (its config.json) before any is loaded: the
    ``sha256`` of every weight and bank file (the Refiner's only when ``refiner``) and the mstr
    version that made it (a newer one: a warning)."""
    where = folder / "config.json"
    sums = cfg.get("sha256")
    if sums is None:
        log.info("%s has no sha256 table (saved by an older mstr): its files are not verified", where)
    elif not isinstance(sums, dict):
        raise UserError(f"{where}: 'sha256' must map file names to checksums; restore config.json")
    else:
        for name, expected in sorted(sums.items()):
            rel = Path(name)
            if rel.is_absolute() or ".." in rel.parts:
                raise UserError(f"{where}: sha256 names a file outside the bundle ({name!r}); restore config.json")
            if name == "refiner.safetensors" and not refiner:
                continue
            path = folder / rel
            if not path.is_file():
                raise UserError(f"{path} is missing from the bundle (config.json lists it); copy the whole "
                                "bundle folder again")
            actual = sha256_file(path)
            if actual != expected:
                raise UserError(f"{path} is damaged or was changed after the bundle was saved (sha256 "
                                f"{actual[:12]}…, config.json says {str(expected)[:12]}…); copy the bundle "
                                "again from its source, or re-export it from its training run")
    made_by = (cfg.get("versions") or {}).get("mstr")
    if made_by and _version(made_by) > _version(__version__):
        log.warning("%s was made by mstr %s, newer than this mstr %s; if it fails to load or reads badly, "
                    "upgrade mstr", folder, made_by, __version__)


def _check_langs(folder: Path, cfg: dict[str, Any], bank: Bank) -> None:
    """config.json's languages are the bank's, and their charsets those the model was trained with."""
    where = folder / "config.json"
    if cfg.get("langs") is not None and sorted(cfg["langs"]) != bank.langs():
        raise UserError(f"{where}: langs {cfg['langs']} are not the languages of the bundle's bank "
                        f"({bank.langs()}); config.json was edited: restore it from the bundle's source")
    expected = cfg.get("charset_fingerprint")
    if expected is not None and charset_fingerprint(bank.langs()) != expected:
        raise UserError(f"{where}: the charsets of {bank.langs()} in this mstr ({__version__}) differ from those "
                        f"the model was trained with (charset_fingerprint {str(expected)[:12]}…); load it with "
                        f"the mstr version that made it ({cfg.get('versions', {}).get('mstr', '?')}), or retrain it")


def load_bundle(folder: str | Path, *, refiner: bool = True, device: str = "cpu", bf16: bool = False,
                refine: "RefineSettings | None" = None):
    """Load a bundle into a :class:`~mstr.reading.recognizer.Recognizer` (options as for it;
    ``refine``: a :class:`~mstr.reading.refine_policy.RefineSettings`, None: the defaults)."""
    from mstr.reading.recognizer import Recognizer
    from mstr.reading.refine_policy import RefineSettings

    folder = Path(folder)
    cfg = read_config(folder)
    verify_bundle(folder, cfg, refiner=refiner)
    bank = Bank.load(folder / "bank", expected_fingerprint=cfg.get("bank_fingerprint"))
    _check_langs(folder, cfg, bank)
    try:
        s_cfg = SpotterConfig.from_dict(cfg["spotter"])
        r_cfg = RefinerConfig.from_dict(cfg["refiner"]) if cfg.get("refiner") else None
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{folder / 'config.json'}: malformed architecture section ({exc})") from None
    if r_cfg is not None and r_cfg.topk > s_cfg.topk:
        raise UserError(f"{folder / 'config.json'}: the Refiner reads the top-{r_cfg.topk} hypotheses but the "
                        f"Spotter gives {s_cfg.topk}; the bundle is inconsistent (re-export it from its training run)")
    spotter = Spotter(s_cfg, bank.vectors, PAD_ID)
    load_weights(spotter, folder / "spotter.safetensors")
    ref = None
    if refiner and r_cfg is not None:
        ref = Refiner(r_cfg, bank.vectors, PAD_ID)
        load_weights(ref, folder / "refiner.safetensors")
    return Recognizer(spotter, bank, ref, config=cfg, name=cfg.get("name", folder.name), device=device, bf16=bf16,
                      refine=refine if refine is not None else RefineSettings(), config_path=folder / "config.json")
