"""Option groups and helpers shared by the ``mstr`` subcommands, each defined once.

A subcommand adds the groups it needs (in the order its ``--help`` lists them) and calls the
helpers that turn the parsed options into library calls:

* :func:`add_bundle`, :func:`add_reading` (``--no-refiner``, the refine and decoding options),
  :func:`add_runtime` (``--batch-size --workers --device --backend --precision``), :func:`add_data`
  (``--manifest --root --lmdb --langs``), :func:`add_max_samples`, :func:`add_out`,
  :func:`add_json`;
* :func:`load_samples` — the samples named by ``--manifest/--root``, ``--lmdb`` and a sample cap;
  :func:`load_reader` — :func:`mstr.load` with the reading options; :func:`torch_device`;
* :func:`add_command_group` — a subcommand with sub-subcommands (``mstr data inspect`` …);
  :func:`int_pair` — an argparse type for ``HxW``, ``K/M`` and the like.

Nothing heavy is imported at module level, so ``mstr --help`` stays fast.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Callable, Sequence

from mstr.reading.decode_options import add_decoding_arguments, decoding_load_kwargs
from mstr.errors import UserError
from mstr.precision import PRECISIONS, precision_arg
from mstr.reading.refine_policy import add_refine_arguments

__all__ = ["BUNDLE_HELP", "add_bundle", "add_reading", "add_runtime", "add_workers", "add_device", "add_precision",
           "add_data", "add_max_samples", "add_out", "add_json", "add_command_group", "int_pair",
           "load_samples", "load_reader", "torch_device", "check_out_folder"]

#: --bundle of the commands that fall back to the shipped model
BUNDLE_HELP = "model bundle folder (default: the shipped model)"
#: --lmdb of the commands that evaluate on data
LMDB_HELP = "one LMDB folder, or a root with [LMDB/]<lang>/<split>_lmdb folders"
#: --precision
PRECISION_HELP = ("auto (default): bfloat16 on a CPU with AVX-512-BF16 or AMX, float32 elsewhere; bf16; fp32 "
                  "(the opt-out: float32 everywhere). The ONNX backends run float32")
#: --backend
BACKEND_HELP = "torch (default), or onnxruntime on an 'mstr export onnx' folder given as --bundle"


# --------------------------------------------------------------------------------------------
# option groups


def add_bundle(p: argparse.ArgumentParser, help: str = BUNDLE_HELP, *, required: bool = False) -> None:
    """``--bundle DIR``: the model bundle folder."""
    if required:
        p.add_argument("--bundle", required=True, type=Path, help=help)
    else:
        p.add_argument("--bundle", type=Path, default=None, help=help)


def add_reading(p: argparse.ArgumentParser, *, no_refiner_help: str, hint_per_sample: bool = False) -> None:
    """``--no-refiner``, the refine options (``--refine-policy/-mode/-below/-ratio``) and the decoding
    options (``--lang``, ``--lexicon``, …; with ``hint_per_sample`` also ``--lang-hint``)."""
    p.add_argument("--no-refiner", action="store_true", help=no_refiner_help)
    add_refine_arguments(p)
    add_decoding_arguments(p, hint_per_sample=hint_per_sample)


def add_workers(p: argparse.ArgumentParser, help: str, *, default: int = 1) -> None:
    """``--workers N``: reader processes."""
    p.add_argument("--workers", type=int, default=default, metavar="N", help=help)


def add_device(p: argparse.ArgumentParser, help: str, *, default: str = "cpu") -> None:
    """``--device``: the torch device."""
    p.add_argument("--device", default=default, help=help)


def add_runtime(p: argparse.ArgumentParser, *, workers_help: str, device_help: str) -> None:
    """``--batch-size``, ``--workers``, ``--device``, ``--backend`` and ``--precision`` of the commands
    that read."""
    p.add_argument("--batch-size", type=int, default=64, help="images per batch (default 64)")
    add_workers(p, workers_help)
    add_device(p, device_help)
    p.add_argument("--backend", choices=("torch", "onnx", "onnx-int8"), default="torch", help=BACKEND_HELP)
    add_precision(p)


def add_precision(p: argparse.ArgumentParser) -> None:
    """``--precision auto|bf16|fp32``: the arithmetic of the torch reader (:mod:`mstr.precision`)."""
    p.add_argument("--precision", choices=PRECISIONS, default="auto", help=PRECISION_HELP)


def add_data(p: argparse.ArgumentParser, *, manifest_help: str, root_help: str, langs_help: str) -> None:
    """``--manifest M --root R`` or ``--lmdb DIR``, and ``--langs`` (read by :func:`load_samples`)."""
    p.add_argument("--manifest", type=Path, default=None, help=manifest_help)
    p.add_argument("--root", type=Path, default=None, help=root_help)
    p.add_argument("--lmdb", type=Path, default=None, help=LMDB_HELP)
    p.add_argument("--langs", default=None, help=langs_help)


def add_max_samples(p: argparse.ArgumentParser, help: str, *, default: int | None = None) -> None:
    """``--max-samples N``: a cap on the samples, evenly spaced over the data."""
    p.add_argument("--max-samples", type=int, default=default, metavar="N", help=help)


def add_out(p: argparse.ArgumentParser, help: str, *, required: bool = False) -> None:
    """``--out``: the folder (or file) a command writes."""
    if required:
        p.add_argument("--out", required=True, type=Path, help=help)
    else:
        p.add_argument("--out", type=Path, default=None, help=help)


def add_json(p: argparse.ArgumentParser, help: str) -> None:
    """``--json``: print JSON instead of text."""
    p.add_argument("--json", action="store_true", help=help)


def add_command_group(sub: argparse._SubParsersAction, name: str, *, dest: str, metavar: str = "SUBCOMMAND",
                      **parser_kwargs: Any) -> argparse._SubParsersAction:
    """Register ``mstr NAME`` whose work is done by required sub-subcommands; returns their
    subparsers (``parser_kwargs``: ``help``, ``description``, …)."""
    p = sub.add_parser(name, **parser_kwargs)
    ss = p.add_subparsers(dest=dest, metavar=metavar)
    ss.required = True
    return ss


def int_pair(sep: str, expected: str) -> Callable[[str], tuple[int, int]]:
    """An argparse type reading two integers joined by ``sep`` (``"x"``: ``48x192``; ``"/"``:
    ``0/4``); a bad value says ``expected {expected}, got '…'``."""

    def parse(text: str) -> tuple[int, int]:
        try:
            a, b = (int(v) for v in text.lower().split(sep))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        return a, b

    return parse


# --------------------------------------------------------------------------------------------
# from options to library calls


def load_samples(args: argparse.Namespace, *, max_samples: int | None, purpose: str,
                 langs: Sequence[str] | None = None) -> Any:
    """The :class:`mstr.eval.samples.SampleSet` named by ``args.manifest``/``args.root`` or
    ``args.lmdb``, at most ``max_samples`` (see :func:`mstr.eval.samples.load_samples`)."""
    from mstr.eval.samples import load_samples as load

    return load(manifest=args.manifest, root=args.root, lmdb=args.lmdb, langs=langs, max_samples=max_samples,
                purpose=purpose)


def load_reader(args: argparse.Namespace, *, device: str, workers: int) -> Any:
    """:func:`mstr.load` of ``args.bundle`` with the options of :func:`add_reading` and ``--backend``."""
    from mstr.api import load

    return load(args.bundle, refiner=not args.no_refiner, device=device, refine_policy=args.refine_policy,
                backend=args.backend, bf16=precision_arg(args.precision), refine_mode=args.refine_mode,
                refine_below=args.refine_below, refine_ratio=args.refine_ratio, workers=workers,
                **decoding_load_kwargs(args))


def torch_device(name: str) -> Any:
    """The torch device of ``--device NAME`` (``auto``: CUDA when torch sees a GPU, else the CPU)."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as exc:
        raise UserError(f"--device {name!r} is not a torch device ({exc}); use auto, cpu or cuda") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {name} asked for CUDA but torch sees no GPU; use --device cpu")
    return dev


def check_out_folder(out: Path | None, what: str) -> None:
    """A one-line error when ``--out`` names a file where a folder for ``what`` is wanted."""
    if out is not None and out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder{what}")
