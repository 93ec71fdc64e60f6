"""Distilling a trained Spotter (the teacher, e.g. the default v5) into a small one: the loss, the
teacher kept frozen and out of the checkpoint, the checks on the teacher, and a short run."""
from __future__ import annotations

import copy
import json

import pytest
import torch
from conftest import TINY_SPOTTER, demo_manifest, tiny_bank, tiny_bundle

import mstr.cli.main as cli_main
from mstr.bank import PAD_ID
from mstr.models.spotter import Spotter, SpotterConfig
from mstr.train.spotter_task import SpotterSystem
from mstr.train.words import IGNORE

CFG = {"optim": {"lr": 1e-3, "label_smoothing": 0.0}, "distill": {"weight": 1.0, "temperature": 2.0}}


def _spotter(bank, image_size=(32, 128), seed=0) -> Spotter:
    torch.manual_seed(seed)
    return Spotter(SpotterConfig(dim=bank.dim, max_len=10, image_size=image_size, **TINY_SPOTTER), bank.vectors, PAD_ID)


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(3, 3, 32, 128, generator=g) * 2 - 1
    y = torch.full((3, 10), IGNORE)
    y[:, :4] = torch.randint(3, 20, (3, 4), generator=g)
    return x, y


def test_a_student_equal_to_its_teacher_has_no_distillation_loss_and_only_the_student_learns():
    bank = tiny_bank()
    student = _spotter(bank)
    x, y = _batch()
    same = SpotterSystem(CFG, student, teacher=copy.deepcopy(student))
    student.eval()  # the teacher reads in eval mode (BatchNorm running statistics): compare alike
    out = student(x)
    student.train()
    assert same.distillation_loss(x, out.logits, y).item() == pytest.approx(0.0, abs=1e-5)
    teacher = _spotter(bank, image_size=(48, 192), seed=1)          # read at its own input size
    system = SpotterSystem(CFG, student, teacher=teacher)
    loss, _, _ = system.step(x, y, train=True)
    assert loss.item() > 0.01
    loss.backward()
    assert student.head.weight.grad is not None and teacher.head.weight.grad is None
    assert not any(n.startswith("_teacher") or "teacher" in n for n in system.state_dict())  # not checkpointed
    # weight 0 is plain cross-entropy; validation never distils
    plain = SpotterSystem({**CFG, "distill": {"weight": 0.0}}, student, teacher=teacher)
    ce = SpotterSystem(CFG, student)
    assert plain.step(x, y, train=True)[0].item() == pytest.approx(ce.step(x, y, train=True)[0].item(), rel=1e-5)
    assert system.step(x, y, train=False)[0].item() == pytest.approx(ce.step(x, y, train=False)[0].item(), rel=1e-5)


def test_training_with_a_teacher_checks_it_and_runs(tmp_path, capsys):
    teacher = tiny_bundle(tmp_path / "teacher", langs=("en",), refiner=False)
    other = tiny_bundle(tmp_path / "other", langs=("en",), refiner=False, seed=5)   # another bank
    manifest = demo_manifest(tmp_path, 8)
    argv = ["train", "spotter", f"bank={teacher / 'bank'}", "model.d_model=32", "model.widths=[8,8,16,16]",
            "model.dec_layers=1", "model.heads=2", "model.max_len=10", "optim.max_steps=3", "optim.warmup_steps=1",
            "data.batch_size=4", "data.workers=0", "data.val_sources=null", "data.langs=en",
            f"data.sources=[{{name: real, manifest: {manifest}, root: {tmp_path}}}]", "trainer.precision=32-true",
            "trainer.progress_bar=false"]
    assert cli_main.main([*argv, f"distill.teacher={other}", f"out={tmp_path / 'bad'}"]) == 2
    assert "another bank" in capsys.readouterr().err
    assert cli_main.main([*argv, f"distill.teacher={teacher}", "distill.weight=1.5", f"out={tmp_path / 'w'}"]) == 2
    assert "distill.weight" in capsys.readouterr().err
    assert cli_main.main([*argv, f"distill.teacher={teacher}", f"out={tmp_path / 'run'}"]) == 0
    cfg = json.loads((tmp_path / "run" / "bundle" / "config.json").read_text())
    assert cfg["training"]["spotter"]["config"]["distill"]["teacher"] == str(teacher)
