"""The graphs ``mstr export onnx`` writes, as torch modules, and the greedy loop that drives them.

* :class:`SpotterGraph` — ``images B,3,H,W`` → ``logits B,L,N`` (raw scaled cosines, ``<pad>``
  included; decoding masks it as the torch backend does) and the maps ``f4``, ``f8``, ``f16``.
* :class:`RefinerMemoryGraph` — the Spotter's top-K (``top_ids B,L,K`` int64, ``top_probs``)
  and the maps → the Refiner's memory, already projected to the keys and values of every decoder
  layer's cross-attention: ``cross_k{i}`` (``B,H,dh,M``, transposed and scaled by ``dh**-0.5``,
  ready for ``q @ k``) and ``cross_v{i}`` (``B,H,M,dh``). They are computed once per word instead
  of once per decoding step.
* :class:`RefinerStepGraph` — one greedy step with a key/value cache: ``token B`` (the token
  emitted at the previous step; ignored at step 0, where the input is BOS), ``step`` (int64
  scalar ``t``), the cross keys/values and the self-attention caches ``self_k{i}`` (``B,H,dh,T``,
  scaled like the cross keys) and ``self_v{i}`` (``B,H,T,dh``), ``T`` = the Refiner's ``max_len``
  → ``next_ids B``, ``next_probs B`` (the greedy choice, ``<pad>`` excluded, and its probability),
  ``log_probs B,N`` (the whole distribution, for scoring given readings) and the caches with
  position ``t`` filled.
  Each step thus costs one position, where :meth:`Refiner.greedy_reference` re-runs the whole
  prefix and re-projects the memory. The arithmetic is the Refiner's (pre-LN decoder layers,
  GELU, scaled dot-product attention written as plain products, so that no per-step transpose of
  the keys is left in the graph); positions ``> t`` get zero weight.

:func:`greedy_loop` runs the steps (numpy in, numpy out) with early stopping once every row has
emitted ``<eos>``, exactly as :meth:`Refiner.greedy`; :func:`forced_log_probs` runs them teacher-forced
on given readings (as ``Refiner.forward``: the ``parallel`` refine mode and the joint policies'
scores) and :func:`forced_logprob` sums a reading's log-probability from them. They serve
onnxruntime and, in the export check, the torch modules above. (The step graph teacher-forces one
position per step, so in onnxruntime the ``parallel`` refine mode reads as in torch but is not
faster than greedy decoding; a graph running all positions at once, as :meth:`Refiner.forced` does
in torch, is not exported yet.)

The two Refiner graphs wrap :meth:`Refiner.cross_kv` and :meth:`Refiner.step`, the cached
decoding that :meth:`Refiner.greedy` also runs in torch. They restate the decoder layer of
:class:`torch.nn.TransformerDecoderLayer` with ``norm_first=True``; :func:`check_refiner` refuses
any other decoder, and the export compares the graphs with :meth:`Refiner.greedy` before writing
a manifest.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

__all__ = ["SpotterGraph", "RefinerMemoryGraph", "RefinerStepGraph", "check_refiner", "refiner_dims",
           "spotter_io", "memory_io", "memory_feeds", "step_io", "zero_cache", "greedy_loop", "forced_log_probs",
           "forced_logprob"]


def spotter_io() -> tuple[list[str], list[str]]:
    return ["images"], ["logits", "f4", "f8", "f16"]


def memory_io(layers: int) -> tuple[list[str], list[str]]:
    outs = [n for i in range(layers) for n in (f"cross_k{i}", f"cross_v{i}")]
    return ["top_ids", "top_probs", "f4", "f8", "f16"], outs


def memory_feeds(session: Any, top_ids: np.ndarray, top_probs: np.ndarray,
                 feats: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """The inputs of a ``refiner_memory`` onnxruntime session: the Spotter's top-K and the maps the
    graph takes. A Refiner whose memory leaves a map out (``RefinerConfig.levels``) exports a graph
    without that input (the exporter drops unused inputs), so only the graph's own inputs are fed."""
    wanted = {i.name for i in session.get_inputs()}
    names = memory_io(0)[0]  # top_ids, top_probs, f4, f8, f16
    return {name: value for name, value in zip(names, (top_ids, top_probs, *feats)) if name in wanted}


