"""Faults and bad input: each test reproduces one and checks that nothing is lost, nothing is
silently wrong, and the message names the problem and the fix.

Concurrency and crashes use forked processes (fast: ``tap`` is already imported), killed with
SIGKILL where the fault is a killed writer.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import torch
from fake_mirror import use_mirror, write_dataset

from conftest import imdb_rows
from tap import __main__ as cli
from tap.chapters.harness import Outcome
from tap.core import cache, hub
from tap.core.profiles import get_profile
from tap.data import datasets
from tap.data.datasets import DataFormatError, DataUnavailableError
from tap.methods import adapters, lora
from tap.models.pretrained import ModelUnavailableError

fork = multiprocessing.get_context("fork")


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TAP_CACHE_DIR", str(tmp_path / "cache"))


def temp_folders(kind: str) -> list[Path]:
    """The ``.<entry>-xxxxxxxx`` folders writers leave behind while (or if) they write."""
    return [p for p in (cache.cache_dir() / kind).glob(".*") if p.is_dir()]


def entry_folder(kind: str) -> Path:
    return next(p for p in (cache.cache_dir() / kind).iterdir() if not p.name.startswith("."))


# --------------------------------------------------------------------------- concurrent writers


def counting_compute(counter: Path):
    """A slow compute that counts its calls in a file and says which process ran it."""

    def compute(folder: Path | None = None):
        with counter.open("a") as f:
            f.write("call\n")
        time.sleep(0.5)
        if folder is None:
            return {"computed_by": os.getpid()}, {"w": torch.full((3,), float(os.getpid()))}
        (folder / "pid.txt").write_text(str(os.getpid()))
        return {"computed_by": os.getpid()}

    return compute


def ask_for_entry(kind: str, counter: Path, start, out: Path) -> None:
    """In a child process: wait for the others, then ask for the one entry and save the answer."""
    start.wait()
    if kind == "runs":
        record, state = cache.cached_run("race", {"lr": 1}, counting_compute(counter))
        answer = {**record, "state": state["w"].tolist()}
    else:
        folder, record = cache.cached_folder("race", {"lr": 1}, counting_compute(counter))
        answer = {**record, "pid.txt": (folder / "pid.txt").read_text()}
    out.write_text(json.dumps(answer))


@pytest.mark.parametrize("kind", ["runs", "folders"])
def test_processes_filling_one_entry_compute_it_once(kind, tmp_path):
    counter, start = tmp_path / "calls.txt", fork.Barrier(3)
    outs = [tmp_path / f"answer{i}.json" for i in range(3)]
    workers = [fork.Process(target=ask_for_entry, args=(kind, counter, start, out)) for out in outs]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert [w.exitcode for w in workers] == [0, 0, 0]
    assert counter.read_text().count("call") == 1  # the two that waited reused the first one's result
    answers = [json.loads(out.read_text()) for out in outs]
    assert sorted(a.pop("from_cache") for a in answers) == [False, True, True]
    assert answers[0] == answers[1] == answers[2]
    assert temp_folders(kind) == []


# --------------------------------------------------------------------------- killed writers


def hang(ready: Path) -> None:
    ready.touch()
    time.sleep(60)


def write_then_get_killed(kind: str, moment: str, ready: Path) -> None:
    """In a child process: start writing an entry and hang at ``moment`` until killed."""
    if moment == "writing":

        def partial_save(state, path):
            Path(path).write_bytes(b"half a checkpoint")
            hang(ready)

        cache.torch.save = partial_save  # this process only
    if kind == "runs":

        def compute():
            if moment == "training":
                hang(ready)
            return {}, {"w": torch.ones(2)}

        cache.cached_run("killed", {"lr": 1}, compute)
    else:

        def compute(folder):
            (folder / "weights.bin").write_bytes(b"\x00" * 100)
            hang(ready)

        cache.cached_folder("killed", {"lr": 1}, compute)


@pytest.mark.parametrize("kind, moment", [("runs", "training"), ("runs", "writing"), ("folders", "training")])
def test_writer_killed_midway_leaves_a_temp_folder_the_next_call_sweeps(kind, moment, tmp_path):
    ready = tmp_path / "ready"
    child = fork.Process(target=write_then_get_killed, args=(kind, moment, ready))
    child.start()
    deadline = time.time() + 30
    while not ready.exists() and time.time() < deadline:
        time.sleep(0.02)
    os.kill(child.pid, signal.SIGKILL)
    child.join(10)
    assert child.exitcode == -signal.SIGKILL and len(temp_folders(kind)) == 1

    calls = []

    def compute(folder: Path | None = None):
        calls.append(1)
        return {"ok": 1} if folder else ({"ok": 1}, {"w": torch.ones(2)})

    if kind == "runs":
        record, state = cache.cached_run("killed", {"lr": 1}, compute)
        assert torch.equal(state["w"], torch.ones(2))
    else:
        folder, record = cache.cached_folder("killed", {"lr": 1}, compute)
    assert calls == [1] and record["ok"] == 1 and record["from_cache"] is False
    assert temp_folders(kind) == []


def test_sweep_keeps_the_temp_folder_of_a_living_writer():
    runs = cache.cache_dir() / "runs"
    runs.mkdir(parents=True)
    tmp = runs / ".other-0123456789abcdef-x1y2z3_a"
    tmp.mkdir()
    with cache._lock(runs / ".other-0123456789abcdef.lock"):  # its writer is alive
        cache.cached_run("mine", {"lr": 1}, lambda: ({}, None))
        assert tmp.exists()
    cache.cached_run("mine", {"lr": 2}, lambda: ({}, None))  # its writer has gone
    assert not tmp.exists()


# --------------------------------------------------------------------------- damaged manifests


def rewrite_manifest(folder: Path, manifest) -> None:
    (folder / "manifest.json").write_text(json.dumps(manifest))


def drop_state(folder: Path) -> None:
    """state.pt gone and the manifest made consistent with that: only the record knows."""
    (folder / "state.pt").unlink()
    manifest = json.loads((folder / "manifest.json").read_text())
    rewrite_manifest(folder, {"record.json": manifest["record.json"]})


def list_a_file_outside(folder: Path) -> None:
    """A manifest that is right about the entry's files but also names one outside it."""
    (folder.parent / "elsewhere.txt").write_text("x")
    manifest = json.loads((folder / "manifest.json").read_text())
    rewrite_manifest(folder, {**manifest, "../elsewhere.txt": hashlib.sha256(b"x").hexdigest()})


