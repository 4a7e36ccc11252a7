"""Datasets, Hub-first with an offline mirror, and the deterministic subsets the book uses.

IMDB (Maas et al., 2011) and AG News (Zhang, Zhao & LeCun, 2015) are loaded with
``datasets.load_dataset`` from the Hub when it is reachable, otherwise from the Parquet
mirror folder named by ``$TAP_DATA_DIR`` (same schemas as the Hub datasets).
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from datasets import Dataset, DatasetDict, load_dataset

from .hub import hub_available
from .profiles import Profile, get_profile

DATA_ENV = "TAP_DATA_DIR"
HUB_IDS = {"imdb": "stanfordnlp/imdb", "ag_news": "fancyzhx/ag_news"}
LABEL_NAMES = {"imdb": ["neg", "pos"], "ag_news": ["World", "Sports", "Business", "Sci/Tech"]}


class DataUnavailableError(RuntimeError):
    """Neither the Hub nor a local mirror could provide a dataset."""


def _from_mirror(name: str) -> DatasetDict | None:
    root = os.environ.get(DATA_ENV)
    if not root:
        return None
    folder = Path(root).expanduser() / name
    files = {p.stem: str(p) for p in sorted(folder.glob("*.parquet"))}
    if not files:
        raise DataUnavailableError(
            f"{DATA_ENV}={root} has no Parquet files under {folder}. Point {DATA_ENV} at the folder "
            f"that holds '{name}/<split>.parquet' (for example ../shared/data)."
        )
    return load_dataset("parquet", data_files=files)


@lru_cache(maxsize=None)
def load(name: str) -> DatasetDict:
    """The whole dataset ``name`` ('imdb' or 'ag_news'), from the Hub or the mirror."""
    if name not in HUB_IDS:
        raise ValueError(f"Unknown dataset {name!r}; the book uses: {', '.join(HUB_IDS)}.")
    hub_error = "the Hub is unreachable or offline mode is set"
    if hub_available():
        try:
            return load_dataset(HUB_IDS[name])
        except Exception as err:  # noqa: BLE001 - any Hub failure falls back to the mirror
            hub_error = f"loading {HUB_IDS[name]} from the Hub failed: {err}"
            warnings.warn(hub_error + "; trying the local mirror.", stacklevel=2)
    mirror = _from_mirror(name)
    if mirror is None:
        raise DataUnavailableError(
            f"Cannot load {name!r}: {hub_error}, and no local mirror is set. Either connect to "
            f"the Hugging Face Hub (and unset HF_HUB_OFFLINE / HF_DATASETS_OFFLINE), or download "
            f"the Parquet files and run `export {DATA_ENV}=/path/to/data` (a folder with "
            f"'imdb/train.parquet', 'ag_news/test.parquet', ...)."
        )
    return mirror


def data_source() -> str:
    """Where datasets come from in this run, for the provenance box."""
    if hub_available():
        return "Hugging Face Hub"
    return f"local mirror ({os.environ.get(DATA_ENV, 'unset')})"


def balanced_indices(labels: np.ndarray, n: int, seed: int, exclude: set[int] = frozenset()) -> np.ndarray:
    """``n`` row indices with the classes as equal as possible, chosen by a seeded
    shuffle of each class (rows in ``exclude`` are never chosen); sorted for reproducibility."""
    classes = np.unique(labels)
    rng = np.random.default_rng(seed)
    per_class = [n // len(classes) + (i < n % len(classes)) for i in range(len(classes))]
    chosen = []
    for c, k in zip(classes, per_class):
        pool = np.array([i for i in np.flatnonzero(labels == c) if i not in exclude])
        if k > len(pool):
            raise ValueError(f"Asked for {k} rows of class {c}, but only {len(pool)} are available.")
        chosen.append(rng.permutation(pool)[:k])
    return np.sort(np.concatenate(chosen))


def _canonical_order(ds: Dataset) -> Dataset:
    """IMDB rows keyed by (label, id), so the Hub and the mirror give the same subsets.
    (``id`` is unique only within a label; the Hub copy has no id, so row order is kept.)"""
    if "id" in ds.column_names:
        order = np.lexsort((np.asarray(ds["id"]), np.asarray(ds["label"])))
        return ds.select(order)
    return ds


@dataclass
class Splits:
    """Train / validation / test subsets of one task, with its label names."""

    train: Dataset
    val: Dataset
    test: Dataset
    label_names: list[str]
    note: str

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


def imdb_splits(profile: Profile | None = None, seed: int = 0, n_train: int | None = None) -> Splits:
    """Balanced IMDB subsets: train and validation from the train split (disjoint),
    a fixed balanced test subset (all 25,000 when the profile says 0)."""
    p = profile or get_profile()
    full = load("imdb")
    train_all, test_all = _canonical_order(full["train"]), _canonical_order(full["test"])
    labels = np.asarray(train_all["label"])
    val_idx = balanced_indices(labels, p.imdb_val, seed=seed + 1)
    train_idx = balanced_indices(labels, n_train or p.imdb_train, seed=seed, exclude=set(val_idx.tolist()))
    test = test_all
    if p.imdb_test:
        test = test_all.select(balanced_indices(np.asarray(test_all["label"]), p.imdb_test, seed=seed + 2))
    return Splits(
        train=train_all.select(train_idx), val=train_all.select(val_idx), test=test,
        label_names=LABEL_NAMES["imdb"],
        note=f"IMDB: {len(train_idx):,} training and {len(val_idx):,} validation reviews from the "
        f"train split, {len(test):,} test reviews; all balanced.",
    )


def ag_news_splits(profile: Profile | None = None, seed: int = 0) -> Splits:
    """AG News train / validation / test. With only the 7,600-row test split available
    (the offline mirror), it is split three ways, stratified, and the page says so."""
    p = profile or get_profile()
    full = load("ag_news")
    if "train" in full:
        source, test = full["train"], full["test"]
        note = "AG News: training and validation rows from the train split; the official test split."
    else:
        source, test = full["test"], None
        note = ("AG News: only the 7,600-row test split is available here, so it is split, stratified, "
                "into training, validation and held-out test rows that never overlap.")
    labels = np.asarray(source["label"])
    val_idx = balanced_indices(labels, p.ag_val, seed=seed + 1)
    taken = set(val_idx.tolist())
    if test is None:
        rest = len(labels) - len(taken)
        n_test = min(p.ag_val, rest - p.ag_train) if rest > p.ag_train else 0
        if n_test <= 0:
            raise ValueError(f"AG News has {len(labels):,} rows: too few for {p.ag_train:,} train "
                             f"+ {p.ag_val:,} validation + a test split.")
        test_idx = balanced_indices(labels, n_test, seed=seed + 2, exclude=taken)
        test = source.select(test_idx)
        taken |= set(test_idx.tolist())
    train_idx = balanced_indices(labels, min(p.ag_train, len(labels) - len(taken)), seed=seed, exclude=taken)
    return Splits(train=source.select(train_idx), val=source.select(val_idx), test=test,
                  label_names=LABEL_NAMES["ag_news"], note=note + f" Sizes: {len(train_idx):,} / {len(val_idx):,} / {len(test):,}.")
