import pytest
import torch

from tap import cache


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TAP_CACHE_DIR", str(tmp_path))


def make(calls):
    def compute():
        calls.append(1)
        return {"test_accuracy": 0.9}, {"w": torch.arange(3.0)}
    return compute


def test_miss_then_hit():
    calls = []
    rec, state = cache.cached_run("run", {"lr": 1}, make(calls))
    assert rec["from_cache"] is False and calls == [1]
    rec, state = cache.cached_run("run", {"lr": 1}, make(calls))
    assert rec["from_cache"] is True and calls == [1]
    assert torch.equal(state["w"], torch.arange(3.0)) and rec["config"] == {"lr": 1}


def test_other_config_is_a_miss_and_key_ignores_order():
    calls = []
    cache.cached_run("run", {"lr": 1, "seed": 0}, make(calls))
    cache.cached_run("run", {"seed": 0, "lr": 1}, make(calls))
    cache.cached_run("run", {"lr": 2, "seed": 0}, make(calls))
    assert calls == [1, 1]


@pytest.mark.parametrize("damage", ["truncate_state", "edit_record", "remove_manifest"])
def test_corrupted_entry_is_detected_and_recomputed(damage):
    calls = []
    cache.cached_run("run", {"lr": 1}, make(calls))
    folder = next((cache.cache_dir() / "runs").iterdir())
    if damage == "truncate_state":
        (folder / "state.pt").write_bytes((folder / "state.pt").read_bytes()[:10])
    elif damage == "edit_record":
        (folder / "record.json").write_text('{"test_accuracy": 1.0}')
    else:
        (folder / "manifest.json").unlink()
    with pytest.warns(UserWarning, match="corrupted"):
        rec, state = cache.cached_run("run", {"lr": 1}, make(calls))
    assert calls == [1, 1] and rec["test_accuracy"] == 0.9 and rec["from_cache"] is False


def test_no_partial_entry_is_left_when_compute_fails():
    def boom():
        raise RuntimeError("out of memory")
    with pytest.raises(RuntimeError):
        cache.cached_run("run", {"lr": 1}, boom)
    runs = cache.cache_dir() / "runs"
    assert not runs.exists() or not any(runs.iterdir())