DAMAGE = {
    "list": lambda f: rewrite_manifest(f, []),
    "null": lambda f: rewrite_manifest(f, None),
    "empty": lambda f: rewrite_manifest(f, {}),
    "string": lambda f: rewrite_manifest(f, "x"),
    "outside": lambda f: list_a_file_outside(f),
}


@pytest.mark.parametrize("damage", [*DAMAGE, "missing state.pt"])
def test_bad_run_manifest_is_recomputed_then_served(damage):
    compute = lambda: ({"acc": 0.9}, {"w": torch.arange(3.0)})  # noqa: E731
    cache.cached_run("run", {"lr": 1}, compute)
    (drop_state if damage == "missing state.pt" else DAMAGE[damage])(entry_folder("runs"))
    with pytest.warns(UserWarning, match="corrupted"):
        record, state = cache.cached_run("run", {"lr": 1}, compute)
    assert record["from_cache"] is False and torch.equal(state["w"], torch.arange(3.0))
    record, state = cache.cached_run("run", {"lr": 1}, compute)
    assert record["from_cache"] is True and record["acc"] == 0.9 and torch.equal(state["w"], torch.arange(3.0))
    assert cache.HAS_STATE not in record


def test_run_without_state_is_still_served_as_none():
    cache.cached_run("run", {"lr": 1}, lambda: ({"acc": 0.9}, None))
    record, state = cache.cached_run("run", {"lr": 1}, lambda: pytest.fail("recomputed"))
    assert record["from_cache"] is True and state is None


@pytest.mark.parametrize("damage", DAMAGE)
def test_bad_folder_manifest_is_recomputed(damage):
    compute = lambda f: ((f / "a.txt").write_text("a"), {"loss": 1.0})[1]  # noqa: E731
    cache.cached_folder("model", {"d": 8}, compute)
    DAMAGE[damage](entry_folder("folders"))
    with pytest.warns(UserWarning, match="corrupted"):
        folder, record = cache.cached_folder("model", {"d": 8}, compute)
    assert record["from_cache"] is False and (folder / "a.txt").read_text() == "a"
    assert cache.cached_folder("model", {"d": 8}, compute)[1]["from_cache"] is True


# --------------------------------------------------------------------------- read-only cache


