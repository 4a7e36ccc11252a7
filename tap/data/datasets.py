"""Datasets, Hub-first with an offline mirror, and the deterministic subsets the book uses.

IMDB (Maas et al., 2011) and AG News (Zhang, Zhao & LeCun, 2015) are loaded with one call
shape: ``load_dataset("stanfordnlp/imdb")`` from the Hub when it is reachable, otherwise
``load_dataset(f"{mirror}/stanfordnlp/imdb")`` from the folder named by ``$TAP_DATA_DIR``, a
copy of the Hub repositories in their own layout. Both give the same features, but not the
same row order, so every split is put in *content order* (rows ranked by a hash of their text)
before anything is selected: the same profile then picks the same reviews from either source.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import re
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from weakref import WeakKeyDictionary

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from datasets import ClassLabel, Dataset, DatasetDict, Value, load_dataset

from ..core.cache import cache_dir, writable
from ..core.hub import hub_available, revision
from ..core.profiles import Profile, get_profile

DATA_ENV = "TAP_DATA_DIR"
HUB_IDS = {"imdb": "stanfordnlp/imdb", "ag_news": "fancyzhx/ag_news"}
LABEL_NAMES = {"imdb": ["neg", "pos"], "ag_news": ["World", "Sports", "Business", "Sci/Tech"]}
SPLITS = {"imdb": {"train", "test", "unsupervised"}, "ag_news": {"train", "test"}}  # on the Hub
SHARD = re.compile(r"(?P<split>[a-z]+)-(?P<i>\d{5})-of-(?P<n>\d{5})\.parquet")  # the Hub's Parquet file names


class DataUnavailableError(RuntimeError):
    """Neither the Hub nor a local mirror could provide a dataset."""


class DataFormatError(ValueError):
    """A dataset was read, but its columns or labels are not the Hub's."""


def expected_features(name: str) -> dict:
    """The Hub dataset's features: ``text`` (string) and ``label`` (``ClassLabel``)."""
    return {"text": Value("string"), "label": ClassLabel(names=LABEL_NAMES[name])}


def _root_cause(err: BaseException) -> BaseException:
    while err.__cause__ or err.__context__:
        err = err.__cause__ or err.__context__
    return err


