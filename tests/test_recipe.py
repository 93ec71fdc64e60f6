"""Recipes: the planned commands, resuming, skipping absent real data, and recipe errors."""
from pathlib import Path

import pytest
import yaml

from mstr.cli.recipe import _recipe_path
from mstr.errors import UserError
from mstr.recipe import load_recipe, plan, run


def _shipped(name: str, tmp_path: Path, *extra: str) -> dict:
    return load_recipe(_recipe_path(name), [f"work={tmp_path / 'w'}", *extra])


def test_6lang_plan_chains_phases_and_evaluates_the_final_bundle(tmp_path):
    steps = plan(_shipped("6lang", tmp_path), real_root_exists=lambda p: True)
    names = [s.name for s in steps]
    assert names.index("mclip") < names.index("bank") < names.index("spotter.1") < names.index("spotter.2") \
        < names.index("finetune") < names.index("refiner") < names.index("eval.synth-heldout")
    by = {s.name: s for s in steps}
    work = tmp_path / "w"
    assert f"bank={work / 'bank'}" in by["spotter.1"].argv
    phases = sorted(int(n.split(".")[1]) for n in names if n.startswith("spotter."))
    assert phases == list(range(1, len(phases) + 1)) and len(phases) >= 2
    for k in phases[1:]:
        assert f"init_bundle={work / f'spotter-{k - 1}' / 'bundle'}" in by[f"spotter.{k}"].argv
    assert f"init_bundle={work / f'spotter-{phases[-1]}' / 'bundle'}" in by["finetune"].argv
    ft = sorted(n for n in names if n.startswith("finetune"))  # finetune, then finetune.2 … when phased
    last_ft = work / ("finetune" if len(ft) == 1 else f"finetune-{len(ft)}") / "bundle"
    assert f"init_bundle={last_ft}" in by["refiner"].argv
    ev = by["eval.iiit5k-dev"].argv
    assert ev[ev.index("--bundle") + 1] == str(work / "refiner" / "bundle")
    assert ev[ev.index("--convention") + 1] == "en-benchmark"
    # the fine-tuning mixes the real source with the synthetic words, once
    srcs = [a for a in by["finetune"].argv if a.startswith("data.sources=")]
    assert len(srcs) == 1 and "iiit5k" in srcs[0] and "words6" in srcs[0]
    # the Refiner trains on the mix the last fine-tuning phase trained on (the command line's last
    # data.sources= wins), or on synthetic words only with refiner_data=synth
    last_srcs = [a for a in by[ft[-1]].argv if a.startswith("data.sources=")][-1:]
    for data, want in ((None, last_srcs), ("finetune", last_srcs), ("synth", None)):
        r = _shipped("6lang", tmp_path)
        if data is not None:
            r["refiner_data"] = data
        by = {s.name: s for s in plan(r, real_root_exists=lambda p: True)}
        got = [a for a in by["refiner"].argv if a.startswith("data.sources=")]
        if want is None:
            assert len(got) == 1 and "iiit5k" not in got[0] and "words6" in got[0]
        else:
            assert len(got) == 1 and "iiit5k" in got[0]
            assert yaml.safe_load(got[0].split("=", 1)[1]) == yaml.safe_load(want[0].split("=", 1)[1])


def test_absent_real_data_skips_finetune_and_the_refiner_follows_the_last_spotter(tmp_path):
    steps = plan(_shipped("6lang", tmp_path), real_root_exists=lambda p: False)
    by = {s.name: s for s in steps}
    assert by["finetune"].skip_reason and "not found" in by["finetune"].skip_reason
    assert by["eval.iiit5k-dev"].skip_reason
    last = max(int(n.split(".")[1]) for n in by if n.startswith("spotter."))
    assert f"init_bundle={tmp_path / 'w' / f'spotter-{last}' / 'bundle'}" in by["refiner"].argv
    assert "iiit5k" not in " ".join(by["refiner"].argv)


