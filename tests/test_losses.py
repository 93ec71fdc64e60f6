"""Stage-1 losses against hand-computed values."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from mstr.train.losses import LossWeights, MClipLoss, arcface, bank_cross_entropy, class_aware_infonce


def test_infonce_duplicate_labels_are_positives():
    # two crops of class 0 and one of class 1; the duplicates' text vectors differ slightly (as
    # with prompt variants), which is where class-aware targets and CLIP's diagonal part ways
    # (with identical text vectors the two are mathematically the same)
    img = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    t0, t0b, t1 = [1.0, 0.0], [0.8, 0.6], [0.0, 1.0]
    txt = torch.tensor([t0, t0b, t1])
    labels = torch.tensor([0, 0, 1])
    scale = torch.tensor(math.log(2.0))  # logits = 2 * cos
    # logits[i][j] = 2 * img_i . txt_j
    L = [[2 * sum(a * b for a, b in zip(i, t)) for t in txt.tolist()] for i in img.tolist()]
    pos = [[1, 1, 0], [1, 1, 0], [0, 0, 1]]

    def ce(row, p):
        lse = math.log(sum(math.exp(v) for v in row))
        return -sum(pi / sum(p) * (v - lse) for v, pi in zip(row, p))

    i2t = sum(ce(L[i], pos[i]) for i in range(3)) / 3
    cols = [[L[i][j] for i in range(3)] for j in range(3)]
    t2i = sum(ce(cols[j], pos[j]) for j in range(3)) / 3
    expected = 0.5 * (i2t + t2i)
    got = class_aware_infonce(img, txt, labels, scale).item()
    assert got == pytest.approx(expected, rel=1e-5)
    # the diagonal (CLIP) target would give another value: duplicates are not negatives here
    diag = 0.5 * (F.cross_entropy(torch.tensor(L), torch.arange(3)) + F.cross_entropy(torch.tensor(L).t(), torch.arange(3)))
    assert abs(diag.item() - expected) > 1e-3


def test_infonce_perfect_separation_is_lower():
    labels = torch.tensor([0, 0, 1, 1])
    good = torch.tensor([[1.0, 0], [1.0, 0], [0, 1.0], [0, 1.0]])
    bad = torch.tensor([[0, 1.0], [0, 1.0], [1.0, 0], [1.0, 0]])
    txt = good.clone()
    s = torch.tensor(math.log(10.0))
    assert class_aware_infonce(good, txt, labels, s) < class_aware_infonce(bad, txt, labels, s)


def _unit(*v):
    return F.normalize(torch.tensor(v, dtype=torch.float32), dim=-1)


def test_arcface_zero_margin_is_scaled_softmax():
    img = torch.stack([_unit(1.0, 0.2), _unit(0.1, 1.0)])
    protos = torch.stack([_unit(1.0, 0.0), _unit(0.0, 1.0)])
    y = torch.tensor([0, 1])
    got = arcface(img, protos, y, torch.zeros(2), scale=10.0)
    assert got.item() == pytest.approx(F.cross_entropy(10.0 * img @ protos.t(), y).item(), rel=1e-5)


def test_arcface_margin_raises_loss_and_angle_is_additive():
    img = _unit(1.0, 0.3)[None]
    protos = torch.stack([_unit(1.0, 0.0), _unit(0.0, 1.0)])
    y = torch.tensor([0])
    l0 = arcface(img, protos, y, torch.tensor([0.0]), scale=10.0)
    l1 = arcface(img, protos, y, torch.tensor([0.3]), scale=10.0)
    assert l1 > l0
    theta = math.acos(float(img[0] @ protos[0]))
    other = float(img[0] @ protos[1])
    t = 10 * math.cos(theta + 0.3)
    expected = -(t - math.log(math.exp(t) + math.exp(10 * other)))
    assert l1.item() == pytest.approx(expected, rel=1e-4)


def test_arcface_masked_classes_do_not_compete():
    img = _unit(1.0, 0.1)[None]
    protos = torch.stack([_unit(1.0, 0.0), _unit(1.0, 0.12), _unit(0.0, 1.0)])  # row 1: other script, very close
    y = torch.tensor([0])
    allowed = torch.tensor([[True, False, True]])
    with_mask = arcface(img, protos, y, torch.tensor([0.2]), allowed=allowed)
    only_two = arcface(img, protos[[0, 2]], y, torch.tensor([0.2]))
    assert with_mask.item() == pytest.approx(only_two.item(), rel=1e-5)
    assert arcface(img, protos, y, torch.tensor([0.2])) > with_mask


def test_mclip_loss_returns_named_terms():
    torch.manual_seed(0)
    img = F.normalize(torch.randn(6, 8), dim=-1)
    protos = F.normalize(torch.randn(4, 8), dim=-1)
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    fn = MClipLoss(LossWeights(infonce=1.0, arcface=0.5, subtype=0.25))
    terms = fn(img=img, txt=protos[y], labels=y, logit_scale=torch.tensor(2.0), protos=protos,
               margins=torch.full((6,), 0.2), subtype_logits=torch.randn(6, 5), subtypes=torch.zeros(6, dtype=torch.long))
    assert set(terms) == {"infonce", "arcface", "subtype", "loss"}
    total = terms["infonce"] + 0.5 * terms["arcface"] + 0.25 * terms["subtype"]
    assert terms["loss"].item() == pytest.approx(total.item(), rel=1e-6)


def test_bank_cross_entropy_against_every_entry_by_hand():
    # two crops, a bank of three retrievable entries and one special row that must never compete
    img = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    protos = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8], [1.0, 0.0]])
    valid = torch.tensor([True, True, True, False])
    y = torch.tensor([0, 2])
    s = math.exp(1.0)
    # crop 0: cosines 1, 0, 0.6 (row 3 masked); crop 1: cosines 0, 1, 0.8
    l0 = -math.log(math.exp(s * 1) / (math.exp(s * 1) + math.exp(0) + math.exp(s * 0.6)))
    l1 = -math.log(math.exp(s * 0.8) / (math.exp(0) + math.exp(s * 1) + math.exp(s * 0.8)))
    got = bank_cross_entropy(img, protos, y, torch.tensor(1.0), valid)
    assert got.item() == pytest.approx((l0 + l1) / 2, rel=1e-6)
    # unmasked, the special row (a copy of entry 0) competes and raises crop 0's loss
    assert bank_cross_entropy(img, protos, y, torch.tensor(1.0)) > got


def test_bank_term_is_weighted_into_the_total():
    torch.manual_seed(1)
    img = F.normalize(torch.randn(5, 8), dim=-1)
    protos = F.normalize(torch.randn(6, 8), dim=-1)
    y = torch.tensor([0, 1, 2, 3, 4])
    terms = MClipLoss(LossWeights(infonce=1.0, bank=0.5))(img=img, txt=protos[y], labels=y,
                                                          logit_scale=torch.tensor(2.0), protos=protos)
    assert set(terms) == {"infonce", "bank", "loss"}
    assert terms["loss"].item() == pytest.approx((terms["infonce"] + 0.5 * terms["bank"]).item(), rel=1e-6)
