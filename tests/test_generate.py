"""Sharded generation: determinism, resume after a kill, layout, spec checks, CLI."""
from __future__ import annotations

import json

import lmdb
import pytest

from mstr.cli.main import main
from mstr.errors import UserError
from mstr.synth.generate import GenSpec, _run_shard, generate, make_sample


def _dump(path):
    env = lmdb.open(str(path), readonly=True, lock=False)
    with env.begin() as txn:
        items = dict(txn.cursor())
    env.close()
    return items


def _spec(**kw):
    base = dict(kind="words", langs=("en", "hi"), n=12, seed=3, shard_size=5, val_frac=0.25)
    base.update(kw)
    return GenSpec(**base)


def test_layout_counts_and_keys(tmp_path):
    report = generate(_spec(), tmp_path / "out", progress=False)
    for lang in ("en", "hi"):
        train = _dump(tmp_path / "out" / "LMDB" / lang / "train_lmdb")
        val = _dump(tmp_path / "out" / "LMDB" / lang / "val_lmdb")
        assert int(train[b"num-samples"]) + int(val[b"num-samples"]) == 12
        assert int(val[b"num-samples"]) == 3  # g % 4 == 0 for g in 0..11
        assert train[b"lang-000000001"] == lang.encode()
        assert train[b"image-000000001"].startswith(b"\x89PNG")
        label = train[b"label-000000001"].decode()
        assert label
    assert report["counts"]["hi"] == {"train": 9, "val": 3}
    assert not (tmp_path / "out" / "shards").exists()


def test_same_seed_same_bytes_independent_of_sharding_and_workers(tmp_path):
    generate(_spec(), tmp_path / "a", progress=False)
    generate(_spec(shard_size=7), tmp_path / "b", workers=2, progress=False)
    for split in ("train", "val"):
        a = _dump(tmp_path / "a" / "LMDB" / "hi" / f"{split}_lmdb")
        b = _dump(tmp_path / "b" / "LMDB" / "hi" / f"{split}_lmdb")
        assert a == b


def test_different_seed_differs():
    a = make_sample(_spec(), "en", 0)
    b = make_sample(_spec(seed=4), "en", 0)
    assert a != b


def test_resume_after_interrupt_gives_same_dataset(tmp_path):
    spec = _spec()
    fresh = tmp_path / "fresh"
    generate(spec, fresh, progress=False)
    # an interrupted run: shard 0 of hi stopped after 2 samples, nothing merged yet
    broken = tmp_path / "broken"
    generate(spec, broken, progress=False, part=(1, 2), merge_after=False)  # shard 1 of each lang
    from mstr.fonts import fonts_for_lang

    _run_shard((spec.__class__(**{**spec.to_json(), "langs": ("en", "hi"), "font_px": (28, 48)}),
                "hi", 0, str(broken), fonts_for_lang("hi")), stop_after=2)
    with pytest.raises(UserError, match="rerun the same"):
        from mstr.synth.generate import merge
        merge(broken)
    generate(spec, broken, progress=False)  # the same command again: resumes
    for lang in ("en", "hi"):
        for split in ("train", "val"):
            assert _dump(fresh / "LMDB" / lang / f"{split}_lmdb") == _dump(broken / "LMDB" / lang / f"{split}_lmdb")


def test_other_settings_in_same_out_is_an_error(tmp_path):
    generate(_spec(n=3), tmp_path / "o", progress=False)
    with pytest.raises(UserError, match="other settings"):
        generate(_spec(n=4), tmp_path / "o", progress=False)


def test_heldout_fonts_write_test_lmdb(tmp_path):
    generate(_spec(fonts="heldout", n=4, langs=("hi",)), tmp_path / "t", progress=False)
    assert (tmp_path / "t" / "LMDB" / "hi" / "test_lmdb" / "data.mdb").exists()
    assert not (tmp_path / "t" / "LMDB" / "hi" / "train_lmdb").exists()


