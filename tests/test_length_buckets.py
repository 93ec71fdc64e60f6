"""tools/length_buckets.py: WRR by label length per language from `mstr eval` predictions."""
import json

from conftest import tool_module


def _row(lang, n, ok):
    return {"lang": lang, "len_gt": n, "correct": ok, "error": None}


def test_buckets_count_right_and_total_per_length_and_cap_the_last():
    with tool_module("length_buckets") as lb:
        rows = [_row("ml", 2, True), _row("ml", 4, True), _row("ml", 5, False), _row("ml", 30, False),
                _row("ml", 19, True), _row("te", 4, False)]
        got = lb.buckets(rows, width=3, last=18)
    assert {k: list(v) for k, v in got["ml"].items()} == {0: [1, 1], 3: [1, 2], 18: [1, 2]}
    assert got["te"][3] == [0, 1]


def test_cli_prints_a_table_and_rejects_a_bad_file(tmp_path, capsys):
    preds = tmp_path / "predictions.jsonl"
    preds.write_text("\n".join(json.dumps(r) for r in [_row("kn", 3, True), _row("kn", 4, False),
                                                          {**_row("kn", 9, True), "error": "unreadable"}]))
    with tool_module("length_buckets") as lb:
        assert lb.main([str(preds)]) == 0
        out = capsys.readouterr().out
        assert "| kn | 50 % (2) |" in out and "3+" in out  # the errored sample is not scored
        (tmp_path / "bad.jsonl").write_text('{"lang": "kn"}\n')
        assert lb.main([str(tmp_path / "bad.jsonl")]) == 2
    assert "bad.jsonl" in capsys.readouterr().err
