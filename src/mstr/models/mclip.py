"""mCLIP: a character-image ↔ character-prompt dual encoder.

* Image tower: a light ResNet over single-character crops (``B, 3, 32, 32``).
* Text tower: a small pre-LN Transformer over a prompt such as
  ``<cls> <lang=hi> <type=diacritic> <char=ा> DEVANAGARI VOWEL SIGN AA``: the language tag(s), the
  subtype, the character itself and the words of its Unicode name. The name words give a
  character never seen in training (a newly added language) a meaningful starting point.
* Both return L2-normalised embeddings of dimension ``dim`` (``B, D``).

The tokenizer's vocabulary is built from the charsets of every supported language (by
:mod:`mstr.prompts`, outside the model code) and saved with the model, so a checkpoint reads its
prompts exactly as it was trained.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from mstr.models.config import JsonConfig
from mstr.scripts import COMMON_SCRIPT, SUBTYPES

__all__ = ["MClipConfig", "PromptTokenizer", "MClip", "ImageTower", "TextTower", "SUBTYPES"]

_BASE_TOKENS = ("<pad>", "<cls>", "<unk>", "<lang=common>", "<lang=special>")


def _name_words(ch: str) -> list[str]:
    if len(ch) != 1:
        return []
    return unicodedata.name(ch, "").split()


@dataclass
class PromptTokenizer:
    """Maps a bank entry (``token, script, langs, subtype``) to prompt token ids."""

    vocab: list[str] = field(default_factory=list)
    max_len: int = 12

    def __post_init__(self) -> None:
        self._ids = {t: i for i, t in enumerate(self.vocab)}

    @classmethod
    def build(cls, langs: Sequence[str], chars: Sequence[str], max_len: int = 12) -> "PromptTokenizer":
        """A deterministic vocabulary: the base tokens, one ``<lang=…>`` per language of ``langs``,
        the subtypes, one ``<char=…>`` per entry of ``chars`` (the bank's specials first, then the
        charsets' characters, as :func:`mstr.prompts.prompt_tokenizer` passes them) and the
        words of the characters' Unicode names."""
        vocab: list[str] = list(_BASE_TOKENS)
        vocab += [f"<lang={lang}>" for lang in langs]
        vocab += [f"<type={t}>" for t in SUBTYPES]
        vocab += [f"<char={c}>" for c in chars]
        vocab += sorted({w for c in chars for w in _name_words(c)})
        return cls(vocab=vocab, max_len=max_len)

    def _id(self, token: str) -> int:
        return self._ids.get(token, self._ids["<unk>"])

    def prompt(self, token: str, script: str, langs: Sequence[str], subtype: str) -> list[str]:
        """The prompt tokens of one bank entry (for logs and docs)."""
        if subtype == "special":
            lang_tokens = ["<lang=special>"]
        elif script == COMMON_SCRIPT:
            lang_tokens = ["<lang=common>"]
        else:
            lang_tokens = [f"<lang={lang}>" for lang in langs]
        return ["<cls>", *lang_tokens, f"<type={subtype}>", f"<char={token}>", *_name_words(token)]

    def encode(self, entries: Sequence[Any]) -> torch.Tensor:
        """Bank entries → ``N, max_len`` long tensor of ids (padded with 0, truncated)."""
        out = torch.zeros(len(entries), self.max_len, dtype=torch.long)
        for i, e in enumerate(entries):
            ids = [self._id(t) for t in self.prompt(e.token, e.script, e.langs, e.subtype)][: self.max_len]
            out[i, : len(ids)] = torch.tensor(ids)
        return out


@dataclass
class MClipConfig(JsonConfig):
    dim: int = 256                 # embedding dimension D (also the bank's)
    widths: tuple[int, ...] = (32, 64, 128, 256)
    blocks: tuple[int, ...] = (1, 1, 1)
    image_size: int = 32
    text_width: int = 128
    text_layers: int = 2
    text_heads: int = 4
    vocab: list[str] = field(default_factory=list)
    prompt_len: int = 12
    n_subtypes: int = len(SUBTYPES)


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.skip = None
        if stride != 1 or cin != cout:
            self.skip = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)), inplace=True)
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.skip is None else self.skip(x)), inplace=True)


