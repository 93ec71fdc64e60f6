"""Recipe v2: background bank (incl. GIMP .pat), colour pairs, legibility check, determinism, sizes, CLI."""
from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest
from PIL import Image

from mstr.cli.main import main
from mstr.errors import UserError
from mstr.synth import realism
from mstr.synth.bgbank import ENV_VAR, BackgroundBank, read_pat, resolve_bank_dir
from mstr.synth.bgharvest import Source, dep5_licence, harvest
from mstr.synth.colours import load_colour_pairs
from mstr.synth.generate import GenSpec, SampleMaker, _check_spec


def _pat_bytes(pixels: np.ndarray, name: str = "tiny") -> bytes:
    h, w = pixels.shape[:2]
    depth = 1 if pixels.ndim == 2 else pixels.shape[2]
    name_b = name.encode() + b"\0"
    header = struct.pack(">5I", 24 + len(name_b), 1, w, h, depth) + b"GPAT" + name_b
    return header + pixels.astype(np.uint8).tobytes()


def test_read_pat_rgb_grey_and_alpha(tmp_path):
    rgb = np.arange(2 * 3 * 3).reshape(2, 3, 3) * 10
    (tmp_path / "a.pat").write_bytes(_pat_bytes(rgb))
    img = read_pat(tmp_path / "a.pat")
    assert img.size == (3, 2) and img.mode == "RGB"
    assert np.array_equal(np.asarray(img), rgb.astype(np.uint8))
    grey = np.array([[0, 200]])
    (tmp_path / "g.pat").write_bytes(_pat_bytes(grey))
    assert np.asarray(read_pat(tmp_path / "g.pat"))[0, 1].tolist() == [200, 200, 200]
    rgba = np.array([[[255, 0, 0, 255], [0, 0, 255, 0]]])
    (tmp_path / "t.pat").write_bytes(_pat_bytes(rgba))
    px = np.asarray(read_pat(tmp_path / "t.pat"))
    assert px[0, 0].tolist() == [255, 0, 0] and px[0, 1].tolist() == [128, 128, 128]


def test_read_pat_rejects_bad_files(tmp_path):
    good = _pat_bytes(np.zeros((2, 2, 3)))
    (tmp_path / "magic.pat").write_bytes(good[:20] + b"XXXX" + good[24:])
    (tmp_path / "short.pat").write_bytes(good[:-3])
    for name in ("magic.pat", "short.pat"):
        with pytest.raises(ValueError, match=name):
            read_pat(tmp_path / name)


def test_dep5_licence_prefers_the_most_specific_stanza():
    text = ("Format: x\n\nFiles: *\nLicense: GPL-2+\n\nFiles: debian/*\nLicense: Expat\n\n"
            "Files: 16.04/photo_by_someone.jpg\nLicense: CC-BY-4.0\n\nFiles: nature/*.jpg\nLicense: CC0-1.0\n")
    assert dep5_licence(text, "/usr/share/backgrounds/photo_by_someone.jpg") == "CC-BY-4.0"
    assert dep5_licence(text, "/usr/share/backgrounds/mate/nature/Aqua.jpg") == "CC0-1.0"
    assert dep5_licence(text, "/usr/share/other/file.png") == "GPL-2+"
    assert dep5_licence("Files: a.png\nLicense: MIT\n", "/x/b.png") == "unknown"


@pytest.fixture(scope="module")
def tiny_bank(tmp_path_factory):
    """A bank harvested from three generated images (one a .pat)."""
    src = tmp_path_factory.mktemp("src")
    rng = np.random.default_rng(0)
    paths = []
    for i in range(2):
        p = src / f"img{i}.png"
        ramp = np.linspace(0, 200, 600)[None, :, None] + rng.random((300, 1, 3)) * 50
        Image.fromarray(ramp.astype(np.uint8)).save(p)
        paths.append(str(p))
    (src / "p.pat").write_bytes(_pat_bytes((rng.random((64, 64, 3)) * 255).astype(np.uint8)))
    paths.append(str(src / "p.pat"))
    out = tmp_path_factory.mktemp("bank")
    harvest(out, sources=[Source("testpkg", p, "CC0-1.0") for p in paths], max_bytes=400_000, log=lambda *_: None)
    return out


