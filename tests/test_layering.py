"""The package's floors: data → text → models → methods → training → runs → report → chapters.

Mechanism modules (what a method *is*) import only torch, transformers and each other, so a
reader who opens ``lora.py`` finds LoRA and nothing else; the run harness (``runs``) is for the
chapters; nothing below the chapters imports them. Each rule names the offending line."""

import ast
import re
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tap"
MECHANISMS = {
    "encoder",
    "cnn",
    "submodules",
    "freezing",
    "parameter_counts",
    "adapters",
    "lora",
    "pooled",
    "probing",
}  # lora_io speaks PEFT's format: it may import peft
MECHANISM_LIBRARIES = {"torch", "transformers", "safetensors"}


def modules() -> dict[str, Path]:
    """``{"lora": path, "chapters.ch05_lora": path, ...}`` for every module of the package."""
    return {".".join(p.relative_to(PACKAGE).with_suffix("").parts): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(name: str, path: Path) -> list[tuple[int, str, str]]:
    """``(line, imported module, source line)`` for every import in the file, function-local ones
    included; tap's own modules as dotted names inside the package (``"chapters.ch01_transfer"``),
    others as ``"!<top-level package>"``."""
    package = name.split(".")[:-1] if not path.name == "__init__.py" else name.split(".")
    lines = path.read_text().splitlines()
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
            found += [
                (node.lineno, t[4:] if t.startswith("tap.") else "!" + t.split(".")[0], lines[node.lineno - 1].strip())
                for t in targets
            ]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                mod = node.module or ""
                target = mod[4:] if mod.startswith("tap.") else ("" if mod == "tap" else "!" + mod.split(".")[0])
                base = [target] if target else []
            else:
                base_parts = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                base = [".".join([*base_parts, *(node.module.split(".") if node.module else [])])]
                target = base[0]
            if target.startswith("!"):
                found.append((node.lineno, target, lines[node.lineno - 1].strip()))
                continue
            known = modules()
            for alias in node.names:  # `from . import lora` imports a module; `from .lora import X` a name
                sub = ".".join(p for p in (target, alias.name) if p)
                found.append((node.lineno, sub if sub in known else target, lines[node.lineno - 1].strip()))
    return found


def violations(rule) -> str:
    """Every import that breaks ``rule(module, imported)``, one ``file:line: source`` per line."""
    return "\n".join(
        f"tap/{path.relative_to(PACKAGE)}:{line}: {source}"
        for name, path in modules().items()
        for line, target, source in imports(name, path)
        if rule(name, target)
    )


def test_mechanism_modules_import_only_torch_transformers_and_each_other():
    def breaks(name: str, target: str) -> bool:
        if name not in MECHANISMS:
            return False
        if target.startswith("!"):
            library = target[1:]
            return (
                library not in MECHANISM_LIBRARIES
                and library not in sys.stdlib_module_names
                and library != "__future__"
            )
        return target not in MECHANISMS

    assert not (found := violations(breaks)), (
        f"mechanism modules reach into the rest of tap or other libraries:\n{found}"
    )


def test_only_the_chapters_use_the_run_harness():
    def breaks(name: str, target: str) -> bool:
        return target == "runs" and not name.startswith("chapters") and name != "__main__"

    assert not (found := violations(breaks)), f"the run harness imported below the chapters:\n{found}"


ABOVE_THE_CHAPTERS = ("__main__", "plan")  # the command line, and the plan it prints from the chapters' sizes


def test_nothing_below_the_chapters_imports_them():
    def breaks(name: str, target: str) -> bool:
        return target.startswith("chapters") and not name.startswith("chapters") and name not in ABOVE_THE_CHAPTERS

    assert not (found := violations(breaks)), f"chapters imported below the chapters:\n{found}"


# The floors, in the order the data flows: a module uses only its own floor and the floors before
# it, the modules under every floor, and the mechanism modules, which depend on nothing else in tap.
# README.md's table of the layout is checked against this list.
UNDER_EVERY_FLOOR = ("profiles", "cache", "hub", "measure", "devices", "intervals", "report")
FLOORS = {
    "data": ("data", "task_data"),
    "text": ("text", "subwords", "hf_data"),
    "models": ("encoder", "cnn", "pooled", "vector_classifier", "models", "word_vectors", "lm_finetune"),
    "methods": ("submodules", "freezing", "parameter_counts", "probing", "adapters", "lora", "lora_io", "methods"),
    "training": (
        "training",
        "baselines",
        "inference",
        "generation",
        "multiclass",
        "instruct",
        "lm",
        "hub_models",
        "playbook",
        "budget",
        "task_playbook",
    ),
    "runs": ("runs",),
    "report": ("plots", "diagrams", "provenance", "verdict", "task_report", "exercises"),
    "chapters": ("chapters",),
    "above the chapters": ("__main__", "plan", "throughput"),
}


def _floor(name: str) -> int | None:
    """The floor of a module (every chapter module is on the chapters floor), or None for the
    modules under every floor and the mechanisms, which any module may use."""
    top = name.split(".")[0]
    if top in UNDER_EVERY_FLOOR or top in MECHANISMS:
        return None
    return next(i for i, modules_ in enumerate(FLOORS.values()) if top in modules_)


def test_every_module_is_on_one_floor():
    placed = [m for ms in FLOORS.values() for m in ms] + list(UNDER_EVERY_FLOOR)
    assert len(placed) == len(set(placed)), "a module is on two floors"
    found = {name.split(".")[0] for name in modules()} - {"__init__"}
    assert found == set(placed), f"not placed: {sorted(found - set(placed))}; gone: {sorted(set(placed) - found)}"


def test_each_floor_uses_only_the_floors_before_it():
    def breaks(name: str, target: str) -> bool:
        if name == "__init__" or target.startswith("!") or target.startswith("__init__"):
            return False
        if name.split(".")[0] in UNDER_EVERY_FLOOR:  # they use each other and the mechanisms only
            return _floor(target) is not None
        mine, theirs = _floor(name), _floor(target)
        return mine is not None and theirs is not None and theirs > mine

    assert not (found := violations(breaks)), f"a floor reaches above itself:\n{found}"


def test_the_readme_table_is_this_layout():
    readme = (PACKAGE.parent / "README.md").read_text()
    rows = {}
    for line in readme.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] in {*FLOORS, "under every floor"}:
            rows[cells[0]] = set(re.findall(r"`([a-z_]+)`", cells[1])) - {"chapters"} | (
                {"chapters"} if "chapters/" in cells[1] else set()
            )
    expected = {**{k: set(v) for k, v in FLOORS.items()}, "under every floor": set(UNDER_EVERY_FLOOR)}
    assert rows == expected


def test_the_rules_see_relative_function_local_and_package_imports(tmp_path):
    source = "def f():\n    from .cache import cached_run\n    from .. import plots\n    import numpy\n"
    path = PACKAGE / "chapters" / "example.py"
    found = {t for _, t, _ in imports("chapters.example", _write(tmp_path, source, path))}
    assert found == {"chapters.cache", "plots", "!numpy"}


def _write(tmp_path: Path, source: str, like: Path) -> Path:
    """``source`` as a file that ``imports`` resolves as if it stood at ``like``."""
    path = tmp_path / like.name
    path.write_text(source)
    return path
