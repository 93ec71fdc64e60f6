"""tools/font_buckets.py: WRR per held-out font design, the font of each sample found by replaying its render."""
import json

from conftest import dump_lmdb, tool_module
from mstr.synth.generate import GenSpec, generate


def _rendered(tmp_path):
    out = tmp_path / "set"
    generate(GenSpec(kind="words", langs=("hi",), n=12, seed=5, fonts="heldout", height=32), out, progress=False)
    kv = dump_lmdb(out / "LMDB" / "hi" / "test_lmdb")
    labels = {int(k[6:]): v.decode() for k, v in kv.items() if k.startswith(b"label-")}
    return out, labels


def _predictions(path, labels, right):
    path.write_text("\n".join(json.dumps({"id": f"image-{i:09d}", "lang": "hi", "gt_raw": gt, "correct": i in right,
                                          "error": None}) for i, gt in sorted(labels.items())))
    return path


def test_each_word_is_counted_under_the_design_it_was_drawn_in(tmp_path, capsys):
    data, labels = _rendered(tmp_path)
    preds = _predictions(tmp_path / "p.jsonl", labels, right={1, 2, 3})
    with tool_module("font_buckets") as fb:
        fonts = fb.designs_of(data, {"hi": sorted(labels)})
        assert {k: v[1] for k, v in fonts.items()} == {("hi", i): gt for i, gt in labels.items()}  # replayed texts
        heldout = json.loads((data / "done.json").read_text())["fonts"]["hi"]["designs"]
        assert {v[0] for v in fonts.values()} <= set(heldout)
        assert fb.main([str(data), str(preds)]) == 0
    rows = [line.split("|") for line in capsys.readouterr().out.splitlines()[2:]]
    assert sum(int(r[3]) for r in rows) == len(labels)
    assert round(sum(float(r[4]) * int(r[3]) for r in rows) / 100) == 3       # the three right words


def test_predictions_of_another_set_are_refused(tmp_path, capsys):
    data, labels = _rendered(tmp_path)
    preds = _predictions(tmp_path / "p.jsonl", {i: gt + "क" for i, gt in labels.items()}, right=set())
    with tool_module("font_buckets") as fb:
        assert fb.main([str(data), str(preds)]) == 2
        assert "replayed labels differ" in capsys.readouterr().err
        (tmp_path / "bad.jsonl").write_text('{"lang": "hi"}\n')
        assert fb.main([str(data), str(tmp_path / "bad.jsonl")]) == 2
    assert "bad.jsonl" in capsys.readouterr().err


def test_a_pool_set_is_replayed_in_the_pool_fonts_it_was_drawn_from(toy_pool, tmp_path, monkeypatch, capsys):
    """The render drew from the pool ($MSTR_FONT_POOL, as `--font-pool` sets it); the replay must too,
    whatever the environment says now."""
    from mstr.fonts.pool import POOL_ENV

    monkeypatch.setenv(POOL_ENV, str(toy_pool))
    out = tmp_path / "pool-set"
    generate(GenSpec(kind="words", langs=("hi",), n=8, seed=2, fonts="heldout", height=32,
                     font_pool=str(toy_pool)), out, progress=False)
    monkeypatch.delenv(POOL_ENV)
    labels = {int(k[6:]): v.decode() for k, v in dump_lmdb(out / "LMDB" / "hi" / "test_lmdb").items()
              if k.startswith(b"label-")}
    held = json.loads((out / "done.json").read_text())["fonts"]["hi"]["designs"]
    with tool_module("font_buckets") as fb:
        fonts = fb.designs_of(out, {"hi": sorted(labels)})
    assert {v[0] for v in fonts.values()} == set(held) and len(held) == 1   # the pool's one held-out design
    assert {k[1]: v[1] for k, v in fonts.items()} == labels