class ImageTower(nn.Module):
    """``B, 3, S, S`` crops → ``B, D`` unit vectors (a stem, then stride-2 residual stages)."""

    def __init__(self, cfg: MClipConfig) -> None:
        super().__init__()
        w = cfg.widths
        self.stem = nn.Sequential(nn.Conv2d(3, w[0], 3, 1, 1, bias=False), nn.BatchNorm2d(w[0]), nn.ReLU(inplace=True))
        layers = []
        for i, n in enumerate(cfg.blocks):
            layers.append(BasicBlock(w[i], w[i + 1], 2))
            layers += [BasicBlock(w[i + 1], w[i + 1], 1) for _ in range(n - 1)]
        self.stages = nn.Sequential(*layers)
        self.proj = nn.Linear(w[len(cfg.blocks)], cfg.dim)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features before the projection, ``B, C``."""
        return self.stages(self.stem(x)).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.proj(self.features(x)).float(), dim=-1)


class TextTower(nn.Module):
    """``N, L`` prompt ids → ``N, D`` unit vectors (pre-LN Transformer encoder, GELU, mean pooling)."""

    def __init__(self, cfg: MClipConfig) -> None:
        super().__init__()
        self.embed = nn.Embedding(len(cfg.vocab), cfg.text_width, padding_idx=0)
        self.pos = nn.Parameter(torch.zeros(cfg.prompt_len, cfg.text_width))
        layer = nn.TransformerEncoderLayer(cfg.text_width, cfg.text_heads, 4 * cfg.text_width, dropout=0.0,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, cfg.text_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.text_width)
        self.proj = nn.Linear(cfg.text_width, cfg.dim)
        nn.init.normal_(self.pos, std=0.02)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        # fp32 even under autocast: a few hundred short prompts, where bf16 only adds casts
        with torch.autocast(ids.device.type, enabled=False):
            return self._forward(ids)

    def _forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embed(ids) + self.pos[: ids.shape[1]]
        x = self.norm(self.encoder(x, src_key_padding_mask=ids.eq(0)))
        # mean over the prompt's tokens: the character and its name words reach the output
        # directly (with CLS pooling the shared <cls> embedding dominated every prompt)
        keep = ids.ne(0).unsqueeze(-1).to(x.dtype)
        pooled = (x * keep).sum(1) / keep.sum(1).clamp(min=1.0)
        return F.normalize(self.proj(pooled).float(), dim=-1)


class MClip(nn.Module):
    """The dual encoder, with a learnable temperature and an optional subtype head."""

    def __init__(self, cfg: MClipConfig) -> None:
        super().__init__()
        if not cfg.vocab:
            raise ValueError("MClipConfig.vocab is empty: build it with mstr.prompts.prompt_tokenizer()")
        self.cfg = cfg
        self.tokenizer = PromptTokenizer(vocab=list(cfg.vocab), max_len=cfg.prompt_len)
        self.image = ImageTower(cfg)
        self.text = TextTower(cfg)
        self.logit_scale = nn.Parameter(torch.tensor(2.659))  # log(1 / 0.07), as CLIP starts
        self.subtype_head = nn.Linear(cfg.dim, cfg.n_subtypes)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """``B, 3, S, S`` in [-1, 1] → ``B, D`` unit vectors."""
        return self.image(images)

    def encode_text(self, ids: torch.Tensor) -> torch.Tensor:
        """``N, L`` prompt ids → ``N, D`` unit vectors."""
        return self.text(ids)

    def encode_entries(self, entries: Sequence[Any]) -> torch.Tensor:
        """Bank entries → ``N, D`` unit vectors via their prompts."""
        device = self.logit_scale.device
        return self.encode_text(self.tokenizer.encode(entries).to(device))
