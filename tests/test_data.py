import numpy as np
import pytest

from tap import data, hub
from tap.profiles import get_profile


def test_mirror_loads_all_imdb_splits(mirror):
    imdb = data.load("imdb")
    assert set(imdb) == {"train", "test", "unsupervised"}
    assert {"text", "label", "id", "rating"} <= set(imdb["train"].column_names)


def test_balanced_indices_are_balanced_deterministic_and_respect_exclusions():
    labels = np.array([0] * 30 + [1] * 70)
    a = data.balanced_indices(labels, 20, seed=3)
    assert np.bincount(labels[a]).tolist() == [10, 10]
    assert np.array_equal(a, data.balanced_indices(labels, 20, seed=3))
    b = data.balanced_indices(labels, 20, seed=4, exclude=set(a.tolist()))
    assert not set(a) & set(b)
    with pytest.raises(ValueError, match="only"):
        data.balanced_indices(labels, 80, seed=0)


def test_imdb_splits_are_disjoint_and_balanced(mirror):
    s = data.imdb_splits(get_profile("smoke"))
    keys = lambda ds: {(r["label"], r["id"]) for r in ds}  # noqa: E731 - ids repeat across labels
    assert not keys(s.train) & keys(s.val)
    assert sum(s.train["label"]) * 2 == len(s.train)
    assert len(s.test) == get_profile("smoke").imdb_test


def test_ag_news_without_train_split_is_split_three_ways(mirror):
    s = data.ag_news_splits(get_profile("smoke"))
    texts = [set(ds["text"]) for ds in (s.train, s.val, s.test)]
    assert not (texts[0] & texts[1] or texts[0] & texts[2] or texts[1] & texts[2])
    assert "only the 7,600-row test split" in s.note


def test_clear_error_when_neither_hub_nor_mirror(monkeypatch):
    monkeypatch.delenv("TAP_DATA_DIR", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data.load.cache_clear()
    with pytest.raises(data.DataUnavailableError) as err:
        data.load("imdb")
    assert "TAP_DATA_DIR" in str(err.value) and "HF_HUB_OFFLINE" in str(err.value)


def test_mirror_without_files_names_the_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TAP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data.load.cache_clear()
    with pytest.raises(data.DataUnavailableError, match="no Parquet files"):
        data.load("ag_news")


def test_offline_variables_skip_the_hub_probe(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub, "_probe", lambda *a, **k: pytest.fail("probed the network"))
    hub.hub_available.cache_clear()
    assert hub.hub_available() is False
    hub.hub_available.cache_clear()


def test_hub_probe_result_is_remembered(tmp_path, monkeypatch):
    for var in hub.OFFLINE_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("TAP_CACHE_DIR", str(tmp_path))
    calls = []
    monkeypatch.setattr(hub, "_probe", lambda *a, **k: calls.append(1) or False)
    for _ in range(2):
        hub.hub_available.cache_clear()
        assert hub.hub_available() is False
    hub.hub_available.cache_clear()
    assert calls == [1]


def test_unknown_profile_is_a_clear_error():
    with pytest.raises(ValueError, match="Valid profiles: smoke, book, full"):
        get_profile("huge")
