"""The frozen prototype bank: table order, fingerprint, disk format, growth, encode/decode, votes."""
from __future__ import annotations

import json
import math

import pytest
import torch

from mstr.bank import (
    COMMON_SCRIPT, EOS_ID, PAD_ID, SPECIAL_SCRIPT, SPECIALS, Bank, BankEntry, bank_entries,
    build_bank,
)
from mstr.errors import UserError
from mstr.scripts import script_of
from mstr.text import normalize

DIM = 16


def unit_rows(n: int, dim: int = DIM, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, dim, generator=g)
    return x / x.norm(dim=1, keepdim=True)


def make_bank(langs, seed: int = 0) -> Bank:
    entries = bank_entries(langs)
    return Bank(entries, unit_rows(len(entries), seed=seed), meta={"mclip": "test"})


@pytest.fixture(scope="module")
def bank6() -> Bank:
    return make_bank("6lang")


# -- table -------------------------------------------------------------------------------------

def test_entry_order_and_dedup():
    entries = bank_entries(["en", "hi", "mr", "bn"])
    assert [e.token for e in entries[:2]] == list(SPECIALS)
    assert entries[EOS_ID].token == "<eos>" and entries[PAD_ID].token == "<pad>"
    assert all(e.script == SPECIAL_SCRIPT and e.subtype == "special" for e in entries[:2])
    scripts = [e.script for e in entries[2:]]
    # grouped: Common, then scripts in order of first appearance in langs
    groups = [s for i, s in enumerate(scripts) if i == 0 or scripts[i - 1] != s]
    assert groups == [COMMON_SCRIPT, "Latn", "Deva", "Beng"]
    for script in groups:
        cps = [ord(e.token) for e in entries if e.script == script]
        assert cps == sorted(cps)
    keys = [e.key for e in entries]
    assert len(keys) == len(set(keys))
    # one Devanagari entry for hi+mr
    ka = [e for e in entries if e.token == "क"]
    assert len(ka) == 1 and ka[0].script == "Deva" and ka[0].langs == ("hi", "mr")
    assert ka[0].subtype == "letter"
    virama = [e for e in entries if e.token == "\u094d"]
    assert len(virama) == 1 and virama[0].subtype == "diacritic"
    # ASCII digits: one shared Common entry each, held by every language
    for d in "0123456789":
        hits = [e for e in entries if e.token == d]
        assert len(hits) == 1
        assert hits[0].script == COMMON_SCRIPT and hits[0].subtype == "digit"
        assert hits[0].langs == ("bn", "en", "hi", "mr")
    danda = [e for e in entries if e.token == "।"]
    assert len(danda) == 1 and danda[0].script == COMMON_SCRIPT and danda[0].langs == ("bn", "hi", "mr")
    # script-specific entries really are of their script
    assert all(script_of(e.token) == e.script for e in entries if e.script in ("Latn", "Deva", "Beng"))
    assert bank_entries(["en", "hi", "mr", "bn"]) == entries  # deterministic


def test_bank_validation():
    entries = bank_entries(["en"])
    vecs = unit_rows(len(entries))
    with pytest.raises(ValueError):
        Bank(entries, vecs[:-1])
    with pytest.raises(ValueError):
        Bank(entries, vecs * 2)
    bad = vecs.clone()
    bad[3, 0] = float("nan")
    with pytest.raises(ValueError):
        Bank(entries, bad)
    with pytest.raises(ValueError):
        Bank(entries[2:] + entries[:2], vecs)
    with pytest.raises(ValueError):
        Bank(entries + [entries[5]], unit_rows(len(entries) + 1))
    with pytest.raises(ValueError):
        BankEntry("ab", "Latn", ("en",), "letter")


# -- fingerprint and disk ------------------------------------------------------------------------

def test_save_load_round_trip(tmp_path, bank6):
    bank6.save(tmp_path / "bank")
    assert sorted(p.name for p in (tmp_path / "bank").iterdir()) == ["bank.json", "bank.safetensors"]
    loaded = Bank.load(tmp_path / "bank", expected_fingerprint=bank6.fingerprint())
    assert loaded.entries == bank6.entries
    assert torch.equal(loaded.vectors, bank6.vectors)
    assert loaded.fingerprint() == bank6.fingerprint()
    assert loaded.meta == {"mclip": "test"}
    assert loaded.dim == DIM and len(loaded) == len(bank6)
    table = json.loads((tmp_path / "bank" / "bank.json").read_text(encoding="utf-8"))
    assert table["fingerprint"] == bank6.fingerprint() and table["dim"] == DIM