def arrow_cache(folder: Path) -> Path:
    """Where ``datasets`` keeps its Arrow copy of a local folder: keyed by the folder's path and
    its files' sizes and modification times. (Its default cache can mistake two folders with the
    same layout for each other and return the other one's rows.)"""
    digest = hashlib.sha256(str(folder.resolve()).encode())
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            stat = path.stat()
            digest.update(f"{path.relative_to(folder)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return cache_dir() / "datasets" / digest.hexdigest()[:16]


def check_files(name: str, folder: Path) -> None:
    """Each split of a local copy is exactly the Hub's Parquet shards, named
    ``<split>-<i>-of-<n>.parquet``: ``datasets`` reads every file matching ``<split>-*``, so a
    second download beside the first (``train-00000-of-00001 (1).parquet``) would silently double
    a split, and a missing shard would shrink it."""
    shards: dict[str, list[re.Match]] = {}
    for path in sorted(folder.rglob("*.parquet")):
        match = SHARD.fullmatch(path.name)
        if not match or match["split"] not in SPLITS[name]:
            raise DataFormatError(
                f"{path} is not one of {HUB_IDS[name]}'s files (<split>-00000-of-00001.parquet, the split one of "
                f"{sorted(SPLITS[name])}); datasets would read it as more rows. A second download? Remove it."
            )
        shards.setdefault(match["split"], []).append(match)
    for split, found in shards.items():
        counts = {int(m["n"]) for m in found}
        if len(counts) != 1 or sorted(int(m["i"]) for m in found) != list(range(counts.pop())):
            raise DataFormatError(
                f"{folder}: split {split!r} has the shards {sorted(m.string for m in found)}, which are not "
                f"00000 to the last of one set: some are missing or duplicated. Download {HUB_IDS[name]} again."
            )


# What reading a damaged Arrow copy raises: pyarrow's OSError for a truncated or garbled file,
# ArrowInvalid for an empty or zeroed one.
DAMAGED_ARROW = (OSError, pa.ArrowInvalid)


def read_folder(folder: Path, *args, **kwargs) -> DatasetDict | Dataset:
    """``load_dataset(folder, *args, **kwargs)`` on a local copy, through its Arrow copy in the run cache. ``datasets``
    writes (a lock at least) even on a hit, so a read-only cache gets a temporary Arrow copy; a
    damaged Arrow copy is rebuilt once from the Parquet files."""
    arrow = arrow_cache(folder)
    if not writable(arrow.parent):
        arrow = Path(tempfile.mkdtemp(prefix="tap-arrow-"))
        atexit.register(shutil.rmtree, arrow, ignore_errors=True)
    try:
        return load_dataset(str(folder), *args, cache_dir=str(arrow), **kwargs)
    except DAMAGED_ARROW:  # rebuild it from the Parquet files
        shutil.rmtree(arrow, ignore_errors=True)
        return load_dataset(str(folder), *args, cache_dir=str(arrow), **kwargs)


def _damaged_parquet(folder: Path) -> str | None:
    """The first Parquet file under ``folder`` that cannot be read, with the reason."""
    for path in sorted(folder.rglob("*.parquet")):
        try:
            pq.read_table(path)
        except Exception as err:  # noqa: BLE001 - any failure to read names the file
            return f"{path}: {type(err).__name__}: {err}"
    return None


def _from_mirror(name: str) -> DatasetDict | None:
    root = os.environ.get(DATA_ENV)
    if not root:
        return None
    folder = Path(root).expanduser() / HUB_IDS[name]
    if not any(folder.rglob("*.parquet")):
        raise DataUnavailableError(
            f"{DATA_ENV}={root} has no Parquet files under {folder}. Point {DATA_ENV} at a folder that "
            f"holds the Hub repositories at the paths of their ids ('{HUB_IDS[name]}/...', as "
            f"`huggingface-cli download --repo-type dataset {HUB_IDS[name]} --local-dir ...` writes them)."
        )
    check_files(name, folder)
    try:
        return read_folder(folder)
    except Exception as err:  # noqa: BLE001 - any read failure gets one clear message
        damaged = _damaged_parquet(folder)
        if damaged:
            raise DataUnavailableError(
                f"A Parquet file of the local copy of {HUB_IDS[name]} is damaged: {damaged}. Download it again."
            ) from None
        cause = _root_cause(err)
        raise DataUnavailableError(
            f"Could not read the local copy of {HUB_IDS[name]} in {folder} into {cache_dir() / 'datasets'} "
            f"(its Parquet files read fine): {type(cause).__name__}: {cause}."
        ) from None


def split_of(name: str, split: str) -> Dataset:
    """One split of dataset ``name``, or an error that names the split and where it was looked for
    (a partial download may lack it)."""
    dataset = load(name)
    if split not in dataset:
        where = (
            f"the local copy in ${DATA_ENV}/{HUB_IDS[name]} (a partial download?)"
            if not hub_available()
            else f"{HUB_IDS[name]} on the Hub"
        )
        raise DataUnavailableError(
            f"{HUB_IDS[name]} has no {split!r} split in {where}: found {sorted(dataset)}. "
            f"Download the whole repository: `huggingface-cli download --repo-type dataset {HUB_IDS[name]}`."
        )
    return dataset[split]


def check_schema(name: str, dataset: DatasetDict, where: str) -> DatasetDict:
    """Fail early, naming the source and the fix, when ``dataset`` is not shaped like the Hub's:
    other columns, labels that are not the expected ``ClassLabel``, a missing text, or a
    labelled split with a single class (every later step would train on nonsense)."""
    expected = expected_features(name)
    for split, ds in dataset.items():
        if split not in SPLITS[name]:
            raise DataFormatError(
                f"{where}: split {split!r} is not one of {HUB_IDS[name]}'s ({sorted(SPLITS[name])})."
            )
        missing = set(expected) - set(ds.column_names)
        if missing:
            raise DataFormatError(
                f"{where}, split {split!r}: columns {sorted(missing)} are missing (found {ds.column_names}). "
                f"The book reads the Hub's columns 'text' and 'label' only; rename the columns or re-download."
            )
        if ds.features["label"] != expected["label"]:
            raise DataFormatError(
                f"{where}, split {split!r}: 'label' is {ds.features['label']}, expected {expected['label']} "
                f"(integers 0..{len(LABEL_NAMES[name]) - 1} with the Hub's names). Re-download the dataset."
            )
        if ds.features["text"] != expected["text"] or None in ds["text"]:
            raise DataFormatError(f"{where}, split {split!r}: 'text' must be a string in every row.")
        labels = set(ds["label"])
        if split != "unsupervised" and len(labels) < 2:
            raise DataFormatError(
                f"{where}, split {split!r} has a single class ({labels}); a classifier "
                f"needs both sides. The copy is incomplete: re-download it."
            )
    return dataset


def text_key(text: str) -> int:
    """A 64-bit hash of a text: the same on every machine and in every process."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def column(ds: Dataset, name: str) -> list:
    """A column as a list, read in one Arrow pass: ``ds[name]`` is a lazy column that formats
    its rows one by one, several times slower on a selection of a large table."""
    return ds.select_columns([name]).to_dict()[name]


_TEXT_KEYS: WeakKeyDictionary[Dataset, np.ndarray] = WeakKeyDictionary()


def text_keys(ds: Dataset) -> np.ndarray:
    """``text_key`` of every row of ``ds``, hashed once per dataset: ``content_order`` hashes
    every text, and ``same_text_rows`` asks again for the same splits."""
    if ds not in _TEXT_KEYS:
        _TEXT_KEYS[ds] = np.array([text_key(t) for t in column(ds, "text")], dtype=np.uint64)
    return _TEXT_KEYS[ds]


def content_order(ds: Dataset) -> Dataset:
    """The rows ranked by a hash of their text (then label): an order that depends only on what
    the rows say, so a seeded choice of positions picks the same rows from any copy. Rows with
    the same text and label are identical, so their relative order does not matter."""
    keys = text_keys(ds)
    order = np.lexsort((np.asarray(column(ds, "label")), keys))
    ordered = ds.select(order)
    _TEXT_KEYS[ordered] = keys[order]
    return ordered


@cache
def load(name: str) -> DatasetDict:
    """The whole dataset ``name`` ('imdb' or 'ag_news'), from the Hub or the mirror, checked
    against the Hub's schema, every split in content order."""
    if name not in HUB_IDS:
        raise ValueError(f"Unknown dataset {name!r}; the book uses: {', '.join(HUB_IDS)}.")
    hub_id = HUB_IDS[name]
    hub_error = "the Hub is unreachable or offline mode is set"
    dataset, where = None, ""
    if hub_available():
        try:
            dataset, where = load_dataset(hub_id, revision=revision(hub_id)), f"{hub_id} on the Hub"
        except Exception as err:  # noqa: BLE001 - any Hub failure falls back to the mirror
            hub_error = f"loading {hub_id} from the Hub failed: {_root_cause(err)}"
            warnings.warn(hub_error + "; trying the local mirror.", stacklevel=2)
    if dataset is None:
        dataset = _from_mirror(name)
        where = f"the local copy of {hub_id} (${DATA_ENV})"
    if dataset is None:
        raise DataUnavailableError(
            f"Cannot load {name!r}: {hub_error}, and no local mirror is set. Either connect to "
            f"the Hugging Face Hub (and unset HF_HUB_OFFLINE / HF_DATASETS_OFFLINE), or download "
            f"the dataset repositories and run `export {DATA_ENV}=/path/to/data` (a folder holding "
            f"'{hub_id}/...' in the Hub's layout)."
        )
    check_schema(name, dataset, where)
    return DatasetDict({split: content_order(ds) for split, ds in dataset.items()})


def data_source() -> str:
    """Where datasets come from in this run, for the provenance box (by name, not by path)."""
    ids = ", ".join(f"{h}@{revision(h)[:7]}" for h in HUB_IDS.values())
    return f"Hugging Face Hub ({ids})" if hub_available() else f"local copy of the Hub repositories ({ids})"


def same_text_rows(ds: Dataset, rows: np.ndarray) -> set[int]:
    """Every row of ``ds`` whose text is the text of one of ``rows``. A carve excludes them all
    from the other side, so a text that a split holds twice never lands on both sides."""
    keys = text_keys(ds)
    return set(np.flatnonzero(np.isin(keys, keys[rows])).tolist())


def balanced_indices(labels: np.ndarray, n: int, seed: int, exclude: set[int] = frozenset()) -> np.ndarray:
    """``n`` row indices with the classes as equal as possible, chosen by a seeded
    shuffle of each class (rows in ``exclude`` are never chosen); sorted, so a subset keeps
    the content order of its split."""
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
    train_all, test_all = split_of("imdb", "train"), split_of("imdb", "test")
    labels = np.asarray(train_all["label"])
    val_idx = balanced_indices(labels, p.imdb_val, seed=seed + 1)
    train_idx = balanced_indices(
        labels, n_train or p.imdb_train, seed=seed, exclude=same_text_rows(train_all, val_idx)
    )
    test = test_all
    if p.imdb_test:
        test = test_all.select(balanced_indices(np.asarray(test_all["label"]), p.imdb_test, seed=seed + 2))
    return Splits(
        train=train_all.select(train_idx),
        val=train_all.select(val_idx),
        test=test,
        label_names=LABEL_NAMES["imdb"],
        note=f"IMDB: {len(train_idx):,} training and {len(val_idx):,} validation reviews from the "
        f"train split, {len(test):,} test reviews; all balanced.",
    )


def ag_news_splits(profile: Profile | None = None, seed: int = 0) -> Splits:
    """AG News train / validation / test. The profile decides which Hub split they come from:
    ``full`` uses the 120,000-row train split and the official test split; the smaller profiles
    split the 7,600-row test split three ways, stratified (the one split the offline copy has),
    so that a book built online and one built offline use the same rows."""
    p = profile or get_profile()
    full = load("ag_news")
    if p.ag_from_train:
        if "train" not in full:
            raise DataUnavailableError(
                f"The {p.name!r} profile trains on AG News's train split (120,000 rows), which the local "
                f"copy does not have (it holds only the test split). Connect to the Hugging Face Hub, or "
                f"use a profile that does not need it (TAP_PROFILE=book)."
            )
        source, test = full["train"], split_of("ag_news", "test")
        note = "AG News: training and validation rows from the train split; the official test split."
    else:
        source, test = split_of("ag_news", "test"), None
        note = (
            "AG News: only the 7,600-row test split is used, split, stratified, "
            "into training, validation and held-out test rows that never overlap."
        )
    labels = np.asarray(source["label"])
    val_idx = balanced_indices(labels, p.ag_val, seed=seed + 1)
    taken = same_text_rows(source, val_idx)
    if test is None:
        rest = len(labels) - len(taken)
        n_test = min(p.ag_val, rest - p.ag_train) if rest > p.ag_train else 0
        if n_test <= 0:
            raise ValueError(
                f"AG News has {len(labels):,} rows: too few for {p.ag_train:,} train "
                f"+ {p.ag_val:,} validation + a test split."
            )
        test_idx = balanced_indices(labels, n_test, seed=seed + 2, exclude=taken)
        test = source.select(test_idx)
        taken |= same_text_rows(source, test_idx)
    train_idx = balanced_indices(labels, min(p.ag_train, len(labels) - len(taken)), seed=seed, exclude=taken)
    return Splits(
        train=source.select(train_idx),
        val=source.select(val_idx),
        test=test,
        label_names=LABEL_NAMES["ag_news"],
        note=note + f" Sizes: {len(train_idx):,} / {len(val_idx):,} / {len(test):,}.",
    )
