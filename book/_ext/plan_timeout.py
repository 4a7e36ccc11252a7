"""Sphinx extension: in the ``full`` profile, no cell is killed for being long.

A cell's execution timeout (``execute.timeout`` in ``_config.yml``, myst-nb's
``nb_execution_timeout``) suits the CPU-scale profiles, whose slowest cell trains for minutes. The
``full`` profile trains for hours, on whatever machine the reader has; so there the timeout comes
from ``python -m tap plan``: ``SAFETY`` times the longest chapter's estimated time on this machine.
A cell runs part of one chapter, so no cell can need more, even when the estimate is short by a
factor of ``SAFETY``. Other profiles keep the configured timeout.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

SAFETY = 3


def timeout_for(profile: str, configured: int, longest_chapter_s: Callable[[], float]) -> int:
    """The cell timeout for ``profile``: ``configured``, except in ``full``, where it is ``SAFETY``
    times the plan's longest chapter (never less than ``configured``). ``longest_chapter_s`` is
    called only in ``full``: it measures throughput."""
    if profile != "full":
        return configured
    return max(configured, math.ceil(SAFETY * longest_chapter_s()))


def _longest_chapter_s() -> float:
    from tap.plan import plan
    from tap.profiles import get_profile

    return max(chapter.seconds for chapter in plan(get_profile("full")))


def _set_timeout(app, config) -> None:
    profile = os.environ.get("TAP_PROFILE") or "book"
    config.nb_execution_timeout = timeout_for(profile, config.nb_execution_timeout, _longest_chapter_s)
    if profile == "full":
        print(f"plan_timeout: cell execution timeout {config.nb_execution_timeout:,} s, from `python -m tap plan`")


def setup(app):
    app.connect("config-inited", _set_timeout)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
