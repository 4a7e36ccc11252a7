"""A reader's own labelled texts for ``python -m tap playbook``: loaded with ``datasets``' own
loaders (CSV/TSV, JSON Lines, Parquet, a folder of them, or a Hub dataset), checked before any
training, and split by content as the book splits its own data.

Every problem is an ``InputError``: one line that names the file or column and the fix.
"""

from __future__ import annotations

import codecs
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from datasets import ClassLabel, Dataset, disable_progress_bars, load_dataset
from datasets.utils import logging as datasets_logging

from ..core.hub import hub_available, revision
from .datasets import DATA_ENV, Splits, column, content_order, read_folder, text_keys

LOADERS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}
VAL_SHARE, TEST_SHARE = 0.1, 0.2  # of the rows, carved by a hash of each text when no test set is given
MIN_PER_CLASS = {"train": 4, "val": 1, "test": 1}  # the fewest rows of each class a split may hold


class InputError(ValueError):
    """Bad input to the playbook, found before any training: the message names the fix."""


@dataclass
class TaskData:
    """The checked task: its splits (``text`` and an integer ``label`` column), where it came
    from, a digest of its content (part of every run's cache key), and the warnings raised."""

    name: str
    source: str
    splits: Splits
    digest: str
    warnings: list[str] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return len(self.splits.label_names)

    def summary(self) -> dict:
        """What the results record says about the data."""
        counts = {
            split: {name: int((np.asarray(ds["label"]) == i).sum()) for i, name in enumerate(self.splits.label_names)}
            for split, ds in (("train", self.splits.train), ("val", self.splits.val), ("test", self.splits.test))
        }
        return {
            "name": self.name,
            "source": self.source,
            "digest": self.digest,
            "classes": self.splits.label_names,
            "rows_per_class": counts,
            "note": self.splits.note,
            "warnings": self.warnings,
        }


def _files(path: Path) -> tuple[str, list[str], dict]:
    """``datasets``' builder name, the data files and its options for a file or a folder of them."""
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in LOADERS) if path.is_dir() else [path]
    if not files:
        raise InputError(f"{path} holds no {', '.join(LOADERS)} file; point DATA at one, or at a folder of them.")
    suffixes = {p.suffix.lower() for p in files}
    if path.is_file() and path.suffix.lower() not in LOADERS:
        raise InputError(f"{path} is not a {', '.join(LOADERS)} file; convert it to CSV, JSON Lines or Parquet.")
    builders = {LOADERS[s] for s in suffixes}
    if len(builders) > 1 or suffixes == {".csv", ".tsv"}:
        raise InputError(f"{path} mixes file types ({', '.join(sorted(suffixes))}); keep one type per folder.")
    options = {"delimiter": "\t"} if suffixes == {".tsv"} else {}
    builder = builders.pop()
    if builder != "parquet":
        for p in files:
            _check_utf8(p)
    return builder, [str(p) for p in files], options


def _check_utf8(path: Path, chunk: int = 1 << 20) -> None:
    """Text files must be UTF-8: say where one is not, before a loader fails deep inside Arrow."""
    decoder, offset = codecs.getincrementaldecoder("utf-8")(), 0
    with open(path, "rb") as f:
        while block := f.read(chunk):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as err:
                raise InputError(
                    f"{path} is not UTF-8 text (byte {offset + err.start:,} is {block[err.start]:#04x}); "
                    "save it as UTF-8 and run again."
                ) from None
            offset += len(block)


def _root_cause(err: BaseException) -> BaseException:
    while err.__cause__ or err.__context__:
        err = err.__cause__ or err.__context__
    return err


