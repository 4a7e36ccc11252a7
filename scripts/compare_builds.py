"""Compare every glued value of two Jupyter Book builds: did a change alter the book's numbers?

Usage::

    python scripts/compare_builds.py BUILD_A BUILD_B

Each BUILD is a build folder (``book/_build``, which holds ``jupyter_execute/``) or its
``jupyter_execute`` folder. The script prints how many glued values both builds have and
every difference, page by page. Values that measure time or memory change from run to run,
so they are listed apart as "expected to vary" and do not fail; they are recognised by their
name: one containing ``time``, ``seconds``, ``speed``, ``throughput``, ``memory`` or
``latency``, or having ``s``, ``ms`` or ``mb`` as a whole ``_``-separated word (``ch02_rate_per_s``,
``ch02_size_mb``, but not ``ch01_test_size`` or ``ch01_embedding_params``).

Exit status: 0 when every other value is equal, 1 on any other difference (a value or a page
only one build has counts), 2 when a folder holds no executed notebook.

Where the values are: ``myst_nb.glue(name, value)`` displays the value as a ``display_data``
output with metadata ``{"scrapbook": {"name": name, "mime_prefix": prefix}}`` (prefix
``application/papermill.record/`` on every MIME type of a value not shown in place). When
myst-nb renders a page it takes those outputs out of the notebook it writes to
``jupyter_execute/`` and stores them, prefixes removed, in ``<page>.glue.json`` next to it
(``myst_nb/sphinx_.py``). Both places are read, so a build by any myst-nb version compares.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import nbformat

VARYING_PARTS = (
    "time",
    "seconds",
    "speed",
    "throughput",
    "memory",
    "latency",
    # chapters 02 and 05 measure speed: rates, speed-ups, and what is chosen from them
    "rate",
    "gain",
    "ratio",
    "overhead",
    "best_bs",
    "batch_limit",
    "ch02_kv_",
    "ch02_mode_",
    "ch05_lat_",
    "ch05_step_",
    "_mem",
    "_eps",
)
VARYING_WORDS = {"s", "ms", "mb"}  # whole words only: "_s" and "mb" are inside many stable names
SHOWN = 70  # characters of a value shown in a difference

Bundle = dict[str, object]  # MIME type -> content


def executed_folder(build: Path) -> Path:
    """The folder of executed notebooks of ``build`` (``build/jupyter_execute``, or ``build``)."""
    inner = build / "jupyter_execute"
    return inner if inner.is_dir() else build


def _bundle(output: dict) -> Bundle:
    """A glue output's MIME bundle with the glue prefix removed and multi-line text joined."""
    prefix = output.get("metadata", {}).get("scrapbook", {}).get("mime_prefix", "")
    return {
        (mime[len(prefix) :] if prefix and mime.startswith(prefix) else mime): (
            "".join(content) if isinstance(content, list) else content
        )
        for mime, content in output.get("data", {}).items()
    }


def _from_notebook(path: Path) -> dict[str, Bundle]:
    """Glue outputs still inside an executed notebook (``glue(..., display=True)`` ones, or
    every one where the notebook was not rendered by myst-nb)."""
    notebook = nbformat.read(path, as_version=4)
    return {
        output.metadata["scrapbook"]["name"]: _bundle(output)
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if "scrapbook" in output.get("metadata", {})
    }


def glued_values(folder: Path) -> dict[tuple[str, str], Bundle]:
    """Every glued value under ``folder``, keyed by ``(page, name)``: names are unique per page only."""
    values: dict[tuple[str, str], Bundle] = {}
    for path in sorted(folder.rglob("*.ipynb")):
        page = path.relative_to(folder).with_suffix("").as_posix()
        values.update({(page, name): bundle for name, bundle in _from_notebook(path).items()})
    for path in sorted(folder.rglob("*.glue.json")):
        page = path.relative_to(folder).as_posix().removesuffix(".glue.json")
        values.update({(page, name): _bundle(output) for name, output in json.loads(path.read_text()).items()})
    return values


def expected_to_vary(name: str) -> bool:
    """Whether the value called ``name`` is a timing or a memory size (see the module docstring)."""
    name = name.lower()
    return any(part in name for part in VARYING_PARTS) or bool(VARYING_WORDS & set(re.split(r"[^a-z0-9]+", name)))


def _shown(bundle: Bundle) -> str:
    text = str(bundle.get("text/plain", f"<{', '.join(sorted(bundle))}>"))
    text = " ".join(text.split())
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"


def describe(a: Bundle, b: Bundle) -> str:
    """How two versions of a value differ: the text of each, and which MIME types differ."""
    changed = sorted(mime for mime in a.keys() | b.keys() if a.get(mime) != b.get(mime))
    return f"{_shown(a)!r} -> {_shown(b)!r}" + ("" if changed == ["text/plain"] else f" [{', '.join(changed)}]")


def compare(a: dict[tuple[str, str], Bundle], b: dict[tuple[str, str], Bundle]) -> tuple[int, list[str], list[str]]:
    """``(values compared, differences that fail, differences expected to vary)``; a value
    missing from one build always fails."""
    failing, varying = [], []
    for key in sorted(a.keys() - b.keys()):
        failing.append(f"{key[0]}: {key[1]} only in BUILD_A")
    for key in sorted(b.keys() - a.keys()):
        failing.append(f"{key[0]}: {key[1]} only in BUILD_B")
    common = sorted(a.keys() & b.keys())
    for page, name in common:
        if a[page, name] != b[page, name]:
            line = f"{page}: {name}: {describe(a[page, name], b[page, name])}"
            (varying if expected_to_vary(name) else failing).append(line)
    return len(common), failing, varying


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("build_a", type=Path, help="a build folder (book/_build) or its jupyter_execute folder")
    parser.add_argument("build_b", type=Path, help="the build to compare it with")
    args = parser.parse_args(argv)
    values = []
    for build in (args.build_a, args.build_b):
        folder = executed_folder(build)
        if not any(folder.rglob("*.ipynb")):
            print(
                f"error: no executed notebooks under {folder}; pass a Jupyter Book build folder "
                f"(one holding jupyter_execute/).",
                file=sys.stderr,
            )
            return 2
        values.append(glued_values(folder))
    compared, failing, varying = compare(*values)
    print(
        f"compared {compared} glued values: {len(failing)} differ, {len(varying)} timings/memory differ "
        f"(expected to vary)"
    )
    for title, lines in (("differences:", failing), ("expected to vary (timings and memory):", varying)):
        if lines:
            print(f"\n{title}", *(f"  {line}" for line in lines), sep="\n")
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
