"""Data-parallel training through Lightning DDP, on CPU with the gloo backend, two processes.

Each test runs the command a user runs — ``mstr train <stage> … trainer.accelerator=cpu
trainer.devices=2 trainer.strategy=ddp`` — through a thin wrapper (this file run as a script,
see ``_worker``) that records, per rank, what it trained on and ended with: the final
parameters, the logged metrics, the indices of the training samples it read and the sampler's
draw. The Spotter is launched by ``torchrun --standalone --nproc_per_node 2``, mCLIP by
Lightning itself (one process started, Lightning starts the second). The tests check that

- both ranks end with the same parameters (DDP averaged the gradients), equal to the bundle /
  export, which only rank 0 wrote;
- the training losses are finite and the ``sync_dist`` validation metric is the same on both
  ranks;
- the ranks read different, complementary shares of the samples, exactly those the seed
  predicts, so a run is reproducible for a given seed and world size.
"""
from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

WORLD = 2
STEPS, BATCH, SEED = 4, 8, 7
DDP = ["data.workers=0", f"data.batch_size={BATCH}", f"optim.max_steps={STEPS}", "optim.warmup_steps=1",
       "trainer.accelerator=cpu", f"trainer.devices={WORLD}", "trainer.strategy=ddp",
       "trainer.precision=32-true", "trainer.threads=1", "trainer.progress_bar=false", "trainer.log_every=1",
       "trainer.val_every=2", "trainer.ckpt_every=2", f"trainer.seed={SEED}"]


# -- what each rank runs --------------------------------------------------------------------------

def _worker(dump: Path, argv: list[str]) -> int:
    """``mstr <argv>``, recording what this rank trained on and ended with in ``dump/rank<R>.pt``."""
    import lightning.pytorch as pl
    from torch.utils.data import WeightedRandomSampler

    from mstr.cli.main import main
    from mstr.train import char_crops, words

    dump.mkdir(parents=True, exist_ok=True)
    seen: list[int] = []  # indices of the training samples this rank read, in order

    def record(cls, is_train):
        getitem = cls.__getitem__

        def recording_getitem(self, i):
            if is_train(self):
                seen.append(int(i))
            return getitem(self, i)
        cls.__getitem__ = recording_getitem

    record(words.WordSamples, lambda ds: ds.name == "train")      # the validation source is named 'val'
    record(char_crops.CharCrops, lambda ds: "train_lmdb" in str(ds.ds.path))
    fit = pl.Trainer.fit

    def recording_fit(trainer, model, train_dataloaders=None, val_dataloaders=None, *args, **kwargs):
        sampler, draws = train_dataloaders.sampler, None
        if isinstance(sampler, WeightedRandomSampler):  # the Spotter's draws in epochs 0 and 1
            draws = []
            for epoch in (0, 1):
                sampler.set_epoch(epoch)
                draws.append([int(i) for i in sampler])
            sampler.set_epoch(0)
        fit(trainer, model, train_dataloaders, val_dataloaders, *args, **kwargs)
        torch.save({"rank": trainer.global_rank, "world": trainer.world_size, "steps": trainer.global_step,
                    "params": {k: v.detach().clone() for k, v in model.named_parameters()},
                    "metrics": {k: float(v) for k, v in trainer.callback_metrics.items()},
                    "seen": list(seen), "draws": draws},
                   dump / f"rank{trainer.global_rank}.pt")

    pl.Trainer.fit = recording_fit
    return main(argv)


if __name__ == "__main__":
    sys.exit(_worker(Path(sys.argv[1]), sys.argv[2:]))


# -- data and launching -----------------------------------------------------------------------------

def _lmdb(path: Path, labels: list[str], h: int, w: int, g: torch.Generator) -> None:
    from conftest import noise_png
    from mstr.data.lmdb import LmdbWriter

    with LmdbWriter(path) as out:
        for label in labels:
            out.add(noise_png((w, h), int(torch.randint(0, 2**31, (), generator=g))), label, "en")


def _letters(g: torch.Generator, n: int, lo: int, hi: int) -> list[str]:
    lengths = torch.randint(lo, hi + 1, (n,), generator=g).tolist()
    return ["".join(chr(97 + c) for c in torch.randint(0, 26, (k,), generator=g).tolist()) for k in lengths]


