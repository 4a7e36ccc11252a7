import pytest
import torch

from tap.core import cache


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
    leftovers = [p for p in (cache.cache_dir() / "runs").iterdir() if not p.name.endswith(".lock")]
    assert leftovers == []


def make_folder(calls):
    def compute(folder):
        calls.append(1)
        (folder / "weights.bin").write_bytes(b"\x00\x01" * 100)
        (folder / "sub").mkdir()
        (folder / "sub" / "vocab.txt").write_text("a\nb\n")
        return {"loss": 1.5}

    return compute


def test_cached_folder_miss_then_hit():
    calls = []
    folder, rec = cache.cached_folder("model", {"d": 8}, make_folder(calls))
    assert rec["from_cache"] is False and rec["loss"] == 1.5 and calls == [1]
    again, rec = cache.cached_folder("model", {"d": 8}, make_folder(calls))
    assert again == folder and rec["from_cache"] is True and calls == [1]
    assert (folder / "sub" / "vocab.txt").read_text() == "a\nb\n" and rec["config"] == {"d": 8}
    cache.cached_folder("model", {"d": 16}, make_folder(calls))
    assert calls == [1, 1]


@pytest.mark.parametrize("damage", ["truncate_file", "delete_nested", "remove_manifest"])
def test_cached_folder_detects_damage_and_recomputes(damage):
    calls = []
    folder, _ = cache.cached_folder("model", {"d": 8}, make_folder(calls))
    if damage == "truncate_file":
        (folder / "weights.bin").write_bytes(b"\x00")
    elif damage == "delete_nested":
        (folder / "sub" / "vocab.txt").unlink()
    else:
        (folder / "manifest.json").unlink()
    with pytest.warns(UserWarning, match="corrupted"):
        _, rec = cache.cached_folder("model", {"d": 8}, make_folder(calls))
    assert calls == [1, 1] and rec["from_cache"] is False and (folder / "weights.bin").stat().st_size == 200


def test_cached_folder_leaves_nothing_when_compute_fails():
    def boom(folder):
        (folder / "half-written.bin").write_bytes(b"x")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        cache.cached_folder("model", {"d": 8}, boom)
    leftovers = [p for p in (cache.cache_dir() / "folders").iterdir() if not p.name.endswith(".lock")]
    assert leftovers == []
