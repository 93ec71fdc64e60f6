"""Pre-LN Transformer decoder layers restated as plain tensor products, for reading.

``nn.TransformerDecoderLayer`` (``norm_first``, batch first, packed input projections) is what the
Spotter and the Refiner train with. At reading time the same arithmetic written out is faster on
a CPU, for two reasons measured on this project's models (d_model 96, 4 heads, batch 64, 2
threads): ``nn.MultiheadAttention`` projects a batch-first memory through a batched product
against a copy of its weight per memory token, and its fused attention kernel is slow for these
small heads; written out, the memory's keys and values are one matrix product, and attention is two.
The functions here are that restatement; each model's own methods (``PositionDecoder`` in eval
mode, ``Refiner.step``/``Refiner.forced``) use them, and tests check them against the modules.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["split_heads", "merge_heads", "restatable", "memory_kv", "self_attention",
           "cross_and_feedforward"]


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """``B, T, d`` → ``B, H, T, d/H``."""
    b, t, d = x.shape
    return x.reshape(-1, t, heads, d // heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """``B, H, T, dh`` → ``B, T, H·dh``."""
    _, h, t, dh = x.shape
    return x.transpose(1, 2).reshape(-1, t, h * dh)


def restatable(stack: nn.Module) -> bool:
    """Whether ``stack`` is the decoder these functions restate: an ``nn.TransformerDecoder`` of
    pre-LN, batch-first layers with packed input projections and no final norm inside the stack."""
    return isinstance(stack, nn.TransformerDecoder) and stack.norm is None and all(
        isinstance(layer, nn.TransformerDecoderLayer) and layer.norm_first and layer.self_attn.batch_first
        and layer.self_attn.in_proj_weight is not None and layer.multihead_attn.in_proj_weight is not None
        for layer in stack.layers)


def memory_kv(layer: nn.TransformerDecoderLayer, mem: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``B, M, d`` memory → the layer's cross-attention keys ``B, H, dh, M`` (transposed and scaled
    by ``dh**-0.5``, ready for ``q @ k``) and values ``B, H, M, dh``, both contiguous."""
    att = layer.multihead_attn
    d, heads = att.embed_dim, att.num_heads
    w, bias = att.in_proj_weight, att.in_proj_bias
    # the keys' scale folded into their projection (one product less over the whole memory)
    scale = torch.cat([w.new_full((d,), (d // heads) ** -0.5), w.new_ones(d)])
    kv = F.linear(mem, w[d:] * scale[:, None], None if bias is None else bias[d:] * scale)  # B, M, 2d
    # head-major and contiguous (a no-op in an exported graph), so that attention reads the rows of
    # a head in place instead of copying the whole memory at every use
    kv = kv.reshape(kv.shape[0], kv.shape[1], 2, heads, d // heads).permute(2, 0, 3, 1, 4).contiguous()
    return kv[0].transpose(2, 3), kv[1]


def self_attention(layer: nn.TransformerDecoderLayer, x: torch.Tensor,
                   mask: torch.Tensor | None = None) -> torch.Tensor:
    """The first block of a pre-LN decoder layer: ``x`` plus its self-attention; ``mask`` (``T, T``
    booleans, True = hidden) hides keys, e.g. the future for a causal decoder."""
    sa = layer.self_attn
    heads = sa.num_heads
    scale = (sa.embed_dim // heads) ** -0.5
    q, k, v = F.linear(layer.norm1(x), sa.in_proj_weight, sa.in_proj_bias).chunk(3, dim=-1)
    att = split_heads(q, heads) @ (split_heads(k, heads).transpose(2, 3) * scale)
    if mask is not None:
        att = att.masked_fill(mask, float("-inf"))
    return x + sa.out_proj(merge_heads(att.softmax(-1) @ split_heads(v, heads)))


def cross_and_feedforward(layer: nn.TransformerDecoderLayer, x: torch.Tensor, keys: torch.Tensor,
                          values: torch.Tensor) -> torch.Tensor:
    """The rest of a pre-LN decoder layer: cross-attention against the memory's projected keys and
    values (:func:`memory_kv`), then the feed-forward block, each with its residual."""
    ca = layer.multihead_attn
    d, b = ca.embed_dim, ca.in_proj_bias
    q = F.linear(layer.norm2(x), ca.in_proj_weight[:d], None if b is None else b[:d])
    x = x + ca.out_proj(merge_heads((split_heads(q, ca.num_heads) @ keys).softmax(-1) @ values))
    return x + layer.linear2(layer.activation(layer.linear1(layer.norm3(x))))