def test_1lang_any_language_trains_a_spotter_on_its_own_bank(tmp_path):
    steps = plan(_shipped("1lang", tmp_path, "langs=hi"), real_root_exists=lambda p: True)
    by = {s.name: s for s in steps}
    assert by["bank"].argv[by["bank"].argv.index("--langs") + 1] == "hi"
    assert "mclip" not in by  # reuses the 6-language mCLIP
    assert "no real data" in by["finetune"].skip_reason and "the model reads hi" in by["eval.iiit5k-dev"].skip_reason
    assert f"init_bundle={tmp_path / 'w' / 'spotter-1' / 'bundle'}" in by["refiner"].argv
    ev = by["eval.synth-heldout-spotter"].argv
    assert ev[ev.index("--bundle") + 1] == str(tmp_path / "w" / "spotter-1" / "bundle")


def test_finetune_is_skipped_for_languages_without_real_data(tmp_path):
    steps = plan(_shipped("6lang", tmp_path, "langs=hi,bn"), real_root_exists=lambda p: True)
    by = {s.name: s for s in steps}
    assert "no real data" in by["finetune"].skip_reason
    ev = by["eval.spotter-1"].argv  # an eval of an earlier phase's bundle
    assert ev[ev.index("--bundle") + 1] == str(tmp_path / "w" / "spotter-1" / "bundle")


def test_run_skips_done_steps_and_dry_run_runs_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)      # the data folders are relative paths
    steps = plan(_shipped("3lang", tmp_path), real_root_exists=lambda p: True)
    first = steps[0]
    first.done.parent.mkdir(parents=True)
    first.done.write_text("{}")
    assert run(steps, dry_run=True) == 0
    out = capsys.readouterr().out
    assert f"{first.name}: done" in out
    assert "mstr train spotter" in out
    assert not (tmp_path / "w" / "spotter-1").exists()


def test_failing_step_stops_the_recipe_with_its_exit_code(tmp_path, capsys):
    from mstr.recipe import Step

    bad = Step("bank", ["bank", "info", str(tmp_path / "missing")], tmp_path / "never")
    after = Step("later", ["--help"], tmp_path / "never2")
    assert run([bad, after]) == 2
    captured = capsys.readouterr()
    assert "step bank failed" in captured.err and "later" not in captured.out


