"""Several processes (``torchrun``, the gloo backend on a CPU) give the update, the metrics and
the files that one process gives."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from distributed_toy import trained

HERE = Path(__file__).parent


def two_processes(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.mark.parametrize("micro_batch", [0, 2])
def test_two_processes_make_the_one_process_update(tmp_path, micro_batch):
    """Without dropout, splitting each batch across processes (and into micro-batches) changes
    only the order of additions: the weights agree to float rounding, and the predictions,
    scored in shares and gathered, are the same and in the split's order."""
    two_processes(str(HERE / "distributed_toy.py"), str(tmp_path / "two.pt"), str(micro_batch))
    two = torch.load(tmp_path / "two.pt")
    record, weights, predicted = trained()
    assert two["record"]["processes"] == 2 and record["processes"] == 1
    for name, w in weights.items():
        # The key bias's true gradient is 0 (softmax ignores a shift shared by every key): it
        # moves by rounding noise only, which AdamW scales up to steps of up to lr (1e-3) each.
        atol = 14 * 1e-3 if name.endswith("key.bias") else 1e-5
        torch.testing.assert_close(two["weights"][name], w, rtol=1e-4, atol=atol, msg=name)
    assert torch.equal(two["predicted"], predicted)
    assert [h["val_accuracy"] for h in two["record"]["history"]] == [h["val_accuracy"] for h in record["history"]]


# Smoke runs score 64 test reviews; dropout draws differ between one and two processes, and
# a tiny model on 64 reviews moves by a few reviews for that (one review is 1.6 points).
SMOKE_TOLERANCE = 0.10


def test_chapter_01_runs_in_two_processes(mirror, tmp_path, monkeypatch):
    """``torchrun --nproc-per-node 2 -m tap run ch01 --profile smoke``: runs to the end, the
    main process alone writes the records and the run cache, and the accuracies match the
    one-process run's within ``SMOKE_TOLERANCE``."""
    from tap import __main__ as cli

    monkeypatch.setenv("TAP_CACHE_DIR", str(tmp_path / "cache-one"))
    assert cli.main(["run", "ch01", "--profile", "smoke", "--out", str(tmp_path / "one")]) == 0
    two_processes(
        "-m",
        "tap",
        "run",
        "ch01",
        "--profile",
        "smoke",
        "--out",
        str(tmp_path / "two"),
        env={"TAP_CACHE_DIR": str(tmp_path / "cache-two")},
    )
    one = json.loads((tmp_path / "one/ch01/smoke/records.json").read_text())
    two = json.loads((tmp_path / "two/ch01/smoke/records.json").read_text())
    assert one.keys() == two.keys()
    trained_runs = [name for name, r in two.items() if "processes" in r]
    assert trained_runs and all(two[name]["processes"] == 2 for name in trained_runs)
    for name in one:
        assert abs(one[name]["test_accuracy"] - two[name]["test_accuracy"]) <= SMOKE_TOLERANCE, name

    def entries(cache):
        return sorted(p.name for p in (cache / "runs").iterdir() if not p.name.startswith("."))

    assert entries(tmp_path / "cache-two") == entries(tmp_path / "cache-one")
