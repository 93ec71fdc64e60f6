"""Reading with onnxruntime: ``mstr.load(folder, backend="onnx")`` → :class:`OnnxRecognizer`.

``folder`` is an export made by ``mstr export onnx`` (:mod:`mstr.onnx.export`): it holds the
graphs, the bundle's ``config.json`` and its bank. :class:`OnnxRecognizer` has the surface of
:class:`mstr.reading.recognizer.Recognizer` — ``read(images)`` and ``read_tensor(x)`` returning the same
:class:`~mstr.reading.prediction.Prediction` objects, with the same decoding (:func:`spotter_decode`,
the same greedy Refiner loop, the same ``refine_policy``, ``refine_mode``, ``refine_below`` and ``refine_ratio``,
through the same :func:`mstr.reading.recognizer.refine_readings`) — so the two backends agree up to float
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

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from mstr.bank import EOS_ID, Bank
from mstr.errors import UserError
from mstr.onnx.export import FORMAT, FORMAT_VERSION, MANIFEST
from mstr.onnx.graphs import forced_log_probs, greedy_loop, memory_feeds
from mstr.photo import PhotoReader
from mstr.reading.prediction import Prediction
from mstr.reading.lang_decode import LangSettings, decode_words, leaves, mask_logits
from mstr.reading.recognizer import _cut, refine_readings, spotter_decode
from mstr.reading.refine_policy import (DEFAULT_REFINE_MODE, DEFAULT_REFINE_POLICY, DEFAULT_REFINE_RATIO, RefineSettings,
                                resolve_refine_mode)

__all__ = ["OnnxRecognizer", "load_onnx", "find_export"]


def find_export(path: str | Path) -> Path:
    """The export folder for ``path``: ``path`` itself (it holds ``onnx.json``) or ``path/onnx``."""
    path = Path(path)
    for folder in (path, path / "onnx"):
        if (folder / MANIFEST).is_file():
            return folder
    if (path / "config.json").is_file():
        raise UserError(f"{path} is a model bundle, not an ONNX export: make one with "
                        f"`mstr export onnx --bundle {path} --out DIR` and load DIR with backend='onnx'")
    raise UserError(f"{path} is not an ONNX export ({MANIFEST} is missing); make one with "
                    "`mstr export onnx --bundle BUNDLE --out DIR`")


def _import_ort() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise UserError(f"backend='onnx' needs onnxruntime ({exc}); install it with "
                        "`pip install 'mstr[onnx]'`") from None
    return onnxruntime


class OnnxRecognizer(RefineSettings, LangSettings, PhotoReader):
    """``read(images)`` → one :class:`Prediction` per image, with onnxruntime on the CPU.

    ``refiner=False`` reads with the Spotter alone, as does a bundle that has no Refiner (as with
    the torch backend); ``refiner=True`` on an export made with ``--no-refiner`` of a bundle that
    has one raises :class:`UserError` (it would silently read differently from the bundle).
    ``int8`` picks the quantised graphs; ``threads`` is onnxruntime's intra-op thread count
    (default: torch's, which follows ``OMP_NUM_THREADS``).
    """

    def __init__(self, folder: str | Path, *, refiner: bool = True, refine_policy: str = DEFAULT_REFINE_POLICY,
                 refine_mode: str = DEFAULT_REFINE_MODE, refine_below: float | None = None,
                 refine_ratio: float | None = DEFAULT_REFINE_RATIO, int8: bool = False,
                 threads: int | None = None) -> None:
        self._init_refine(refine_policy, refine_mode, refine_below, refine_ratio)
        ort = _import_ort()
        folder = find_export(folder)
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
            config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UserError(f"{folder}: unreadable export ({exc}); export it again") from None
        if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
            raise UserError(f"{folder / MANIFEST}: not an {FORMAT} v{FORMAT_VERSION} export; export it again")
        if refiner and config.get("refiner") and not manifest.get("refiner"):
            raise UserError(f"{folder} was exported with --no-refiner, so it reads with the Spotter alone: "
                            "load it with refiner=False, or export the bundle again without --no-refiner")
        if int8 and not manifest.get("int8"):
            raise UserError(f"{folder} holds no int8 graphs: export with `mstr export onnx --int8`")
        self.folder = folder
        self.manifest = manifest
        self.config = config
        self.name = manifest.get("name") or config.get("name", folder.name)
        self.bank = Bank.load(folder / "bank", expected_fingerprint=config.get("bank_fingerprint"))
        self.langs = self.bank.langs()
        self.image_size = tuple(manifest["image_size"])
        self.topk = int(manifest["topk"])
        self.int8 = int8
        self.device = "cpu"
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

    def _refined(self, logits: torch.Tensor, feats: Sequence[np.ndarray], top_i: torch.Tensor, top_p: torch.Tensor,
                 readings: list[tuple[list[int], list[float], float]],
                 allowed: torch.Tensor | None = None) -> list[tuple[list[int], list[float], float]]:
        """``readings`` after the Refiner, as :meth:`mstr.reading.recognizer.Recognizer._refined`
        (``logits``: the Spotter's, masked to ``allowed`` when given)."""
        rows = self._refine_rows(readings, top_p[..., :2].tolist())
        if not rows:
            return readings
        ti, tp = np.ascontiguousarray(top_i.numpy()[rows]), np.ascontiguousarray(top_p.numpy()[rows])
        cross = self._memory.run(None, memory_feeds(self._memory, ti, tp, [f[rows] for f in feats]))

        def forced(idx: list[int], seqs: list[list[int]]) -> torch.Tensor:
            sub = [np.ascontiguousarray(c[idx]) for c in cross]
            return mask_logits(torch.from_numpy(forced_log_probs(self._run_step, sub, seqs, eos_id=EOS_ID,
                                                                 **self._dims)), allowed)

        def greedy() -> list[tuple[list[int], list[float]]]:
            r_ids, r_p = greedy_loop(self._run_step, cross, eos_id=EOS_ID, **self._dims)
            return list(zip(r_ids.tolist(), r_p.astype(np.float64).tolist()))

        mode = self.refine_mode
        if mode == "auto":
            mode = "greedy" if allowed is None else resolve_refine_mode(self.refine_policy, mode)
        chosen = refine_readings([readings[b] for b in rows], logits[torch.tensor(rows)],
                                 policy=self.refine_policy, mode=mode, forced=forced, greedy=greedy,
                                 max_len=self._dims["steps"])
        readings = list(readings)
        for b, r in zip(rows, chosen):
            if not leaves(r[0], allowed):
                readings[b] = r
        return readings

    # -- reading ------------------------------------------------------------------------------

    def read_tensor(self, x: torch.Tensor | np.ndarray, use_refiner: bool = True, *,
                    langs: Sequence[str] | str | None = None, script_consistency: bool | None = None) -> list[Prediction]:
        """``B, 3, H, W`` preprocessed batch (torch or numpy) → predictions (``langs``,
        ``script_consistency``: as :meth:`Recognizer.read <mstr.reading.recognizer.Recognizer.read>`)."""
        arr = x.detach().cpu().float().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float32)
        arr = np.ascontiguousarray(arr)
        raw, *feats = self.spotter_outputs(arr)
        b = arr.shape[0]

        def decode(rows: list[int], allowed: torch.Tensor | None):
            full = len(rows) == b
            logits = mask_logits(torch.from_numpy(raw if full else raw[rows]), allowed)
            ids, p, top_i, top_p = spotter_decode(logits, self.topk)
            readings = [_cut(ids[i].tolist(), p[i].tolist()) for i in range(len(rows))]
            if use_refiner and self._step is not None:
                sub = feats if full else [f[rows] for f in feats]
                readings = self._refined(logits, sub, top_i, top_p, readings, allowed)
            return readings, top_i, top_p

        readings, top_i, top_p = decode_words(self.bank, torch.from_numpy(raw), decode, allowed=self.lang_mask(langs),
                                              consistency=self._consistency(script_consistency),
                                              margin=self.script_margin)
        # the same Prediction fields as Recognizer.read_tensor (lists converted once per batch)
        tokens = [e.token for e in self.bank.entries]
        all_i, all_p = top_i.tolist(), top_p.tolist()
        preds = []
        for i in range(b):
            char_ids, char_p, conf = readings[i]
            s_ids = [row[0] for row in all_i[i]]
            n_top = s_ids.index(EOS_ID) + 1 if EOS_ID in s_ids else len(s_ids)
            topk = [[(tokens[j], round(q, 4)) for j, q in zip(all_i[i][t], all_p[i][t])] for t in range(n_top)]
            preds.append(Prediction(text=self.bank.decode(char_ids), confidence=float(conf),
                                    script=self.bank.script_vote(char_ids),
                                    chars=[(tokens[j], float(q)) for j, q in zip(char_ids, char_p)], topk=topk))
        return preds

    def read(self, images: Any, batch_size: int = 64, use_refiner: bool = True, *,
             langs: Sequence[str] | str | None = None, script_consistency: bool | None = None,
             lexicon: Any = None) -> list[Prediction]:
        """Read images as :meth:`Recognizer.read` (same inputs, batching and preprocessing, a
        Prediction with ``error`` for an unusable image; :mod:`mstr.inputs`; the same ``langs``,
        ``script_consistency`` and ``lexicon``)."""
        return self._read_all(images, batch_size, use_refiner, langs, script_consistency, lexicon)


def load_onnx(path: str | Path, *, refiner: bool = True, device: str = "cpu", bf16: bool = False,
              refine_policy: str = DEFAULT_REFINE_POLICY, int8: bool = False, threads: int | None = None,
              refine_mode: str = DEFAULT_REFINE_MODE, refine_below: float | None = None,
              refine_ratio: float | None = DEFAULT_REFINE_RATIO) -> OnnxRecognizer:
    """:class:`OnnxRecognizer` for an export folder (or a bundle folder holding ``onnx/``)."""
    if torch.device(device).type != "cpu":
        raise UserError(f"the ONNX backend runs on the CPU only (device={device!r}); use backend='torch' for "
                        "GPUs")
    if bf16:
        raise UserError("bf16 is a torch autocast option; the ONNX backend runs float32 graphs "
                        "(backend='onnx-int8' for the quantised ones)")
    return OnnxRecognizer(path, refiner=refiner, refine_policy=refine_policy, refine_mode=refine_mode,
                          refine_below=refine_below, refine_ratio=refine_ratio, int8=int8, threads=threads)
