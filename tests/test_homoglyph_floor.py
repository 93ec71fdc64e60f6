"""tools/homoglyph_floor.py: twin groups, the least-leaking answer and the top-1 ceilings."""
import numpy as np
import pytest

from conftest import tool_module


@pytest.fixture(scope="module")
def tool():
    with tool_module("homoglyph_floor") as module:
        yield module


def _unit(v):
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v)


def test_twins_leak_unless_a_common_twin_answers_and_cap_top1(tool, tmp_path):
    rng = np.random.default_rng(0)
    base = {name: rng.normal(size=64) for name in ("virama", "circle", "ka", "kha")}
    # two renderings (fonts) per character; a twin is drawn as its partner, with a little noise
    def renders(name, noise=0.01):
        return np.stack([_unit(base[name] + rng.normal(scale=noise, size=64)) for _ in range(2)])
    mats = {("Deva", "्"): renders("virama"), ("Beng", "্"): renders("virama"),
            ("Latn", "o"): renders("circle"), ("Zyyy", "0"): renders("circle"),
            ("Taml", "க"): renders("ka"), ("Taml", "ங"): renders("ka"),     # same script: never twins
            ("Telu", "ఖ"): renders("kha", noise=0.5)}                        # unlike anything
    own = {k: float((m @ m.T)[0, 1]) for k, m in mats.items()}
    queries = {("Deva", "्"): 30.0, ("Beng", "্"): 29.0, ("Latn", "o"): 10.0, ("Zyyy", "0"): 50.0,
               ("Taml", "க"): 40.0, ("Taml", "ங"): 40.0, ("Telu", "ఖ"): 40.0}
    rows, floor, lost = tool.analyse(sorted(mats), mats, own, queries, 0.97)
    groups = sorted(sorted(m) for _, m, _, _ in rows)
    assert groups == [[("Beng", "্"), ("Deva", "्")], [("Latn", "o"), ("Zyyy", "0")]]
    # the virama group leaks its smaller script whatever it answers; the circle answers Common: no leak
    assert floor == pytest.approx(29.0)
    answers = {tuple(sorted(m)): ans for _, m, ans, _ in rows}
    assert answers[(("Latn", "o"), ("Zyyy", "0"))] == ("Zyyy", "0")
    # top-1 ceilings: each group answers its most frequent member
    assert dict(lost) == {"Beng": pytest.approx(29.0), "Latn": pytest.approx(10.0)}
    # the groups as the twins file of `mstr eval mclip` (what --twins-out writes), read back
    from mstr.eval.mclip_eval import load_twins

    tool.write_twins(tmp_path / "twins.json", rows, 0.97, ["hi", "bn", "en"])
    assert sorted(sorted(g) for g in load_twins(tmp_path / "twins.json")) == groups
    # a stricter threshold than the twins' agreement finds none
    rows, floor, lost = tool.analyse(sorted(mats), mats, own, queries, 0.99999)
    assert rows == [] and floor == 0.0 and not lost
