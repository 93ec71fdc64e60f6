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
    assert f"init_bundle={work / 'spotter-1' / 'bundle'}" in by["spotter.2"].argv
    assert f"init_bundle={work / 'spotter-2' / 'bundle'}" in by["finetune"].argv
    assert f"init_bundle={work / 'finetune' / 'bundle'}" in by["refiner"].argv
    ev = by["eval.iiit5k-dev"].argv
    assert ev[ev.index("--bundle") + 1] == str(work / "refiner" / "bundle")
    assert ev[ev.index("--convention") + 1] == "en-benchmark"
    # the fine-tuning mixes the real source with the synthetic words, once
    srcs = [a for a in by["finetune"].argv if a.startswith("data.sources=")]
    assert len(srcs) == 1 and "iiit5k" in srcs[0] and "words6" in srcs[0]
    # the shipped 6lang Refiner saw synthetic words only; by default a Refiner trains on the same mix
    assert "iiit5k" not in " ".join(by["refiner"].argv)
    steps = plan(_shipped("6lang", tmp_path, "refiner_data=finetune"), real_root_exists=lambda p: True)
    by = {s.name: s for s in steps}
    assert [a for a in by["refiner"].argv if a.startswith("data.sources=")] == srcs


def test_absent_real_data_skips_finetune_and_the_refiner_follows_the_last_spotter(tmp_path):
    steps = plan(_shipped("6lang", tmp_path), real_root_exists=lambda p: False)
    by = {s.name: s for s in steps}
    assert by["finetune"].skip_reason and "not found" in by["finetune"].skip_reason
    assert by["eval.iiit5k-dev"].skip_reason
    assert f"init_bundle={tmp_path / 'w' / 'spotter-2' / 'bundle'}" in by["refiner"].argv
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


def test_run_skips_done_steps_and_dry_run_runs_nothing(tmp_path, capsys):
    steps = plan(_shipped("3lang", tmp_path), real_root_exists=lambda p: True)
    first = steps[0]
    first.done.parent.mkdir(parents=True, exist_ok=True)
    if not first.done.exists():
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
