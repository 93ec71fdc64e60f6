"""The training plumbing shared by every stage (mstr.train.trainer, mstr.train.systems): config
options reach the Lightning Trainer, threads and seed, resumption, loaders, word accuracy, and the
base systems' optimiser and training step."""
from __future__ import annotations

import os
import zipfile

import pytest
import torch
from torch.utils.data import RandomSampler, SequentialSampler, TensorDataset

from mstr.train.trainer import build_trainer, fit, prepare, train_loader, val_loader, word_accuracy
from mstr.train.words import IGNORE


def _cfg(**trainer) -> dict:
    t = {"precision": "32-true", "accelerator": "cpu", "devices": 1, "num_nodes": 1, "strategy": "auto",
         "threads": None, "seed": 0, "log_every": 3, "val_every": 7, "ckpt_every": 5, "progress_bar": False}
    return {"trainer": {**t, **trainer}, "optim": {"lr": 0.01, "weight_decay": 0.0, "warmup_steps": 2,
                                                   "max_steps": 11, "grad_clip": 2.5},
            "data": {"batch_size": 4, "workers": 0}}


def test_trainer_options_reach_the_trainer(tmp_path):
    import lightning.pytorch as pl

    trainer = build_trainer(_cfg(max_time="00:00:01:00"), tmp_path)
    assert trainer.max_steps == 11 and trainer.val_check_interval == 7 and trainer.log_every_n_steps == 3
    assert trainer.gradient_clip_val == 2.5 and trainer.num_sanity_val_steps == 0
    assert "32" in str(trainer.precision) and not trainer.progress_bar_callback
    ckpt = next(c for c in trainer.callbacks if isinstance(c, pl.callbacks.ModelCheckpoint))
    assert ckpt.dirpath == str(tmp_path / "checkpoints") and ckpt.save_last
    assert ckpt._every_n_train_steps == 5
    assert any(isinstance(c, pl.callbacks.LearningRateMonitor) for c in trainer.callbacks)
    timer = next(c for c in trainer.callbacks if isinstance(c, pl.callbacks.Timer))
    assert timer._duration == 60
    assert [type(lg).__name__ for lg in trainer.loggers] == ["CSVLogger"]
    assert trainer.loggers[0].save_dir == str(tmp_path)
    no_clip = _cfg()
    no_clip["optim"]["grad_clip"] = 0
    assert build_trainer(no_clip, tmp_path).gradient_clip_val is None


def test_prepare_sets_threads_and_seed(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    try:
        prepare(_cfg(threads=1, seed=3))
        assert torch.get_num_threads() == 1 and os.environ["OMP_NUM_THREADS"] == "1"
        a = torch.rand(3)
        prepare(_cfg(seed=3))
        assert torch.equal(a, torch.rand(3))
    finally:
        torch.set_num_threads(before)


def _ckpt(path, text: str = "x") -> None:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("data.pkl", text)


def test_fit_resumes_from_the_last_intact_checkpoint(tmp_path):
    calls = []

    class Trainer:
        def fit(self, module, train, val, ckpt_path=None):
            calls.append(ckpt_path)

    fit(Trainer(), None, None, None, tmp_path)  # a fresh run
    (tmp_path / "checkpoints").mkdir()
    _ckpt(tmp_path / "checkpoints" / "step=5.ckpt")
    _ckpt(tmp_path / "checkpoints" / "last.ckpt")
    fit(Trainer(), None, None, None, tmp_path)
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"cut short")
    fit(Trainer(), None, None, None, tmp_path)
    assert calls == [None, str(tmp_path / "checkpoints" / "last.ckpt"), str(tmp_path / "checkpoints" / "step=5.ckpt")]


def test_loaders():
    ds = TensorDataset(torch.arange(10))
    train = train_loader(ds, {"batch_size": 4, "workers": 0})
    assert isinstance(train.sampler, RandomSampler) and train.drop_last and len(train) == 2
    drawn = train_loader(ds, {"batch_size": 4, "workers": 0}, sampler=SequentialSampler(ds))
    assert [b[0].tolist() for b in drawn] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    val = val_loader(ds, 4)
    assert [len(b[0]) for b in val] == [4, 4, 2]


def test_word_accuracy_ignores_positions_after_the_end():
    target = torch.tensor([[5, 6, 0, IGNORE], [5, 6, 0, IGNORE], [7, 0, IGNORE, IGNORE]])
    pred = torch.tensor([[5, 6, 0, 9], [5, 8, 0, 0], [7, 0, 3, 3]])
    assert float(word_accuracy(pred, target)) == pytest.approx(2 / 3)


def test_word_system_step_adds_the_weighted_ctc_term_and_logs():
    from mstr.train.systems import WordSystem

    class Toy(WordSystem):
        ctc_weight = 0.5

        def __init__(self):
            super().__init__(_cfg())
            self.w = torch.nn.Parameter(torch.ones(()))

        def step(self, x, y, train):
            return self.w * 2, torch.tensor(0.25), (self.w * 4 if train else None)

    toy, logged = Toy(), {}
    toy.log = lambda name, value, **kw: logged.__setitem__(name, (float(value.detach()), kw.get("sync_dist", False)))
    y = torch.zeros(3, 4, dtype=torch.long)
    assert float(toy.training_step((None, y, None), 0).detach()) == 4.0  # 2 + 0.5 × 4
    assert logged == {"train/loss": (2.0, False), "train/ctc": (4.0, False), "train/word_acc": (0.25, False)}
    logged.clear()
    toy.validation_step((None, y, None), 0)
    assert logged == {"val/loss": (2.0, True), "val/word_acc": (0.25, True)}
    opt = toy.configure_optimizers()
    assert isinstance(opt["optimizer"], torch.optim.AdamW) and opt["lr_scheduler"]["interval"] == "step"
    assert opt["optimizer"].param_groups[0]["lr"] == pytest.approx(0.01 / 2)  # warm-up step 0 of 2
