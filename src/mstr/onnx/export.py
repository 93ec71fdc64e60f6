"""Export a model bundle to ONNX: ``mstr export onnx --bundle B --out DIR``.

The export folder is self-describing; what it holds is :mod:`mstr.onnx.format`.

The graphs and their inputs and outputs are described in :mod:`mstr.onnx.graphs`; the batch axis
(``batch``) is dynamic everywhere, all floats are float32. :mod:`mstr.onnx.runtime` reads with
them (``mstr.load(DIR, backend="onnx")``).

The exporter is torch's TorchScript-based one (``torch.onnx.export(..., dynamo=False)``): it needs
only ``onnx``, takes well under a second per graph, and every shape but the batch is fixed in the
graphs (which is why the Refiner is exported as a fixed-size cached step rather than as a decoder
over a growing prefix). torch's default ``torch.export``-based exporter (``dynamo=True``) also
handles these models, but needs ``onnxscript`` and takes seconds per graph.

Imports torch and the model definitions, never the training stack.
"""
from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mstr.errors import UserError
from mstr.onnx.format import FILES, FORMAT, FORMAT_VERSION, MANIFEST, int8_file

__all__ = ["DEFAULT_OPSET", "export_onnx", "quantize_int8"]

DEFAULT_OPSET = 17
MIN_OPSET = 14  # scaled_dot_product_attention needs 14

#: max |torch − onnxruntime| accepted by the export check (float32 graphs)
CHECK_TOLERANCE = 1e-3


def _export(module: nn.Module, args: tuple[torch.Tensor, ...], path: Path, io: tuple[list[str], list[str]],
            opset: int, dynamic: dict[str, dict[int, str]]) -> None:
    inputs, outputs = io
    with warnings.catch_warnings():
        # the TorchScript exporter announces its deprecation and warns about traced shapes
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), args, str(path), dynamo=False, input_names=list(inputs),
                          output_names=list(outputs), dynamic_axes=dynamic, opset_version=opset,
                          do_constant_folding=True)
    module.eval()  # export restores the wrapper's mode, which is train() for a fresh wrapper


def _session(path: Path) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, torch.get_num_threads())
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def quantize_int8(src: Path, dst: Path) -> list[str]:
    """onnxruntime dynamic quantisation of ``src`` to ``dst``; returns the quantised node names.

    Only the MatMul / Gemm nodes with a weight (an initializer) are quantised: int8 weights,
    activations quantised per batch at run time. Products of two activations (attention scores,
    the cosines to the bank) stay float32, and so do convolutions: onnxruntime's dynamic
    ``ConvInteger`` kernels are several times slower than its float32 convolutions on x86 CPUs.
    """
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(src)).graph
    weights = {i.name for i in graph.initializer}
    matmuls = [n for n in graph.node if n.op_type in ("MatMul", "Gemm")]
    keep_float = [n.name for n in matmuls if len(n.input) < 2 or n.input[1] not in weights]
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)  # onnxruntime logs a pre-processing suggestion on the root logger
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gemm"],
                             nodes_to_exclude=keep_float)
    finally:
        logging.disable(previous)
    return [n.name for n in matmuls if n.name not in keep_float]


def _max_opset() -> int:
    try:
        from torch.onnx import _constants

        return int(_constants.ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET)
    except (ImportError, AttributeError):  # a private constant: be conservative without it
        return 20


def _require_onnx() -> tuple[str, str]:
    try:
        import onnx
        import onnxruntime
    except ImportError as exc:
        raise UserError(f"ONNX export needs the packages onnx and onnxruntime ({exc}); install them with "
                        "`pip install 'mstr[onnx]'` (or `make setup`, which installs requirements.lock)") from None
    return onnx.__version__, onnxruntime.__version__


