"""Stage-1 losses. Each returns a scalar; :class:`MClipLoss` returns them by name."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["class_aware_infonce", "bank_cross_entropy", "arcface", "MClipLoss", "LossWeights"]


def class_aware_infonce(img: torch.Tensor, txt: torch.Tensor, labels: torch.Tensor,
                        logit_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE where every pair with the same label is a positive.

    ``img``, ``txt``: ``B, D`` unit vectors (row i of each belongs to sample i); ``labels``: ``B``.
    A batch of character crops holds several crops of one character; with CLIP's diagonal targets
    their identical prompts would be pushed apart as negatives. Here the target distribution of
    row i is uniform over the columns j with ``labels[j] == labels[i]``, in both directions.
    """
    with torch.autocast(img.device.type, enabled=False):
        return _infonce_fp32(img.float(), txt.float(), labels, logit_scale.float())


def _infonce_fp32(img, txt, labels, logit_scale):
    logits = logit_scale.exp().clamp(max=100.0) * img @ txt.t()
    same = labels[:, None].eq(labels[None, :]).float()
    targets = same / same.sum(dim=1, keepdim=True)
    i2t = -(targets * F.log_softmax(logits, dim=1)).sum(dim=1).mean()
    t2i = -(targets * F.log_softmax(logits.t(), dim=1)).sum(dim=1).mean()
    return 0.5 * (i2t + t2i)


def bank_cross_entropy(img: torch.Tensor, protos: torch.Tensor, labels: torch.Tensor,
                       logit_scale: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy of each crop against the text prototypes of *every* bank entry.

    ``img``: ``B, D``; ``protos``: ``N, D`` (all entries, unit vectors); ``labels``: ``B`` entry rows;
    ``valid``: optional ``N`` mask of the entries that may be retrieved (specials excluded).
    InfoNCE only contrasts the characters that happen to share a batch (with ~450 entries and a
    batch of 256, most are absent from any one batch); this term is the retrieval the bank is
    used for, image → all entries, with the same learnable temperature.
    """
    with torch.autocast(img.device.type, enabled=False):
        logits = logit_scale.float().exp().clamp(max=100.0) * img.float() @ protos.float().t()
        if valid is not None:
            logits = logits.masked_fill(~valid[None, :], float("-inf"))
        return F.cross_entropy(logits, labels)


def arcface(img: torch.Tensor, protos: torch.Tensor, labels: torch.Tensor, margins: torch.Tensor,
            allowed: torch.Tensor | None = None, scale: float = 30.0) -> torch.Tensor:
    """Additive angular margin loss of image embeddings against class prototypes.

    ``img``: ``B, D``; ``protos``: ``N, D`` (unit vectors); ``labels``: ``B`` class rows;
    ``margins``: ``B`` margin in radians for each sample (e.g. per script); ``allowed``: optional
    ``B, N`` boolean mask of the classes that compete with each sample. Restricting the
    competitors to the sample's own script (plus the shared Common entries) sharpens the
    boundaries inside a script without pushing one script's region away from the others.
    """
    # fp32 outside autocast: in bf16, 1 - 1e-6 rounds to 1 and acos' gradient becomes infinite
    with torch.autocast(img.device.type, enabled=False):
        return _arcface_fp32(img.float(), protos.float(), labels, margins.float(), allowed, scale)


def _arcface_fp32(img, protos, labels, margins, allowed, scale):
    cos = (img @ protos.t()).clamp(-1 + 1e-6, 1 - 1e-6)
    target_cos = cos.gather(1, labels[:, None]).squeeze(1)
    theta = torch.acos(target_cos)
    with_margin = torch.cos((theta + margins).clamp(max=torch.pi))
    logits = cos.scatter(1, labels[:, None], with_margin[:, None].to(cos.dtype))
    if allowed is not None:
        logits = logits.masked_fill(~allowed, float("-inf"))
    return F.cross_entropy(scale * logits, labels)


@dataclass
class LossWeights:
    infonce: float = 1.0
    arcface: float = 0.0
    subtype: float = 0.0
    bank: float = 0.0


class MClipLoss:
    """Combines the Stage-1 terms; ``__call__`` returns ``{"loss": total, "infonce": …, …}``."""

    def __init__(self, weights: LossWeights, arcface_scale: float = 30.0) -> None:
        self.w = weights
        self.arcface_scale = arcface_scale

    def __call__(self, *, img: torch.Tensor, txt: torch.Tensor, labels: torch.Tensor,
                 logit_scale: torch.Tensor, protos: torch.Tensor | None = None,
                 margins: torch.Tensor | None = None, allowed: torch.Tensor | None = None,
                 subtype_logits: torch.Tensor | None = None,
                 subtypes: torch.Tensor | None = None,
                 valid: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        terms: dict[str, torch.Tensor] = {}
        total = img.new_zeros((), dtype=torch.float32)
        if self.w.infonce:
            terms["infonce"] = class_aware_infonce(img, txt, labels, logit_scale)
            total = total + self.w.infonce * terms["infonce"]
        if self.w.bank:
            terms["bank"] = bank_cross_entropy(img, protos, labels, logit_scale, valid)
            total = total + self.w.bank * terms["bank"]
        if self.w.arcface:
            terms["arcface"] = arcface(img, protos, labels, margins, allowed, self.arcface_scale)
            total = total + self.w.arcface * terms["arcface"]
        if self.w.subtype:
            terms["subtype"] = F.cross_entropy(subtype_logits.float(), subtypes)
            total = total + self.w.subtype * terms["subtype"]
        terms["loss"] = total
        return terms
