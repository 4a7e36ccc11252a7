"""Fixtures: a tiny copy of the Hub dataset repositories, so data tests need no network."""

from __future__ import annotations

import pandas as pd
import pytest
from fake_mirror import use_mirror, write_dataset

from tap.data import datasets


def imdb_rows(n_per_label: int, label_values=(0, 1), split: str = "") -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"text": f"{split} review {i} of class {y}<br />it was {'great' if y else 'bad'}", "label": y}
            for y in label_values
            for i in range(n_per_label)
        ]
    )


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A mirror folder with stanfordnlp/imdb (train/test/unsupervised) and fancyzhx/ag_news (test only)."""
    write_dataset(
        tmp_path,
        "imdb",
        {
            "train": imdb_rows(100, split="train"),
            "test": imdb_rows(100, split="test"),
            "unsupervised": imdb_rows(50, label_values=(-1,), split="unsup"),
        },
    )
    write_dataset(
        tmp_path,
        "ag_news",
        {"test": pd.DataFrame([{"text": f"news {i} topic {y}", "label": y} for y in range(4) for i in range(200)])},
    )
    use_mirror(monkeypatch, tmp_path)
    yield tmp_path
    datasets.load.cache_clear()