def export_onnx(bundle: str | Path, out: str | Path, *, opset: int = DEFAULT_OPSET, int8: bool = False,
                refiner: bool = True, batch: int = 2, seed: int = 0) -> dict[str, Any]:
    """Export ``bundle`` to ONNX graphs in ``out`` (see the module docstring); returns the manifest.

    ``refiner=False`` exports the Spotter only. Before the manifest is written, onnxruntime runs
    every graph on random inputs of another batch size than the traced one and the results are
    compared with torch — the Spotter's outputs, and the greedy Refiner loop against
    :meth:`Refiner.greedy`; the largest differences go to the manifest under ``check``, and a
    difference above :data:`CHECK_TOLERANCE` (or another greedy token) is an error.
    """
    import numpy as np

    from mstr import __version__
    from mstr.bank import EOS_ID, PAD_ID
    from mstr.bundle import load_bundle
    from mstr.onnx.graphs import (RefinerMemoryGraph, RefinerStepGraph, SpotterGraph, forced_logprob, greedy_loop,
                                  memory_feeds, memory_io, refiner_dims, spotter_io, step_io, zero_cache)
    from mstr.reading.decode import sequence_logprob, spotter_decode

    onnx_version, ort_version = _require_onnx()
    max_opset = _max_opset()
    if not MIN_OPSET <= opset <= max_opset:
        raise UserError(f"--opset must be from {MIN_OPSET} (scaled dot-product attention) to {max_opset} (the "
                        f"newest the TorchScript exporter of torch {torch.__version__} writes), got {opset}")
    bundle, out = Path(bundle), Path(out)
    rec = load_bundle(bundle, refiner=refiner)  # checks every file and the bank fingerprint
    if out.resolve() == bundle.resolve():
        raise UserError("--out must be a folder other than the bundle itself")
    n_maps = len(rec.spotter.encoder.channels)
    if rec.refiner is not None and n_maps != 3:
        raise UserError(f"{bundle}: its Refiner reads the {n_maps} feature maps of a "
                        f"{rec.spotter.cfg.encoder} Spotter, and the ONNX graphs carry the resnet "
                        f"Spotter's 3 (f4, f8, f16) only: export the Spotter alone (--no-refiner) and "
                        f"read the Refiner with the torch backend")
    if (out / "bank").exists() and not (out / "bank" / "bank.json").is_file():
        raise UserError(f"{out / 'bank'} exists and is not a bank: choose an empty or new --out folder")
    out.mkdir(parents=True, exist_ok=True)
    # a previous export into the same folder: remove only the files an export writes
    for file in [MANIFEST, *FILES.values(), *(int8_file(f) for f in FILES.values())]:
        (out / file).unlink(missing_ok=True)
    if (out / "bank").exists():
        shutil.rmtree(out / "bank")
    shutil.copytree(bundle / "bank", out / "bank")
    shutil.copy2(bundle / "config.json", out / "config.json")
    if (bundle / "MODEL_CARD.md").is_file():
        shutil.copy2(bundle / "MODEL_CARD.md", out / "MODEL_CARD.md")

    spotter, ref = rec.spotter.eval(), rec.refiner
    h, w = rec.image_size
    k = spotter.cfg.topk
    gen = torch.Generator().manual_seed(seed)
    graphs: dict[str, Any] = {}
    check: dict[str, float] = {}

    def export(name: str, module: nn.Module, args: tuple[torch.Tensor, ...], io: tuple[list[str], list[str]],
               dynamic: dict[str, dict[int, str]]) -> Any:
        path = out / FILES[name]
        _export(module, args, path, io, opset, dynamic)
        graphs[name] = {"file": FILES[name], "inputs": io[0], "outputs": io[1], "bytes": path.stat().st_size}
        return _session(path)

    def compare(what: str, got: np.ndarray, expected: torch.Tensor) -> None:
        diff = float(np.abs(got - expected.float().numpy()).max()) if expected.numel() else 0.0
        check[what] = diff
        if not diff <= CHECK_TOLERANCE:
            raise RuntimeError(f"ONNX export check failed: {what} differs from torch by {diff:.3g} "
                               f"(> {CHECK_TOLERANCE}); please report this with your torch and onnxruntime versions")

    def batch_axes(io: tuple[list[str], list[str]], *skip: str) -> dict[str, dict[int, str]]:
        return {n: {0: "batch"} for n in (*io[0], *io[1]) if n not in skip}

    x = torch.rand(batch, 3, h, w, generator=gen) * 2 - 1
    s_sess = export("spotter", SpotterGraph(spotter), (x,), spotter_io(), batch_axes(spotter_io()))
    x_check = torch.rand(batch + 1, 3, h, w, generator=gen) * 2 - 1
    with torch.inference_mode():
        s_ref = spotter(x_check)
    s_got = s_sess.run(None, {"images": x_check.numpy()})
    for name, got, exp in zip(spotter_io()[1], s_got, (s_ref.logits, *s_ref.features)):
        compare(f"spotter.{name}", got, exp)

    dims = None
    if ref is not None:
        ref = ref.eval()
        dims = refiner_dims(ref)
        with torch.inference_mode():
            s_ex = spotter(x)
        _, _, top_i, top_p = spotter_decode(s_ex.logits, k)
        feats = [f.clone() for f in s_ex.features]
        m_io, st_io = memory_io(dims["layers"]), step_io(dims["layers"])
        mem_graph = RefinerMemoryGraph(ref)
        m_sess = export("refiner_memory", mem_graph, (top_i.clone(), top_p.clone(), *feats), m_io, batch_axes(m_io))
        with torch.no_grad():
            cross = mem_graph(top_i, top_p, *feats)
        cache = [torch.from_numpy(c) for c in zero_cache(batch, **dims)]
        token = torch.randint(2, len(rec.bank), (batch,), generator=gen)
        st_sess = export("refiner_step", RefinerStepGraph(ref), (token, torch.tensor(3), *cross, *cache), st_io,
                         batch_axes(st_io, "step"))
        # the greedy loop through onnxruntime against Refiner.greedy, on the check batch
        _, _, ci, cp = spotter_decode(s_ref.logits, k)
        c_feats = [torch.from_numpy(a) for a in s_got[1:]]
        c_cross = m_sess.run(None, memory_feeds(m_sess, ci.numpy(), cp.numpy(), [f.numpy() for f in c_feats]))
        with torch.no_grad():
            for name, got, exp in zip(m_io[1], c_cross, mem_graph(ci, cp, *s_ref.features)):
                compare(f"refiner_memory.{name}", got, exp)
            r_ids, r_p = ref.greedy(ci, cp, list(s_ref.features), EOS_ID)
        g_ids, g_p = greedy_loop(lambda feeds: st_sess.run(None, feeds), c_cross, eos_id=EOS_ID, **dims)
        if g_ids.shape != tuple(r_ids.shape) or not np.array_equal(g_ids, r_ids.numpy()):
            raise RuntimeError("ONNX export check failed: the Refiner's greedy tokens differ between onnxruntime "
                               "and torch; please report this with your torch and onnxruntime versions")
        compare("refiner_greedy.probs", g_p, r_p)
        # teacher-forced scores of given readings (the 'joint' refine policy) against Refiner.forward
        seqs = [row[:n].tolist() for row, n in zip(g_ids, range(1, len(g_ids) + 1))]
        prev = torch.full((len(seqs), max(map(len, seqs))), PAD_ID, dtype=torch.long)
        for j, seq in enumerate(seqs):
            prev[j, :len(seq)] = torch.tensor(seq, dtype=torch.long)
        with torch.no_grad():
            expected = sequence_logprob(ref(ci, cp, list(s_ref.features), prev), seqs)
        got = forced_logprob(lambda feeds: st_sess.run(None, feeds), c_cross, seqs, eos_id=EOS_ID, **dims)
        compare("refiner_forced.logprob", got, expected)

    if int8:
        for name, info in graphs.items():
            q = int8_file(info["file"])
            info["int8_nodes"] = len(quantize_int8(out / info["file"], out / q))
            info["int8"] = q
            info["int8_bytes"] = (out / q).stat().st_size

    cfg = rec.config
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "name": rec.name,
        "bundle": {"path": str(bundle), "name": cfg.get("name"), "bank_fingerprint": cfg.get("bank_fingerprint")},
        "exporter": "torch.onnx.export (TorchScript, dynamo=False)", "opset": opset,
        "image_size": [h, w], "topk": k, "max_len": spotter.cfg.max_len,
        "refiner": ref is not None, "refiner_dims": dims,
        "int8": bool(int8),
        "int8_scheme": "onnxruntime quantize_dynamic: QInt8 weights of MatMul/Gemm" if int8 else None,
        "graphs": graphs, "check": check,
        "versions": {"mstr": __version__, "torch": torch.__version__, "onnx": onnx_version,
                     "onnxruntime": ort_version},
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return manifest
