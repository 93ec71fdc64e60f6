"""The shared CLI option groups (mstr.cli.options) and one load_samples() for --manifest/--lmdb/--max-samples.

Every subcommand's ``--help`` must work and list the shared options it adds: dropping a group from a
subcommand fails here. No model is loaded.
"""
from __future__ import annotations

import argparse
import io
import json

import pytest
from PIL import Image

import mstr.cli.main as cli_main
from mstr.cli.options import int_pair, load_samples as samples_from_args
from mstr.data.lmdb import LmdbWriter
from mstr.errors import UserError
from mstr.eval.samples import load_samples

READING = ("--no-refiner", "--refine-policy", "--refine-mode", "--refine-below", "--refine-ratio", "--lang",
           "--lexicon", "--no-script-consistency", "--script-margin")
RUNTIME = ("--batch-size", "--workers", "--device", "--backend")
DATA = ("--manifest", "--root", "--lmdb", "--langs")

#: subcommand path → the shared options its --help must list
SHARED = {
    ("read",): ("--bundle", "--json", *READING, *RUNTIME),
    ("eval",): ("--bundle", *DATA, *READING, "--lang-hint", *RUNTIME, "--max-samples", "--out", "--json"),
    ("eval", "mclip"): ("--device", "--out", "--json"),
    ("compare",): (*DATA, "--bundle", "--workers", "--device", "--out", "--json"),
    ("bench",): ("--bundle", "--lmdb", "--manifest", "--root", "--max-samples", "--workers", "--refine-policy"),
    ("serve",): ("--bundle",),
    ("export", "onnx"): ("--bundle", "--out"),
    ("viz", "bank"): ("--out",),
    ("synth", "fonts"): ("--json",),
    ("data", "inspect"): ("--json", "--out"),
}


def _subcommands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path] if path else []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _subcommands(sub, path + (name,))
    return found


def _help(path: tuple[str, ...], capsys) -> str:
    with pytest.raises(SystemExit) as info:
        cli_main.main([*path, "--help"])
    assert info.value.code == 0, path
    return capsys.readouterr().out


def test_every_subcommand_help_works(capsys):
    paths = _subcommands(cli_main.build_parser())
    assert len(paths) > 30 and ("data", "pack") in paths and ("eval", "mclip") in paths
    for path in paths:
        assert f"usage: mstr {' '.join(path)}" in _help(path, capsys)


@pytest.mark.parametrize("path", sorted(SHARED))
def test_subcommand_help_lists_its_shared_options(path, capsys):
    text = _help(path, capsys)
    missing = [opt for opt in SHARED[path] if opt not in text]
    assert not missing, f"mstr {' '.join(path)} --help lacks {missing}"


def test_int_pair_type():
    parse = int_pair("x", "HxW such as 48x192")
    assert parse("48x192") == (48, 192) and parse("32X128") == (32, 128)
    with pytest.raises(argparse.ArgumentTypeError, match="expected HxW such as 48x192, got '48'"):
        parse("48")


# --------------------------------------------------------------------------------------------
# load_samples


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 12), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture()
def manifest(tmp_path):
    """A manifest of 6 English crops under tmp_path/root."""
    root = tmp_path / "root"
    root.mkdir()
    lines = []
    for i in range(6):
        (root / f"{i}.png").write_bytes(_png())
        lines.append(json.dumps({"id": "0" * 40, "path_rel": f"{i}.png", "filename": f"{i}.png",
                                 "gt_text": f"w{i}", "lang": "en", "dataset": "d"}))
    path = tmp_path / "m.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, root


@pytest.fixture()
def lmdb(tmp_path):
    """An LMDB of 4 samples (Hindi and English)."""
    folder = tmp_path / "LMDB" / "hi" / "test_lmdb"
    with LmdbWriter(folder) as writer:
        for i in range(4):
            writer.add(_png(), f"w{i}", lang="en" if i % 2 else "hi")
    return folder


def test_load_samples_from_manifest_and_the_cut(manifest):
    path, root = manifest
    assert len(load_samples(manifest=path, root=root)) == 6
    cut = load_samples(manifest=path, root=root, max_samples=3)
    assert [s.gt for s in cut.samples] == ["w0", "w2", "w4"]  # evenly spaced
    assert "3 of 6 samples" in cut.description


def test_load_samples_from_lmdb_with_langs(lmdb):
    assert len(load_samples(lmdb=lmdb)) == 4
    assert [s.gt for s in load_samples(lmdb=lmdb, langs=["en"]).samples] == ["w1", "w3"]
    assert len(load_samples(lmdb=lmdb, max_samples=10)) == 4  # a cap above the count keeps them all


@pytest.mark.parametrize("kwargs, message", [
    ({}, "give the data: --manifest M --root R, or --lmdb DIR"),
    ({"manifest": "m", "lmdb": "l"}, "give either --manifest (with --root) or --lmdb, not both"),
    ({"manifest": "m"}, "--manifest needs --root"),
    ({"root": "r", "lmdb": "l"}, "--root goes with --manifest"),
])
def test_load_samples_source_errors(tmp_path, kwargs, message):
    given = {k: tmp_path / v for k, v in kwargs.items()}
    with pytest.raises(UserError) as info:
        load_samples(**given)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_load_samples_missing_files_are_named(tmp_path, manifest):
    with pytest.raises(UserError, match=r"--manifest .*nope\.jsonl is not a file"):
        load_samples(manifest=tmp_path / "nope.jsonl", root=tmp_path)
    with pytest.raises(UserError, match=r"--lmdb .*no_lmdb does not exist"):
        load_samples(lmdb=tmp_path / "no_lmdb")
    path, root = manifest
    with pytest.raises(UserError, match="--max-samples must be at least 1, got 0"):
        load_samples(manifest=path, root=root, max_samples=0)


def test_load_samples_nothing_left_says_why(manifest):
    path, root = manifest
    with pytest.raises(UserError, match=r"no sample to compare in manifest .* for languages hi"):
        load_samples(manifest=path, root=root, langs=["hi"], purpose="compare")


def test_load_samples_from_parsed_options(manifest):
    path, root = manifest
    args = argparse.Namespace(manifest=path, root=root, lmdb=None)
    assert len(samples_from_args(args, max_samples=2, purpose="evaluate")) == 2
