"""The layer map of docs/architecture.md, checked: every module of src/mstr sits in a layer and imports
only from its own or lower layers (closed packages, outside packages and the listed exceptions as the
map says); reading a crop with the default bundle loads no training, synth, font or web code."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
MAP = ROOT / "docs" / "architecture.md"


# -- the map --------------------------------------------------------------------------------------

def _section_table(text: str, heading: str) -> list[list[str]]:
    """The rows (cells stripped) of the first Markdown table under ``## heading``, header row left out."""
    match = re.search(rf"^## {re.escape(heading)}\s*$", text, re.M)
    assert match, f"{MAP.name}: no '## {heading}' section"
    rows = []
    for line in text[match.end():].splitlines():
        if line.startswith("## "):
            break
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if all(set(c) <= set("-: ") for c in cells):
            continue  # the separator line
        rows.append(cells)
    assert rows, f"{MAP.name}: the '## {heading}' section has no table"
    return rows[1:]


def _patterns(cell: str) -> list[str]:
    found = re.findall(r"`([^`]+)`", cell)
    assert found, f"{MAP.name}: no `module` pattern in table cell {cell!r}"
    return found


def _matches(name: str, pattern: str) -> bool:
    """``fnmatch`` over dotted names; ``pkg.*`` also covers ``pkg`` itself."""
    return fnmatchcase(name, pattern) or (pattern.endswith(".*") and name == pattern[:-2])


def _specificity(pattern: str) -> tuple[int, int]:
    return (not any(c in pattern for c in "*?["), len(pattern))


@dataclass(frozen=True)
class LayerMap:
    layers: list[tuple[str, int, str]]          # (pattern, layer number, layer name)
    closed: list[tuple[str, list[str]]]         # (package pattern, importers allowed from outside)
    outside: list[tuple[str, list[str]]]        # (third-party pattern, importers allowed)
    exceptions: list[tuple[list[str], list[str], str]]  # (importers, imported, why)

    def layer_of(self, module: str) -> tuple[int, str] | None:
        hits = [(p, n, name) for p, n, name in self.layers if _matches(module, p)]
        if not hits:
            return None
        best = max(_specificity(p) for p, _, _ in hits)
        top = {(n, name) for p, n, name in hits if _specificity(p) == best}
        assert len(top) == 1, f"{MAP.name}: {module} is in layers {sorted(top)} by equally specific patterns"
        return top.pop()


def read_map(text: str) -> LayerMap:
    layers = []
    for layer, modules, *_ in _section_table(text, "Layers"):
        number, _, name = layer.partition(" ")
        assert number.isdigit(), f"{MAP.name}: layer cell {layer!r} does not start with its number"
        layers += [(p, int(number), name) for p in _patterns(modules)]

    def pairs(heading):
        return [(_patterns(a), _patterns(b), rest[0] if rest else "")
                for a, b, *rest in _section_table(text, heading)]

    closed = [(p, by) for ps, by, _ in pairs("Closed packages") for p in ps]
    outside = [(p, by) for ps, by, _ in pairs("Outside packages") for p in ps]
    exceptions = pairs("Allowed exceptions")
    for _, _, why in exceptions:
        assert why, f"{MAP.name}: every allowed exception needs its reason"
    return LayerMap(layers, closed, outside, exceptions)


# -- the code -------------------------------------------------------------------------------------

