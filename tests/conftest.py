"""Fixtures: a tiny Parquet mirror in the Hugging Face schemas, so data tests need no network."""
from __future__ import annotations

import pandas as pd
import pytest

from tap import data


def _imdb_rows(n_per_label: int, label_values=(0, 1)) -> pd.DataFrame:
    rows = [{"text": f"review {i} of class {y}<br />it was {'great' if y else 'bad'}",
             "label": y, "id": i, "rating": 8 if y == 1 else 2}
            for y in label_values for i in range(n_per_label)]
    return pd.DataFrame(rows)


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A mirror folder with imdb (train/test/unsupervised) and ag_news (test only)."""
    (tmp_path / "imdb").mkdir()
    (tmp_path / "ag_news").mkdir()
    _imdb_rows(100).to_parquet(tmp_path / "imdb" / "train.parquet")
    _imdb_rows(100).to_parquet(tmp_path / "imdb" / "test.parquet")
    _imdb_rows(50, label_values=(-1,)).to_parquet(tmp_path / "imdb" / "unsupervised.parquet")
    ag = pd.DataFrame([{"text": f"news {i} topic {y}", "label": y} for y in range(4) for i in range(200)])
    ag.to_parquet(tmp_path / "ag_news" / "test.parquet")
    monkeypatch.setenv("TAP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TAP_CACHE_DIR", str(tmp_path / "cache"))
    data.load.cache_clear()
    yield tmp_path
    data.load.cache_clear()
