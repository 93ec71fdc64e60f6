"""Stage 1 end to end on a toy set: crops → a few training steps (loss goes down) → export →
bank build → bank loads with its fingerprint; plus model/tokenizer unit checks."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from mstr.bank import Bank, bank_entries
from mstr.cli.main import main
from mstr.config import load_config
from mstr.models.mclip import MClip, MClipConfig
from mstr.prompts import prompt_tokenizer


def test_tokenizer_prompt_and_unknown_char():
    tok = prompt_tokenizer(["en", "hi"])
    e = next(e for e in bank_entries(["hi"]) if e.token == "ि")
    prompt = tok.prompt(e.token, e.script, e.langs, e.subtype)
    assert prompt[:4] == ["<cls>", "<lang=hi>", "<type=diacritic>", "<char=ि>"]
    assert "DEVANAGARI" in prompt and "SIGN" in prompt
    ids = tok.encode([e])
    assert ids.shape == (1, tok.max_len) and (ids[0] > 0).sum() == len(prompt)
    # a Tamil character is unknown to an en+hi vocabulary but its name words still carry meaning
    ta = next(e for e in bank_entries(["ta"]) if e.token == "க")
    ids = tok.encode([ta])[0].tolist()
    assert tok.vocab.index("<unk>") in ids and tok.vocab.index("LETTER") in ids


def test_towers_give_unit_vectors():
    tok = prompt_tokenizer(["en"])
    model = MClip(MClipConfig(dim=32, widths=(8, 16, 16, 32), blocks=(1, 1, 1), text_width=32, text_layers=1,
                              text_heads=2, vocab=tok.vocab))
    img = model.encode_image(torch.randn(3, 3, 32, 32))
    txt = model.encode_entries(bank_entries(["en"])[:5])
    assert img.shape == (3, 32) and txt.shape == (5, 32)
    assert torch.allclose(img.norm(dim=-1), torch.ones(3), atol=1e-5)
    assert torch.allclose(txt.norm(dim=-1), torch.ones(5), atol=1e-5)


@pytest.fixture(scope="module")
def toy_chars(tmp_path_factory):
    from mstr.synth.generate import GenSpec, generate

    root = tmp_path_factory.mktemp("chars")
    generate(GenSpec(kind="chars", langs=("en",), n=94 * 4, val_frac=0.05, augment=False), root, progress=False)
    return root


def _losses(out: Path) -> list[float]:
    files = sorted(out.glob("logs/version_*/metrics.csv"))
    rows = list(csv.DictReader(files[-1].open()))
    return [float(r["train/loss"]) for r in rows if r.get("train/loss")]


@pytest.mark.slow
def test_tiny_training_lowers_loss_and_exports_a_bank(toy_chars, tmp_path):
    cfg_path = Path(__file__).parents[1] / "configs" / "train" / "mclip.yaml"
    out = tmp_path / "mclip"
    overrides = [f"data.root={toy_chars}", "data.langs=en", "data.batch_size=32", "data.workers=0",
                 "model.dim=32", "model.widths=[8,16,32,32]", "model.text_width=32", "model.text_layers=1",
                 "model.text_heads=2", "optim.max_steps=60", "optim.warmup_steps=5", "optim.lr=0.003",
                 "trainer.log_every=1", "trainer.val_every=60", "trainer.ckpt_every=1000",
                 "trainer.progress_bar=false", "loss.arcface=0.5", "loss.subtype=0.2", f"out={out}"]
    assert load_config(cfg_path, overrides)["model"]["dim"] == 32
    assert main(["train", "mclip", "--config", str(cfg_path), *overrides]) == 0
    losses = _losses(out)
    assert len(losses) >= 50
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < 0.8 * first, (first, last)
    assert (out / "mclip.safetensors").exists() and (out / "mclip.json").exists()

    bank_dir = tmp_path / "bank"
    assert main(["bank", "build", "--mclip", str(out), "--langs", "en", "--out", str(bank_dir)]) == 0
    bank = Bank.load(bank_dir)
    assert len(bank) == len(bank_entries(["en"]))
    assert Bank.load(bank_dir, expected_fingerprint=bank.fingerprint()).fingerprint() == bank.fingerprint()


def test_several_roots_pool_their_crops(toy_chars, capsys):
    from mstr.train.char_crops import data_roots, entry_class_map, pooled_crops

    entries = bank_entries(["en"])
    classes = entry_class_map(entries)
    one = pooled_crops(data_roots(str(toy_chars)), ["en"], "train", classes, entries, 32)
    two = pooled_crops(data_roots([str(toy_chars), str(toy_chars)]), ["en"], "train", classes, entries, 32)
    assert len(one) > 0 and len(two) == 2 * len(one)
    assert pooled_crops(data_roots(str(toy_chars)), ["en"], "test", classes, entries, 32) is None
    assert main(["train", "mclip", "data.root=[]", "data.langs=en", "optim.max_steps=1"]) != 0
    err = capsys.readouterr().err
    assert "data.root must be a folder or a list" in err and "Traceback" not in err


def test_train_config_typo_is_a_user_error(capsys):
    assert main(["train", "mclip", "optim.lrr=0.1", "--print-config"]) == 2
    assert "optim.lrr" in capsys.readouterr().err
