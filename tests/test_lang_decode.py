"""Language-aware decoding: language hints (masks), the script-consistency constraint, the lexicon."""
from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import tiny_bank, tiny_bundle
import torch
from PIL import Image

import mstr
import mstr.cli.main as cli_main
from mstr.bank import EOS_ID, PAD_ID
from mstr.errors import UserError
from mstr.reading.lang_decode import allowed_rows, decode_words, mask_logits, parse_lang_hint, reading_scripts
from mstr.models.spotter import Spotter, SpotterConfig
from mstr.reading.prediction import Prediction
from mstr.reading.decode import cut_at_eos, spotter_decode
from mstr.reading.recognizer import Recognizer
from mstr.scripts import script_of

pytest.importorskip("rapidfuzz")
from mstr.reading.lexicon import Lexicon, weighted_distance  # noqa: E402

DIM = 32


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """A tiny random en+hi bundle with a Refiner: its readings mix scripts freely."""
    return tiny_bundle(tmp_path_factory.mktemp("lang") / "b", dim=DIM)


def _images(n: int = 10, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (32, int(rng.integers(40, 160)), 3), dtype=np.uint8), "RGB")
            for _ in range(n)]


def _tokens_of(pred: Prediction) -> set[str]:
    return {t for t, _ in pred.chars} | {t for row in pred.topk for t, _ in row}


@pytest.mark.parametrize("policy,mode", [("joint-edit1", "auto"),
                                         pytest.param("always", "greedy", marks=pytest.mark.slow),
                                         pytest.param("joint", "parallel", marks=pytest.mark.slow)])
def test_a_hinted_read_never_leaves_the_languages_rows(bundle, policy, mode):
    rec = mstr.load(bundle, refine_policy=policy, refine_mode=mode, refine_ratio=None)
    images = _images(6)
    for lang, other in (("hi", "Latn"), ("en", "Deva")):
        mask = rec.lang_mask([lang])
        allowed = {e.token for e, ok in zip(rec.bank.entries, mask.tolist()) if ok}
        plain = rec.read(images, script_consistency=False)
        assert any(not _tokens_of(p) <= allowed for p in plain)  # unhinted, the other script shows up
        hinted = rec.read(images, langs=[lang])
        assert all(_tokens_of(p) <= allowed for p in hinted)
        assert all(p.script in (rec.bank.lang_script(lang), None) for p in hinted)


def test_masks_keep_common_and_specials():
    bank = tiny_bank(dim=DIM)
    mask = allowed_rows(bank, langs=["hi"])
    for e, ok in zip(bank.entries, mask.tolist()):
        assert ok == (e.script in ("Zyyy", "Zzzz") or "hi" in e.langs)
    assert mask[EOS_ID] and mask.sum() < len(bank)
    assert torch.equal(allowed_rows(bank, scripts=["Deva"]), mask)
    logits = torch.zeros(1, 1, len(bank))
    assert torch.isinf(mask_logits(logits, mask)[0, 0, ~mask]).all()


def test_unknown_or_empty_language_is_one_line_error(bundle):
    rec = mstr.load(bundle)
    with pytest.raises(UserError, match=r"unknown language code\(s\) xx.*reads en, hi"):
        rec.read(_images(1), langs=["xx"])
    with pytest.raises(UserError, match="no language code"):
        parse_lang_hint(" , ", ["en"])
    assert parse_lang_hint("hi, en,hi", ["en", "hi"]) == ("hi", "en")


def _crafted(bank):
    """Logits of two words over 4 positions: word 0 reads Latin 'ab'; word 1 reads 'a' then a
    Devanagari letter (mixed), whose Latin runner-up 'ac' is ``gap`` nats less likely."""
    a, b, c = (bank.index(x, "Latn") for x in "abc")
    ka = bank.index("क", "Deva")
    logits = torch.full((2, 4, len(bank)), -10.0)
    for t, i in enumerate([a, b, EOS_ID, EOS_ID]):
        logits[0, t, i] = 5.0
    logits[1, 0, a] = 5.0
    logits[1, 1, ka], logits[1, 1, c] = 5.0, 2.0  # 'क' is 3 nats likelier than 'c' (~)
    logits[1, 2:, EOS_ID] = 5.0
    return logits, ka, c


