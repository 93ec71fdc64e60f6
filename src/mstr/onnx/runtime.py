"""Reading with onnxruntime: ``mstr.load(folder, backend="onnx")`` → :class:`OnnxRecognizer`.

``folder`` is an export made by ``mstr export onnx`` (:mod:`mstr.onnx.export`; what it holds:
:mod:`mstr.onnx.format`): the graphs, the bundle's ``config.json`` and its bank.
:class:`OnnxRecognizer` has the surface of :class:`mstr.reading.recognizer.Recognizer` —
``read(images)`` and ``read_tensor(x)`` returning the same
:class:`~mstr.reading.prediction.Prediction` objects, with the same decoding
(:func:`~mstr.reading.decode.spotter_decode`, the same greedy Refiner loop, the same
:class:`~mstr.reading.refine_policy.RefineSettings`, through the same
:func:`mstr.reading.refine.refine_readings` and the same Prediction builder: the reading core's
:class:`~mstr.reading.reader.SpotterReader`) — so the two backends agree up to float
rounding (checked by ``tests/test_onnx.py``). One difference: the default ``refine_mode="auto"``
decodes greedily here, as the exported step graph teacher-forces one position per step, so the
``parallel`` mode (same readings with ``joint-edit1``) would be slower, not faster. Under a
language hint or the script-consistency re-decoding (:mod:`mstr.reading.lang_decode`), where the Refiner's
logits are masked, ``auto`` resolves as with torch (parallel with ``joint-edit1``), since the greedy
loop inside the step graph cannot be masked: the two backends then read alike too.

``backend="onnx-int8"`` runs the dynamically quantised graphs (``mstr export onnx --int8``):
faster matrix products, slightly different numbers — measure before trusting it.

Imports onnxruntime, numpy and the inference modules (bank, preprocessing, decoding), never the
training stack. torch is used only for the decoding helpers shared with the torch backend.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from mstr.bank import EOS_ID, Bank
from mstr.errors import UserError
from mstr.onnx.format import find_export, read_export
from mstr.onnx.graphs import forced_log_probs, greedy_loop, memory_feeds
from mstr.reading.lang_decode import mask_logits
from mstr.reading.prediction import Prediction
from mstr.reading.reader import Forced, Greedy, SpotterReader
from mstr.reading.refine_policy import RefineSettings, resolve_refine_mode

__all__ = ["OnnxRecognizer", "load_onnx", "find_export"]


def _import_ort() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise UserError(f"backend='onnx' needs onnxruntime ({exc}); install it with "
                        "`pip install 'mstr[onnx]'`") from None
    return onnxruntime


class OnnxRecognizer(SpotterReader):
    """``read(images)`` → one :class:`Prediction` per image, with onnxruntime on the CPU.

    ``refiner=False`` reads with the Spotter alone, as does a bundle that has no Refiner (as with
    the torch backend); ``refiner=True`` on an export made with ``--no-refiner`` of a bundle that
    has one raises :class:`UserError` (it would silently read differently from the bundle).
    ``int8`` picks the quantised graphs; ``threads`` is onnxruntime's intra-op thread count
    (default: torch's, which follows ``OMP_NUM_THREADS``).
    """

    def __init__(self, folder: str | Path, *, refiner: bool = True, refine: RefineSettings = RefineSettings(),
                 int8: bool = False, threads: int | None = None) -> None:
        self.refine_settings = refine
        ort = _import_ort()
        folder = find_export(folder)
        manifest, config = read_export(folder)
        if refiner and config.get("refiner") and not manifest.get("refiner"):
            raise UserError(f"{folder} was exported with --no-refiner, so it reads with the Spotter alone: "
                            "load it with refiner=False, or export the bundle again without --no-refiner")
        if int8 and not manifest.get("int8"):
            raise UserError(f"{folder} holds no int8 graphs: export with `mstr export onnx --int8`")
        self.folder = folder
        self.manifest = manifest
        self._init_reader(Bank.load(folder / "bank", expected_fingerprint=config.get("bank_fingerprint")),
                          config=config, name=manifest.get("name") or config.get("name", folder.name), device="cpu",
                          image_size=manifest["image_size"], config_path=folder / "config.json")
        self.topk = int(manifest["topk"])
        self.int8 = int8
        self.backend = "onnx-int8" if int8 else "onnx"
        self.threads = max(1, threads if threads is not None else torch.get_num_threads())
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3

        def session(name: str) -> Any:
            info = manifest["graphs"][name]
            path = folder / (info["int8"] if int8 else info["file"])
            if not path.is_file():
                raise UserError(f"ONNX graph {path} is missing; export again")
            try:
                return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
            except Exception as exc:  # onnxruntime raises its own types for unreadable graphs
                raise UserError(f"cannot load the ONNX graph {path} ({str(exc).strip()[:300]}); export again") from None

        self._spotter = session("spotter")
        self._memory = self._step = None
        self.has_refiner = bool(manifest.get("refiner"))
        if refiner and self.has_refiner:
            self._memory, self._step = session("refiner_memory"), session("refiner_step")
            self._dims = {k: int(v) for k, v in manifest["refiner_dims"].items()}

    @property
    def refiner(self) -> bool | None:
        """Truthy when the Refiner graphs are loaded (mirrors ``Recognizer.refiner``)."""
        return True if self._step is not None else None

    # -- graphs -------------------------------------------------------------------------------

    def spotter_outputs(self, x: np.ndarray) -> list[np.ndarray]:
        """``B, 3, H, W`` float32 → ``[logits B,L,N, f4, f8, f16]``."""
        return self._spotter.run(None, {"images": x})

    def _run_step(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self._step.run(None, feeds)

    def refine(self, top_i: np.ndarray, top_p: np.ndarray,
               feats: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Greedy Refiner decoding, as :meth:`mstr.models.refiner.Refiner.greedy`: ``(ids B,T, probs B,T)``."""
        cross = self._memory.run(None, memory_feeds(self._memory, top_i, top_p, feats))
        return greedy_loop(self._run_step, cross, eos_id=EOS_ID, **self._dims)

    #: the refined rows stay in batch order (each step graph call runs every row)
    _sort_refine_rows = False

    def _select_features(self, feats: Sequence[Any], rows: list[int]) -> list[Any]:
        return [f[rows] for f in feats]

    def _refine_mode(self, allowed: torch.Tensor | None) -> str:
        """``auto`` decodes greedily here (module docstring), except under a mask (a hint, the
        script-consistency re-decoding), where it resolves as with torch."""
        mode = self.refine_mode
        if mode == "auto":
            mode = "greedy" if allowed is None else resolve_refine_mode(self.refine_policy, mode)
        return mode

    def _refine_primitives(self, rows: list[int], top_i: torch.Tensor, top_p: torch.Tensor, feats: Sequence[Any],
                           allowed: torch.Tensor | None) -> tuple[Forced, Greedy, int]:
        """The Refiner graphs' primitives over rows ``rows``: the memory graph once, then the step
        graph teacher-forced (:func:`~mstr.onnx.graphs.forced_log_probs`) or greedy
        (:func:`~mstr.onnx.graphs.greedy_loop`)."""
        ti, tp = np.ascontiguousarray(top_i.numpy()[rows]), np.ascontiguousarray(top_p.numpy()[rows])
        cross = self._memory.run(None, memory_feeds(self._memory, ti, tp, [f[rows] for f in feats]))

        def forced(idx: list[int], seqs: list[list[int]]) -> torch.Tensor:
            sub = [np.ascontiguousarray(c[idx]) for c in cross]
            return mask_logits(torch.from_numpy(forced_log_probs(self._run_step, sub, seqs, eos_id=EOS_ID,
                                                                 **self._dims)), allowed)

        def greedy() -> list[tuple[list[int], list[float]]]:
            r_ids, r_p = greedy_loop(self._run_step, cross, eos_id=EOS_ID, **self._dims)
            return list(zip(r_ids.tolist(), r_p.astype(np.float64).tolist()))

        return forced, greedy, self._dims["steps"]

    # -- reading ------------------------------------------------------------------------------

    def read_tensor(self, x: torch.Tensor | np.ndarray, use_refiner: bool = True, *,
                    langs: Sequence[str] | str | None = None, script_consistency: bool | None = None) -> list[Prediction]:
        """``B, 3, H, W`` preprocessed batch (torch or numpy) → predictions (``langs``,
        ``script_consistency``: as :meth:`Recognizer.read <mstr.reading.recognizer.Recognizer.read>`)."""
        arr = x.detach().cpu().float().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float32)
        raw, *feats = self.spotter_outputs(np.ascontiguousarray(arr))
        return self._decode_batch(torch.from_numpy(raw), feats, use_refiner, langs, script_consistency)


def load_onnx(path: str | Path, *, refiner: bool = True, device: str = "cpu", bf16: bool = False,
              refine: RefineSettings = RefineSettings(), int8: bool = False,
              threads: int | None = None) -> OnnxRecognizer:
    """:class:`OnnxRecognizer` for an export folder (or a bundle folder holding ``onnx/``)."""
    if torch.device(device).type != "cpu":
        raise UserError(f"the ONNX backend runs on the CPU only (device={device!r}); use backend='torch' for "
                        "GPUs")
    if bf16:
        raise UserError("bf16 is a torch autocast option; the ONNX backend runs float32 graphs "
                        "(backend='onnx-int8' for the quantised ones)")
    return OnnxRecognizer(path, refiner=refiner, refine=refine, int8=int8, threads=threads)