def step_io(layers: int) -> tuple[list[str], list[str]]:
    cross = [n for i in range(layers) for n in (f"cross_k{i}", f"cross_v{i}")]
    cache = [n for i in range(layers) for n in (f"self_k{i}", f"self_v{i}")]
    return ["token", "step", *cross, *cache], ["next_ids", "next_probs", "log_probs", *(f"new_{n}" for n in cache)]


class SpotterGraph(nn.Module):
    """``images B,3,H,W`` → ``(logits B,L,N, f4, f8, f16)``."""

    def __init__(self, spotter: nn.Module) -> None:
        super().__init__()
        self.spotter = spotter

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.spotter(images)
        return (out.logits, *out.features)


def check_refiner(refiner: nn.Module) -> None:
    """Raise ``NotImplementedError`` unless the Refiner's decoder is the one these graphs restate."""
    if not refiner.cacheable():
        raise NotImplementedError("the Refiner's decoder is not a stack of pre-LN nn.TransformerDecoderLayer: "
                                  "update Refiner.step (mstr.models.refiner) to export it")


def refiner_dims(refiner: nn.Module) -> dict[str, int]:
    """``layers``, ``heads``, ``head_dim``, ``steps`` (= max_len) of the Refiner's decoder."""
    layers = refiner.decoder_layers()
    heads = layers[0].self_attn.num_heads
    return {"layers": len(layers), "heads": heads, "head_dim": layers[0].self_attn.embed_dim // heads,
            "steps": refiner.cfg.max_len}


class RefinerMemoryGraph(nn.Module):
    """Top-K + maps → per-layer cross-attention keys ``B,H,dh,M`` and values ``B,H,M,dh``
    (:meth:`Refiner.memory` then :meth:`Refiner.cross_kv`)."""

    def __init__(self, refiner: nn.Module) -> None:
        super().__init__()
        check_refiner(refiner)
        self.refiner = refiner

    def forward(self, top_ids: torch.Tensor, top_probs: torch.Tensor, *maps: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``maps``: the Spotter's feature maps (exported: the resnet Spotter's f4, f8, f16)."""
        return tuple(self.refiner.cross_kv(self.refiner.memory(top_ids, top_probs, list(maps))))


class RefinerStepGraph(nn.Module):
    """One cached greedy step, :meth:`Refiner.step` (see the module docstring for inputs and outputs)."""

    def __init__(self, refiner: nn.Module) -> None:
        super().__init__()
        check_refiner(refiner)
        self.refiner = refiner
        self.steps = refiner.cfg.max_len

    def forward(self, token: torch.Tensor, step: torch.Tensor, *kv: torch.Tensor) -> tuple[torch.Tensor, ...]:
        n = 2 * len(self.refiner.decoder_layers())
        ids, probs, logits, cache = self.refiner.step(token, step, list(kv[:n]), list(kv[n:]))
        return (ids, probs, logits.log_softmax(-1), *cache)


def zero_cache(batch: int, *, layers: int, heads: int, head_dim: int, steps: int) -> list[np.ndarray]:
    """Empty self-attention caches for :class:`RefinerStepGraph`: per layer keys ``B,H,dh,T`` and
    values ``B,H,T,dh``."""
    return [np.zeros((batch, heads, head_dim, steps) if i % 2 == 0 else (batch, heads, steps, head_dim),
                     dtype=np.float32) for i in range(2 * layers)]


def greedy_loop(run_step: Callable[[dict[str, np.ndarray]], Sequence[np.ndarray]], cross: Sequence[np.ndarray], *,
                layers: int, heads: int, head_dim: int, steps: int, eos_id: int, max_steps: int | None = None,
                stop_early: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Greedy decoding with :class:`RefinerStepGraph`: ``(ids B,T, probs B,T)``, as
    :meth:`Refiner.greedy` (a finished row keeps emitting ``<eos>`` with probability 1; the loop
    stops once every row has finished).

    ``run_step(feeds)`` runs the step graph on a dict of named numpy inputs and returns its
    outputs in order; ``cross`` are the memory graph's outputs; ``steps`` is the caches' length
    (the Refiner's ``max_len``). ``max_steps`` / ``stop_early=False`` are for timing: run exactly
    that many steps.
    """
    b = cross[0].shape[0]
    inputs, _ = step_io(layers)
    names_cross, names_cache = inputs[2:2 + 2 * layers], inputs[2 + 2 * layers:]
    cache = zero_cache(b, layers=layers, heads=heads, head_dim=head_dim, steps=steps)
    token = np.full(b, eos_id, dtype=np.int64)
    done = np.zeros(b, dtype=bool)
    ids, probs = [], []
    for t in range(min(steps, max_steps or steps)):
        feeds = {"token": token, "step": np.array(t, dtype=np.int64), **dict(zip(names_cross, cross)),
                 **dict(zip(names_cache, cache))}
        nxt, p, _, *cache = run_step(feeds)
        nxt = np.where(done, eos_id, nxt).astype(np.int64)
        ids.append(nxt)
        probs.append(np.where(done, np.float32(1.0), p))
        done |= nxt == eos_id
        if stop_early and done.all():
            break
        token = nxt
    return np.stack(ids, axis=1), np.stack(probs, axis=1)