def test_chars_labels_cover_charset_in_order(tmp_path):
    from mstr.charsets import load_charset

    generate(GenSpec(kind="chars", langs=("ta",), n=20, val_frac=0.0), tmp_path / "c", progress=False)
    items = _dump(tmp_path / "c" / "LMDB" / "ta" / "train_lmdb")
    labels = [items[b"label-%09d" % i].decode() for i in range(1, 21)]
    assert labels == list(load_charset("ta").chars()[:20])


def test_cli_words_and_bad_input(tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["synth", "words", "--langs", "en", "--n", "4", "--out", str(out)]) == 0
    assert json.loads((out / "done.json").read_text())["counts"]["en"]["train"] + \
        json.loads((out / "done.json").read_text())["counts"]["en"]["val"] == 4
    assert main(["synth", "words", "--langs", "xx", "--n", "4", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error:") and "xx" in err
    assert "Traceback" not in capsys.readouterr().err


def test_cli_preview_writes_png(tmp_path):
    from PIL import Image

    png = tmp_path / "p.png"
    assert main(["synth", "preview", "--lang", "bn", "--n", "4", "--out", str(png)]) == 0
    img = Image.open(png)
    assert img.width > 100 and img.height > 60


def test_a_text_a_font_cannot_draw_is_replaced_and_a_font_that_draws_nothing_is_one_error():
    from mstr.synth.generate import SampleMaker

    maker = SampleMaker(_spec(langs=("en",)), "en")
    real_render = maker.synth.render_word
    calls = {"n": 0}

    def flaky(text, rng, font=None):  # the first two texts leave no ink, as a broken glyph would
        calls["n"] += 1
        if calls["n"] <= 2:
            raise ValueError(f"text {text!r} leaves no ink with font X.ttf")
        return real_render(text, rng, font)

    maker.synth.render_word = flaky
    png, label = maker.make(0)
    assert png[:4] == b"\x89PNG" and label and maker.retries == 2

    def blank(text, rng, font=None):
        raise ValueError(f"text {text!r} leaves no ink with font X.ttf")

    maker.synth.render_word = blank
    with pytest.raises(UserError, match="en: 50 sampled texts in a row could not be drawn") as info:
        maker.make(1)
    assert "X.ttf" in str(info.value) and "mstr synth fonts --langs en" in str(info.value)


def test_a_character_whose_glyph_leaves_no_ink_in_one_font_is_drawn_in_another():
    """A display face with an empty '_' (Italiana in the pool) stopped a whole Stage 1 render."""
    from mstr.synth.generate import SampleMaker

    maker = SampleMaker(_spec(kind="chars", langs=("en",)), "en")
    assert len({f.path for f in maker.fonts}) > 1
    g = maker.chars.index("_")
    real_render = maker.synth.render_char
    seen = []

    def empty_in_first_font(ch, rng, font=None):
        seen.append(font.path)
        if font.path == seen[0]:
            raise ValueError(f"text {ch!r} leaves no ink with font {font.path}")
        return real_render(ch, rng, font)

    maker.synth.render_char = empty_in_first_font
    png, label = maker.make(g)
    assert png[:4] == b"\x89PNG" and label == "_"
    assert maker.retries == 1 and len(seen) == 2 and seen[1] != seen[0]

    def never(ch, rng, font=None):
        raise ValueError(f"text {ch!r} leaves no ink with font {font.path}")

    maker.synth.render_char = never
    with pytest.raises(UserError, match=r"en: no .* font draws '_' \(U\+005F\) with ink") as info:
        maker.make(g)
    assert "mstr synth fonts --langs en" in str(info.value)


def test_a_char_crop_is_the_same_as_before_when_its_font_draws_it():
    from mstr.synth.generate import SampleMaker, sample_rng

    spec = _spec(kind="chars", langs=("en",))
    maker = SampleMaker(spec, "en")
    png, label = maker.make(5)
    rng = sample_rng(spec, "en", 5)
    import io
    expected = io.BytesIO()
    maker.synth.render_char(label, rng).save(expected, format="PNG", compress_level=1)
    assert png == expected.getvalue() and maker.retries == 0
