"""A page's executed output follows the profile and ``tap``'s code, and an unchanged rebuild
executes nothing (book/_ext/fresh_pages.py), checked on a one-page Sphinx + myst-nb project."""

import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

EXT = Path(__file__).resolve().parents[1] / "book" / "_ext"
sys.path.insert(0, str(EXT))
import fresh_pages  # noqa: E402
import plan_timeout  # noqa: E402

PAGE = """---
jupytext:
  text_representation:
    format_name: myst
kernelspec:
  name: python3
  display_name: Python 3
---
# Page

```{code-cell} ipython3
import os, time
print("profile", os.environ["TAP_PROFILE"], "at", time.time_ns())
```
"""


def test_key_changes_with_profile_and_code(tmp_path):
    package = tmp_path / "tap"
    shutil.copytree(fresh_pages.TAP, package)
    key = fresh_pages.execution_key("book", package)
    assert key == fresh_pages.execution_key("book", package)
    assert fresh_pages.execution_key("smoke", package) != key
    (package / "data" / "datasets.py").write_text((package / "data" / "datasets.py").read_text() + "\n# edited\n")
    edited = fresh_pages.execution_key("book", package)
    assert edited != key
    chapter = package / "chapters" / "ch01_transfer.py"  # a chapter's module, one folder down
    chapter.write_text(chapter.read_text() + "\n# edited\n")
    assert fresh_pages.execution_key("book", package) != edited


def _build(src: Path, profile: str) -> str:
    env = {**os.environ, "TAP_PROFILE": profile, "PYTHONPATH": str(EXT)}
    subprocess.run(
        [sys.executable, "-m", "sphinx", "-q", "-b", "html", str(src), str(src / "_build" / "html")],
        env=env,
        check=True,
        capture_output=True,
    )
    return (src / "_build" / "html" / "page.html").read_text()


def test_profile_switch_re_executes_and_unchanged_rebuild_does_not(tmp_path):
    (tmp_path / "conf.py").write_text(
        'extensions = ["myst_nb", "fresh_pages"]\nnb_execution_mode = "cache"\n'
        'exclude_patterns = ["_build"]\nroot_doc = "page"\n'
    )
    (tmp_path / "page.md").write_text(PAGE)
    first = _build(tmp_path, "smoke")
    assert "profile smoke" in first
    assert _build(tmp_path, "smoke") == first  # nothing changed: the same executed output
    assert "profile book" in _build(tmp_path, "book")
    caches = sorted(p.name.split("-")[0] for p in (tmp_path / "_build" / ".jupyter_cache").iterdir())
    assert caches == ["book", "smoke"]


def test_book_and_full_take_their_cell_timeout_from_the_plan():
    asked = []

    def longest() -> float:
        asked.append(True)
        return 5_000.0

    assert plan_timeout.timeout_for("smoke", 1200, longest) == 1200 and not asked  # smoke measures nothing
    assert plan_timeout.timeout_for("book", 1200, longest) == plan_timeout.SAFETY * 5_000  # a slow machine
    assert plan_timeout.timeout_for("full", 1200, longest) == plan_timeout.SAFETY * 5_000
    assert plan_timeout.timeout_for("book", 1200, lambda: 10.0) == 1200  # never below the configured timeout


def test_the_extension_sets_myst_nb_timeout(monkeypatch):
    monkeypatch.setattr(plan_timeout, "_longest_chapter_s", lambda profile: {"full": 7_200.0, "book": 900.0}[profile])
    for profile, expected in (
        ("full", plan_timeout.SAFETY * 7_200),
        ("book", plan_timeout.SAFETY * 900),
        ("smoke", 1200),
    ):
        monkeypatch.setenv("TAP_PROFILE", profile)
        config = SimpleNamespace(nb_execution_timeout=1200)
        plan_timeout._set_timeout(None, config)
        assert config.nb_execution_timeout == expected, profile