def read(source: str, config: str | None = None, split: str = "train") -> Dataset:
    """One table: a local file or folder through ``datasets``' CSV/JSON/Parquet loaders, or a
    split of a Hub dataset (``config``, ``split``). Unreadable input is an ``InputError``."""
    path = Path(source)
    verbosity = datasets_logging.get_verbosity()
    datasets_logging.set_verbosity(datasets_logging.CRITICAL)  # a failure is reported once, below, in one line
    try:
        if path.exists():
            builder, files, options = _files(path)
            return load_dataset(builder, data_files=files, split="train", **options)
        if path.suffix.lower() in LOADERS or "/" not in source:
            raise InputError(
                f"{source}: no such file or folder (and not a Hub dataset id such as 'fancyzhx/ag_news')."
            )
        return _from_hub(source, config, split)
    except InputError:
        raise
    except Exception as err:  # noqa: BLE001 - every loader failure becomes one line naming the input
        cause = _root_cause(err)
        what = "the Hub dataset" if not path.exists() else "the file"
        raise InputError(
            f"{source}: {what} could not be read ({type(cause).__name__}: {cause}); "
            "check that it is complete and of the type its name says."
        ) from err
    finally:
        datasets_logging.set_verbosity(verbosity)


def _from_hub(hub_id: str, config: str | None, split: str) -> Dataset:
    """A split of a Hub dataset: from the Hub when it answers, else from the local copy of its
    repository under ``$TAP_DATA_DIR`` (the same files, so the same rows)."""
    if hub_available():
        return load_dataset(hub_id, config, split=split, revision=revision(hub_id))
    folder = Path(os.environ.get(DATA_ENV, "")).expanduser() / hub_id
    if not os.environ.get(DATA_ENV) or not folder.is_dir():
        raise InputError(
            f"{hub_id}: the Hugging Face Hub is unreachable here and ${DATA_ENV} holds no copy of it; connect, "
            f"or download the dataset repository to ${DATA_ENV}/{hub_id}."
        )
    return read_folder(folder, config, split=split)


def _check_columns(ds: Dataset, source: str, text: str, label: str) -> None:
    for name, flag in ((text, "--text"), (label, "--label")):
        if name not in ds.column_names:
            raise InputError(
                f"{source} has no column {name!r}; its columns are: {', '.join(ds.column_names)}. "
                f"Name one with {flag}."
            )


def _empty_rows(ds: Dataset, text: str, label: str) -> list[int]:
    """Rows whose text is missing or blank, or whose label is missing."""
    return [
        i
        for i, (t, y) in enumerate(zip(column(ds, text), column(ds, label)))
        if y is None or t is None or not str(t).strip()
    ]


def _tidy(ds: Dataset, source: str, text: str, label: str, drop_empty: bool, warnings: list[str]) -> Dataset:
    """The text and label columns only, named ``text`` and ``label``, without empty rows (with ``drop_empty``)."""
    _check_columns(ds, source, text, label)
    empty = _empty_rows(ds, text, label)
    if empty and not drop_empty:
        raise InputError(
            f"{source}: {len(empty):,} of {len(ds):,} rows have an empty or missing {text!r} or {label!r}; "
            "fill them in, or pass --drop-empty to leave them out."
        )
    if empty:
        warnings.append(f"{source}: {len(empty):,} rows with an empty text or label were left out (--drop-empty).")
        keep = sorted(set(range(len(ds))) - set(empty))
        ds = ds.select(keep)
    if text == label:
        raise InputError(f"--text and --label both name {text!r}; the label must be a column of its own.")
    ds = ds.select_columns([text, label]).rename_columns({text: "text", label: "label"})
    if getattr(ds.features["text"], "dtype", None) != "string":
        ds = ds.map(lambda row: {"text": str(row["text"])})
    return ds


def _label_names(tables: list[Dataset]) -> list[str]:
    """The classes: a ``ClassLabel``'s own names, else the values seen, numbers in numeric order."""
    feature = tables[0].features["label"]
    if isinstance(feature, ClassLabel):
        return list(feature.names)
    values = {v for t in tables for v in column(t, "label")}
    numeric = all(isinstance(v, (int, float, np.integer)) and not isinstance(v, bool) for v in values)
    return [str(v) for v in sorted(values, key=float if numeric else str)]


def _encode(ds: Dataset, names: list[str]) -> Dataset:
    """Labels as class indices under a ``ClassLabel`` with ``names``."""
    if isinstance(ds.features["label"], ClassLabel):
        return ds
    index = {name: i for i, name in enumerate(names)}
    ds = ds.map(lambda row: {"label": index[str(row["label"])]})
    return ds.cast_column("label", ClassLabel(names=names))