def test_fingerprint_sensitivity(bank6):
    fp = bank6.fingerprint()
    assert len(fp) == 64 and fp == make_bank("6lang").fingerprint()
    vecs = bank6.vectors.clone()
    vecs[10, 3] = torch.nextafter(vecs[10, 3], torch.tensor(2.0))
    assert Bank(bank6.entries, vecs).fingerprint() != fp
    entries = list(bank6.entries)
    e = entries[40]
    entries[40] = BankEntry(e.token, e.script, e.langs + ("kn",), e.subtype)
    assert Bank(entries, bank6.vectors).fingerprint() != fp
    assert Bank(bank6.entries, bank6.vectors, meta={"other": 1}).fingerprint() == fp


def test_tampered_vectors_rejected(tmp_path, bank6):
    folder = tmp_path / "bank"
    bank6.save(folder)
    path = folder / "bank.safetensors"
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x01  # one mantissa bit of the last vector
    path.write_bytes(bytes(data))
    with pytest.raises(UserError, match="altered"):
        Bank.load(folder)


def test_expected_fingerprint_mismatch(tmp_path, bank6):
    bank6.save(tmp_path / "bank")
    other = make_bank("6lang", seed=1).fingerprint()
    with pytest.raises(UserError, match="not the one the model was trained with") as info:
        Bank.load(tmp_path / "bank", expected_fingerprint=other)
    assert other[:12] in str(info.value) and bank6.fingerprint()[:12] in str(info.value)


