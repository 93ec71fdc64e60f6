"""mSequenceSpotter: read a word by retrieving characters from the frozen bank, all positions at once.

* Encoder (``SpotterConfig.encoder``): ``"resnet"``, a small residual CNN over the word image
  (``B, 3, 32, 128``) exposing multi-scale maps at strides 4, 8 and 16 (the last one keeps the
  horizontal stride at 8: words are wide); or ``"ppocr-small"`` / ``"ppocr-tiny"``, the PP-OCRv6
  recognition CNN (:mod:`mstr.models.ppocr`, 48-pixel-high inputs, pretrained weights available).
* Decoder: ``max_len`` learned position queries that attend to each other and cross-attend to the
  encoder's two coarsest maps (:data:`MEMORY_LEVELS`; level embeddings + learned 2-D positions),
  in parallel — no autoregression.
* Head: each position emits an L2-normalised embedding ``e_t``; its scores are the scaled cosines
  to the bank's prototypes ``P`` (a frozen buffer), so the token is ``argmax_j cos(e_t, P_j)``.
  Training is cross-entropy over those scaled cosines; end of word is the bank's ``<eos>`` entry.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mstr.models.config import JsonConfig

from mstr.models.attention import cross_and_feedforward, memory_kv, restatable, self_attention
from mstr.models.mclip import BasicBlock

__all__ = ["SpotterConfig", "WordEncoder", "PositionReader", "Spotter", "SpotterOutput", "PositionDecoder",
           "ENCODERS", "build_encoder"]

#: encoder name → the levels of its maps the decoder reads (the others serve the Refiner / CTC aid)
MEMORY_LEVELS = {"resnet": (1, 2), "ppocr-small": (2, 3), "ppocr-tiny": (2, 3)}
ENCODERS = tuple(MEMORY_LEVELS)


@dataclass
class SpotterConfig(JsonConfig):
    dim: int = 256                       # bank dimension D
    d_model: int = 192
    widths: tuple[int, ...] = (32, 64, 128, 192)
    image_size: tuple[int, int] = (32, 128)
    max_len: int = 26                    # output positions, end-of-sequence included
    dec_layers: int = 2
    heads: int = 4
    topk: int = 5
    init_scale: float = 20.0
    dropout: float = 0.0
    encoder: str = "resnet"              # one of ENCODERS; "ppocr-*" ignore ``widths``, need height 48


@dataclass
class SpotterOutput:
    """``embeddings``: ``B, L, D`` unit vectors; ``logits``: ``B, L, N`` scaled cosines;
    ``features``: multi-scale maps ``[B, C_s, H_s, W_s]`` for strides 4, 8, 16."""

    embeddings: torch.Tensor
    logits: torch.Tensor
    features: list[torch.Tensor]


class WordEncoder(nn.Module):
    """``B, 3, 32, 128`` → feature maps at strides 4 (8×32), 8 (4×16) and 16×8 (2×16)."""

    def __init__(self, widths: tuple[int, ...]) -> None:
        super().__init__()
        w0, w1, w2, w3 = widths
        self.stem = nn.Sequential(
            nn.Conv2d(3, w0, 3, 1, 1, bias=False), nn.BatchNorm2d(w0), nn.ReLU(inplace=True),
            nn.Conv2d(w0, w0, 3, 2, 1, bias=False), nn.BatchNorm2d(w0), nn.ReLU(inplace=True))
        self.s4 = nn.Sequential(BasicBlock(w0, w1, 2), BasicBlock(w1, w1, 1))
        self.s8 = nn.Sequential(BasicBlock(w1, w2, 2), BasicBlock(w2, w2, 1))
        self.s16 = nn.Sequential(_Block2(w2, w3), BasicBlock(w3, w3, 1))
        self.channels = (w1, w2, w3)
        self.strides = ((4, 4), (8, 8), (16, 8))  # (vertical, horizontal) per map

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        f4 = self.s4(self.stem(x))
        f8 = self.s8(f4)
        f16 = self.s16(f8)
        return [f4, f8, f16]


def encoder_name(cfg) -> str:
    """``cfg.encoder``; configs without the field (the softmax-head ablation's) use ``resnet``."""
    return getattr(cfg, "encoder", "resnet")


def build_encoder(cfg: "SpotterConfig") -> nn.Module:
    """The word encoder ``cfg.encoder`` names (randomly initialised): a module whose ``forward``
    returns a list of maps ``B, C_l, H/sv_l, W/sh_l`` described by ``channels`` and ``strides``."""
    encoder = encoder_name(cfg)
    if encoder == "resnet":
        return WordEncoder(cfg.widths)
    if encoder in ("ppocr-small", "ppocr-tiny"):
        from mstr.models.ppocr import INPUT_HEIGHT, PPOCRv6Backbone

        if cfg.image_size[0] != INPUT_HEIGHT:
            raise ValueError(f"encoder {encoder} needs {INPUT_HEIGHT}-pixel-high inputs, "
                             f"image_size is {list(cfg.image_size)} (use e.g. [48, 192])")
        return PPOCRv6Backbone(encoder.split("-", 1)[1])
    raise ValueError(f"unknown Spotter encoder {encoder!r}: choose one of {', '.join(ENCODERS)}")


class _Block2(BasicBlock):
    """A residual block that halves the height only (stride (2, 1))."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(cin, cout, 1)
        self.conv1 = nn.Conv2d(cin, cout, 3, (2, 1), 1, bias=False)
        self.skip = nn.Sequential(nn.Conv2d(cin, cout, 1, (2, 1), bias=False), nn.BatchNorm2d(cout))


class FeatureTokens(nn.Module):
    """Project chosen feature maps to ``d_model`` tokens with level and 2-D position embeddings."""

    def __init__(self, channels: tuple[int, ...], shapes: tuple[tuple[int, int], ...], d_model: int) -> None:
        super().__init__()
        self.proj = nn.ModuleList(nn.Conv2d(c, d_model, 1) for c in channels)
        self.level = nn.Parameter(torch.zeros(len(channels), d_model))
        self.pos = nn.ParameterList(nn.Parameter(torch.randn(h * w, d_model) * 0.02) for h, w in shapes)
        self.shapes = shapes   # (rows, columns) of each map's tokens: pos[i] is their row-major grid
        self.norm = nn.LayerNorm(d_model)

    def forward(self, maps: list[torch.Tensor]) -> torch.Tensor:
        toks = []
        for i, (m, proj) in enumerate(zip(maps, self.proj)):
            t = proj(m).flatten(2).transpose(1, 2)  # B, HW, d
            toks.append(t + self.pos[i][: t.shape[1]] + self.level[i])
        return self.norm(torch.cat(toks, dim=1))


class PositionDecoder(nn.Module):
    """Pre-LN Transformer decoder layers: queries (self-attention) → memory (cross-attention).

    In training mode it runs ``nn.TransformerDecoder``; in eval mode the same arithmetic written
    as plain products (:mod:`mstr.models.attention`: faster on a CPU, equal up to float rounding).
    Queries broadcast over the batch (the Spotter's learned position queries, ``expand``-ed) have
    the same first self-attention in every row: eval mode computes it once."""

    def __init__(self, d_model: int, heads: int, layers: int, causal: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        layer = nn.TransformerDecoderLayer(d_model, heads, 4 * d_model, dropout=dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.layers = nn.TransformerDecoder(layer, layers)
        self.causal = causal
        self.norm = nn.LayerNorm(d_model)

    def forward(self, q: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        if not self.training and restatable(self.layers):
            return self.restated(q, memory)
        mask = None
        if self.causal:
            mask = nn.Transformer.generate_square_subsequent_mask(q.shape[1], device=q.device, dtype=q.dtype)
        return self.norm(self.layers(q, memory, tgt_mask=mask, tgt_is_causal=self.causal))

    def restated(self, q: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """:meth:`forward`'s eval-mode arithmetic as plain products (no dropout)."""
        t = q.shape[1]
        mask = torch.ones(t, t, dtype=torch.bool, device=q.device).triu(1) if self.causal else None
        shared = q.dim() == 3 and q.shape[0] > 1 and q.stride(0) == 0  # one row, broadcast
        x = q
        for i, layer in enumerate(self.layers.layers):
            if i == 0 and shared:
                x = self_attention(layer, q[:1], mask).expand(q.shape[0], -1, -1)
            else:
                x = self_attention(layer, x, mask)
            x = cross_and_feedforward(layer, x, *memory_kv(layer, memory))
        return self.norm(x)


class PositionReader(nn.Module):
    """The body the Spotter shares with its softmax-head ablation: the word encoder (strides
    4/8/16), the stride-8/16 feature tokens and ``max_len`` parallel position queries decoded
    against them. Subclasses add a head over the ``n_out`` rows of a bank's token table."""

    def __init__(self, cfg, n_out: int, pad_id: int = 1) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = build_encoder(cfg)
        h, w = cfg.image_size
        self.memory_levels = MEMORY_LEVELS[encoder_name(cfg)]
        strides = [self.encoder.strides[i] for i in self.memory_levels]
        shapes = tuple((max(1, h // sv), w // sh) for sv, sh in strides)
        self.tokens = FeatureTokens(tuple(self.encoder.channels[i] for i in self.memory_levels), shapes, cfg.d_model)
        self.queries = nn.Parameter(torch.randn(cfg.max_len, cfg.d_model) * 0.02)
        self.decoder = PositionDecoder(cfg.d_model, cfg.heads, cfg.dec_layers, dropout=cfg.dropout)
        mask = torch.zeros(n_out, dtype=torch.bool)
        mask[pad_id] = True
        self.register_buffer("never", mask, persistent=False)

    def read_positions(self, images: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``B, 3, H, W`` → (decoder states ``B, max_len, d_model``, the encoder's feature maps)."""
        feats = self.encoder(images)
        memory = self.tokens([feats[i] for i in self.memory_levels])
        q = self.queries.unsqueeze(0).expand(images.shape[0], -1, -1)
        return self.decoder(q, memory), feats

    def decodable(self, logits: torch.Tensor) -> torch.Tensor:
        """``logits`` with the entries that are never an output (``<pad>``) set to −inf."""
        return logits.masked_fill(self.never, float("-inf"))


class Spotter(PositionReader):
    """Parallel retrieval reader. ``bank`` (``N, D`` unit vectors) is a frozen buffer."""

    def __init__(self, cfg: SpotterConfig, bank_vectors: torch.Tensor, pad_id: int = 1) -> None:
        if bank_vectors.shape[1] != cfg.dim:
            raise ValueError(f"bank dimension {bank_vectors.shape[1]} != spotter dim {cfg.dim}")
        super().__init__(cfg, bank_vectors.shape[0], pad_id)
        self.head = nn.Linear(cfg.d_model, cfg.dim)
        self.log_scale = nn.Parameter(torch.tensor(float(cfg.init_scale)).log())
        self.register_buffer("bank", bank_vectors.float().clone(), persistent=False)

    def scale(self) -> torch.Tensor:
        return self.log_scale.exp().clamp(1.0, 100.0)

    def score(self, emb: torch.Tensor) -> torch.Tensor:
        """``B, L, D`` unit vectors → ``B, L, N`` scaled cosines to the bank.

        Raw scores, ``<pad>`` included (training never targets it; with label smoothing a −inf
        column would make the loss infinite); decoding masks it with :meth:`decodable`.
        """
        return self.scale() * emb.float() @ self.bank.t()

    def forward(self, images: torch.Tensor) -> SpotterOutput:
        h, feats = self.read_positions(images)
        emb = F.normalize(self.head(h).float(), dim=-1)
        return SpotterOutput(embeddings=emb, logits=self.score(emb), features=feats)
