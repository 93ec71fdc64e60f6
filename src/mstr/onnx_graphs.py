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
  Each step thus costs one position, where :meth:`Refiner.greedy` re-runs the whole prefix and
  re-projects the memory. The arithmetic is the Refiner's (pre-LN decoder layers, GELU, scaled
  dot-product attention written as plain products, so that no per-step transpose of the keys is
  left in the graph); positions ``> t`` get zero weight.

:func:`greedy_loop` runs the steps (numpy in, numpy out) with early stopping once every row has
emitted ``<eos>``, exactly as :meth:`Refiner.greedy`; :func:`forced_logprob` scores given
readings (teacher forcing, as ``Refiner.forward`` does for the ``joint`` refine policy). Both
serve onnxruntime and, in the export check, the torch modules above.

These modules restate the decoder layer of :class:`torch.nn.TransformerDecoderLayer` with
``norm_first=True``; :func:`check_refiner` refuses any other decoder, and the export compares the
graphs with :meth:`Refiner.greedy` before writing a manifest.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SpotterGraph", "RefinerMemoryGraph", "RefinerStepGraph", "check_refiner", "refiner_dims",
           "spotter_io", "memory_io", "step_io", "zero_cache", "greedy_loop", "forced_logprob"]


def spotter_io() -> tuple[list[str], list[str]]:
    return ["images"], ["logits", "f4", "f8", "f16"]


def memory_io(layers: int) -> tuple[list[str], list[str]]:
    outs = [n for i in range(layers) for n in (f"cross_k{i}", f"cross_v{i}")]
    return ["top_ids", "top_probs", "f4", "f8", "f16"], outs


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


def _layers(refiner: nn.Module) -> list[nn.TransformerDecoderLayer]:
    return list(refiner.decoder.layers.layers)


def check_refiner(refiner: nn.Module) -> None:
    """Raise ``NotImplementedError`` unless the Refiner's decoder is the one these graphs restate."""
    stack = refiner.decoder.layers
    ok = isinstance(stack, nn.TransformerDecoder) and stack.norm is None and all(
        isinstance(layer, nn.TransformerDecoderLayer) and layer.norm_first and layer.self_attn.batch_first
        and layer.self_attn.in_proj_weight is not None and layer.multihead_attn.in_proj_weight is not None
        for layer in stack.layers)
    if not ok:
        raise NotImplementedError("the Refiner's decoder is not a stack of pre-LN nn.TransformerDecoderLayer: "
                                  "update mstr.onnx_graphs.RefinerStepGraph to export it")


def refiner_dims(refiner: nn.Module) -> dict[str, int]:
    """``layers``, ``heads``, ``head_dim``, ``steps`` (= max_len) of the Refiner's decoder."""
    layer = _layers(refiner)[0]
    heads = layer.self_attn.num_heads
    return {"layers": len(_layers(refiner)), "heads": heads, "head_dim": layer.self_attn.embed_dim // heads,
            "steps": refiner.cfg.max_len}


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """``B, T, d`` → ``B, H, T, d/H``."""
    b, t, d = x.shape
    return x.reshape(-1, t, heads, d // heads).transpose(1, 2)


def _merge(x: torch.Tensor) -> torch.Tensor:
    """``B, H, T, dh`` → ``B, T, H·dh``."""
    _, h, t, dh = x.shape
    return x.transpose(1, 2).reshape(-1, t, h * dh)


class RefinerMemoryGraph(nn.Module):
    """Top-K + maps → per-layer cross-attention keys and values ``B,H,M,dh``."""

    def __init__(self, refiner: nn.Module) -> None:
        super().__init__()
        check_refiner(refiner)
        self.refiner = refiner

    def forward(self, top_ids: torch.Tensor, top_probs: torch.Tensor, f4: torch.Tensor, f8: torch.Tensor,
                f16: torch.Tensor) -> tuple[torch.Tensor, ...]:
        mem = self.refiner.memory(top_ids, top_probs, [f4, f8, f16])
        out = []
        for layer in _layers(self.refiner):
            att = layer.multihead_attn
            d = att.embed_dim
            w, b = att.in_proj_weight, att.in_proj_bias
            k = _heads(F.linear(mem, w[d:2 * d], None if b is None else b[d:2 * d]), att.num_heads)
            out.append(k.transpose(2, 3) * (d // att.num_heads) ** -0.5)  # B, H, dh, M: ready for q @ k
            out.append(_heads(F.linear(mem, w[2 * d:], None if b is None else b[2 * d:]), att.num_heads))
        return tuple(out)


class RefinerStepGraph(nn.Module):
    """One cached greedy step (see the module docstring for inputs and outputs)."""

    def __init__(self, refiner: nn.Module) -> None:
        super().__init__()
        check_refiner(refiner)
        self.refiner = refiner
        self.steps = refiner.cfg.max_len
        self.register_buffer("positions", torch.arange(self.steps), persistent=False)

    def forward(self, token: torch.Tensor, step: torch.Tensor, *kv: torch.Tensor) -> tuple[torch.Tensor, ...]:
        r = self.refiner
        layers = _layers(r)
        cross, cache = kv[: 2 * len(layers)], kv[2 * len(layers):]
        emb = r.proto_in(r.bank[token])                                    # B, d
        x = torch.where(step == 0, r.bos.to(emb.dtype), emb) + r.in_pos[step]
        x = x.unsqueeze(1)                                                 # B, 1, d
        here = self.positions == step                                      # row t of the caches
        hidden = torch.zeros_like(self.positions, dtype=x.dtype).masked_fill(self.positions > step, float("-inf"))
        new_cache = []
        for i, layer in enumerate(layers):
            sa, ca = layer.self_attn, layer.multihead_attn
            heads = sa.num_heads
            scale = (sa.embed_dim // heads) ** -0.5
            q, k, v = F.linear(layer.norm1(x), sa.in_proj_weight, sa.in_proj_bias).chunk(3, dim=-1)
            kt = torch.where(here.view(1, 1, 1, -1), _heads(k, heads).transpose(2, 3) * scale, cache[2 * i])
            vv = torch.where(here.view(1, 1, -1, 1), _heads(v, heads), cache[2 * i + 1])
            new_cache += [kt, vv]
            a = ((_heads(q, heads) @ kt) + hidden).softmax(-1) @ vv
            x = x + sa.out_proj(_merge(a))
            d = ca.embed_dim
            b = ca.in_proj_bias
            q = F.linear(layer.norm2(x), ca.in_proj_weight[:d], None if b is None else b[:d])
            a = (_heads(q, ca.num_heads) @ cross[2 * i]).softmax(-1) @ cross[2 * i + 1]
            x = x + ca.out_proj(_merge(a))
            x = x + layer.linear2(layer.activation(layer.linear1(layer.norm3(x))))
        logits = r.logits(r.decoder.norm(x)[:, 0]).masked_fill(r.never, float("-inf"))
        probs, ids = logits.softmax(-1).max(-1)
        return (ids, probs, logits.log_softmax(-1), *new_cache)


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


def forced_logprob(run_step: Callable[[dict[str, np.ndarray]], Sequence[np.ndarray]], cross: Sequence[np.ndarray],
                   seqs: Sequence[Sequence[int]], *, layers: int, heads: int, head_dim: int, steps: int,
                   eos_id: int) -> np.ndarray:
    """The Refiner's log-probability of each reading ``seqs[b]`` followed by ``<eos>`` (``B``), as
    :func:`mstr.recognizer.sequence_logprob` of the teacher-forced ``Refiner.forward``: a reading
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