def _decoder(logits, calls):
    def decode(rows, allowed):
        calls.append((list(rows), allowed))
        ids, p, ti, tp = spotter_decode(mask_logits(logits[rows], allowed), 3)
        return [cut_at_eos(i, q) for i, q in zip(ids.tolist(), p.tolist())], ti, tp
    return decode


def test_script_consistency_fixes_a_mixed_reading_when_the_margin_allows():
    bank = tiny_bank(dim=DIM)
    logits, ka, c = _crafted(bank)
    calls: list = []
    plain, _, _ = decode_words(bank, logits, _decoder(logits, calls), allowed=None, consistency=False, margin=0)
    assert len(calls) == 1 and reading_scripts(bank, plain[1][0]) == ["Latn", "Deva"]
    calls.clear()
    fixed, top_i, _ = decode_words(bank, logits, _decoder(logits, calls), allowed=None, consistency=True, margin=5)
    assert fixed[0] == plain[0]                       # a single-script reading is left alone
    assert fixed[1][0] == [plain[1][0][0], c]         # the mixed one is read in Latin: 'ac'
    assert top_i[1, 1, 0] == c
    assert {tuple(r) for r, _ in calls[1:]} == {(1,)}  # only the mixed word was decoded again
    # a margin smaller than the gap keeps the likelier mixed reading
    kept, _, _ = decode_words(bank, logits, _decoder(logits, []), allowed=None, consistency=True, margin=1)
    assert kept[1][0] == plain[1][0] and ka in kept[1][0]


def test_script_consistency_on_a_model_only_touches_mixed_readings():
    bank = tiny_bank(dim=DIM)
    torch.manual_seed(2)  # a random Spotter (sharp scores) that reads some words in two scripts
    spotter = Spotter(SpotterConfig(dim=DIM, d_model=32, widths=(8, 8, 16, 16), max_len=10, dec_layers=1, heads=2,
                                    init_scale=80.0), bank.vectors, PAD_ID)
    rec = Recognizer(spotter, bank)
    images = _images()

    def scripts(p: Prediction) -> set[str]:
        return {s for s in map(script_of, p.text) if s not in ("Zyyy", "Zzzz")}

    off = rec.read(images, script_consistency=False)
    on = rec.read(images)   # default: on
    mixed = [len(scripts(p)) > 1 for p in off]
    assert any(mixed)
    for p_off, p_on, m in zip(off, on, mixed):
        if not m:
            assert p_on == p_off
    rec.script_margin = float("inf")
    forced = rec.read(images)
    assert all(len(scripts(p)) == 1 for p in forced)
    assert [p.text for p, m in zip(forced, mixed) if m] != [p.text for p, m in zip(off, mixed) if m]


def _pred(text: str, probs: list[float]) -> Prediction:
    return Prediction(text=text, confidence=float(np.prod(probs)), script="Latn", chars=list(zip(text, probs)))


def test_lexicon_exact_near_far_and_weighted(tmp_path):
    words = tmp_path / "words.txt"
    words.write_text("station\nnation\n\nHello\ncart\ncard\n", encoding="utf-8")
    lex = Lexicon.load(words)
    assert len(lex) == 5
    exact = lex.correct(_pred("nation", [0.9] * 6))
    assert exact.text == "nation" and exact.lexicon_from is None
    assert lex.correct(_pred("hello", [0.9] * 5)).lexicon_from is None  # case-insensitive exact match kept
    near = lex.correct(_pred("statlon", [0.99, 0.99, 0.99, 0.99, 0.3, 0.99, 0.99]))
    assert (near.text, near.lexicon_from, near.script) == ("station", "statlon", "Latn")
    assert near.confidence == _pred("statlon", [0.99] * 4 + [0.3, 0.99, 0.99]).confidence  # the model's
    far = lex.correct(_pred("zebra", [0.99] * 5))
    assert far.text == "zebra" and far.lexicon_from is None
    # by default a letter read with confidence is not changed, even into a listed word one edit away
    assert lex.correct(_pred("carx", [0.99] * 4)).text == "carx"
    assert lex.correct(_pred("carx", [0.99, 0.99, 0.99, 0.2])).text == "cart"
    # under a tighter limit, changing an unsure letter is allowed, changing a sure one is not
    tight = Lexicon.load(words, max_distance=0.6)
    assert tight.correct(_pred("carx", [0.99, 0.99, 0.99, 0.1])).text == "cart"   # tie: the word listed first
    assert tight.correct(_pred("carx", [0.99, 0.99, 0.99, 0.99])).text == "carx"
    assert tight.correct(_pred("xart", [0.1, 0.99, 0.99, 0.99])).text == "cart"
    unsure, sure = [0.99, 0.99, 0.99, 0.1], [0.99] * 4
    assert weighted_distance("cart", unsure, "card") < weighted_distance("cart", sure, "card") < 1.0
    assert weighted_distance("cart", unsure, "car") < weighted_distance("cart", sure, "car")  # deletion too
    assert weighted_distance("cart", unsure, "dart") > weighted_distance("cart", unsure, "card")
    assert weighted_distance("abc", [1, 1, 1], "abc") == 0
    assert weighted_distance("abc", [1, 1, 1], "abcd") == 1.0  # an insertion costs 1
    with pytest.raises(UserError, match="does not exist"):
        Lexicon.load(tmp_path / "nope.txt")
    (tmp_path / "empty.txt").write_text("\n \n", encoding="utf-8")
    with pytest.raises(UserError, match="no word"):
        Lexicon.load(tmp_path / "empty.txt")