def _carve(ds: Dataset, start: float, stop: float) -> Dataset:
    """The rows whose text's hash, as a share of [0, 1), falls in [start, stop), in their order: the
    split ignores row order, and rows with the same text always land on the same side."""
    shares = text_keys(ds) / 2**64
    return ds.select(np.flatnonzero((shares >= start) & (shares < stop)))


def check_classes(splits: dict[str, Dataset], names: list[str], source: str) -> None:
    """Two classes or more, and enough rows of each in every split to train, choose and test."""
    if len(names) < 2:
        raise InputError(
            f"{source} has a single class ({names[0] if names else 'none'}); a classifier needs two or more."
        )
    for split, ds in splits.items():
        counts = np.bincount(np.asarray(column(ds, "label"), dtype=int), minlength=len(names))
        for name, n in zip(names, counts):
            if n < MIN_PER_CLASS[split]:
                raise InputError(
                    f"{source}: class {name!r} has {n} rows in the {split} split, fewer than the "
                    f"{MIN_PER_CLASS[split]} it needs; add examples of it, or leave the class out."
                )


def _digest(*tables: Dataset) -> str:
    h = hashlib.sha256()
    for t in tables:
        for text, label in zip(column(t, "text"), column(t, "label")):
            h.update(f"{label}\t{text}\n".encode())
    return h.hexdigest()[:16]


def load_task(
    data: str,
    text: str = "text",
    label: str = "label",
    test: str | None = None,
    config: str | None = None,
    split: str = "train",
    drop_empty: bool = False,
) -> TaskData:
    """Load, check and split a labelled text task. ``test``: a file, or a split of the Hub
    dataset; without it, a test set is carved by content hash. Validation is carved from
    training the same way. Test texts also found in training are left out of the test set."""
    disable_progress_bars()  # the checks take a second; the command prints its own progress
    warnings: list[str] = []
    train = _tidy(read(data, config, split), data, text, label, drop_empty, warnings)
    if test is not None:
        test_source = test if Path(test).exists() or "/" in test else data
        test_table = read(test, config) if test_source == test else read(data, config, test)
        test_ds = _tidy(test_table, test, text, label, drop_empty, warnings)
        names = _label_names([train, test_ds])
        train, test_ds = _encode(train, names), _encode(test_ds, names)
        seen = set(column(train, "text"))
        leaked = [i for i, t in enumerate(column(test_ds, "text")) if t in seen]
        if leaked:
            warnings.append(
                f"{len(leaked):,} test texts also appear in the training data (leakage); they were left out of the test set."
            )
            test_ds = test_ds.select(sorted(set(range(len(test_ds))) - set(leaked)))
        val_ds, train = _carve(train, 0, VAL_SHARE), _carve(train, VAL_SHARE, 1)
        note = f"the given test set; validation carved from training by a hash of each text ({VAL_SHARE:.0%})"
    else:
        names = _label_names([train])
        train = _encode(train, names)
        test_ds = _carve(train, 0, TEST_SHARE)
        val_ds = _carve(train, TEST_SHARE, TEST_SHARE + VAL_SHARE)
        train = _carve(train, TEST_SHARE + VAL_SHARE, 1)
        note = f"test ({TEST_SHARE:.0%}) and validation ({VAL_SHARE:.0%}) carved from the data by a hash of each text"
    parts = {"train": train, "val": val_ds, "test": test_ds}
    check_classes(parts, names, data)
    ordered = {k: content_order(v) for k, v in parts.items()}
    splits = Splits(ordered["train"], ordered["val"], ordered["test"], names, note)
    name = Path(data).stem if Path(data).exists() else data.rsplit("/", 1)[-1]
    return TaskData(name, data, splits, _digest(*ordered.values()), warnings)


def subset(ds: Dataset, n: int, seed: int = 0) -> Dataset:
    """``n`` rows: the first in content order (seed 0), or in an order that ``seed`` shuffles
    the content order into, so another seed draws other rows, the same on every machine.
    Subsets of one seed are nested; classes keep their natural proportions."""
    order = np.random.default_rng(seed).permutation(len(ds)) if seed else np.arange(len(ds))
    return ds.select(order[: min(n, len(ds))])
