"""Stage-1 evaluation (retrieval of character crops against the bank), the bank map and t-SNE.

The retrieval figures are hand-computed: the bank holds orthonormal vectors, and a stub model
maps each crop (a solid colour whose red value is a code) to a chosen mixture of bank rows, so
every top-1 / top-5 / leakage outcome is known in advance.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import png
import torch
from PIL import Image

from mstr.bank import Bank, bank_entries
from mstr.cli import eval as eval_cli
from mstr.cli import viz as viz_cli
from mstr.data.lmdb import LmdbWriter
from mstr.errors import UserError
from mstr.eval.mclip_eval import evaluate_retrieval, format_retrieval, load_twins
from mstr.viz import bank_map, tsne

# (label, [(token, script, weight), ...]) per language: the embedding the stub returns
SCENARIO = {
    "hi": [
        ("क", [("क", "Deva", 1.0), ("<eos>", "Zzzz", 2.0)]),  # right; specials are never retrieved
        ("क", [("क", "Deva", 1.0)]),                             # right
        ("ा", [("ि", "Deva", 1.0), ("ा", "Deva", 0.5)]),        # diacritic → diacritic, top-5 hit
        ("ख", [("k", "Latn", 1.0), ("ख", "Deva", -0.3)]),      # leaked to Latin, top-5 miss
        ("ख", [("k", "Latn", 1.0), ("ख", "Deva", -0.3)]),      # the same again
        ("5", [("5", "Zyyy", 1.0)]),                             # Common, right
        ("०", [("0", "Zyyy", 1.0), ("०", "Deva", 0.5)]),        # → Common: not leakage; top-5 hit
        ("Q", [("क", "Deva", 1.0)]),                             # not in the hi charset: skipped
        ("कख", [("क", "Deva", 1.0)]),                            # not one character: skipped
    ],
    "en": [
        ("a", [("a", "Latn", 1.0)]),                             # right
        ("b", [("b", "Latn", 1.0)]),                             # right
        ("B", [("ब", "Deva", 1.0), ("B", "Latn", -0.3)]),      # leaked to Devanagari
        ("7", [("7", "Zyyy", 1.0)]),                             # Common, right
        ("1", [("l", "Latn", 1.0), ("1", "Zyyy", -0.3)]),      # Common query → Latin: leakage
    ],
}


def _orthonormal_bank(langs=("en", "hi"), seed: int = 0) -> Bank:
    entries = bank_entries(list(langs))
    n = len(entries)
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    return Bank(entries, q.float())


class StubModel:
    """``encode_image``: the red value of pixel (0, 0) picks a row of ``table``."""

    def __init__(self, table: torch.Tensor, size: int = 8) -> None:
        self.table = table
        self.cfg = SimpleNamespace(image_size=size, dim=table.shape[1])
        self.eval_called = False

    def eval(self) -> "StubModel":
        self.eval_called = True
        return self

    def encode_image(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[1:] == (3, self.cfg.image_size, self.cfg.image_size)
        assert not torch.is_grad_enabled()
        codes = ((x[:, 0, 0, 0] + 1.0) * 127.5).round().long()
        return self.table[codes]


@pytest.fixture()
def scenario(tmp_path):
    bank = _orthonormal_bank()
    rows = []
    root = tmp_path / "data"
    for lang, samples in SCENARIO.items():
        with LmdbWriter(root / "LMDB" / lang / "test_lmdb") as w:
            for label, terms in samples:
                v = sum(weight * bank.vectors[bank.index(tok, script)] for tok, script, weight in terms)
                rows.append(v / v.norm())
                w.add(png(len(rows) - 1), label, lang=lang)
    model = StubModel(torch.stack(rows))
    return bank, model, root


def test_retrieval_figures_are_exact(scenario):
    bank, model, root = scenario
    r = evaluate_retrieval(model, bank, root, ["en", "hi"], batch_size=3, progress=False)
    assert model.eval_called
    assert r["n"] == 12 and r["split"] == "test"
    assert r["overall"]["top1"] == pytest.approx(50.0)
    assert r["overall"]["top5"] == pytest.approx(100 * 8 / 12, abs=1e-3)
    assert r["overall"]["leakage"] == pytest.approx(100 * 4 / 12, abs=1e-3)

    by_script = {row["script"]: row for row in r["per_script"]}
    assert [row["script"] for row in r["per_script"]] == ["Latn", "Deva", "Zyyy"]
    deva = by_script["Deva"]
    assert deva["n"] == 6 and deva["name"] == "Devanagari"
    assert deva["top1"] == pytest.approx(100 * 2 / 6, abs=1e-3)
    assert deva["top5"] == pytest.approx(100 * 4 / 6, abs=1e-3)
    assert deva["leakage"] == pytest.approx(100 * 2 / 6, abs=1e-3)
    assert deva["leaked_to"] == {"Latn": 2}
    latn = by_script["Latn"]
    assert (latn["n"], latn["leaked_to"]) == (3, {"Deva": 1})
    assert latn["top1"] == pytest.approx(100 * 2 / 3, abs=1e-3)
    zyyy = by_script["Zyyy"]
    assert zyyy["n"] == 3 and zyyy["leakage"] == pytest.approx(100 / 3, abs=1e-3)

    by_lang = {row["lang"]: row for row in r["per_lang"]}
    assert [row["lang"] for row in r["per_lang"]] == ["en", "hi"]
    assert by_lang["en"]["n"] == 5 and by_lang["en"]["top1"] == pytest.approx(60.0)
    assert by_lang["en"]["leakage"] == pytest.approx(40.0)
    assert by_lang["hi"]["n"] == 7 and by_lang["hi"]["script"] == "Deva"
    assert by_lang["hi"]["top1"] == pytest.approx(100 * 3 / 7, abs=1e-3)
    assert by_lang["hi"]["top5"] == pytest.approx(100 * 5 / 7, abs=1e-3)
    assert r["per_lang_macro"]["top1"] == pytest.approx((60.0 + 100 * 3 / 7) / 2, abs=1e-3)
    assert r["skipped"]["hi"] == {"not_one_char": 1, "out_of_charset": 1}
    assert r["skipped"]["en"] == {}

    by_sub = {row["subtype"]: row for row in r["per_subtype"]}
    assert by_sub["diacritic"]["n"] == 1 and by_sub["diacritic"]["top1"] == 0.0
    assert by_sub["diacritic"]["top5"] == 100.0
    assert by_sub["letter"]["n"] == 7 and by_sub["digit"]["n"] == 4

    assert r["errors"] == 6
    first = r["confusions"][0]
    assert (first["true"]["token"], first["pred"]["token"], first["count"]) == ("ख", "k", 2)
    assert first["share"] == 100.0
    assert first["true"]["name"] == "DEVANAGARI LETTER KHA" and first["pred"]["codepoint"] == "U+006B"
    pairs = {(c["true"]["token"], c["pred"]["token"]): c["count"] for c in r["confusions"]}
    assert pairs == {("ख", "k"): 2, ("ा", "ि"): 1, ("०", "0"): 1, ("B", "ब"): 1, ("1", "l"): 1}

    nn = r["near_neighbour"]
    assert nn["n_errors"] == 1 and nn["diacritic_queries"] == 1 and nn["diacritic_top1"] == 0.0
    assert nn["by_kind"] == {"diacritic→diacritic": 1, "diacritic→other": 0, "other→diacritic": 0}
    assert [(p["true"]["name"], p["pred"]["name"]) for p in nn["pairs"]] == [
        ("DEVANAGARI VOWEL SIGN AA", "DEVANAGARI VOWEL SIGN I")]
    assert nn["share_of_errors"] == pytest.approx(100 / 6, abs=1e-3)

    json.dumps(r)  # JSON-able
    md = format_retrieval(r)
    assert "| script | n | top-1 | top-5 | leakage | net of twins |" in md
    assert "| Deva (Devanagari) | 6 | 33.33 | 66.67 | 33.33 | 33.33 | Latn 2 |" in md  # no twins: net = all
    assert "| **Combined** | 12 | 50.00 | 66.67 | 33.33 | 33.33 |" in md
    assert "◌ा" in md and "DEVANAGARI LETTER KHA" in md


def test_net_leakage_leaves_out_declared_twins_only(scenario, tmp_path):
    bank, model, root = scenario
    twins_file = tmp_path / "twins.json"
    twins_file.write_text(json.dumps({"groups": [[["Latn", "k"], ["Deva", "ख"]], [["Zyyy", "1"], ["Latn", "l"]],
                                                 [["Deva", "क"], ["Latn", "b"]]]}), encoding="utf-8")
    r = evaluate_retrieval(model, bank, root, ["en", "hi"], progress=False, twins=load_twins(twins_file))
    # leaks: ख→k twice and 1→l (twins: left out), B→ब (not declared: kept); क/b never leak
    assert r["overall"]["leakage"] == pytest.approx(100 * 4 / 12, abs=1e-3)
    assert r["overall"]["leakage_net"] == pytest.approx(100 * 1 / 12, abs=1e-3)
    by_script = {row["script"]: row for row in r["per_script"]}
    assert (by_script["Deva"]["leakage_net"], by_script["Zyyy"]["leakage_net"]) == (0.0, 0.0)
    assert by_script["Latn"]["leakage_net"] == pytest.approx(100 / 3, abs=1e-3)
    assert r["twin_groups"] == 3 and "(3 groups)" in format_retrieval(r)


def test_the_shipped_twins_load_and_bad_files_are_one_line_errors(tmp_path):
    shipped = load_twins()
    assert frozenset({("Beng", "\u09e6"), ("Deva", "\u0966")}) in shipped  # the Bengali and Devanagari zeros
    assert all(len({script for script, _ in group}) >= 2 for group in shipped)  # twins cross scripts
    bad = tmp_path / "twins.json"
    for text, match in (("{not json", "unreadable"), ('{"pairs": []}', "no list"),
                        ('{"groups": [[["Latn", "k"]]]}', "group 0")):
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(UserError, match=match) as info:
            load_twins(bad)
        assert str(bad) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(UserError, match="not found"):
        load_twins(tmp_path / "nowhere.json")


def test_max_per_lang_and_val_split(scenario):
    bank, model, root = scenario
    r = evaluate_retrieval(model, bank, root, "en,hi", max_per_lang=2, progress=False)
    by_lang = {row["lang"]: row for row in r["per_lang"]}
    assert by_lang["en"]["n"] == 2 and by_lang["hi"]["n"] == 2
    assert by_lang["en"]["top1"] == 50.0  # a (right) and B (leaked): evenly spaced picks
    with pytest.raises(UserError, match="mstr synth chars"):
        evaluate_retrieval(model, bank, root, ["en"], split="val", progress=False)
    with pytest.raises(UserError, match="not in the bank"):
        evaluate_retrieval(model, bank, root, ["ta"], progress=False)


# --------------------------------------------------------------------------------------------
# command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mstr")
    sub = parser.add_subparsers(dest="command")
    eval_cli.add_parser(sub)
    viz_cli.add_parser(sub)
    return parser


def _run(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    return args.func(args)


def _tiny_mclip(folder: Path, dim: int) -> Path:
    from mstr.models.mclip import MClip, MClipConfig
    from mstr.prompts import prompt_tokenizer
    from mstr.weights import save_weights

    tok = prompt_tokenizer(["en", "hi"])
    cfg = MClipConfig(dim=dim, widths=(4, 8), blocks=(1,), image_size=8, text_width=8, text_layers=1,
                      text_heads=1, vocab=tok.vocab, prompt_len=tok.max_len)
    torch.manual_seed(0)
    folder.mkdir(parents=True)
    save_weights(MClip(cfg), folder / "mclip.safetensors")
    (folder / "mclip.json").write_text(json.dumps({"kind": "mclip", "config": cfg.to_dict(),
                                                   "langs": ["en", "hi"]}), encoding="utf-8")
    return folder


def test_cli_errors(tmp_path, scenario):
    bank, _model, root = scenario
    bank.save(tmp_path / "bank")
    mclip = _tiny_mclip(tmp_path / "mclip", bank.dim)
    base = ["eval", "mclip", "--mclip", str(mclip), "--bank", str(tmp_path / "bank")]
    data = tmp_path / "other"
    (data / "LMDB").mkdir(parents=True)
    with pytest.raises(UserError) as exc:
        _run(base + ["--data", str(data), "--langs", "en,hi"])
    msg = str(exc.value)
    assert "mstr synth chars --langs en,hi" in msg and "--fonts heldout" in msg and "test_lmdb" in msg
    with pytest.raises(UserError, match="--fonts heldout"):
        _run(base + ["--data", str(data)])  # default langs: the bank's, none of them present
    with pytest.raises(UserError, match="does not exist"):
        _run(base + ["--data", str(tmp_path / "nowhere")])
    with pytest.raises(UserError, match=r"ta not in the bank"):
        _run(base + ["--data", str(root), "--langs", "en,ta"])
    with pytest.raises(UserError, match="mstr train mclip"):
        _run(["eval", "mclip", "--mclip", str(tmp_path / "none"), "--bank", str(tmp_path / "bank"),
              "--data", str(root)])
    small = _tiny_mclip(tmp_path / "small", 16)
    with pytest.raises(UserError, match="dimension 16"):
        _run(["eval", "mclip", "--mclip", str(small), "--bank", str(tmp_path / "bank"), "--data", str(root)])


def test_cli_end_to_end(tmp_path, scenario, capsys):
    bank, _model, root = scenario
    bank.save(tmp_path / "bank")
    mclip = _tiny_mclip(tmp_path / "mclip", bank.dim)
    out = tmp_path / "report"
    rc = _run(["eval", "mclip", "--mclip", str(mclip), "--bank", str(tmp_path / "bank"), "--data", str(root),
               "--device", "cpu", "--out", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "### Per script" in printed and "| Deva (Devanagari) | 6 |" in printed
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["n"] == 12 and report["langs"] == ["en", "hi"]
    assert report["command"].startswith("mstr eval mclip --mclip")
    assert report["bank"]["fingerprint"] == bank.fingerprint()
    assert "Command: `mstr eval mclip" in (out / "report.md").read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------------
# t-SNE and the bank map


def _two_clusters(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.normal(0.0, 1.0, (40, 10))
    b = rng.normal(0.0, 1.0, (40, 10))
    b[:, :3] += 8.0
    return np.vstack([a, b])


@pytest.mark.parametrize("init", ["pca", "random"])
def test_tsne_separates_two_clusters(init):
    x = _two_clusters()
    y = tsne(x, perplexity=10, n_iter=600, seed=3, init=init)
    assert y.shape == (80, 2) and np.isfinite(y).all()
    ya, yb = y[:40], y[40:]
    axis = yb.mean(axis=0) - ya.mean(axis=0)
    assert (ya @ axis).max() < (yb @ axis).min()  # a linear separator exists
    spread = max(ya.std(axis=0).max(), yb.std(axis=0).max())
    assert np.linalg.norm(axis) > 3 * spread


def test_tsne_is_deterministic_for_a_seed():
    x = _two_clusters(1)
    a = tsne(x, perplexity=8, n_iter=200, seed=5, init="random")
    b = tsne(x, perplexity=8, n_iter=200, seed=5, init="random")
    c = tsne(x, perplexity=8, n_iter=200, seed=6, init="random")
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)
    assert np.array_equal(tsne(x, n_iter=50), tsne(x, n_iter=50))  # perplexity clipped for N=80
    assert tsne(x[:2]).shape == (2, 2) and tsne(x[:0]).shape == (0, 2)


def test_bank_map_writes_png(tmp_path):
    bank = _orthonormal_bank()
    out = bank_map(bank, tmp_path / "maps" / "bank.png", n_iter=150, perplexity=15, size=(800, 600),
                   labels=True, font_dirs=[tmp_path / "no-fonts"])  # labels skipped: no font
    assert out == tmp_path / "maps" / "bank.png"
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size == (800, 600)
        colours = {c for _, c in im.getcolors(800 * 600) or []}
    assert (214, 39, 40) in colours and (31, 119, 180) in colours  # Devanagari and Latin points
    with pytest.raises(ValueError, match="method"):
        bank_map(bank, tmp_path / "x.png", method="umap")


def test_viz_cli(tmp_path, capsys):
    bank = _orthonormal_bank()
    bank.save(tmp_path / "bank")
    out = tmp_path / "map.png"
    assert _run(["viz", "bank", "--bank", str(tmp_path / "bank"), "--out", str(out), "--method", "pca",
                 "--size", "640x480"]) == 0
    with Image.open(out) as im:
        assert im.size == (640, 480)
    assert "wrote" in capsys.readouterr().out
    with pytest.raises(UserError, match=".png"):
        _run(["viz", "bank", "--bank", str(tmp_path / "bank"), "--out", str(tmp_path / "map.jpg")])


def test_corrupt_image_is_skipped_and_counted(tmp_path):
    bank = _orthonormal_bank()
    table = torch.stack([bank.vectors[bank.index(ch, "Latn")] for ch in "ac"])
    root = tmp_path / "data"
    with LmdbWriter(root / "LMDB" / "en" / "test_lmdb") as w:
        w.add(png(0), "a", lang="en")
        w.add(b"not an image", "b", lang="en")
        w.add(png(1), "c", lang="en")
    r = evaluate_retrieval(StubModel(table), bank, root, ["en"], batch_size=2, workers=1, progress=False)
    assert r["n"] == 2 and r["overall"]["top1"] == 100.0
    assert r["skipped"]["en"]["bad_image"] == 1