def test_lexicon_normalises_words_and_reader_api(bundle, tmp_path):
    lex = Lexicon(["क़लम"])  # precomposed qa: stored NFKD (क + ़)
    assert lex.words == ["क़लम"]
    rec = mstr.load(bundle)
    images = _images(4)
    base = rec.read(images, script_consistency=False)
    words = tmp_path / "w.txt"
    words.write_text("\n".join(p.text + "q" for p in base if p.text), encoding="utf-8")
    lexed = rec.read(images, script_consistency=False, lexicon=words)
    for b, p in zip(base, lexed):
        assert p.lexicon_from in (None, b.text)
        if p.lexicon_from is not None:
            assert p.text != b.text and p.chars == b.chars
    loaded = mstr.load(bundle, lexicon=words, script_consistency=False)
    assert [p.text for p in loaded.read(images)] == [p.text for p in lexed]
    assert [p.text for p in loaded.read(images, lexicon=False)] == [p.text for p in base]


def test_read_cli_flags(bundle, tmp_path, capsys):
    path = tmp_path / "w.png"
    _images(1)[0].save(path)
    assert cli_main.main(["read", str(path), "--bundle", str(bundle), "--json", "--lang", "hi"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["script"] in ("Deva", None) and "lexicon_from" in record
    assert cli_main.main(["read", str(path), "--bundle", str(bundle), "--lang", "fr"]) == 2
    assert "this model reads en, hi" in capsys.readouterr().err
    words = tmp_path / "words.txt"
    words.write_text("word\n", encoding="utf-8")
    assert cli_main.main(["read", str(path), "--bundle", str(bundle), "--no-script-consistency",
                          "--script-margin", "3", "--lexicon", str(words)]) == 0
    assert cli_main.main(["read", str(path), "--bundle", str(bundle), "--lexicon", str(tmp_path / "no.txt")]) == 2
    capsys.readouterr()
    assert cli_main.main(["read", str(path), "--bundle", str(bundle), "--lexicon-limit", "2"]) == 2
    assert "give the word list with --lexicon" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:  # argparse: "must be at least 0"
        cli_main.main(["read", str(path), "--bundle", str(bundle), "--lexicon-limit", "-1", "--lexicon", str(words)])
    assert info.value.code == 2 and "must be at least 0" in capsys.readouterr().err


def test_lexicon_limit_option_reaches_the_reader(bundle, tmp_path, capsys):
    """--lexicon-limit 0 keeps every reading; a large limit turns every reading into the one listed word."""
    path = tmp_path / "w.png"
    _images(1)[0].save(path)
    words = tmp_path / "words.txt"
    words.write_text("zzzzzzzzzzzzzzzzzz\n", encoding="utf-8")
    base = ["read", str(path), "--bundle", str(bundle), "--json", "--lexicon", str(words)]
    assert cli_main.main(base + ["--lexicon-limit", "0"]) == 0
    assert json.loads(capsys.readouterr().out)["text"] != "zzzzzzzzzzzzzzzzzz"
    assert cli_main.main(base + ["--lexicon-limit", "100"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["text"] == "zzzzzzzzzzzzzzzzzz" and record["lexicon_from"] is not None


def test_eval_lang_hint(bundle, tmp_path, capsys):
    images = _images(4)
    lines = []
    for i, (img, lang, gt) in enumerate(zip(images, ["en", "hi", "en", "hi"], ["ab", "कम", "cd", "मक"])):
        img.save(tmp_path / f"{i}.png")
        lines.append(json.dumps({"id": str(i), "path_rel": f"{i}.png", "filename": f"{i}.png", "gt_text": gt,
                                "lang": lang, "dataset": "t"}))
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    base = ["eval", "--bundle", str(bundle), "--manifest", str(manifest), "--root", str(tmp_path)]
    assert cli_main.main(base + ["--lang-hint", "--out", str(tmp_path / "out")]) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert "--lang-hint" in report["command"]
    preds = [json.loads(x) for x in (tmp_path / "out" / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    for p in preds:  # each sample read in its own language's script (or none)
        assert p["script"] in ({"en": "Latn", "hi": "Deva"}[p["lang"]], None)
    capsys.readouterr()
    assert cli_main.main(base + ["--lang-hint", "--lang", "hi"]) == 2
    assert "not both" in capsys.readouterr().err


@pytest.mark.slow
def test_onnx_reader_matches_torch_under_a_hint(bundle, tmp_path):
    pytest.importorskip("onnxruntime")
    assert cli_main.main(["export", "onnx", "--bundle", str(bundle), "--out", str(tmp_path / "e")]) == 0
    images = _images(12, seed=5)
    torch_rec, onnx_rec = mstr.load(bundle), mstr.load(tmp_path / "e", backend="onnx")
    for kw in ({"langs": ["hi"]}, {"langs": "en"}, {}, {"script_consistency": False}):
        got, want = onnx_rec.read(images, **kw), torch_rec.read(images, **kw)
        assert [p.text for p in got] == [p.text for p in want], kw
        assert np.allclose([p.confidence for p in got], [p.confidence for p in want], atol=1e-4)
    with pytest.raises(UserError, match="unknown language"):
        onnx_rec.read(images, langs=["ta"])


def test_a_hint_for_a_language_added_by_bank_extend_reads_the_scripts_shared_rows():
    """`mstr bank extend --langs mr` appends only Marathi's own letters (ळ, ॲ…) and leaves the shared
    Devanagari rows tagged hi: the hint must still allow them (the v5 bank read Marathi at 7 % with a hint)."""
    from mstr.bank.build import extend_spread

    bank = extend_spread(tiny_bank(("en", "hi")), ["mr"], seed=0)
    ka, lla = bank.index("क", "Deva"), bank.index("ळ", "Deva")
    assert "mr" not in bank.entries[ka].langs and "mr" in bank.entries[lla].langs   # the tags as extend leaves them
    mr = allowed_rows(bank, langs=["mr"])
    hi = allowed_rows(bank, langs=["hi"])
    assert bool(mr[ka]) and bool(mr[lla]) and not bool(mr[bank.index("k", "Latn")])
    assert bool(hi[ka]) and not bool(hi[lla])                                     # ळ is not a Hindi letter


def test_make_lexicons_writes_the_documented_lists(tmp_path, monkeypatch):
    from conftest import ROOT, tool_module

    monkeypatch.chdir(ROOT)  # the dev split manifests are read from configs/splits
    with tool_module("make_lexicons") as tool:
        assert tool.main(["--out", str(tmp_path), "--v2-test", str(tmp_path / "absent")]) == 0
        dev_labels = [w for s in tool.DEV_SPLITS for w in tool.manifest_labels(ROOT / s)]
    read = {n: (tmp_path / f"{n}.txt").read_text(encoding="utf-8").splitlines()
            for n in ("lex_en_distractors", "lex_en_dev", "lex_4lang_distractors")}
    assert not (tmp_path / "lex_8lang_test.txt").exists()
    assert len(read["lex_en_distractors"]) == 10000 and "the" in read["lex_en_distractors"]
    dev = read["lex_en_dev"]
    assert len(dev) == len(set(dev)) and set(dev_labels) <= set(dev)       # every answer listed, once
    assert dev[:3] == list(dict.fromkeys(dev_labels))[:3] and set(read["lex_en_distractors"]) <= set(dev)
    assert any("\u0900" <= c <= "\u097f" for w in read["lex_4lang_distractors"] for c in w)  # Hindi words too
