import os

import numpy as np
import pandas as pd
import pytest
from datasets import Dataset, load_dataset_builder
from datasets import config as hf_config
from fake_mirror import use_mirror, write_dataset

from conftest import imdb_rows
from tap.core import hub
from tap.core.profiles import get_profile
from tap.data import datasets


def test_mirror_has_the_hub_features_and_splits(mirror):
    imdb, ag = datasets.load("imdb"), datasets.load("ag_news")
    assert set(imdb) == datasets.SPLITS["imdb"] and set(ag) <= datasets.SPLITS["ag_news"]
    for name, ds in (("imdb", imdb), ("ag_news", ag)):
        for split in ds.values():
            assert dict(split.features) == datasets.expected_features(name)
    assert imdb["train"].features["label"].names == ["neg", "pos"]


def test_the_real_mirror_has_the_hub_features():
    """The offline copy next to the repository (when there is one) matches the Hub's schema."""
    root = os.environ.get(datasets.DATA_ENV)
    if not root or not os.path.isdir(root):
        pytest.skip(f"${datasets.DATA_ENV} is not set to a folder")
    for name, hub_id in datasets.HUB_IDS.items():
        builder = load_dataset_builder(os.path.join(root, hub_id))
        assert dict(builder.info.features) == datasets.expected_features(name), hub_id
        assert set(builder.config.data_files) <= datasets.SPLITS[name]


def _permuted_copy(root, target, seed):
    """The same rows as the mirror at ``root``, in another order (as the Hub's files have them)."""
    for name in datasets.HUB_IDS:
        splits = {}
        for path in (root / datasets.HUB_IDS[name]).rglob("*.parquet"):
            frame = pd.read_parquet(path)
            splits[path.name.split("-")[0]] = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
        write_dataset(target, name, splits)


def test_subsets_depend_on_content_not_row_order(mirror, tmp_path_factory, monkeypatch):
    profile = get_profile("smoke")

    def subsets():
        imdb, ag = datasets.imdb_splits(profile), datasets.ag_news_splits(profile)
        return [list(getattr(s, part)["text"]) for s in (imdb, ag) for part in ("train", "val", "test")]

    before = subsets()
    other = tmp_path_factory.mktemp("permuted")
    _permuted_copy(mirror, other, seed=7)
    use_mirror(monkeypatch, other)
    assert subsets() == before


def test_duplicate_texts_get_one_order(mirror, tmp_path_factory, monkeypatch):
    rows = imdb_rows(20)
    rows = pd.concat([rows, rows.iloc[:5], rows.iloc[30:33]]).reset_index(drop=True)  # duplicated reviews
    orders = []
    for seed in (1, 2):
        root = tmp_path_factory.mktemp(f"dups{seed}")
        frame = rows.sample(frac=1.0, random_state=seed).reset_index(drop=True)
        write_dataset(root, "imdb", {"train": frame, "test": frame})
        use_mirror(monkeypatch, root)
        orders.append(list(zip(datasets.load("imdb")["train"]["text"], datasets.load("imdb")["train"]["label"])))
    assert orders[0] == orders[1]


@pytest.mark.parametrize(
    "frame, message",
    [
        (pd.DataFrame({"review": ["a", "b"], "label": [0, 1]}), "columns \\['text'\\] are missing"),
        (pd.DataFrame({"text": ["a", "b"], "label": [1, 2]}), "'label' is"),
        (pd.DataFrame({"text": ["a", "b"], "label": ["neg", "pos"]}), "'label' is"),
    ],
)
def test_bad_columns_are_clear_errors_naming_the_source(tmp_path, monkeypatch, frame, message):
    folder = tmp_path / datasets.HUB_IDS["imdb"] / "plain_text"
    folder.mkdir(parents=True)
    frame.to_parquet(folder / "train-00000-of-00001.parquet")
    use_mirror(monkeypatch, tmp_path)
    with pytest.raises(datasets.DataFormatError, match=message) as err:
        datasets.load("imdb")
    assert "stanfordnlp/imdb" in str(err.value)


@pytest.mark.parametrize(
    "frame, message",
    [
        (pd.DataFrame({"text": ["a", None], "label": [0, 1]}), "'text' must be a string"),
        (pd.DataFrame({"text": ["a", "b"], "label": [0, 0]}), "single class"),
    ],
)
def test_bad_rows_are_clear_errors(tmp_path, monkeypatch, frame, message):
    write_dataset(tmp_path, "imdb", {"train": frame})
    use_mirror(monkeypatch, tmp_path)
    with pytest.raises(datasets.DataFormatError, match=message):
        datasets.load("imdb")


