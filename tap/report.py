"""Tables and glued numbers: how run records reach the page."""
from __future__ import annotations

import numpy as np
import pandas as pd


def results_table(records: dict[str, dict]) -> pd.DataFrame:
    """One row per run: test accuracy, trainable parameters (absolute and %), cost."""
    rows = []
    for label, r in records.items():
        rows.append({
            "method": label,
            "test accuracy (%)": round(100 * r["test_accuracy"], 1),
            "test examples": r["test_size"],
            "trainable params": r.get("trainable_params"),
            "trainable (%)": round(100 * r["trainable_params"] / r["total_params"], 2) if r.get("total_params") else None,
            "train time (s)": round(r["wall_time_s"], 1),
            "examples/s": round(r["examples_per_s"], 1) if r.get("examples_per_s") else None,
            "peak memory (MB)": round(r["peak_memory_mb"]) if r.get("peak_memory_mb") else None,
        })
    return pd.DataFrame(rows).set_index("method")


class Plain(str):
    """A string that ``glue`` shows without quotes."""

    def __repr__(self) -> str:
        return str(self)


def glue(name: str, value, text: bool = False) -> None:
    """Glue a value for the prose (``{glue:text}`name```); ``text=True`` glues a sentence fragment.

    NumPy scalars become Python numbers first: their repr (``np.float64(0.5)``) is not a number
    that ``{glue:text}`name:.1f``` can format."""
    from myst_nb import glue as _glue

    if isinstance(value, np.generic):
        value = value.item()
    _glue(name, Plain(value) if text else value, display=False)
