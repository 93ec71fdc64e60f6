"""bfloat16 by default where the CPU has it (mstr.precision): flag detection, the auto rule, the
MSTR_PRECISION opt-out and --precision on the reading commands."""
from __future__ import annotations

import pytest
from conftest import png, tiny_bundle

import mstr
from mstr import precision
from mstr.cli import main as cli_main
from mstr.errors import UserError


@pytest.fixture
def cpu(monkeypatch):
    """Pretend this CPU does (``cpu(True)``) or does not (``cpu(False)``) compute bfloat16 natively,
    with MSTR_PRECISION unset (auto)."""
    monkeypatch.delenv(precision.ENV_VAR, raising=False)

    def set_cpu(has: bool) -> None:
        monkeypatch.setattr(precision, "cpu_has_bf16", lambda: has)
    return set_cpu


def test_cpu_flags_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu sse avx2 avx512f amx_bf16 "
                    "avx512_bf16\n\nprocessor\t: 1\nflags\t\t: fpu\n")
    assert precision.cpu_flags(precision.BF16_CPU_FLAGS, path=str(info)) == ["avx512_bf16", "amx_bf16"]
    assert "avx2" in precision.cpu_flags(path=str(info))
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f\n")
    assert precision.cpu_flags(precision.BF16_CPU_FLAGS, path=str(info)) == []
    assert precision.cpu_flags(precision.BF16_CPU_FLAGS, path=str(tmp_path / "missing")) == []


def test_auto_is_bf16_on_a_bf16_cpu_only(cpu):
    cpu(True)
    assert precision.resolve_bf16(None) is True
    assert precision.resolve_bf16(None, device="cuda:0") is False   # autocast on GPUs is the user's choice
    assert precision.resolve_bf16(None, backend="onnx") is False    # float32 graphs
    cpu(False)
    assert precision.resolve_bf16(None) is False
    # an explicit choice wins over the CPU
    assert precision.resolve_bf16(True) is True
    cpu(True)
    assert precision.resolve_bf16(False) is False
    with pytest.raises(UserError, match="True, False or None"):
        precision.resolve_bf16("yes")


def test_environment_opt_out(cpu, monkeypatch):
    cpu(True)
    monkeypatch.setenv(precision.ENV_VAR, "fp32")
    assert precision.resolve_bf16(None) is False
    monkeypatch.setenv(precision.ENV_VAR, "BF16")
    cpu(False)
    assert precision.resolve_bf16(None) is True
    assert precision.resolve_bf16(None, backend="onnx-int8") is False
    assert precision.resolve_bf16(False) is False  # the argument wins over the environment
    monkeypatch.setenv(precision.ENV_VAR, "half")
    with pytest.raises(UserError, match="MSTR_PRECISION='half'.*auto, bf16, fp32"):
        precision.resolve_bf16(None)


def test_load_follows_the_cpu(cpu, tmp_path):
    bundle = tiny_bundle(tmp_path / "b")
    cpu(True)
    assert mstr.load(bundle).bf16 is True
    assert mstr.load(bundle, bf16=False).bf16 is False
    cpu(False)
    assert mstr.load(bundle).bf16 is False


def test_precision_option_of_mstr_read(cpu, tmp_path, capsys, monkeypatch):
    bundle = tiny_bundle(tmp_path / "b")
    image = tmp_path / "w.png"
    image.write_bytes(png(size=(64, 20)))
    seen = []
    real_load = mstr.api.load

    def spy(*args, **kwargs):
        reader = real_load(*args, **kwargs)
        seen.append(reader.bf16)
        return reader
    monkeypatch.setattr(mstr.api, "load", spy)
    cpu(True)
    for option, expected in ((["--precision", "fp32"], False), ([], True), (["--precision", "bf16"], True)):
        assert cli_main.main(["read", "--bundle", str(bundle), *option, str(image)]) == 0
        assert seen[-1] is expected, option
    capsys.readouterr()
    with pytest.raises(SystemExit):
        cli_main.main(["read", "--bundle", str(bundle), "--precision", "half", str(image)])
    assert "invalid choice: 'half'" in capsys.readouterr().err