def test_harvest_writes_tiles_index_and_licences(tiny_bank):
    meta = json.loads((tiny_bank / "bank.json").read_text())
    lic = json.loads((tiny_bank / "licences.json").read_text())
    assert len(meta["tiles"]) > 3 and meta["fingerprint"]
    assert sum((tiny_bank / t["file"]).stat().st_size for t in meta["tiles"]) <= 400_000
    assert {(x["package"], x["licence"]) for x in lic} == {("testpkg", "CC0-1.0")}
    assert {t["source"] for t in meta["tiles"]} <= {x["source"] for x in lic}
    for t in meta["tiles"]:
        with Image.open(tiny_bank / t["file"]) as im:
            assert max(im.size) <= 192


def test_bank_crops_any_size(tiny_bank):
    bank = BackgroundBank(tiny_bank)
    rng = np.random.default_rng(1)
    for h, w in ((32, 128), (48, 700), (5, 4)):
        c = bank.crop(rng, h, w)
        assert c.shape == (h, w, 3) and c.dtype == np.float32
        assert 0.0 <= c.min() and c.max() <= 1.0


def test_missing_bank_is_a_user_error(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match="make backgrounds"):
        resolve_bank_dir(None)
    with pytest.raises(UserError, match="no bank.json"):
        resolve_bank_dir(tmp_path)
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(UserError, match="nowhere"):
        resolve_bank_dir(None)


def test_colour_pairs_load_and_are_sane():
    cp = load_colour_pairs()
    assert 64 <= len(cp) <= 256
    assert abs(cp.weight.sum() - 1) < 1e-6
    for arr in (cp.text, cp.bg):
        assert arr.shape == (len(cp), 3) and 0 <= arr.min() and arr.max() <= 1
    lum_gap = np.abs(realism.luminance(cp.text) - realism.luminance(cp.bg))
    assert (cp.weight * lum_gap).sum() > 0.15          # text differs from its background on average
    assert cp.provenance["crops_used"] > 1000
    rng = np.random.default_rng(0)
    t, b = cp.sample(rng)
    assert t.shape == b.shape == (3,)


def test_legibility_rejects_invisible_text():
    h, w = 32, 96
    text = np.zeros((h, w), np.float32)
    text[8:24, 10:80:6] = 1.0
    bg = np.full((h, w, 3), 0.4, np.float32)
    same = bg.copy()
    from mstr.synth.recipe_v2 import MIN_LEGIBILITY
    assert realism.legibility(same, text, text) < MIN_LEGIBILITY
    visible = bg + (np.float32(0.95) - bg) * text[..., None]
    assert realism.legibility(visible, text, text) > MIN_LEGIBILITY
    half = visible.copy()
    half[:, 48:] = 0.4   # the second half of the word vanishes
    assert realism.legibility(half, text, text) < MIN_LEGIBILITY


def test_illegible_draws_are_redrawn_then_drawn_plainly(tiny_bank):
    from mstr.synth.pipeline import SynthOptions
    from mstr.synth.recipe_v2 import REDRAWS, RecipeV2

    v2 = RecipeV2(SynthOptions(recipe="v2"), bank=BackgroundBank(tiny_bank))
    masks = np.zeros((1, 32, 96), np.float32)
    masks[0, 8:24, 10:80:6] = 1.0
    v2.compose = lambda m, near, rng: (Image.new("RGB", (96, 32), (128, 128, 128)), m[0])  # text == background
    img = np.asarray(v2.finish(masks, np.zeros((32, 96), np.float32), np.random.default_rng(0)), np.float32) / 255
    assert v2.redraws == REDRAWS + 1 and v2.fallbacks == 1
    assert realism.legibility(img, masks[0], masks[0]) > 3


@pytest.mark.parametrize("height", [32, 48])
def test_v2_sizes_and_determinism(tiny_bank, height):
    spec = GenSpec(kind="words", langs=("hi",), n=6, seed=2, recipe="v2", backgrounds=str(tiny_bank), height=height)
    maker = SampleMaker(spec, "hi")
    first = [maker.make(g) for g in range(6)]
    again = [SampleMaker(spec, "hi").make(g) for g in range(6)]
    assert first == again
    for data, _ in first:
        img = Image.open(io.BytesIO(data))
        assert img.mode == "RGB" and img.height == height and 4 <= img.width <= height * 16
    v1 = [SampleMaker(GenSpec(kind="words", langs=("hi",), n=6, seed=2, height=height), "hi").make(g) for g in range(3)]
    assert [d for d, _ in v1] != [d for d, _ in first[:3]]