def test_two_copies_with_one_layout_are_never_confused(tmp_path, monkeypatch):
    """``datasets``' own cache keys a local folder by its layout; ours must not serve one
    folder's rows for another's."""
    monkeypatch.setattr(hf_config, "HF_DATASETS_CACHE", tmp_path / "shared-hf-cache")
    sizes = []
    for n in (30, 50):
        root = tmp_path / f"copy{n}"
        write_dataset(
            root,
            "ag_news",
            {"test": pd.DataFrame([{"text": f"story {i} topic {y}", "label": y} for y in range(4) for i in range(n)])},
        )
        monkeypatch.setenv("TAP_DATA_DIR", str(root))
        monkeypatch.setenv("TAP_CACHE_DIR", str(tmp_path / "tap-cache"))
        datasets.load.cache_clear()
        sizes.append(len(datasets.load("ag_news")["test"]))
    assert sizes == [120, 200]


def test_damaged_parquet_is_a_clear_error(mirror, monkeypatch):
    damaged = next((mirror / datasets.HUB_IDS["ag_news"]).rglob("*.parquet"))
    damaged.write_bytes(damaged.read_bytes()[:200])
    datasets.load.cache_clear()
    with pytest.raises(datasets.DataUnavailableError, match="damaged") as err:
        datasets.load("ag_news")
    assert "fancyzhx/ag_news" in str(err.value) and len(str(err.value).splitlines()) == 1


def test_full_profile_without_ag_news_train_split_is_a_clear_error(mirror):
    with pytest.raises(datasets.DataUnavailableError, match="train split"):
        datasets.ag_news_splits(get_profile("full"))


def test_balanced_indices_are_balanced_deterministic_and_respect_exclusions():
    labels = np.array([0] * 30 + [1] * 70)
    a = datasets.balanced_indices(labels, 20, seed=3)
    assert np.bincount(labels[a]).tolist() == [10, 10]
    assert np.array_equal(a, datasets.balanced_indices(labels, 20, seed=3))
    b = datasets.balanced_indices(labels, 20, seed=4, exclude=set(a.tolist()))
    assert not set(a) & set(b)
    with pytest.raises(ValueError, match="only"):
        datasets.balanced_indices(labels, 80, seed=0)


def test_imdb_splits_are_disjoint_and_balanced(mirror):
    s = datasets.imdb_splits(get_profile("smoke"))
    assert not set(s.train["text"]) & set(s.val["text"])
    assert sum(s.train["label"]) * 2 == len(s.train)
    assert len(s.test) == get_profile("smoke").imdb_test


def test_ag_news_without_train_split_is_split_three_ways(mirror):
    s = datasets.ag_news_splits(get_profile("smoke"))
    texts = [set(ds["text"]) for ds in (s.train, s.val, s.test)]
    assert not (texts[0] & texts[1] or texts[0] & texts[2] or texts[1] & texts[2])
    assert "only the 7,600-row test split" in s.note
    assert sum(map(len, texts)) == sum(get_profile("smoke").to_dict()[k] for k in ("ag_train", "ag_val")) + 32


def test_clear_error_when_neither_hub_nor_mirror(monkeypatch):
    monkeypatch.delenv("TAP_DATA_DIR", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    datasets.load.cache_clear()
    with pytest.raises(datasets.DataUnavailableError) as err:
        datasets.load("imdb")
    assert "TAP_DATA_DIR" in str(err.value) and "HF_HUB_OFFLINE" in str(err.value)


def test_mirror_without_files_names_the_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TAP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    datasets.load.cache_clear()
    with pytest.raises(datasets.DataUnavailableError, match="no Parquet files"):
        datasets.load("ag_news")


def test_offline_variables_skip_the_hub_probe(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub, "_reachable", lambda *a, **k: pytest.fail("probed the network"))
    hub.hub_available.cache_clear()
    assert hub.hub_available() is False
    hub.hub_available.cache_clear()


def test_hub_probe_result_is_remembered(tmp_path, monkeypatch):
    for var in hub.OFFLINE_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("TAP_CACHE_DIR", str(tmp_path))
    calls = []
    monkeypatch.setattr(hub, "_reachable", lambda *a, **k: calls.append(1) or False)
    for _ in range(2):
        hub.hub_available.cache_clear()
        assert hub.hub_available() is False
    hub.hub_available.cache_clear()
    assert calls == [1]


def test_unknown_profile_is_a_clear_error():
    with pytest.raises(ValueError, match="Valid profiles: smoke, book, full"):
        get_profile("huge")


def test_same_text_rows_reuses_the_hashes_of_the_content_order(monkeypatch):
    texts = ["b", "a", "c", "a", "b"]
    ordered = datasets.content_order(Dataset.from_dict({"text": texts, "label": [0, 1, 0, 1, 1]}))
    first_a = list(ordered["text"]).index("a")
    monkeypatch.setattr(datasets, "text_key", lambda text: pytest.fail("hashed a text again"))
    assert datasets.same_text_rows(ordered, np.array([first_a])) == {
        i for i, t in enumerate(ordered["text"]) if t == "a"
    }
