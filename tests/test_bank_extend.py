"""``mstr bank extend``: a new language's rows appended (seeded spread prototypes or an mCLIP's text
tower), existing rows bit-identical, and the refusals."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mstr.bank import Bank, bank_entries, build_bank, text_prototypes
from mstr.cli.main import main
from mstr.scripts import COMMON_SCRIPT


@pytest.fixture(scope="module")
def en_bank(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bank") / "en"
    e = bank_entries(["en"])
    build_bank(e, F.normalize(torch.randn(len(e), 64, generator=torch.Generator().manual_seed(0)), dim=-1)).save(folder)
    return folder


def _extend(bank, out, *how: str, langs: str = "hi") -> int:
    return main(["bank", "extend", "--bank", str(bank), *how, "--langs", langs, "--out", str(out)])


def test_spread_appends_the_new_language_and_keeps_old_rows(en_bank, tmp_path, capsys):
    assert _extend(en_bank, tmp_path / "hi", "--spread-seed", "3") == 0
    old, new = Bank.load(en_bank), Bank.load(tmp_path / "hi")
    n = len(old)
    assert new.entries[:n] == old.entries and torch.equal(new.vectors[:n], old.vectors)
    added = new.entries[n:]
    assert added and all(e.langs == ("hi",) and e.script in ("Deva", COMMON_SCRIPT) for e in added)  # + dandas
    assert new.langs() == ["en", "hi"] and new.fingerprint() != old.fingerprint()
    cos = new.vectors[n:] @ new.vectors.t()
    cos[:, n:].fill_diagonal_(0.0)
    assert float(cos.max()) <= 0.3 + 1e-6  # spread apart from every other row
    assert f"{n} → {len(new)} entries" in capsys.readouterr().out


def test_spread_is_determined_by_the_seed(en_bank, tmp_path):
    for name, seed in (("a", "5"), ("b", "5"), ("c", "6")):
        assert _extend(en_bank, tmp_path / name, "--spread-seed", seed) == 0
    a, b, c = (Bank.load(tmp_path / name).fingerprint() for name in "abc")
    assert a == b != c


def test_mclip_text_tower_gives_the_new_rows(en_bank, tmp_path):
    from mstr.mclip_export import load_mclip, save_mclip
    from mstr.models.mclip import MClip, MClipConfig
    from mstr.prompts import prompt_tokenizer

    tok = prompt_tokenizer()
    torch.manual_seed(0)
    model = MClip(MClipConfig(dim=64, widths=(8, 8, 16, 16), blocks=(1, 1, 1), text_width=16, text_layers=1,
                              text_heads=2, vocab=tok.vocab, prompt_len=tok.max_len))
    save_mclip(model, tmp_path / "mclip", ["en"])
    assert _extend(en_bank, tmp_path / "kn", "--mclip", str(tmp_path / "mclip"), langs="kn") == 0
    old, new = Bank.load(en_bank), Bank.load(tmp_path / "kn")
    added = new.entries[len(old):]
    assert added and all(e.langs == ("kn",) for e in added)
    want = text_prototypes(load_mclip(tmp_path / "mclip")[0], added)
    assert torch.allclose(new.vectors[len(old):], F.normalize(want, dim=-1), atol=1e-6)


@pytest.mark.parametrize("langs,message", [("en", "already holds en"), ("hi,en", "already holds en"),
                                           ("xx", "unknown language 'xx'")])
def test_present_or_unknown_languages_are_refused(en_bank, tmp_path, capsys, langs, message):
    assert _extend(en_bank, tmp_path / "out", "--spread-seed", "0", langs=langs) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_spread_that_cannot_fit_is_a_user_error(en_bank, tmp_path, capsys, monkeypatch):
    import mstr.bank.build

    def full(existing, n, seed=0, max_cos=0.3):  # what a bank of too few dimensions meets, without the wait
        raise ValueError(f"could not place {n} prototypes with cosine <= {max_cos}")

    monkeypatch.setattr(mstr.bank.build, "spread_prototypes", full)
    assert _extend(en_bank, tmp_path / "out", "--spread-seed", "0") == 2
    err = capsys.readouterr().err
    assert "could not place" in err and "dimension 64" in err and "--mclip" in err