def test_v1_needs_no_bank_and_is_the_default(monkeypatch, tmp_path):
    from mstr.synth.pipeline import Synthesizer, SynthOptions

    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nowhere"))
    a = SampleMaker(GenSpec(kind="words", langs=("en",), n=3, seed=9), "en")
    b = SampleMaker(GenSpec(kind="words", langs=("en",), n=3, seed=9, recipe="v1"), "en")
    assert a.make(1) == b.make(1)
    assert Synthesizer(a.fonts, SynthOptions())._v2 is None
    with pytest.raises(UserError, match="recipe"):
        SynthOptions(recipe="v3")


def test_spec_records_recipe_and_old_specs_resume(tmp_path):
    spec = GenSpec(kind="words", langs=("en",), n=2)
    assert spec.to_json()["recipe"] == "v1"
    out = tmp_path / "old"
    out.mkdir()
    old = {k: v for k, v in spec.to_json().items() if k not in ("recipe", "backgrounds")}
    (out / "spec.json").write_text(json.dumps(old))
    _check_spec(out, spec)    # a run written before the recipe field resumes
    with pytest.raises(UserError, match="recipe"):
        _check_spec(out, GenSpec(kind="words", langs=("en",), n=2, recipe="v2", backgrounds="/b"))


def test_cli_v2_without_bank_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    rc = main(["synth", "words", "--langs", "en", "--n", "2", "--out", str(tmp_path / "o"), "--recipe", "v2"])
    err = capsys.readouterr().err
    assert rc == 2 and "make backgrounds" in err and "Traceback" not in err


def test_cli_v2_generation_records_recipe(tmp_path, tiny_bank, capsys):
    out = tmp_path / "o"
    assert main(["synth", "words", "--langs", "en", "--n", "3", "--out", str(out), "--recipe", "v2",
                 "--backgrounds", str(tiny_bank)]) == 0
    done = json.loads((out / "done.json").read_text())
    assert done["spec"]["recipe"] == "v2"
    assert done["backgrounds"]["fingerprint"] == json.loads((tiny_bank / "bank.json").read_text())["fingerprint"]


def test_v2_character_crops(tiny_bank):
    spec = GenSpec(kind="chars", langs=("hi",), n=4, seed=1, recipe="v2", backgrounds=str(tiny_bank), char_size=32)
    a = [SampleMaker(spec, "hi").make(g) for g in range(4)]
    assert a == [SampleMaker(spec, "hi").make(g) for g in range(4)]
    v1 = SampleMaker(GenSpec(kind="chars", langs=("hi",), n=4, seed=1), "hi").make(0)
    assert a[0][1] == v1[1] and a[0][0] != v1[0]      # same character, drawn differently
    for data, _ in a:
        assert Image.open(io.BytesIO(data)).size == (32, 32)


def test_effects_scale_only_the_effects():
    from mstr.synth import camera, projective
    from mstr.synth.recipe_v2 import P, SOURCES, scaled_probs

    p, warps, cam = scaled_probs(1.0)
    assert (p, warps, cam) == (P, projective.DEFAULT_PROBS, camera.CAMERA_PROBS)
    p, warps, cam = scaled_probs(0.0)
    assert all(v == 0 for k, v in p.items() if k not in SOURCES) and not any(warps.values()) and not any(cam.values())
    assert all(p[k] == P[k] > 0 for k in SOURCES)       # panels, photos and measured colours stay
    p, _, cam = scaled_probs(2.0)
    assert p["lighting"] == 0.9 and max(cam.values()) <= 1.0 and p["pair"] == P["pair"]