def test_missing_and_broken_files(tmp_path, bank6):
    with pytest.raises(UserError, match="does not exist"):
        Bank.load(tmp_path / "nowhere")
    folder = tmp_path / "bank"
    bank6.save(folder)
    (folder / "bank.safetensors").unlink()
    with pytest.raises(UserError, match="bank.safetensors"):
        Bank.load(folder)
    bank6.save(folder)
    (folder / "bank.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(UserError, match="bank.json"):
        Bank.load(folder)
    bank6.save(folder)
    table = json.loads((folder / "bank.json").read_text(encoding="utf-8"))
    table["format_version"] = 99
    (folder / "bank.json").write_text(json.dumps(table), encoding="utf-8")
    with pytest.raises(UserError, match="format version 99"):
        Bank.load(folder)
    # a table from another bank next to these vectors
    make_bank("3lang").save(tmp_path / "small")
    (folder / "bank.json").write_bytes((tmp_path / "small" / "bank.json").read_bytes())
    with pytest.raises(UserError, match="do not belong together"):
        Bank.load(folder)


# -- growth --------------------------------------------------------------------------------------

def test_extend_with_kannada(bank6):
    new = bank6.new_entries_for(["kn"])
    assert new and all(e.script == "Knda" and e.langs == ("kn",) for e in new)
    grown = bank6.extend(new, unit_rows(len(new), seed=7))
    n = len(bank6)
    assert len(grown) == n + len(new)
    assert torch.equal(grown.vectors[:n], bank6.vectors)
    assert grown.entries[:n] == bank6.entries
    for i, e in enumerate(bank6.entries):
        assert grown.index(e.token, e.script) == i
    assert [e.key for e in grown.entries[n:]] == [e.key for e in new]
    assert grown.encode("ಬೆಂಗಳೂರು", "kn")
    again = grown.extend(new, unit_rows(len(new), seed=8))
    assert len(again) == len(grown) and torch.equal(again.vectors, grown.vectors)
    assert again.fingerprint() == grown.fingerprint()
    assert grown.new_entries_for(["kn"]) == []
    with pytest.raises(ValueError):
        bank6.extend(new, unit_rows(len(new), dim=DIM + 1))


def test_extend_merges_langs_of_existing_keys():
    bank = make_bank(["hi"])
    full = bank_entries(["mr"])
    grown = bank.extend(full, unit_rows(len(full), seed=3))
    i = bank.index("क", "Deva")
    assert grown.entries[i].langs == ("hi", "mr")
    assert torch.equal(grown.vectors[: len(bank)], bank.vectors)
    added = [e.key for e in grown.entries[len(bank):]]
    assert added == [e.key for e in bank.new_entries_for(["mr"])]


# -- encode / decode / script --------------------------------------------------------------------

@pytest.mark.parametrize("word,lang,script", [
    ("Hello", "en", "Latn"), ("क्षत्रिय", "hi", "Deva"), ("சென்னை", "ta", "Taml"),
    ("চেন্নাই", "bn", "Beng"),
])
def test_encode_decode_round_trip(bank6, word, lang, script):
    ids = bank6.encode(word, lang)
    assert len(ids) == len(normalize(word))
    assert bank6.decode(ids) == normalize(word)
    assert bank6.decode(ids + [EOS_ID] + bank6.encode("x", "en")) == normalize(word)
    assert bank6.decode([PAD_ID] + ids + [PAD_ID, PAD_ID]) == normalize(word)
    assert bank6.script_vote(ids) == script


def test_common_chars_map_to_zyyy(bank6):
    for lang in ("en", "hi", "ta"):
        ids = bank6.encode("2024", lang)
        assert all(bank6.entries[i].script == COMMON_SCRIPT for i in ids)
        assert ids == bank6.encode("2024", "en")
    danda = bank6.encode("।", "hi")
    assert danda == bank6.encode("।", "bn") and bank6.entries[danda[0]].script == COMMON_SCRIPT
    mixed = bank6.encode("राम 2024।", "hi")
    assert bank6.decode(mixed) == "राम2024।"
    assert bank6.script_vote(mixed) == "Deva"


def test_encode_missing_chars():
    bank = make_bank(["hi"])
    with pytest.raises(UserError) as info:
        bank.encode("சென்னை", "ta")
    msg = str(info.value)
    assert "'ச'" in msg and "'ன'" in msg and "ta" in msg
    ids, missing = bank.try_encode("சென்னை", "ta")
    assert ids is None and "ச" in missing and len(missing) == len(set(missing))
    ids, missing = bank.try_encode("नमस्ते", "hi")
    assert ids is not None and missing == []
    assert bank.try_encode("नमस्ते", "mr")[0] == ids  # same script, shared entries


def test_script_vote(bank6):
    deva = bank6.encode("नमस्ते", "hi")
    digits = bank6.encode("123", "hi")
    assert bank6.script_vote(deva) == "Deva"
    assert bank6.script_vote(digits) is None
    assert bank6.script_vote([EOS_ID, PAD_ID]) is None
    assert bank6.script_vote(bank6.encode("ab", "en") + deva + digits) == "Deva"
    tie = bank6.encode("ab", "en") + bank6.encode("नम", "hi")
    assert bank6.script_vote(tie) == "Latn"  # earliest script in bank order
    assert bank6.script_vote(torch.tensor(deva)) == "Deva"
    sids = bank6.script_ids()
    assert sids.shape == (len(bank6),) and sids.dtype == torch.long
    assert [bank6.scripts()[int(s)] for s in sids[deva]] == ["Deva"] * len(deva)
    assert bank6.scripts()[:2] == [SPECIAL_SCRIPT, COMMON_SCRIPT]


# -- building ------------------------------------------------------------------------------------

def test_build_bank_blending():
    entries = bank_entries(["en"])
    n = len(entries)
    text = unit_rows(n, seed=1) * 3.0  # unnormalised input is fine
    cent = unit_rows(n, seed=2) * 0.5
    cent[5] = float("nan")  # no crops for this entry
    plain = build_bank(entries, text)
    assert torch.allclose(plain.vectors, text / 3.0, atol=1e-6)
    bank = build_bank(entries, text, image_centroids=cent, alpha=0.25, meta={"mclip": "x"})
    norms = bank.vectors.norm(dim=1)
    assert torch.allclose(norms, torch.ones(n), atol=1e-5)
    t, c = text / 3.0, cent / 0.5
    expected = 0.75 * t[10] + 0.25 * c[10]
    assert torch.allclose(bank.vectors[10], expected / expected.norm(), atol=1e-6)
    assert torch.allclose(bank.vectors[5], t[5], atol=1e-6)  # NaN centroid -> text only
    assert torch.allclose(bank.vectors[:2], t[:2], atol=1e-6)  # specials: text only
    assert bank.meta["mclip"] == "x" and bank.meta["prototypes"]["alpha"] == 0.25
    assert bank.meta["prototypes"]["image_centroid_entries"] == n - 3
    full = build_bank(entries, text, image_centroids=cent, alpha=1.0)
    assert torch.allclose(full.vectors[10], c[10], atol=1e-6)
    assert math.isclose(float(full.vectors[5].norm()), 1.0, abs_tol=1e-5)
    with pytest.raises(ValueError):
        build_bank(entries, text, image_centroids=cent, alpha=1.5)
    with pytest.raises(ValueError):
        build_bank(entries, text, alpha=0.5)


def test_extend_spread_without_mclip():
    from mstr.bank import extend_spread, spread_prototypes

    base = Bank(bank_entries("6lang"), unit_rows(len(bank_entries("6lang")), dim=256), meta={})
    grown = extend_spread(base, ["mr", "kn"], seed=3)
    n = len(base)
    assert torch.equal(grown.vectors[:n], base.vectors)
    added = grown.vectors[n:]
    assert len(added) == len(base.new_entries_for(["mr", "kn"])) > 60
    assert torch.allclose(added.norm(dim=1), torch.ones(len(added)), atol=1e-5)
    cos = added @ grown.vectors.t()
    cos[torch.arange(len(added)), torch.arange(n, len(grown))] = -1  # not against itself
    assert cos.max() <= 0.3 + 1e-6
    assert grown.encode("ಬೆಂಗಳೂರು", "kn") and grown.encode("ळ", "mr")
    assert torch.equal(extend_spread(base, ["mr", "kn"], seed=3).vectors, grown.vectors)  # seeded
    with pytest.raises(ValueError):  # impossible: more near-orthogonal rows than 2 dimensions allow
        spread_prototypes(unit_rows(4, dim=2), 5, max_cos=0.1)
