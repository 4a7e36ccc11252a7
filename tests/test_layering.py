"""The package's floors are its folders: core under every floor, then data → models → methods →
training → pages → playbook → chapters, and the command line above them.

Mechanism modules (what a method *is*) import only torch, transformers and each other, so a
reader who opens ``tap/methods/lora.py`` finds LoRA and nothing else; the run harness
(``chapters.harness``) is for the chapters; nothing below the chapters imports them. Each rule
names the offending line."""

import ast
import re
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tap"
MECHANISMS = {
    "models.encoder",
    "models.cnn",
    "models.pooled",
    "models.vector_classifier",
    "methods.submodules",
    "methods.freezing",
    "methods.parameter_counts",
    "methods.probing",
    "methods.adapters",
    "methods.lora",
}  # methods.lora_io speaks PEFT's format: it may import peft
MECHANISM_LIBRARIES = {"torch", "transformers", "safetensors"}

# The floors, in the order the data flows, each a package of tap (the command line and what it
# prints sit above the chapters, as modules of tap itself): a module uses only its own floor and
# the floors before it, the package under every floor, and the mechanism modules, which depend on
# nothing else in tap. README.md's table of the layout is checked against this list.
UNDER_EVERY_FLOOR = "core"
FLOORS = {
    "data": "data",
    "models": "models",
    "methods": "methods",
    "training": "training",
    "pages": "pages",
    "playbook": "playbook",
    "chapters": "chapters",
    "above the chapters": ("__main__", "plan", "throughput"),
}
ABOVE_THE_CHAPTERS = ("__main__", "plan")  # the command line, and the plan it prints from the chapters' sizes


def modules() -> dict[str, Path]:
    """``{"methods.lora": path, "chapters.ch05_lora": path, "methods.__init__": path, ...}`` for
    every module of the package."""
    return {".".join(p.relative_to(PACKAGE).with_suffix("").parts): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(name: str, path: Path) -> list[tuple[int, str, str]]:
    """``(line, imported module, source line)`` for every import in the file, function-local ones
    included; tap's own modules as dotted names inside the package (``"chapters.ch01_transfer"``,
    a package as its name: ``"methods"``), others as ``"!<top-level package>"``."""
    package = name.split(".")[:-1]  # "methods.lora" and "methods.__init__" both sit in tap.methods
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
            else:
                base_parts = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                target = ".".join([*base_parts, *(node.module.split(".") if node.module else [])])
            if target.startswith("!"):
                found.append((node.lineno, target, lines[node.lineno - 1].strip()))
                continue
            known = modules()
            for alias in node.names:  # `from . import lora` imports a module; `from .lora import X` a name
                sub = ".".join(p for p in (target, alias.name) if p)
                is_module = sub in known or f"{sub}.__init__" in known
                found.append((node.lineno, sub if is_module else target, lines[node.lineno - 1].strip()))
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
        return target == "chapters.harness" and not name.startswith("chapters.") and name != "__main__"

    assert not (found := violations(breaks)), f"the run harness imported below the chapters:\n{found}"


def test_nothing_below_the_chapters_imports_them():
    def breaks(name: str, target: str) -> bool:
        return (
            target.split(".")[0] == "chapters" and not name.startswith("chapters.") and name not in ABOVE_THE_CHAPTERS
        )

    assert not (found := violations(breaks)), f"chapters imported below the chapters:\n{found}"


def _floor(name: str) -> int | None:
    """The floor of a module or package, counted up from the data (``-1``: the package under every
    floor), or None for the mechanisms, which any module may use."""
    if name in MECHANISMS:
        return None
    top = name.split(".")[0]
    if top == UNDER_EVERY_FLOOR:
        return -1
    for i, place in enumerate(FLOORS.values()):
        if top == place or (isinstance(place, tuple) and name in place):
            return i
    raise AssertionError(f"{name} is on no floor")


def test_every_module_is_on_one_floor():
    packages = {UNDER_EVERY_FLOOR, *(p for p in FLOORS.values() if isinstance(p, str))}
    top_level = {m for p in FLOORS.values() if isinstance(p, tuple) for m in p} | {"__init__"}
    found = modules()
    assert {n.split(".")[0] for n in found if "." in n} == packages, "a package is not a floor, or a floor is gone"
    assert {n for n in found if "." not in n} == top_level, "a module of tap itself is on no floor"
    assert all(n.count(".") == 1 for n in found if "." in n), "a floor's package holds a package"
    assert not [n for n in found if n.split(".")[-1] == n.split(".")[0] and "." in n], "a module named as its package"


def test_each_floor_uses_only_the_floors_before_it():
    def breaks(name: str, target: str) -> bool:
        if name == "__init__" or target.startswith("!") or target in ("", "__init__"):
            return False  # tap's own __init__ re-exports the public API from every floor
        mine, theirs = _floor(name), _floor(target)
        if name.split(".")[0] == UNDER_EVERY_FLOOR:  # it uses itself and the mechanisms only
            return theirs not in (-1, None)
        return mine is not None and theirs is not None and theirs > mine

    assert not (found := violations(breaks)), f"a floor reaches above itself:\n{found}"


def test_the_readme_table_is_this_layout():
    readme = (PACKAGE.parent / "README.md").read_text()
    rows = {}
    for line in readme.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] in {*FLOORS, "under every floor"}:
            rows[cells[0]] = (cells[1].strip("`"), set(re.findall(r"`([a-z_0-9]+)`", cells[2])))
    found = modules()

    def row(place: str | tuple[str, ...]) -> tuple[str, set[str]]:
        if isinstance(place, tuple):
            return "tap/", set(place)
        return f"tap/{place}/", {n.split(".")[1] for n in found if n.startswith(place + ".")} - {"__init__"}

    expected = {**{k: row(v) for k, v in FLOORS.items()}, "under every floor": row(UNDER_EVERY_FLOOR)}
    assert rows == expected


def test_the_contributing_tree_is_this_tree():
    """CONTRIBUTING.md's "Where code goes" lists every package's modules as ``ls`` would."""
    text = (PACKAGE.parent / "CONTRIBUTING.md").read_text()
    block = text.split("## Where code goes", 1)[1].split("```text", 1)[1].split("```", 1)[0]
    listed: dict[str, set[str]] = {}
    for chunk in block.strip().split("\n\n"):
        heading, *rows = chunk.strip().splitlines()
        listed[heading.rstrip(":")] = {word.removesuffix(".py") for row in rows for word in row.split()}
    folders = sorted({path.parent for path in PACKAGE.rglob("*.py") if "__pycache__" not in path.parts})
    actual = {
        str(folder.relative_to(PACKAGE.parent)): {p.stem for p in folder.glob("*.py")}
        | {d.name for d in folder.iterdir() if (d / "__init__.py").exists()}
        for folder in folders
    }
    for folder in actual:
        if folder != "tap":
            actual[folder] -= {"__init__"}
    assert listed == actual


def test_the_rules_see_relative_function_local_and_package_imports(tmp_path):
    source = (
        "def f():\n    from ..core.cache import cached_run\n    from ..pages import plots\n"
        "    from .harness import Outcome\n    from .. import methods\n    import numpy\n"
    )
    path = PACKAGE / "chapters" / "example.py"
    found = {t for _, t, _ in imports("chapters.example", _write(tmp_path, source, path))}
    assert found == {"core.cache", "pages.plots", "chapters.harness", "methods", "!numpy"}


def _write(tmp_path: Path, source: str, like: Path) -> Path:
    """``source`` as a file that ``imports`` resolves as if it stood at ``like``."""
    path = tmp_path / like.name
    path.write_text(source)
    return path