def test_effects_zero_draws_no_effect(tiny_bank, monkeypatch):
    from mstr.synth import camera, recipe_v2

    called = []
    for name in ("lighting", "soft_shadow", "extrusion", "displace"):
        monkeypatch.setattr(recipe_v2.realism, name, lambda *a, _n=name, **k: called.append(_n) or a[0])
    real_finish = camera.finish
    monkeypatch.setattr(recipe_v2.camera, "finish",
                        lambda img, rng, probs: called.extend(k for k, v in probs.items() if v > 0) or real_finish(img, rng, probs))

    def render(effects):
        called.clear()
        spec = GenSpec(kind="words", langs=("en",), n=40, seed=5, recipe="v2", backgrounds=str(tiny_bank), effects=effects)
        maker = SampleMaker(spec, "en")
        return [maker.make(g) for g in range(40)]

    mild = render(0.0)
    assert called == []
    full = render(1.0)
    assert {"lighting", "displace", "jpeg"} <= set(called)
    assert [lab for _, lab in mild] == [lab for _, lab in full]     # same words, drawn differently
    assert [d for d, _ in mild] != [d for d, _ in full]


def test_effects_recorded_validated_and_old_specs_resume(tmp_path, tiny_bank, capsys):
    spec = GenSpec(kind="words", langs=("en",), n=2, recipe="v2", backgrounds="/b")
    out = tmp_path / "old"
    out.mkdir()
    (out / "spec.json").write_text(json.dumps({k: v for k, v in spec.to_json().items() if k != "effects"}))
    _check_spec(out, spec)    # written before the field: resumes at strength 1
    with pytest.raises(UserError, match="effects"):
        _check_spec(out, GenSpec(kind="words", langs=("en",), n=2, recipe="v2", backgrounds="/b", effects=0.5))
    for bad in (["--effects", "3"], ["--effects", "-1"], ["--recipe", "v1", "--effects", "0.5"]):
        args = ["synth", "words", "--langs", "en", "--n", "2", "--out", str(tmp_path / "o"),
                "--recipe", "v2", "--backgrounds", str(tiny_bank), *bad]
        assert main(args) == 2
        err = capsys.readouterr().err
        assert "--effects" in err and "Traceback" not in err
    assert main(["synth", "words", "--langs", "en", "--n", "2", "--out", str(tmp_path / "m"), "--recipe", "v2",
                 "--backgrounds", str(tiny_bank), "--effects", "0.5"]) == 0
    assert json.loads((tmp_path / "m" / "done.json").read_text())["spec"]["effects"] == 0.5


def test_vocab_chooses_the_words_profile_and_is_validated(tmp_path, tiny_bank, capsys):
    def weights(**kw):
        spec = GenSpec(kind="words", langs=("en",), n=2, recipe="v2", backgrounds=str(tiny_bank), **kw)
        return SampleMaker(spec, "en").sampler.describe()["mode_weights"]

    assert weights()["sign"] > 0 and weights(vocab="v2") == weights()        # default: the recipe's
    assert weights(vocab="v1")["sign"] == 0 and weights(vocab="v1")["word"] > weights()["word"]
    with pytest.raises(UserError, match="--vocab"):
        GenSpec(kind="chars", langs=("en",), n=2, vocab="v1")
    with pytest.raises(UserError, match="--vocab"):
        GenSpec(kind="words", langs=("en",), n=2, vocab="v3")
    spec = GenSpec(kind="words", langs=("en",), n=2, recipe="v2", backgrounds="/b")
    out = tmp_path / "old"
    out.mkdir()
    (out / "spec.json").write_text(json.dumps({k: v for k, v in spec.to_json().items() if k != "vocab"}))
    _check_spec(out, spec)    # written before the field: resumes with the recipe's vocabulary
    with pytest.raises(UserError, match="vocab"):
        _check_spec(out, GenSpec(kind="words", langs=("en",), n=2, recipe="v2", backgrounds="/b", vocab="v1"))
    assert main(["synth", "words", "--langs", "en", "--n", "2", "--out", str(tmp_path / "o"), "--recipe", "v2",
                 "--backgrounds", str(tiny_bank), "--vocab", "v1"]) == 0
    assert json.loads((tmp_path / "o" / "done.json").read_text())["spec"]["vocab"] == "v1"
    with pytest.raises(SystemExit):
        main(["synth", "chars", "--langs", "en", "--n", "2", "--out", str(tmp_path / "c"), "--vocab", "v1"])
    assert "--vocab" in capsys.readouterr().err