def test_bad_recipe_is_a_clear_error(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text(yaml.safe_dump({"name": "x", "langs": "en", "work": "w", "data": {}, "eval": []}))
    with pytest.raises(UserError, match="spotter"):
        load_recipe(p)
    p.write_text(yaml.safe_dump({"name": "x", "langs": "en", "work": "w", "spotter": [[]], "eval": [],
                                 "data": {"words": {"kind": "pictures", "out": "d"}}}))
    with pytest.raises(UserError, match="kind"):
        load_recipe(p)


def _finish(steps) -> None:
    """Pretend every step ran with its current command (outputs in order, commands recorded); the
    caller chdirs into a temporary folder first (data outputs are relative paths)."""
    import json
    import os
    import time

    t0 = time.time() - 1000
    for k, s in enumerate(steps):
        if s.skip_reason:
            continue
        s.done.parent.mkdir(parents=True, exist_ok=True)
        s.done.write_text("{}")
        s.stamp.write_text(json.dumps({"step": s.name, "command": s.shell()}))
        os.utime(s.done, (t0 + k, t0 + k))


def test_a_recipe_edit_makes_the_steps_after_it_out_of_date(tmp_path, monkeypatch):
    from mstr.recipe import out_of_date

    monkeypatch.chdir(tmp_path)      # the recipe's data folders are relative: keep them in tmp_path

    steps = plan(_shipped("6lang", tmp_path), real_root_exists=lambda p: True)
    _finish(steps)
    assert out_of_date(steps) == {}
    edited = plan(_shipped("6lang", tmp_path, "spotter=[[optim.max_steps=3000], [optim.max_steps=7]]"),
                  real_root_exists=lambda p: True)
    stale = out_of_date(edited)
    assert "command changed" in stale["spotter.2"]
    # everything downstream of the second phase, and nothing upstream or beside it
    assert {"finetune", "refiner", "eval.synth-heldout", "eval.iiit5k-dev"} <= set(stale)
    assert not {"spotter.1", "mclip", "bank", "eval.mclip", "eval.spotter-1", "data.words"} & set(stale)
    last_ft = max((s.name for s in edited if s.name.startswith("finetune")), key=len)
    assert f"{last_ft} makes again" in stale["refiner"]


def test_a_newer_input_makes_a_finished_step_out_of_date(tmp_path, monkeypatch):
    import os
    import time

    from mstr.recipe import out_of_date

    monkeypatch.chdir(tmp_path)

    steps = plan(_shipped("3lang", tmp_path), real_root_exists=lambda p: True)
    _finish(steps)
    by = {s.name: s for s in steps}
    now = time.time()
    os.utime(by["spotter.1"].done, (now, now))    # phase 1 retrained by hand after the later steps
    stale = out_of_date(steps)
    after = "spotter.2" if "spotter.2" in by else "refiner"
    assert "newer" in stale[after]
    assert "spotter.1" not in stale and "bank" not in stale


def test_run_refuses_out_of_date_steps_and_force_moves_the_old_output_aside(tmp_path, capsys):
    import json

    from mstr.recipe import Step

    a = Step("a", ["--version"], tmp_path / "a" / "done.json")
    b = Step("b", ["--version", str(tmp_path / "a")], tmp_path / "b" / "done.json")
    for s in (a, b):
        s.done.parent.mkdir(parents=True)
        s.done.write_text("{}")
        s.stamp.write_text(json.dumps({"command": s.shell()}))
    a.stamp.write_text(json.dumps({"command": "mstr something else"}))   # a's recipe line was edited
    assert run([a, b]) == 2
    captured = capsys.readouterr()
    assert "--force a --force b" in captured.err and "OUT OF DATE" in captured.out
    assert "not run" not in captured.out and (tmp_path / "a" / "done.json").exists()
    assert run([a, b], force=("a",)) == 2            # b still reads a's output, remade
    assert run([a, b], force=("nope",)) == 2
    assert "no such step" in capsys.readouterr().err
    assert run([a, b], force=("a", "b")) == 0
    assert (tmp_path / "a.old" / "done.json").exists() and (tmp_path / "b.old" / "done.json").exists()


def test_finetune_phases_chain_and_the_refiner_follows_the_last(tmp_path):
    r = _shipped("6lang", tmp_path)
    r["finetune"]["overrides"] = [["optim.max_steps=600"], ["optim.max_steps=900", "optim.lr=0.0002"]]
    work = tmp_path / "w"
    by = {s.name: s for s in plan(r, real_root_exists=lambda p: True)}
    assert "optim.max_steps=600" in by["finetune"].argv and "optim.max_steps=900" not in by["finetune"].argv
    assert f"init_bundle={work / 'finetune' / 'bundle'}" in by["finetune.2"].argv
    assert f"out={work / 'finetune-2'}" in by["finetune.2"].argv and "optim.lr=0.0002" in by["finetune.2"].argv
    assert f"init_bundle={work / 'finetune-2' / 'bundle'}" in by["refiner"].argv
    # a phase with its own mix: the Refiner (refiner_data: finetune) trains on the last phase's
    mix = "data.sources=[{name: iiit5k, manifest: m.jsonl, root: real, weight: 0.1}, {name: more, root: w, weight: 0.9}]"
    r["refiner_data"] = "finetune"
    r["finetune"]["overrides"][1].append(mix)
    by = {s.name: s for s in plan(r, real_root_exists=lambda p: True)}
    ref = [a for a in by["refiner"].argv if a.startswith("data.sources=")]
    assert len(ref) == 1 and "name: more" in ref[0] and "weight: 0.9" in ref[0] and "iiit5k" in ref[0]
    r["finetune"]["overrides"][1][-1] = "data.sources={name: not-a-list}"
    with pytest.raises(UserError, match="must be a list"):
        plan(r, real_root_exists=lambda p: True)
    r["finetune"]["overrides"][1][-1] = mix
    by = {s.name: s for s in plan(r, real_root_exists=lambda p: False)}   # no real data: neither phase runs
    assert by["finetune"].skip_reason and by["finetune.2"].skip_reason
    last = max(int(n.split(".")[1]) for n in by if n.startswith("spotter."))
    assert f"init_bundle={work / f'spotter-{last}' / 'bundle'}" in by["refiner"].argv
    assert "iiit5k" not in " ".join(by["refiner"].argv)  # nor the real data the phase would have mixed in
