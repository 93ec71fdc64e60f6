"""Training: bad images in a manifest source, damaged checkpoints, ignored settings, one run per
folder, recipes that would fail late (issue 19, items 1 and 10)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from conftest import V4_BUNDLE, demo_manifest

import mstr.cli.main as cli_main
from mstr.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
SRC = str(Path(cli_main.__file__).resolve().parents[2])  # the mstr under test, for child processes


@pytest.fixture
def real_manifest(tmp_path):
    """The demo's English crops as a manifest source, with one 0-byte image among them."""
    manifest = demo_manifest(tmp_path, 16)
    rows = [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines()]
    (tmp_path / rows[3]["path_rel"]).write_bytes(b"")
    return manifest


def test_a_zero_byte_image_in_a_manifest_source_is_skipped_not_fatal(real_manifest, caplog):
    from torch.utils.data import DataLoader

    from mstr.bank import Bank
    from mstr.train.words import build_sources, collate

    bank = Bank.load(V4_BUNDLE / "bank")
    parts = build_sources([{"name": "real", "manifest": str(real_manifest), "root": str(real_manifest.parent)}],
                          bank, max_len=26, image_size=(32, 128), langs=["en"])
    ds = parts[0][0]
    batches = list(DataLoader(ds, batch_size=4, num_workers=1, collate_fn=collate))
    assert sum(len(b[1]) for b in batches) == len(ds) == 16
    direct = ds[3]  # the empty file: the next sample instead, with a warning naming the file
    assert direct[0].shape == (3, 32, 128) and "0 bytes" in caplog.text


def _zip_checkpoint(path: Path, step: int) -> None:
    torch.save({"global_step": step, "state_dict": {"w": torch.arange(1000.0)}}, path)


def test_a_damaged_last_checkpoint_falls_back_to_the_intact_one(tmp_path, caplog):
    from mstr.train.resume import resume_checkpoint

    folder = tmp_path / "checkpoints"
    assert resume_checkpoint(folder) is None
    folder.mkdir()
    _zip_checkpoint(folder / "epoch=0-step=2.ckpt", 2)
    _zip_checkpoint(folder / "last.ckpt", 4)
    assert resume_checkpoint(folder) == str(folder / "last.ckpt")
    data = bytearray((folder / "last.ckpt").read_bytes())
    data[len(data) // 2] ^= 0xFF  # a flipped byte inside the tensor data
    (folder / "last.ckpt").write_bytes(bytes(data))
    assert resume_checkpoint(folder) == str(folder / "epoch=0-step=2.ckpt")
    assert "last.ckpt is damaged" in caplog.text
    os.truncate(folder / "epoch=0-step=2.ckpt", 100)
    with pytest.raises(UserError, match="every checkpoint .* is damaged"):
        resume_checkpoint(folder)


def test_model_overrides_with_init_bundle_are_refused(tmp_path, capsys):
    argv = ["train", "spotter", f"init_bundle={V4_BUNDLE}", "model.d_model=64", f"out={tmp_path}"]
    assert cli_main.main(argv) == 2
    err = capsys.readouterr().err
    assert "model.d_model=64" in err and "init_bundle" in err and len(err.strip().splitlines()) == 1


def test_a_second_training_into_the_same_folder_stops(tmp_path, capsys):
    from mstr.atomic import output_lock

    with output_lock(tmp_path / "run", "training run"):
        assert cli_main.main(["train", "spotter", "bank=nowhere", f"out={tmp_path / 'run'}"]) == 2
    assert "another mstr process" in capsys.readouterr().err


def test_recipe_dry_run_reports_a_missing_mclip(tmp_path, capsys):
    recipe = ROOT / "src" / "mstr" / "configs" / "recipes" / "1lang.yaml"
    argv = ["recipe", "run", str(recipe), f"work={tmp_path / 'w'}", f"mclip.use={tmp_path / 'no-mclip'}"]
    assert cli_main.main([*argv, "--dry-run"]) == 2
    out, err = capsys.readouterr()
    assert "[1/" in out and "no-mclip" in err and "mclip.json" in err
    assert cli_main.main(argv) == 2  # the real run refuses before any step
    out, err = capsys.readouterr()
    assert "nothing was run" in err and "[1/" not in out


TRAIN = ["train", "spotter", "optim.max_steps=6", "optim.warmup_steps=1", "data.batch_size=4", "data.workers=0",
         "data.val_sources=null", "trainer.precision=32-true", "trainer.ckpt_every=2", "trainer.val_every=1000",
         "trainer.progress_bar=false", "trainer.log_every=1"]


def _train_argv(manifest: Path, out: Path) -> list[str]:
    source = f"data.sources=[{{name: real, manifest: {manifest}, root: {manifest.parent}}}]"
    return [*TRAIN, f"init_bundle={V4_BUNDLE}", source, "data.langs=en", f"out={out}"]


@pytest.mark.slow
def test_kill9_during_training_resumes_from_its_checkpoint(real_manifest, tmp_path):
    """A run killed (SIGKILL) just after its step-4 checkpoint, run again, finishes from step 4 with a
    bundle of the full 6 steps; a damaged last.ckpt would have been passed over."""
    out = tmp_path / "run"
    script = textwrap.dedent(f"""
        import os, signal, sys
        import lightning.pytorch as pl
        real = pl.callbacks.ModelCheckpoint._save_checkpoint
        def save(self, trainer, path):
            real(self, trainer, path)
            if trainer.global_step >= 4 and path.endswith("last.ckpt"):
                os.kill(os.getpid(), signal.SIGKILL)
        pl.callbacks.ModelCheckpoint._save_checkpoint = save
        from mstr.cli.main import main
        sys.exit(main({_train_argv(real_manifest, out)!r}))
    """)
    env = {**os.environ, "PYTHONPATH": SRC}
    assert subprocess.run([sys.executable, "-c", script], env=env, capture_output=True).returncode == -9
    assert not (out / "bundle").exists() and (out / "checkpoints" / "last.ckpt").is_file()
    assert torch.load(out / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 4
    rerun = subprocess.run([sys.executable, "-m", "mstr", *_train_argv(real_manifest, out)], env=env,
                           capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "Restoring states from the checkpoint" in rerun.stderr or "Restored all states" in rerun.stderr
    cfg = json.loads((out / "bundle" / "config.json").read_text(encoding="utf-8"))
    assert cfg["training"]["spotter"]["steps"] == 6
    assert cfg["training"]["spotter"]["config"]["model"]["d_model"] == 96  # the bundle's, as trained
