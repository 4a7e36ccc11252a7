"""scripts/compare_builds.py on tiny hand-made builds: glue outputs left in a notebook, and the
``<page>.glue.json`` files myst-nb writes when it takes them out."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

SCRIPT = Path(__file__).parents[1] / "scripts" / "compare_builds.py"
PREFIX = "application/papermill.record/"
spec = importlib.util.spec_from_file_location("compare_builds", SCRIPT)
compare_builds = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare_builds)

BASE = {
    "ch01_acc": "91.2",
    "ch01_test_size": "25,000",
    "ch01_embedding_params": "1,280",
    "ch02_bs1_latency": "3.1",
    "ch04_task_mb": "0.6",
    "ch02_rate_per_s": "410",
    "ch03_mlm_time": "'12 s'",
}


def glue_output(name: str, text: str, displayed: bool) -> nbformat.NotebookNode:
    """What ``myst_nb.glue(name, value, display=displayed)`` puts in a notebook."""
    prefix = "" if displayed else PREFIX
    return new_output(
        "display_data",
        data={prefix + "text/plain": text},
        metadata={"scrapbook": {"name": name, "mime_prefix": prefix}},
    )


def make_build(root: Path, values: dict[str, str]) -> Path:
    """A build whose page ``ch01`` keeps its glue outputs in the notebook (the first one shown
    in place) and whose page ``part/ch02`` has them in ``ch02.glue.json``, as myst-nb writes it."""
    folder = root / "jupyter_execute"
    (folder / "part").mkdir(parents=True)
    ch01 = {k: v for k, v in values.items() if k.startswith("ch01")}
    outputs = [glue_output(name, text, displayed=i == 0) for i, (name, text) in enumerate(ch01.items())]
    nbformat.write(new_notebook(cells=[new_code_cell("glue(...)", outputs=outputs)]), folder / "ch01.ipynb")
    nbformat.write(new_notebook(cells=[new_code_cell("glue(...)")]), folder / "part" / "ch02.ipynb")
    glue = {
        name: {
            "output_type": "display_data",
            "data": {"text/plain": text},
            "metadata": {"scrapbook": {"name": name, "mime_prefix": PREFIX}},
        }
        for name, text in values.items()
        if not name.startswith("ch01")
    }
    (folder / "part" / "ch02.glue.json").write_text(json.dumps(glue))
    return root


def run(tmp_path: Path, a: dict[str, str], b: dict[str, str], capsys) -> tuple[int, str]:
    status = compare_builds.main([str(make_build(tmp_path / "a", a)), str(make_build(tmp_path / "b", b))])
    return status, capsys.readouterr().out


def test_identical_builds_compare_every_value(tmp_path, capsys):
    status, out = run(tmp_path, BASE, BASE, capsys)
    assert status == 0 and f"compared {len(BASE)} glued values: 0 differ, 0 timings/memory differ" in out


def test_timings_and_memory_differ_without_failing(tmp_path, capsys):
    varied = {
        **BASE,
        "ch02_bs1_latency": "4.0",
        "ch04_task_mb": "0.7",
        "ch02_rate_per_s": "380",
        "ch03_mlm_time": "'15 s'",
    }
    status, out = run(tmp_path, BASE, varied, capsys)
    assert status == 0 and "0 differ, 4 timings/memory differ" in out
    assert "part/ch02: ch02_bs1_latency: '3.1' -> '4.0'" in out


@pytest.mark.parametrize("name", ["ch01_acc", "ch01_test_size", "ch01_embedding_params"])
def test_any_other_difference_fails_and_is_named(name, tmp_path, capsys):
    status, out = run(tmp_path, BASE, {**BASE, name: "0"}, capsys)
    assert status == 1 and f"ch01: {name}: '{BASE[name]}' -> '0'" in out and "1 differ" in out


def test_a_value_only_one_build_has_fails(tmp_path, capsys):
    status, out = run(tmp_path, BASE, {k: v for k, v in BASE.items() if k != "ch03_mlm_time"}, capsys)
    assert status == 1 and "part/ch02: ch03_mlm_time only in BUILD_A" in out


def test_command_line_on_a_folder_without_notebooks(tmp_path):
    make_build(tmp_path / "a", BASE)
    (tmp_path / "empty").mkdir()
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "a"), str(tmp_path / "empty")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "no executed notebooks" in done.stderr
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "a"), str(tmp_path / "a" / "jupyter_execute")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and f"compared {len(BASE)}" in done.stdout
