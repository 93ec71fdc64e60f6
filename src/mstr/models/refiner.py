"""mRefiner: a small autoregressive decoder that corrects the Spotter's reading.

Its memory concatenates
(i) **prefix memory** — for every Spotter position ``t`` and rank ``k`` of its top-K: the bank
    prototype of the hypothesis, an embedding of its probability, of ``t`` and of ``k``;
(ii) **visual memory** — the Spotter encoder's maps chosen by ``levels`` (for the resnet encoder
    0, 1, 2 = strides 4, 8, 16, all three by default; ``strides`` gives each map's), projected, with a level embedding and learned 2-D positions, so fine
    marks (matras, nukta, virama, anusvara) keep their spatial evidence. With ``fold_fine`` the
    stride-4 map is not a set of tokens of its own: its 2×2 cells are stacked onto the channels of
    the stride-8 tokens (space to depth), keeping its detail at a quarter of its tokens.
The memory's size sets most of the Refiner's cost per word (it is projected to every layer's
cross-attention keys and values once per word): with 32×128 images and ``topk`` 5 it is
26 × 5 + 256 + 64 + 32 = 482 tokens with all levels, 26 × 3 + 64 + 32 = 174 with ``levels``
(1, 2) and ``topk`` 3, or with all levels, ``fold_fine`` and ``topk`` 3. ``topk`` may be smaller
than the Spotter's: the Refiner keeps the first ``topk`` of the Spotter's ranked hypotheses.
It reads left to right (causal self-attention), its inputs being the prototypes of the previous
characters, and its outputs are embeddings scored against the same frozen bank.

Training is teacher-forced (:meth:`Refiner.forward`). Greedy decoding (:meth:`Refiner.greedy`)
projects the memory into every layer's cross-attention keys and values once
(:meth:`Refiner.cross_kv`), then decodes one position per step against a self-attention
key/value cache (:meth:`Refiner.step`); the ONNX export (:mod:`mstr.onnx.graphs`) wraps the same
two methods. :meth:`Refiner.greedy_reference` decodes by full recomputation, for checks.
:meth:`Refiner.forced` runs the teacher-forced decoder over all positions at once against the same
projected memory: the ``parallel`` refine mode (:mod:`mstr.reading.refine_policy`) and the scores of the
joint refine policies.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mstr.models.config import JsonConfig

from mstr.models.attention import (cross_and_feedforward, memory_kv, merge_heads, restatable,
                                   self_attention, split_heads)
from mstr.models.spotter import FeatureTokens, PositionDecoder

__all__ = ["RefinerConfig", "Refiner"]


@dataclass
class RefinerConfig(JsonConfig):
    dim: int = 256
    d_model: int = 192
    layers: int = 2
    heads: int = 4
    topk: int = 5
    max_len: int = 26
    channels: tuple[int, ...] = (64, 128, 192)
    image_size: tuple[int, int] = (32, 128)
    init_scale: float = 20.0
    levels: tuple[int, ...] = (0, 1, 2)
    fold_fine: bool = False
    #: (vertical, horizontal) stride of each of the Spotter encoder's maps (``encoder.strides``);
    #: the default is the resnet encoder's (configs saved before the field had only that encoder)
    strides: tuple[tuple[int, int], ...] = ((4, 4), (8, 8), (16, 8))

    def __post_init__(self) -> None:
        self.strides = tuple((int(sv), int(sh)) for sv, sh in self.strides)
        if len(self.strides) != len(self.channels):
            raise ValueError(f"refiner strides give {len(self.strides)} maps, channels {len(self.channels)}")
        levels = tuple(self.levels)
        named = ", ".join(f"{i} = stride {sv}×{sh}" for i, (sv, sh) in enumerate(self.strides))
        if not levels or len(set(levels)) != len(levels) or any(
                not isinstance(i, int) or not 0 <= i < len(self.channels) for i in levels):
            raise ValueError(f"refiner levels must be distinct indices of the {len(self.channels)} feature maps "
                             f"({named}), got {list(levels)}")
        if self.fold_fine and not {0, 1} <= set(levels):
            raise ValueError(f"refiner fold_fine folds the stride-4 map (level 0) into the stride-8 tokens "
                             f"(level 1): levels must include both, got {list(levels)}")
        if self.fold_fine and tuple(2 * s for s in self.strides[0]) != self.strides[1]:
            raise ValueError(f"refiner fold_fine stacks level 0's 2×2 cells onto level 1's tokens: level 1's "
                             f"strides must be twice level 0's, got {list(self.strides[:2])}")
        if self.topk < 1:
            raise ValueError(f"refiner topk must be at least 1, got {self.topk}")

    def token_levels(self) -> tuple[int, ...]:
        """The levels that become memory tokens of their own (with ``fold_fine``, level 0 is folded
        into level 1's tokens)."""
        return tuple(i for i in self.levels if not (self.fold_fine and i == 0))


class Refiner(nn.Module):
    """``forward(prefix_ids, prefix_scores, features, inputs)`` → ``B, T, N`` logits."""

    def __init__(self, cfg: RefinerConfig, bank_vectors: torch.Tensor, pad_id: int = 1) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        h, w = cfg.image_size
        shapes = tuple((max(1, h // sv), w // sh) for sv, sh in cfg.strides)
        # with fold_fine the stride-4 map's 2×2 cells enter as extra channels of the stride-8 tokens
        channels = [cfg.channels[i] + (4 * cfg.channels[0] if cfg.fold_fine and i == 1 else 0)
                    for i in cfg.token_levels()]
        self.visual = FeatureTokens(tuple(channels), tuple(shapes[i] for i in cfg.token_levels()), d)
        self.proto_in = nn.Linear(cfg.dim, d)
        self.score_in = nn.Sequential(nn.Linear(1, d), nn.GELU(), nn.Linear(d, d))
        self.prefix_pos = nn.Parameter(torch.randn(cfg.max_len, d) * 0.02)
        self.prefix_rank = nn.Parameter(torch.randn(cfg.topk, d) * 0.02)
        self.prefix_norm = nn.LayerNorm(d)
        self.bos = nn.Parameter(torch.randn(d) * 0.02)
        self.in_pos = nn.Parameter(torch.randn(cfg.max_len, d) * 0.02)
        self.decoder = PositionDecoder(d, cfg.heads, cfg.layers, causal=True)
        self.head = nn.Linear(d, cfg.dim)
        self.log_scale = nn.Parameter(torch.tensor(float(cfg.init_scale)).log())
        self.register_buffer("bank", bank_vectors.float().clone(), persistent=False)
        mask = torch.zeros(bank_vectors.shape[0], dtype=torch.bool)
        mask[pad_id] = True
        self.register_buffer("never", mask, persistent=False)

    def _proto_in(self, ids: torch.Tensor) -> torch.Tensor:
        """``proto_in(bank[ids])``. Without gradients (reading) the projected bank is computed once and
        reused while the weights, the bank and the autocast setting stay the same; with gradients,
        or while exporting, it is computed for the given ids."""
        if torch.is_grad_enabled() or torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
            return self.proto_in(self.bank[ids])
        w, bias = self.proto_in.weight, self.proto_in.bias
        cast = torch.get_autocast_dtype(ids.device.type) if torch.is_autocast_enabled(ids.device.type) else None
        key = (w.data_ptr(), w._version, bias.data_ptr(), bias._version, self.bank.data_ptr(), self.bank._version,
               cast, ids.device)
        cached = self.__dict__.get("_proto_table")
        if cached is None or cached[0] != key:
            cached = (key, self.proto_in(self.bank))
            self.__dict__["_proto_table"] = cached
        return cached[1][ids]

    def memory(self, prefix_ids: torch.Tensor, prefix_scores: torch.Tensor,
               features: list[torch.Tensor]) -> torch.Tensor:
        """``B, L, K`` ids and probabilities (the Spotter's top-K, ranked; the first ``cfg.topk`` are
        kept) + the Spotter's multi-scale maps (all of them: ``levels`` chooses) → ``B, L·K + V, d``
        memory."""
        k = self.cfg.topk
        if prefix_ids.shape[-1] < k:
            raise ValueError(f"the Refiner reads the top-{k} hypotheses; got {prefix_ids.shape[-1]}")
        prefix_ids, prefix_scores = prefix_ids[..., :k], prefix_scores[..., :k]
        b, L, _ = prefix_ids.shape
        x = self._proto_in(prefix_ids)                                    # B, L, K, d
        x = x + self.score_in(prefix_scores.unsqueeze(-1).to(x.dtype))
        x = x + self.prefix_pos[:L, None, :] + self.prefix_rank[None, :k, :]
        prefix = self.prefix_norm(x.reshape(b, L * k, -1))
        return torch.cat([prefix, self.visual(self.visual_maps(features))], dim=1)

    def visual_maps(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        """The maps of :meth:`RefinerConfig.token_levels`; with ``fold_fine`` the stride-8 map carries
        the stride-4 map's 2×2 cells as extra channels (space to depth), so the fine marks' evidence
        reaches the memory without the stride-4 map's 4× more tokens."""
        maps = []
        for i in self.cfg.token_levels():
            m = features[i]
            if self.cfg.fold_fine and i == 1:
                m = torch.cat([m, F.pixel_unshuffle(features[0].to(m.dtype), 2)], dim=1)
            maps.append(m)
        return maps

    def embed_inputs(self, prev_ids: torch.Tensor) -> torch.Tensor:
        """``B, T`` previous token ids (teacher forcing) → ``B, T + 1, d`` (BOS first)."""
        b, t = prev_ids.shape
        x = self._proto_in(prev_ids) if t else prev_ids.new_zeros((b, 0, self.cfg.d_model), dtype=torch.float)
        x = torch.cat([self.bos.expand(b, 1, -1).to(x.dtype), x], dim=1)
        return x + self.in_pos[: t + 1]

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        emb = F.normalize(self.head(h).float(), dim=-1)
        return self.log_scale.exp().clamp(1.0, 100.0) * emb @ self.bank.t()  # raw: see Spotter.score

    def forward(self, prefix_ids: torch.Tensor, prefix_scores: torch.Tensor, features: list[torch.Tensor],
                prev_ids: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits ``B, T + 1, N`` for targets ``y_0 … y_T`` given ``y_0 … y_{T-1}``."""
        mem = self.memory(prefix_ids, prefix_scores, features)
        return self.logits(self.decoder(self.embed_inputs(prev_ids), mem))

    # ---------------------------------------------------------------------------------------
    # cached greedy decoding: the memory is projected once, then one position per step

    def cacheable(self) -> bool:
        """Whether the decoder is the stack of pre-LN :class:`nn.TransformerDecoderLayer` (batch
        first, packed input projections, no final norm inside the stack) that :meth:`step` restates."""
        return restatable(self.decoder.layers)

    def decoder_layers(self) -> list[nn.TransformerDecoderLayer]:
        return list(self.decoder.layers.layers)

    def cross_kv(self, mem: torch.Tensor) -> list[torch.Tensor]:
        """``B, M, d`` memory → per decoder layer the cross-attention keys ``B, H, dh, M`` (transposed
        and scaled by ``dh**-0.5``, ready for ``q @ k``) and values ``B, H, M, dh``."""
        return [t for layer in self.decoder_layers() for t in memory_kv(layer, mem)]

    def empty_cache(self, batch: int, device: torch.device | str | None = None,
                    dtype: torch.dtype = torch.float32) -> list[torch.Tensor]:
        """Zero self-attention caches for :meth:`step`: per layer keys ``B, H, dh, T`` and values
        ``B, H, T, dh``, ``T`` = ``max_len``."""
        out = []
        for layer in self.decoder_layers():
            h = layer.self_attn.num_heads
            dh = layer.self_attn.embed_dim // h
            t = self.cfg.max_len
            out += [torch.zeros(batch, h, dh, t, device=device, dtype=dtype),
                    torch.zeros(batch, h, t, dh, device=device, dtype=dtype)]
        return out

    def step(self, token: torch.Tensor, step: torch.Tensor | int, cross: list[torch.Tensor],
             cache: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """One greedy step at position ``t`` = ``step`` with a key/value cache.

        ``token`` ``B``: the token emitted at step ``t - 1`` (ignored at step 0, whose input is BOS);
        ``cross``: :meth:`cross_kv`; ``cache``: the self-attention keys/values of positions ``< t``
        (:meth:`empty_cache` at step 0). Returns ``(ids B, probs B, logits B, N, cache)``: the greedy
        choice and its probability (``<pad>`` excluded), the logits with ``<pad>`` at −inf, and the
        caches with position ``t`` filled. The arithmetic is that of the pre-LN decoder layers in
        :meth:`forward` (scaled dot-product attention written as plain products; positions ``> t``
        get zero weight), so the tokens are :meth:`greedy_reference`'s."""
        t = torch.as_tensor(step, device=token.device)
        export = torch.onnx.is_in_onnx_export()
        steps = cache[0].shape[-1]
        positions = torch.arange(steps, device=token.device)
        emb = self.proto_in(self.bank[token])                                  # B, d
        x = torch.where(t == 0, self.bos.to(emb.dtype), emb) + self.in_pos[t]
        x = x.unsqueeze(1)                                                     # B, 1, d
        here = positions == t if export else None                             # the cache row of step t
        hidden = torch.zeros(steps, device=token.device, dtype=x.dtype).masked_fill(positions > t, float("-inf"))
        new_cache = []
        for i, layer in enumerate(self.decoder_layers()):
            sa = layer.self_attn
            heads = sa.num_heads
            scale = (sa.embed_dim // heads) ** -0.5
            q, k, v = F.linear(layer.norm1(x), sa.in_proj_weight, sa.in_proj_bias).chunk(3, dim=-1)
            k, v = split_heads(k, heads).transpose(2, 3) * scale, split_heads(v, heads)  # B, H, dh, 1 and B, H, 1, dh
            if export:  # row t written by a select (how the ONNX graph has it)
                kt = torch.where(here.view(1, 1, 1, -1), k, cache[2 * i])
                vv = torch.where(here.view(1, 1, -1, 1), v, cache[2 * i + 1])
            else:       # the same values, copied: cheaper in eager mode
                kt = cache[2 * i].index_copy(3, t.view(1), k.to(cache[2 * i].dtype))
                vv = cache[2 * i + 1].index_copy(2, t.view(1), v.to(cache[2 * i + 1].dtype))
            new_cache += [kt, vv]
            a = ((split_heads(q, heads) @ kt) + hidden).softmax(-1) @ vv
            x = x + sa.out_proj(merge_heads(a))
            x = cross_and_feedforward(layer, x, cross[2 * i], cross[2 * i + 1])
        logits = self.logits(self.decoder.norm(x)[:, 0]).masked_fill(self.never, float("-inf"))
        probs, ids = logits.softmax(-1).max(-1)
        return ids, probs, logits, new_cache

    def forced(self, prev_ids: torch.Tensor, cross: list[torch.Tensor]) -> torch.Tensor:
        """Teacher-forced logits ``B, T + 1, N`` (as :meth:`forward`, raw: ``<pad>`` not masked) for
        targets ``y_0 … y_T`` given ``y_0 … y_{T-1}`` = ``prev_ids``, all positions in one parallel
        pass against the memory's projected keys and values ``cross`` (:meth:`cross_kv`), so several
        passes over the same words project the memory once. The arithmetic is :meth:`step`'s (pre-LN
        decoder layers, causal self-attention)."""
        x = self.embed_inputs(prev_ids)                                        # B, T+1, d
        t = x.shape[1]
        causal = torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1)
        for i, layer in enumerate(self.decoder_layers()):
            x = cross_and_feedforward(layer, self_attention(layer, x, causal), cross[2 * i], cross[2 * i + 1])
        return self.logits(self.decoder.norm(x))

    @torch.no_grad()
    def greedy(self, prefix_ids: torch.Tensor, prefix_scores: torch.Tensor, features: list[torch.Tensor],
               eos_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Greedy decoding: ``(ids B, L, probs B, L)``, stopping once every row has emitted EOS (a
        finished row keeps emitting EOS with probability 1).

        The memory's cross-attention keys and values are computed once and each step runs one
        position against a key/value cache (:meth:`step`): the tokens of
        :meth:`greedy_reference`, which re-runs the decoder over the whole prefix at every step."""
        if not self.cacheable():
            return self.greedy_reference(prefix_ids, prefix_scores, features, eos_id)
        return self.greedy_cross(self.cross_kv(self.memory(prefix_ids, prefix_scores, features)), eos_id)

    @torch.no_grad()
    def greedy_cross(self, cross: list[torch.Tensor], eos_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`greedy` from the memory's projected keys and values (:meth:`cross_kv`)."""
        b, device = cross[0].shape[0], cross[0].device
        cache = self.empty_cache(b, device)
        token = torch.full((b,), eos_id, dtype=torch.long, device=device)
        done = torch.zeros(b, dtype=torch.bool, device=device)
        ids, probs = [], []
        for t in range(self.cfg.max_len):
            nxt, conf, _, cache = self.step(token, t, cross, cache)
            nxt = torch.where(done, torch.full_like(nxt, eos_id), nxt)
            ids.append(nxt)
            probs.append(torch.where(done, torch.ones_like(conf), conf))
            done |= nxt.eq(eos_id)
            if bool(done.all()):
                break
            token = nxt
        return torch.stack(ids, dim=1), torch.stack(probs, dim=1)

    @torch.no_grad()
    def greedy_reference(self, prefix_ids: torch.Tensor, prefix_scores: torch.Tensor, features: list[torch.Tensor],
                         eos_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`greedy` by full recomputation: the decoder over BOS + the whole prefix at every
        step (as :meth:`forward`). Slow; the reference the cached decoder is checked against."""
        mem = self.memory(prefix_ids, prefix_scores, features)
        b = prefix_ids.shape[0]
        ids = prefix_ids.new_zeros((b, 0))
        probs = []
        done = torch.zeros(b, dtype=torch.bool, device=prefix_ids.device)
        for _ in range(self.cfg.max_len):
            h = self.decoder(self.embed_inputs(ids), mem)
            p = self.logits(h[:, -1]).masked_fill(self.never, float("-inf")).softmax(-1)
            conf, nxt = p.max(-1)
            nxt = torch.where(done, torch.full_like(nxt, eos_id), nxt)
            ids = torch.cat([ids, nxt[:, None]], dim=1)
            probs.append(torch.where(done, torch.ones_like(conf), conf))
            done |= nxt.eq(eos_id)
            if bool(done.all()):
                break
        return ids, torch.stack(probs, dim=1)

