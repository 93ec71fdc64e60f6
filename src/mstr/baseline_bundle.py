"""Baseline bundles (CRNN-CTC, softmax-head Spotter) on disk: save, read the config, load the model.

A baseline bundle is one self-describing folder, like an mSTR bundle (:mod:`mstr.bundle`) but with
one model::

    bundle/
      config.json          format "mstr-baseline-bundle", kind ("crnn" | "softmax"), languages,
                           charset and bank fingerprints, image size, the model's config, versions
      bank/                the bank whose token table is the label space (bank.json + vectors)
      model.safetensors

Label ids are rows of the bank's token table — the Spotter's label space — so a bank id maps back
to its character with :meth:`mstr.bank.Bank.decode`; the CRNN adds one CTC blank after the last
row. Only the token table is used (not the prototype vectors); the whole bank is stored so that
the fingerprint can be checked and the script vote works as for the Spotter. The config is read
with :func:`mstr.bundle.read_config`; the readers are :mod:`mstr.engines.baselines`.
"""
from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mstr import __version__
from mstr.bank import PAD_ID, TABLE_FILE, Bank
from mstr.bundle import FORMAT as MSTR_FORMAT
from mstr.bundle import charset_fingerprint, read_config
from mstr.errors import UserError
from mstr.models.crnn import CRNN, CRNNConfig
from mstr.models.softmax_spotter import SoftmaxSpotter, SoftmaxSpotterConfig
from mstr.weights import load_weights, save_weights

__all__ = ["FORMAT", "KINDS", "WEIGHTS_FILE", "build_model", "save_baseline_bundle", "read_baseline_config",
           "load_baseline_model", "resolve_bank"]

FORMAT = "mstr-baseline-bundle"
FORMAT_VERSION = 1
KINDS = ("crnn", "softmax")
WEIGHTS_FILE = "model.safetensors"


def resolve_bank(path: str | Path) -> Bank:
    """A bank folder, or a bundle folder holding one in ``bank/`` (an mSTR or a baseline bundle)."""
    path = Path(path)
    if not (path / TABLE_FILE).is_file() and (path / "bank" / TABLE_FILE).is_file():
        path = path / "bank"
    return Bank.load(path)


def build_model(kind: str, model_cfg: dict[str, Any], bank: Bank) -> nn.Module:
    """A fresh baseline of ``kind`` for ``bank``'s label space from a config's ``model`` section."""
    m = dict(model_cfg)
    if kind == "crnn":
        cfg = CRNNConfig(num_classes=len(bank) + 1, widths=tuple(m["widths"]), hidden=int(m["hidden"]),
                         rnn_layers=int(m["rnn_layers"]), image_size=tuple(m["image_size"]),
                         max_len=int(m["max_len"]))
        model: nn.Module = CRNN(cfg)
        if model.columns() < cfg.max_len - 1:
            raise UserError(f"the CRNN emits {model.columns()} columns for an image width of "
                            f"{cfg.image_size[1]}, fewer than the {cfg.max_len - 1} characters a label may "
                            "hold: widen model.image_size or lower model.max_len")
        return model
    if kind == "softmax":
        cfg2 = SoftmaxSpotterConfig(num_classes=len(bank), d_model=int(m["d_model"]), widths=tuple(m["widths"]),
                                    image_size=tuple(m["image_size"]), max_len=int(m["max_len"]),
                                    dec_layers=int(m["dec_layers"]), heads=int(m["heads"]), topk=int(m["topk"]),
                                    dropout=float(m.get("dropout", 0.0) or 0.0))
        return SoftmaxSpotter(cfg2, PAD_ID)
    raise UserError(f"unknown baseline kind {kind!r}; one of {', '.join(KINDS)}")


def _kind_of(model: nn.Module) -> str:
    if isinstance(model, CRNN):
        return "crnn"
    if isinstance(model, SoftmaxSpotter):
        return "softmax"
    raise TypeError(f"not a baseline model: {type(model).__name__}")


def save_baseline_bundle(folder: str | Path, *, model: nn.Module, bank: Bank, name: str | None = None,
                         extra: dict[str, Any] | None = None) -> Path:
    """Write ``model`` (a :class:`CRNN` or :class:`SoftmaxSpotter`) and ``bank`` as a bundle folder."""
    kind = _kind_of(model)
    expected = len(bank) + 1 if kind == "crnn" else len(bank)
    if model.cfg.num_classes != expected:
        raise ValueError(f"the {kind} model has {model.cfg.num_classes} classes, the bank implies {expected}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    langs = bank.langs()
    bank.save(folder / "bank")
    save_weights(model, folder / WEIGHTS_FILE)
    labels = ("class i < N = row i of bank/bank.json's token table; class N = the CTC blank"
              if kind == "crnn" else "class i = row i of bank/bank.json's token table (<eos> ends the word)")
    config = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "kind": kind, "name": name or f"{kind}-baseline",
        "langs": langs, "charset_fingerprint": charset_fingerprint(langs), "bank_fingerprint": bank.fingerprint(),
        "image_size": list(model.cfg.image_size), "model": model.cfg.to_dict(), "labels": labels,
        "versions": {"mstr": __version__, "torch": torch.__version__, "python": platform.python_version()},
        **(extra or {}),
    }
    (folder / "config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return folder


def read_baseline_config(folder: str | Path) -> dict[str, Any]:
    """The ``config.json`` of a baseline bundle, checked."""
    cfg = read_config(folder, fmt=FORMAT, version=FORMAT_VERSION, what="baseline bundle",
                      contents=f"config.json, bank/, {WEIGHTS_FILE}; made by 'mstr train crnn' or 'mstr train softmax'",
                      hints={MSTR_FORMAT: " (an mSTR bundle: use it with --bundle / the 'mstr' engine)"})
    path = Path(folder) / "config.json"
    if cfg.get("kind") not in KINDS:
        raise UserError(f"{path}: unknown baseline kind {cfg.get('kind')!r}; one of {', '.join(KINDS)}")
    return cfg


def load_baseline_model(folder: str | Path, kind: str | None = None) -> tuple[nn.Module, Bank, dict[str, Any]]:
    """``(model, bank, config)`` of a baseline bundle; ``kind``, when given, must match."""
    folder = Path(folder)
    cfg = read_baseline_config(folder)
    if kind is not None and cfg["kind"] != kind:
        raise UserError(f"{folder} holds a {cfg['kind']} baseline, not a {kind} one")
    bank = Bank.load(folder / "bank", expected_fingerprint=cfg.get("bank_fingerprint"))
    try:
        if cfg["kind"] == "crnn":
            model: nn.Module = CRNN(CRNNConfig.from_dict(cfg["model"]))
            expected = len(bank) + 1
        else:
            model = SoftmaxSpotter(SoftmaxSpotterConfig.from_dict(cfg["model"]), PAD_ID)
            expected = len(bank)
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{folder / 'config.json'}: malformed model section ({exc})") from None
    if model.cfg.num_classes != expected:
        raise UserError(f"{folder}: the model has {model.cfg.num_classes} classes but its bank implies {expected}")
    load_weights(model, folder / WEIGHTS_FILE)
    return model.eval(), bank, cfg