def forced_log_probs(run_step: Callable[[dict[str, np.ndarray]], Sequence[np.ndarray]], cross: Sequence[np.ndarray],
                     seqs: Sequence[Sequence[int]], *, layers: int, heads: int, head_dim: int, steps: int,
                     eos_id: int) -> np.ndarray:
    """The Refiner teacher-forced on readings ``seqs`` with the step graph: its log-distribution
    ``B, W + 1, N`` (``W`` = the longest reading, at most ``steps - 1``) over the character at each
    position given the reading's previous characters, as ``log_softmax`` of ``Refiner.forward``
    (``<pad>`` at −inf). Positions past a reading's end follow ``<eos>`` inputs."""
    b = cross[0].shape[0]
    inputs, _ = step_io(layers)
    names_cross, names_cache = inputs[2:2 + 2 * layers], inputs[2 + 2 * layers:]
    cache = zero_cache(b, layers=layers, heads=heads, head_dim=head_dim, steps=steps)
    width = min(max((len(s) for s in seqs), default=0), steps - 1) + 1
    token = np.full(b, eos_id, dtype=np.int64)
    out = []
    for t in range(width):
        feeds = {"token": token, "step": np.array(t, dtype=np.int64), **dict(zip(names_cross, cross)),
                 **dict(zip(names_cache, cache))}
        _, _, logp, *cache = run_step(feeds)
        out.append(logp)
        token = np.array([s[t] if t < len(s) else eos_id for s in seqs], dtype=np.int64)
    return np.stack(out, axis=1)


def forced_logprob(run_step: Callable[[dict[str, np.ndarray]], Sequence[np.ndarray]], cross: Sequence[np.ndarray],
                   seqs: Sequence[Sequence[int]], *, layers: int, heads: int, head_dim: int, steps: int,
                   eos_id: int) -> np.ndarray:
    """The Refiner's log-probability of each reading ``seqs[b]`` followed by ``<eos>`` (``B``), as
    :func:`mstr.reading.recognizer.sequence_logprob` of the teacher-forced ``Refiner.forward``: a reading
    with no room left for ``<eos>`` (``len + 1 > steps``) scores −inf."""
    b = cross[0].shape[0]
    inputs, _ = step_io(layers)
    names_cross, names_cache = inputs[2:2 + 2 * layers], inputs[2 + 2 * layers:]
    cache = zero_cache(b, layers=layers, heads=heads, head_dim=head_dim, steps=steps)
    targets = [list(s) + [eos_id] for s in seqs]
    total = np.zeros(b, dtype=np.float64)
    width = min(max(len(t) for t in targets), steps)
    token = np.full(b, eos_id, dtype=np.int64)
    for t in range(width):
        feeds = {"token": token, "step": np.array(t, dtype=np.int64), **dict(zip(names_cross, cross)),
                 **dict(zip(names_cache, cache))}
        _, _, logp, *cache = run_step(feeds)
        for row, target in enumerate(targets):
            if t < len(target):
                total[row] += float(logp[row, target[t]])
        token = np.array([target[t] if t < len(target) else eos_id for target in targets], dtype=np.int64)
    total[[len(t) > steps for t in targets]] = -np.inf
    return total