def snapshot(root: Path) -> list[tuple[str, int, int]]:
    return sorted((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in root.rglob("*"))


@pytest.fixture
def read_only(monkeypatch):
    """Make the cache read-only after filling it: chmod, and where that has no effect (root),
    ``os.access`` answers as it would for anyone else; ``snapshot`` checks nothing is written."""

    def make_read_only() -> Path:
        root = cache.cache_dir()
        folders = [root, *(p for p in root.rglob("*") if p.is_dir())]
        for folder in folders:
            folder.chmod(0o555)
        if os.access(root, os.W_OK):
            real_access = os.access
            monkeypatch.setattr(
                os,
                "access",
                lambda path, mode, *a, **k: (
                    False if mode & os.W_OK and Path(path).is_relative_to(root) else real_access(path, mode, *a, **k)
                ),
            )
        undo.extend(folders)
        return root

    undo: list[Path] = []
    yield make_read_only
    for folder in undo:
        folder.chmod(0o755)


def test_read_only_cache_serves_hits_without_writing(read_only, recwarn):
    cache.cached_run("run", {"lr": 1}, lambda: ({"acc": 0.9}, {"w": torch.ones(2)}))
    cache.cached_folder("model", {"d": 8}, lambda f: ((f / "a.txt").write_text("a"), {"loss": 1.0})[1])
    root = read_only()
    before = snapshot(root)
    record, state = cache.cached_run("run", {"lr": 1}, lambda: pytest.fail("recomputed"))
    folder, rec = cache.cached_folder("model", {"d": 8}, lambda f: pytest.fail("recomputed"))
    assert record["from_cache"] and rec["from_cache"] and (folder / "a.txt").read_text() == "a"
    assert snapshot(root) == before and len(recwarn) == 0


def test_read_only_cache_warns_before_computing_a_miss_and_returns_the_result(read_only):
    cache.cached_run("run", {"lr": 1}, lambda: ({}, None))
    cache.cached_folder("model", {"d": 8}, lambda f: {})
    root = read_only()
    before = snapshot(root)
    with pytest.warns(UserWarning, match=r"not writable.*TAP_CACHE_DIR") as warned:

        def compute_run():
            assert len(warned) == 1, "the warning must come before the work"
            return {"acc": 0.8}, {"w": torch.zeros(2)}

        def compute_folder(folder):
            assert len(warned) == 2, "the warning must come before the work"
            (folder / "a.txt").write_text("new")
            return {"loss": 2.0}

        record, state = cache.cached_run("run", {"lr": 2}, compute_run)
        folder, rec = cache.cached_folder("model", {"d": 16}, compute_folder)
    assert record["acc"] == 0.8 and torch.equal(state["w"], torch.zeros(2)) and not record["from_cache"]
    assert rec["loss"] == 2.0 and (folder / "a.txt").read_text() == "new" and not folder.is_relative_to(root)
    assert snapshot(root) == before


# --------------------------------------------------------------------------- command line


def fake_experiment(monkeypatch, error: BaseException | None = None) -> list[str]:
    """Replace every experiment by one that records its call and raises ``error``."""
    calls: list[str] = []

    def experiment(profile):
        calls.append(profile.name)
        if error:
            raise error
        return Outcome(records={"run": {"test_accuracy": 0.5, "test_size": 10}})

    monkeypatch.setattr(cli, "chapter", lambda name: SimpleNamespace(experiment=experiment))
    return calls


@pytest.mark.parametrize("where", ["file", "below a file"])
def test_out_naming_a_file_is_rejected_before_the_experiment_runs(where, tmp_path, monkeypatch, capsys):
    calls = fake_experiment(monkeypatch)
    (tmp_path / "results.txt").write_text("keep me")
    out = tmp_path / "results.txt" / ("" if where == "file" else "sub")
    assert cli.main(["run", "ch01", "--profile", "smoke", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert calls == [] and err.count("\n") == 1 and "Cannot use --out" in err and "Pass a folder" in err
    assert (tmp_path / "results.txt").read_text() == "keep me"


def test_out_folder_is_created_and_written(tmp_path, monkeypatch, capsys):
    fake_experiment(monkeypatch)
    assert cli.main(["run", "ch01", "--profile", "smoke", "--out", str(tmp_path / "new" / "out")]) == 0
    assert json.loads((tmp_path / "new/out/ch01/smoke/records.json").read_text())["run"]["test_size"] == 10


@pytest.mark.parametrize(
    "error",
    [
        DataUnavailableError("no data: set TAP_DATA_DIR"),
        DataFormatError("bad labels:\nfix the file"),
        ModelUnavailableError("no model: connect to the Hub"),
    ],
)
def test_project_errors_are_one_line_with_exit_status_1(error, monkeypatch, tmp_path, capsys):
    fake_experiment(monkeypatch, error)
    assert cli.main(["run", "ch01", "--profile", "smoke", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and " ".join(str(error).split()) in err
    with pytest.raises(type(error)):
        cli.main(["run", "ch01", "--profile", "smoke", "--out", str(tmp_path), "--debug"])


def test_ctrl_c_during_a_run_is_one_line_with_exit_status_130(monkeypatch, tmp_path, capsys):
    fake_experiment(monkeypatch, KeyboardInterrupt())
    assert cli.main(["run", "ch01", "--profile", "smoke", "--out", str(tmp_path)]) == 130
    assert capsys.readouterr().err == (
        "interrupted: finished runs are in the run cache; the same command resumes from them.\n"
    )


def test_an_unexpected_error_keeps_its_traceback(monkeypatch, tmp_path):
    fake_experiment(monkeypatch, KeyError("a bug"))
    with pytest.raises(KeyError):
        cli.main(["run", "ch01", "--profile", "smoke", "--out", str(tmp_path)])


def test_data_unavailable_from_the_command_line_is_one_line(tmp_path, monkeypatch, capsys):
    (tmp_path / "empty-mirror").mkdir()
    monkeypatch.setenv("TAP_DATA_DIR", str(tmp_path / "empty-mirror"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    datasets.load.cache_clear()
    assert cli.main(["run", "ch01", "--profile", "smoke", "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "TAP_DATA_DIR" in err


# --- methods: every setting checked before the model changes ------------------------------------


def _tiny_encoder():
    from tap.core.profiles import get_profile
    from tap.models.encoder import TransformerClassifier

    torch.manual_seed(0)
    return TransformerClassifier(get_profile("smoke").encoder, num_classes=2)


def _snapshot(model):
    return (
        {n: p.detach().clone() for n, p in model.state_dict().items()},
        {n: p.requires_grad for n, p in model.named_parameters()},
        [type(m) for m in model.modules()],
    )


def _unchanged(model, before) -> bool:
    state, grads, kinds = _snapshot(model)
    return (
        state.keys() == before[0].keys()
        and all(torch.equal(state[k], before[0][k]) for k in state)
        and grads == before[1]
        and kinds == before[2]
    )


DROPOUT = (
    "LoRA dropout must be a probability in [0, 1) (the share of the adapter's input zeroed in training), "
    "got {}. Typical values: 0.0 (none) to 0.1."
)
TARGETS = "LoRA targets must be module names, name suffixes (a list of strings) or one regular expression, got "


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m: lora.apply_lora(m, "nothing_like_this"), "matched no module"),
        (lambda m: lora.apply_lora(m, ["query", "value"], rank=10_000), "larger than"),
        (lambda m: lora.apply_lora(m, "query", rank=0), "positive integer"),
        (lambda m: adapters.add_adapters(m, bottleneck=0), "at least 1"),
        (lambda m: adapters.add_adapters(m, targets="nothing_like_this"), "Adapters"),
        # each argument is checked before the base is frozen or a layer replaced (the embedding comes first)
        (lambda m: lora.apply_lora(m, ["query"], dropout=1.0), DROPOUT.format(1.0)),
        (lambda m: lora.apply_lora(m, ["embedding", "query"], dropout=-0.1), DROPOUT.format(-0.1)),
        (lambda m: lora.apply_lora(m, ["query"], keep="head"), "keep must be a list of name parts"),
        (lambda m: lora.apply_lora(m, ["query"], seed="0"), "seed must be an integer"),
        (lambda m: lora.apply_lora(m, None), TARGETS),
        (lambda m: lora.apply_lora(m, ["query", 3]), TARGETS),
        (lambda m: lora.apply_lora(m, "query[("), "LoRA target 'query[(' is not a valid regular expression"),
        (
            lambda m: adapters.add_adapters(m, bottleneck=2.5),
            "Adapter bottleneck must be a whole number (the adapter's inner width), got 2.5. "
            "Pass an integer of at least 1, or bottleneck=None for hidden // reduction_factor.",
        ),
        (
            lambda m: adapters.add_adapters(m, reduction_factor=0),
            "Adapter reduction_factor must be a positive integer (the bottleneck is hidden // reduction_factor), "
            "got 0. AdapterHub's default is 16; or pass bottleneck=m directly.",
        ),
        (lambda m: adapters.add_adapters(m, targets="a[("), "Adapter target 'a[(' is not a valid regular expression"),
        (lambda m: adapters.add_adapters(m, seed=None), "seed must be an integer"),
    ],
)
def test_a_failed_method_call_leaves_the_model_untouched(call, message):
    model = _tiny_encoder()
    before = _snapshot(model)
    with pytest.raises(ValueError) as err:
        call(model)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert _unchanged(model, before)


@pytest.mark.parametrize("method", ["lora", "adapters"])
def test_a_target_naming_the_model_itself_is_refused(method):
    layer = torch.nn.Linear(8, 8)
    before = _snapshot(layer)
    wrapper = "LinearWithLoRA(model, rank, alpha)" if method == "lora" else "LinearWithAdapter(model, Adapter(...))"
    with pytest.raises(ValueError) as err:
        lora.apply_lora(layer, ".*") if method == "lora" else adapters.add_adapters(layer, targets=".*")
    assert str(err.value) == (
        f"{'LoRA' if method == 'lora' else 'Adapter'} target '.*' matches the model itself (a bare Linear), which "
        f"cannot be replaced in place. Build {wrapper} instead, or wrap the model (nn.Sequential(model)) and target '0'."
    )
    assert _unchanged(layer, before)
    wrapped = torch.nn.Sequential(layer)  # the fix the message names
    assert lora.apply_lora(wrapped, "0", rank=2) == ["0"] and len(wrapped.state_dict()) == 4


def test_lora_applied_twice_is_a_clear_error():
    model = _tiny_encoder()
    lora.apply_lora(model, ["query"], rank=2)
    before = _snapshot(model)
    for targets in (["query"], r"layers\.0\.attention\.query.*"):
        with pytest.raises(ValueError, match="already on"):
            lora.apply_lora(model, targets, rank=2)
        assert _unchanged(model, before)
    assert len(lora.apply_lora(model, ["value"], rank=4, freeze=False)) == len(model.layers)  # other layers: fine


# --- the data and its Arrow copy: the error names what failed -----------------------------------


def _imdb_parquet(root: Path) -> Path:
    return next((root / datasets.HUB_IDS["imdb"]).rglob("train-*.parquet"))


@pytest.fixture
def shared_mirror(monkeypatch):
    """A small mirror and run cache in a folder every user can read (``tmp_path`` is private to
    its owner), for reads by a user who cannot write the cache."""
    base = Path(tempfile.mkdtemp(prefix="tap-read-only-"))
    base.chmod(0o755)
    write_dataset(base, "imdb", {"train": imdb_rows(40, split="train"), "test": imdb_rows(20, split="test")})
    use_mirror(monkeypatch, base)
    (base / "hf-datasets").mkdir(mode=0o777)
    (base / "hf-datasets").chmod(0o777)
    yield base
    for folder in [base, *base.rglob("*")]:
        if folder.is_dir():
            folder.chmod(0o755)
    shutil.rmtree(base)
    datasets.load.cache_clear()


def _read_without_write_access(base: Path) -> list[str]:
    """IMDB's train texts, read from the mirror by a user who cannot write the run cache: after
    chmod, or, as root (whom chmod does not stop), as the user ``nobody`` in a forked child."""
    cache_root = base / "cache"
    cache_root.mkdir(exist_ok=True)
    for folder in [base, *base.rglob("*")]:
        if folder.is_dir() and folder != base / "hf-datasets":
            folder.chmod(0o555)
    answers = fork.Queue()

    def read() -> None:
        if os.getuid() == 0:
            os.setgid(65534)
            os.setuid(65534)
        os.environ["HF_HOME"] = str(base / "hf-datasets")
        datasets.load.cache_clear()
        try:
            answers.put(("ok", list(datasets.load("imdb")["train"]["text"])))
        except Exception as err:  # noqa: BLE001 - the parent asserts on it
            answers.put(("error", f"{type(err).__name__}: {err}"))

    child = fork.Process(target=read)
    child.start()
    status, value = answers.get(timeout=120)
    child.join()
    assert status == "ok", value
    return value


def test_a_read_only_cache_serves_the_data_it_holds(shared_mirror):
    first = list(datasets.load("imdb")["train"]["text"])
    before = snapshot(shared_mirror / "cache")
    assert _read_without_write_access(shared_mirror) == first
    assert snapshot(shared_mirror / "cache") == before


def test_an_empty_read_only_cache_still_reads_the_data(shared_mirror):
    assert len(_read_without_write_access(shared_mirror)) == 80
    assert not any((shared_mirror / "cache").iterdir())


def test_a_damaged_arrow_copy_is_rebuilt_from_the_parquet(mirror):
    first = list(datasets.load("imdb")["train"]["text"])
    arrow = max((cache.cache_dir() / "datasets").rglob("*train*.arrow"), key=lambda p: p.stat().st_size)
    arrow.write_bytes(arrow.read_bytes()[: arrow.stat().st_size // 2])
    datasets.load.cache_clear()
    assert list(datasets.load("imdb")["train"]["text"]) == first


@pytest.mark.parametrize("error, calls", [(OSError("truncated"), 2), (KeyError("a bug"), 1)])
def test_only_a_damaged_arrow_copy_is_rebuilt(mirror, monkeypatch, error, calls):
    folder, seen = mirror / datasets.HUB_IDS["imdb"], []

    def load_dataset(*args, **kwargs):
        seen.append(kwargs["cache_dir"])
        if len(seen) == 1:
            raise error
        return "rebuilt"

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    if calls == 2:
        assert datasets.read_folder(folder) == "rebuilt"
    else:
        with pytest.raises(type(error)):
            datasets.read_folder(folder)
    assert len(seen) == calls


def test_a_damaged_parquet_is_named(mirror):
    path = _imdb_parquet(mirror)
    path.write_bytes(path.read_bytes()[:200])
    datasets.load.cache_clear()
    with pytest.raises(DataUnavailableError, match=r"Parquet file .* is damaged: .*train-00000-of-00001\.parquet"):
        datasets.load("imdb")


def test_a_cache_path_that_is_a_file_is_named(mirror, tmp_path, monkeypatch):
    (tmp_path / "not-a-folder").write_text("")
    monkeypatch.setenv("TAP_CACHE_DIR", str(tmp_path / "not-a-folder"))
    with pytest.raises(ValueError, match=r"TAP_CACHE_DIR=.*not-a-folder is a file, not a folder"):
        datasets.load("imdb")


def test_a_second_download_beside_the_first_is_refused(mirror):
    path = _imdb_parquet(mirror)
    (path.parent / "train-00000-of-00001 (1).parquet").write_bytes(path.read_bytes())
    datasets.load.cache_clear()
    with pytest.raises(DataFormatError, match=r"train-00000-of-00001 \(1\)\.parquet is not one of .* Remove it"):
        datasets.load("imdb")


def test_a_missing_shard_is_refused(mirror):
    path = _imdb_parquet(mirror)
    path.rename(path.with_name("train-00001-of-00002.parquet"))
    datasets.load.cache_clear()
    with pytest.raises(DataFormatError, match=r"split 'train' has the shards .* some are missing"):
        datasets.load("imdb")


def test_a_partial_download_names_the_missing_split(mirror):
    folder = mirror / datasets.HUB_IDS["imdb"]
    (folder / "README.md").unlink()
    for path in folder.rglob("*.parquet"):
        if not path.name.startswith("train-"):
            path.unlink()
    datasets.load.cache_clear()
    with pytest.raises(DataUnavailableError, match=r"no 'test' split in the local copy in \$TAP_DATA_DIR"):
        datasets.imdb_splits(get_profile("smoke"))


def test_carving_never_puts_one_text_on_both_sides(tmp_path, monkeypatch):
    """Every text of the train split twice: a carve by rows would put copies in train and validation."""
    rows = imdb_rows(60, split="train")
    write_dataset(tmp_path, "imdb", {"train": pd.concat([rows, rows]), "test": imdb_rows(40, split="test")})
    use_mirror(monkeypatch, tmp_path)
    splits = datasets.imdb_splits(get_profile("smoke"))
    assert not set(splits.train["text"]) & set(splits.val["text"])
    assert len(splits.val) == get_profile("smoke").imdb_val


# --- an unresponsive Hub mirror: one time-limited request, then the offline copies ---------------


@pytest.fixture
def silent_server():
    """A port that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    server.close()


def test_a_mirror_that_never_answers_falls_back_offline_within_30_s(mirror, silent_server, monkeypatch, capsys):
    for var in hub.OFFLINE_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", silent_server)
    hub.hub_available.cache_clear()
    start = time.perf_counter()
    try:
        splits = datasets.imdb_splits(get_profile("smoke"))
    finally:
        hub.hub_available.cache_clear()
    assert time.perf_counter() - start < 30 and len(splits.train) == get_profile("smoke").imdb_train
    err = capsys.readouterr().err
    assert f"({silent_server}) did not answer within" in err and datasets.data_source().startswith("local copy")