def _launch(dump: Path, argv: list[str], torchrun: bool) -> None:
    launcher_vars = ("RANK", "LOCAL_RANK", "GROUP_RANK", "NODE_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE",
                     "MASTER_ADDR", "MASTER_PORT", "SLURM_", "TORCHELASTIC_")  # e.g. `make test` inside a job
    env = {k: v for k, v in os.environ.items() if not k.startswith(launcher_vars)}
    env.update(OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    run = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={WORLD}"] \
        if torchrun else [sys.executable]
    r = subprocess.run([*run, __file__, str(dump), *argv], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}"


def _ranks(dump: Path) -> list[dict]:
    ranks = [torch.load(dump / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]
    assert [r["rank"] for r in ranks] == list(range(WORLD)) and all(r["world"] == WORLD for r in ranks)
    assert all(r["steps"] == STEPS for r in ranks)
    p0 = ranks[0]["params"]
    assert p0
    for r in ranks[1:]:
        assert r["params"].keys() == p0.keys()
        for k in p0:
            assert torch.equal(r["params"][k], p0[k]), k  # the same weights on every rank
    for r in ranks:
        assert math.isfinite(r["metrics"]["train/loss"]), r["metrics"]
    return ranks


def _shares(n: int, epoch: int) -> list[list[int]]:
    """What Lightning's DistributedSampler deals rank r in ``epoch``: positions perm[r::world]."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(SEED + epoch)).tolist()
    return [perm[r::WORLD] for r in range(WORLD)]


# -- the tests ----------------------------------------------------------------------------------------

@pytest.mark.slow  # a training run of two processes: ~6 s
def test_spotter_ddp_torchrun(tmp_path):
    from mstr.bank import Bank, bank_entries
    from mstr.bundle import load_bundle

    g = torch.Generator().manual_seed(0)
    entries = bank_entries(["en"])
    Bank(entries, torch.nn.functional.normalize(torch.randn(len(entries), 16, generator=g), dim=1)).save(tmp_path / "bank")
    words = tmp_path / "words"
    _lmdb(words / "LMDB" / "en" / "train_lmdb", _letters(g, 40, 2, 6), 32, 96, g)
    _lmdb(words / "LMDB" / "en" / "val_lmdb", _letters(g, 6, 2, 6), 32, 96, g)
    out = tmp_path / "out"
    _launch(tmp_path / "dump", [
        "train", "spotter", f"bank={tmp_path / 'bank'}", "model.d_model=32", "model.widths=[8,8,16,32]",
        "model.dec_layers=1", "model.heads=2", "model.max_len=8",
        f"data.sources=[{{name: train, root: {words}, split: train}}]",
        f"data.val_sources=[{{name: val, root: {words}, split: val}}]", f"out={out}", *DDP], torchrun=True)
    ranks = _ranks(tmp_path / "dump")

    bundle = load_bundle(out / "bundle", refiner=False).spotter.state_dict()
    for k, v in ranks[0]["params"].items():
        assert torch.equal(bundle[k.removeprefix("spotter.")], v), k
    assert (out / "checkpoints" / "last.ckpt").is_file()
    assert ranks[0]["metrics"]["val/word_acc"] == ranks[1]["metrics"]["val/word_acc"]

    # per epoch, every rank makes the same seeded weighted draw of max_steps × batch samples and
    # reads its own share of it (Lightning's DistributedSamplerWrapper around mixed_sampler)
    draws = ranks[0]["draws"]
    assert draws == ranks[1]["draws"] and draws[0] != draws[1]
    per_epoch = STEPS * BATCH // WORLD
    for epoch, draw in enumerate(draws):
        for r, share in zip(ranks, _shares(len(draw), epoch)):
            assert r["seen"][epoch * per_epoch:(epoch + 1) * per_epoch] == [draw[j] for j in share]
    assert all(len(r["seen"]) == STEPS * BATCH for r in ranks) and ranks[0]["seen"] != ranks[1]["seen"]


@pytest.mark.slow  # a training run of two processes: ~6 s
def test_mclip_ddp_lightning_launcher(tmp_path):
    from mstr.mclip_export import load_mclip

    g = torch.Generator().manual_seed(1)
    chars = tmp_path / "chars"
    n = STEPS * BATCH  # two epochs of two steps per rank
    _lmdb(chars / "LMDB" / "en" / "train_lmdb", _letters(g, n, 1, 1), 32, 32, g)
    _lmdb(chars / "LMDB" / "en" / "val_lmdb", _letters(g, 6, 1, 1), 32, 32, g)
    out = tmp_path / "mclip"
    _launch(tmp_path / "dump", [
        "train", "mclip", f"data.root={chars}", "data.langs=en", "model.dim=16", "model.widths=[8,8,16,16]",
        "model.text_width=16", "model.text_layers=1", "model.text_heads=2", f"out={out}", *DDP], torchrun=False)
    ranks = _ranks(tmp_path / "dump")

    exported, _ = load_mclip(out)
    for k, v in exported.state_dict().items():
        if f"model.{k}" in ranks[0]["params"]:
            assert torch.equal(ranks[0]["params"][f"model.{k}"], v), k
    assert ranks[0]["metrics"]["val/top1"] == ranks[1]["metrics"]["val/top1"]

    # shuffle=True: Lightning swaps the RandomSampler for a DistributedSampler over the dataset
    per_epoch = n // WORLD
    for epoch in range(2):
        for r, share in zip(ranks, _shares(n, epoch)):
            assert r["seen"][epoch * per_epoch:(epoch + 1) * per_epoch] == share
    assert sorted(ranks[0]["seen"][:per_epoch] + ranks[1]["seen"][:per_epoch]) == list(range(n))


def test_seeded_sampler_draw_depends_on_seed_and_epoch_only():
    from torch.utils.data import WeightedRandomSampler

    from mstr.train.words import SeededWeightedSampler

    w = torch.tensor([0.5, 0.2, 0.2, 0.1], dtype=torch.double)
    a, b = SeededWeightedSampler(w, 50, seed=3), SeededWeightedSampler(w, 50, seed=3)
    first = list(a)
    # epoch 0 is the draw of a WeightedRandomSampler seeded with the seed (as before epochs were seeded)
    assert first == list(WeightedRandomSampler(w, 50, generator=torch.Generator().manual_seed(3)))
    assert list(a) != first  # without set_epoch the generator runs on, like any sampler
    a.set_epoch(1)
    b.set_epoch(1)
    assert list(a) == list(b) != first
    a.set_epoch(0)
    assert list(a) == first