def source_modules() -> dict[str, Path]:
    modules = {}
    for path in sorted((SRC / "mstr").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


@dataclass(frozen=True)
class Import:
    path: Path
    line: int
    target: str   # the module imported (an mstr module, or a third-party dotted name)
    text: str     # the statement as written


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> list[Import]:
    """Every import statement of ``path`` (any nesting level), each name resolved to the module it loads."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    lines = path.read_text(encoding="utf-8").splitlines()
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module
            # `from pkg import sub` loads the module pkg.sub; `from pkg import name` loads pkg
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        for target in dict.fromkeys(targets):
            if target not in modules and (target == "mstr" or target.startswith("mstr.")):
                parent = target  # `import mstr.a.b` where b is a name: the longest module prefix
                while parent not in modules and "." in parent:
                    parent = parent.rsplit(".", 1)[0]
                target = parent
            found.append(Import(path, node.lineno, target, lines[node.lineno - 1].strip()))
    return found


def _is_mstr(name: str) -> bool:
    return name == "mstr" or name.startswith("mstr.")


def check(layer_map: LayerMap, modules: dict[str, Path], root: Path = ROOT) -> tuple[list[str], set[int]]:
    """(problems, indices of the exceptions used): a problem names the file (relative to ``root``), the
    line and the import."""
    problems, used = [], set()
    for module, path in modules.items():
        where = path.relative_to(root)
        mine = layer_map.layer_of(module)
        if mine is None:
            problems.append(f"{where}: module {module} is in no layer of {MAP.relative_to(ROOT)}")
            continue
        for imp in imports_of(module, path, modules):
            why = None
            if _is_mstr(imp.target):
                theirs = layer_map.layer_of(imp.target)
                if theirs is not None and theirs[0] > mine[0]:
                    why = (f"{module} (layer {mine[0]} {mine[1]}) imports {imp.target} "
                           f"(layer {theirs[0]} {theirs[1]}), a higher layer")
                for package, allowed in layer_map.closed:
                    if (_matches(imp.target, package) and not _matches(module, package)
                            and not any(_matches(module, a) for a in allowed)):
                        why = f"{module} imports {imp.target} of the closed package {package} " \
                              f"(only {', '.join(allowed)} may)"
            else:
                for package, allowed in layer_map.outside:
                    if _matches(imp.target, package) and not any(_matches(module, a) for a in allowed):
                        why = f"{module} imports {imp.target} (only {', '.join(allowed)} may)"
            if why is None:
                continue
            excused = [i for i, (importers, imported, _) in enumerate(layer_map.exceptions)
                       if any(_matches(module, a) for a in importers) and any(_matches(imp.target, b) for b in imported)]
            if excused:
                used.update(excused)
            else:
                problems.append(f"{where}:{imp.line}: `{imp.text}`: {why}")
    return problems, used


@pytest.fixture(scope="module")
def layer_map():
    return read_map(MAP.read_text(encoding="utf-8"))


def test_every_module_imports_only_its_own_or_lower_layers(layer_map):
    problems, _ = check(layer_map, source_modules())
    assert not problems, (f"{len(problems)} import(s) against the layer map in {MAP.relative_to(ROOT)} "
                          "(move the code, or list the import under 'Allowed exceptions' with its reason):\n"
                          + "\n".join(problems))


def test_every_allowed_exception_is_still_needed(layer_map):
    _, used = check(layer_map, source_modules())
    stale = [f"{', '.join(a)} → {', '.join(b)}" for i, (a, b, _) in enumerate(layer_map.exceptions) if i not in used]
    assert not stale, f"{MAP.relative_to(ROOT)}: no import needs these allowed exceptions any more; remove them:\n" \
                      + "\n".join(stale)


def test_the_checker_catches_a_higher_import_a_closed_package_and_an_unmapped_module(tmp_path):
    """The checker itself, on a made-up package: each kind of problem is named with file and line."""
    text = """## Layers
| Layer | Modules | What |
|---|---|---|
| 0 low | `mstr.low` | low |
| 1 high | `mstr.high`, `mstr.train.*` | high |
## Closed packages
| Package | Only imported by | Why |
|---|---|---|
| `mstr.train.*` | `mstr.high` | x |
## Outside packages
| Package | Only imported by | Why |
|---|---|---|
| `fastapi.*` | `mstr.high` | x |
## Allowed exceptions
| Importer | Imports | Why |
|---|---|---|
| `mstr.nobody` | `mstr.high` | x |
"""
    lm = read_map(text)
    (tmp_path / "mstr" / "train").mkdir(parents=True)
    files = {"mstr.low": "def f():\n    from mstr.high import g\n    import fastapi.responses\n",
             "mstr.high": "from mstr import train\nfrom .low import f\n",
             "mstr.train": "", "mstr.extra": "from mstr.train import x\n"}
    modules = {}
    for name, body in files.items():
        path = tmp_path / Path(*name.split(".")) / "__init__.py" if name == "mstr.train" \
            else tmp_path / (name.replace(".", "/") + ".py")
        path.write_text(body)
        modules[name] = path
    problems, used = check(lm, modules, root=tmp_path)
    text = "\n".join(problems)
    assert "mstr/low.py:2: `from mstr.high import g`" in text and "a higher layer" in text
    assert "mstr/low.py:3: `import fastapi.responses`" in text
    assert "mstr.extra is in no layer" in text
    assert len(problems) == 3 and not used  # mstr.high's imports are fine


NOT_READING = ("mstr.train", "mstr.synth", "mstr.fonts", "mstr.serve", "mstr.cli", "mstr.viz", "lightning",
               "pytorch_lightning", "lightning_fabric", "fastapi", "starlette", "uvicorn", "fontTools", "uharfbuzz")


def test_reading_with_torch_loads_no_training_synth_font_or_web_code():
    """The torch reading path in a fresh interpreter: load the default bundle, read a demo crop."""
    code = ("import sys, mstr; p = mstr.load().read([sys.argv[1]])[0]; assert p.error is None, p.error; "
            f"print(sorted(m for m in sys.modules if any(m == b or m.startswith(b + '.') for b in {NOT_READING!r}))); "
            "print(repr(p.text))")
    crop = ROOT / "samples" / "demo" / "real" / "1017_2.png"
    done = subprocess.run([sys.executable, "-c", code, str(crop)], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    loaded, text = done.stdout.splitlines()[-2:]
    assert loaded == "[]", f"reading a crop loaded: {loaded}"
    assert text != "''"
