"""Sphinx extension: a page's executed output never comes from another profile or older code.

Jupyter Book reuses a page's outputs when the page's code cells are unchanged (jupyter-cache),
and Sphinx re-reads only edited sources, so switching ``TAP_PROFILE`` or editing ``tap`` would
republish stale numbers. Here the execution cache lives in a folder named after the profile and
a digest of ``tap``'s source. ``nb_execution_cache_path`` is a configuration value that Sphinx
compares between builds, so a new folder also makes Sphinx re-read every page; an unchanged
rebuild finds the same folder and executes nothing. ``tap``'s run cache makes re-executed pages
fast where their runs did not change.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tap.core.cache import code_digest

TAP = Path(__file__).resolve().parents[2] / "tap"


def execution_key(profile: str | None = None, package: Path = TAP) -> str:
    """``<profile>-<digest of every .py file of tap, its chapters included>``: what a page's
    outputs depend on besides its cells."""
    profile = profile or os.environ.get("TAP_PROFILE") or "book"
    return f"{profile}-{code_digest(sorted(package.rglob('*.py')))[:12]}"


def _use_keyed_cache(app, config) -> None:
    key = execution_key()
    root = Path(app.outdir).parent / ".jupyter_cache"
    config.nb_execution_cache_path = str(root / key)
    profile = key.rsplit("-", 1)[0]
    for old in root.glob(f"{profile}-*"):  # earlier code of this profile: never reused again
        if old.name != key:
            shutil.rmtree(old, ignore_errors=True)


def setup(app):
    app.connect("config-inited", _use_keyed_cache)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
