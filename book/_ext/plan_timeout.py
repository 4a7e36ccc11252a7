"""Sphinx extension: a cell's time limit fits the machine that builds the book.

A cell's execution timeout (``execute.timeout`` in ``_config.yml``, myst-nb's
``nb_execution_timeout``) is a floor. In the ``book`` and ``full`` profiles the limit comes from
``python -m tap plan`` instead, when that is longer: ``SAFETY`` times the longest chapter's
estimated time on this machine, from throughput measured here (a few seconds). A cell runs part of
one chapter, so no cell can need more, even when the estimate is short by a factor of ``SAFETY``;
and a slower machine (a CPU without bf16 instructions, a laptop) gets a longer limit instead of
a cell killed halfway. The ``smoke`` profile keeps the configured timeout.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

SAFETY = 3
PLANNED = ("book", "full")  # profiles whose cell timeout comes from the plan


def timeout_for(profile: str, configured: int, longest_chapter_s: Callable[[], float]) -> int:
    """The cell timeout for ``profile``: ``configured``, or in a ``PLANNED`` profile ``SAFETY``
    times the plan's longest chapter when that is longer. ``longest_chapter_s`` is called only in
    a planned profile: it measures throughput."""
    if profile not in PLANNED:
        return configured
    return max(configured, math.ceil(SAFETY * longest_chapter_s()))


def _longest_chapter_s(profile: str) -> float:
    from tap.core.profiles import get_profile
    from tap.plan import plan

    return max(chapter.seconds for chapter in plan(get_profile(profile)))


def _set_timeout(app, config) -> None:
    profile = os.environ.get("TAP_PROFILE") or "book"
    configured = config.nb_execution_timeout
    config.nb_execution_timeout = timeout_for(profile, configured, lambda: _longest_chapter_s(profile))
    if profile in PLANNED:
        print(
            f"plan_timeout: cell execution timeout {config.nb_execution_timeout:,} s "
            f"(the larger of execute.timeout, {configured:,} s, and {SAFETY} × the longest chapter "
            "that `python -m tap plan` estimates on this machine)"
        )


def setup(app):
    app.connect("config-inited", _set_timeout)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
