"""mRefiner: a small autoregressive decoder that corrects the Spotter's reading.

Its memory concatenates
(i) **prefix memory** — for every Spotter position ``t`` and rank ``k`` of its top-K: the bank
    prototype of the hypothesis, an embedding of its probability, of ``t`` and of ``k``;
(ii) **visual memory** — the Spotter encoder's stride-4, 8 and 16 maps, projected, with a level
    embedding and learned 2-D positions, so fine marks (matras, nukta, virama, anusvara) keep
    their spatial evidence.
It reads left to right (causal self-attention), its inputs being the prototypes of the previous
characters, and its outputs are embeddings scored against the same frozen bank.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mstr.models.config import JsonConfig

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


class Refiner(nn.Module):
    """``forward(prefix_ids, prefix_scores, features, inputs)`` → ``B, T, N`` logits."""

    def __init__(self, cfg: RefinerConfig, bank_vectors: torch.Tensor, pad_id: int = 1) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        h, w = cfg.image_size
        shapes = ((h // 4, w // 4), (h // 8, w // 8), (h // 16, w // 8))
        self.visual = FeatureTokens(cfg.channels, shapes, d)
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

    def memory(self, prefix_ids: torch.Tensor, prefix_scores: torch.Tensor,
               features: list[torch.Tensor]) -> torch.Tensor:
        """``B, L, K`` ids and probabilities + multi-scale maps → ``B, L·K + V, d`` memory."""
        b, L, k = prefix_ids.shape
        protos = self.bank[prefix_ids]                                    # B, L, K, D
        x = self.proto_in(protos) + self.score_in(prefix_scores.unsqueeze(-1).to(protos.dtype))
        x = x + self.prefix_pos[:L, None, :] + self.prefix_rank[None, :k, :]
        prefix = self.prefix_norm(x.reshape(b, L * k, -1))
        return torch.cat([prefix, self.visual(features)], dim=1)

    def embed_inputs(self, prev_ids: torch.Tensor) -> torch.Tensor:
        """``B, T`` previous token ids (teacher forcing) → ``B, T + 1, d`` (BOS first)."""
        b, t = prev_ids.shape
        x = self.proto_in(self.bank[prev_ids]) if t else prev_ids.new_zeros((b, 0, self.cfg.d_model), dtype=torch.float)
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

    @torch.no_grad()
    def greedy(self, prefix_ids: torch.Tensor, prefix_scores: torch.Tensor, features: list[torch.Tensor],
               eos_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Greedy decoding: ``(ids B, L, probs B, L)``, stopping once every row has emitted EOS."""
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
