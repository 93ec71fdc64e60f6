"""The mCLIP export folder (mstr.mclip_export): what is written, what loads (exports written before
the format existed included) and the refusals, each naming the file."""
from __future__ import annotations

import json

import pytest
import torch

from mstr.errors import UserError
from mstr.mclip_export import load_mclip, read_mclip_config, save_mclip
from mstr.models.mclip import MClip, MClipConfig
from mstr.prompts import prompt_tokenizer


@pytest.fixture(scope="module")
def model():
    tok = prompt_tokenizer(["en"])
    torch.manual_seed(0)
    return MClip(MClipConfig(dim=16, widths=(8, 8, 16, 16), blocks=(1, 1, 1), text_width=16, text_layers=1,
                             text_heads=2, vocab=tok.vocab, prompt_len=tok.max_len)).eval()


def _same_weights(a: MClip, b: MClip) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k].float(), sb[k].float()) for k in sa)


def test_save_writes_a_format_and_loads_back(model, tmp_path):
    save_mclip(model, tmp_path / "m", ["en"], {"steps": 7})
    meta = json.loads((tmp_path / "m" / "mclip.json").read_text())
    assert (meta["format"], meta["format_version"], meta["langs"], meta["steps"]) == ("mstr-mclip", 1, ["en"], 7)
    loaded, meta2 = load_mclip(tmp_path / "m")
    assert meta2 == meta and not loaded.training and _same_weights(model, loaded)


def test_an_export_written_before_the_format_still_loads(model, tmp_path):
    save_mclip(model, tmp_path / "old", ["en"])
    meta = json.loads((tmp_path / "old" / "mclip.json").read_text())
    legacy = {k: v for k, v in meta.items() if k not in ("format", "format_version")}
    assert legacy["kind"] == "mclip"
    (tmp_path / "old" / "mclip.json").write_text(json.dumps(legacy))
    loaded, meta2 = load_mclip(tmp_path / "old")
    assert meta2 == legacy and _same_weights(model, loaded)


def test_refusals_name_the_file(model, tmp_path):
    with pytest.raises(UserError, match="has no mclip.json: give the --out folder of 'mstr train mclip'"):
        read_mclip_config(tmp_path)
    folder = tmp_path / "m"
    save_mclip(model, folder, ["en"])
    path = folder / "mclip.json"
    for text, message in [("{not json", "is not valid JSON"),
                          (json.dumps({"format": "mstr-bundle", "format_version": 1}), "not an mstr-mclip v1"),
                          (json.dumps({"format": "mstr-mclip", "format_version": 9}), "not an mstr-mclip v1"),
                          (json.dumps({"kind": "spotter"}), "not an mstr-mclip v1")]:
        path.write_text(text)
        with pytest.raises(UserError, match=message) as exc:
            load_mclip(folder)
        assert str(path) in str(exc.value)
