"""Write small copies of the Hub dataset repositories, in the Hub's layout and schema, for tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from datasets import Dataset, Features
from datasets import config as hf_config

from tap.data import datasets

_FOLDER = {"imdb": "plain_text", "ag_news": "data"}  # where each Hub repository keeps its Parquet files


def _card(name: str, splits: list[str]) -> str:
    names = "".join(f"          '{i}': {n}\n" for i, n in enumerate(datasets.LABEL_NAMES[name]))
    files = "".join(f"  - split: {s}\n    path: {_FOLDER[name]}/{s}-*\n" for s in splits)
    return (
        f"---\ndataset_info:\n  features:\n  - name: text\n    dtype: string\n  - name: label\n"
        f"    dtype:\n      class_label:\n        names:\n{names}configs:\n- config_name: default\n"
        f"  data_files:\n{files}  default: true\n---\n"
    )


def write_dataset(root: Path, name: str, splits: dict[str, pd.DataFrame]) -> Path:
    """``root/<hub id>/``: a dataset card and one Parquet file per split, with the Hub's features."""
    folder = root / datasets.HUB_IDS[name]
    (folder / _FOLDER[name]).mkdir(parents=True, exist_ok=True)
    features = Features(datasets.expected_features(name))
    for split, frame in splits.items():
        Dataset.from_pandas(frame, features=features, preserve_index=False).to_parquet(
            folder / _FOLDER[name] / f"{split}-00000-of-00001.parquet"
        )
    (folder / "README.md").write_text(_card(name, list(splits)))
    return folder


def use_mirror(monkeypatch, root: Path) -> None:
    """Point ``tap`` at ``root`` with the Hub switched off, and forget earlier loads (including
    the Arrow copies ``datasets`` keeps, which would hide a damaged file)."""
    monkeypatch.setattr(hf_config, "HF_DATASETS_CACHE", root / "hf-datasets")
    monkeypatch.setenv("TAP_DATA_DIR", str(root))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TAP_CACHE_DIR", str(root / "cache"))
    datasets.load.cache_clear()
