"""``python -m tap plan``: every chapter's jobs, FLOPs that are 6 · parameters · tokens, and a
time estimate that agrees with a real timed training run of the same size."""

import json
from dataclasses import replace

import pandas as pd
import pytest
import torch
from fake_mirror import use_mirror, write_dataset

from conftest import imdb_rows
from tap import __main__ as cli
from tap import plan, throughput
from tap.chapters import EXPERIMENTS
from tap.core.profiles import get_profile
from tap.data.text import EncodedDataset, words
from tap.models.encoder import EncoderSize, TransformerClassifier
from tap.training.loop import TrainConfig, train

SMOKE = get_profile("smoke")


@pytest.fixture(scope="module")
def smoke_plan(tmp_path_factory):
    """The smoke profile's plan, made once for the module, on the test mirror."""
    root = tmp_path_factory.mktemp("mirror")
    write_dataset(
        root,
        "imdb",
        {
            "train": imdb_rows(100, split="train"),
            "test": imdb_rows(100, split="test"),
            "unsupervised": imdb_rows(50, label_values=(-1,), split="unsup"),
        },
    )
    write_dataset(
        root,
        "ag_news",
        {"test": pd.DataFrame([{"text": f"news {i} topic {y}", "label": y} for y in range(4) for i in range(200)])},
    )
    with pytest.MonkeyPatch.context() as mp:
        use_mirror(mp, root)
        plan.length.cache_clear()
        plan._texts.cache_clear()
        yield plan.plan(SMOKE)
        plan.length.cache_clear()
        plan._texts.cache_clear()


def test_every_chapter_is_planned(smoke_plan):
    assert [c.name for c in smoke_plan] == list(EXPERIMENTS)
    for chapter in smoke_plan:
        assert chapter.jobs and chapter.seconds > 0, chapter.name
        assert all(j["seconds"] > 0 and j["model"] and j["data"] for j in chapter.jobs), chapter.name


def test_training_flops_are_six_times_parameters_times_tokens(smoke_plan):
    row = next(j for j in smoke_plan[0].jobs if j["what"] == "IMDB from scratch")
    params = sum(p.numel() for p in TransformerClassifier(SMOKE.encoder, 2).parameters())  # counted by hand
    assert row["params"] == params
    assert (row["examples"], row["epochs"]) == (SMOKE.imdb_train, SMOKE.epochs)
    counted = [len(words(t)) for t in imdb_rows(100, split="train")["text"]]  # all under the cap of 64
    assert row["tokens_per_example"] == pytest.approx(sum(counted) / len(counted))
    assert "mean words" in row["tokens_from"]
    assert row["train_flops"] == pytest.approx(
        6 * params * SMOKE.imdb_train * SMOKE.epochs * sum(counted) / len(counted)
    )


def test_without_data_the_length_is_the_cap(monkeypatch):
    monkeypatch.setattr(plan, "_texts", lambda dataset, split: None)
    assert plan.length.__wrapped__("imdb", "train", 256).tokens == 256


def test_estimate_is_within_a_factor_of_a_real_training_run():
    """The plan's estimate for one run against the same run, really trained and timed: a book-size
    encoder, 256 reviews of 128 tokens, batches of 32, one epoch, validation on 64 reviews."""
    size = EncoderSize(vocab_size=20_000, d_model=128, num_heads=4, d_ff=256, num_layers=2, max_len=128)
    g = torch.Generator().manual_seed(0)

    def reviews(n: int) -> EncodedDataset:
        return EncodedDataset(
            torch.randint(2, size.vocab_size, (n, 128), generator=g).tolist(), [i % 2 for i in range(n)]
        )

    shape = plan.Shape.of("book's encoder", "encoder", **vars(size))
    job = plan.Job("check", "", shape, "", 256, 1, plan.Length(128, "fixed"), 32, evaluated=64)
    estimated = plan.estimate(job)["seconds"]
    torch.manual_seed(0)
    record, _ = train(
        TransformerClassifier(size, 2),
        reviews(256),
        reviews(64),
        TrainConfig(epochs=1, batch_size=32, evals_per_epoch=1),
    )
    ratio = estimated / record["wall_time_s"]
    print(f"estimated {estimated:.2f} s, trained in {record['wall_time_s']:.2f} s: ratio {ratio:.2f}")
    assert 1 / 3 < ratio < 3, (estimated, record["wall_time_s"])


def test_cpu_measurements_are_cut_to_a_budget(monkeypatch):
    """On a CPU a large model is measured on fewer rows, and the measurement is remembered."""
    monkeypatch.setattr(throughput, "CPU_STEP_FLOPS", 6 * 120_000 * 64)
    monkeypatch.setattr(throughput, "_MEASURED", {})
    shape = plan.Shape.of("small", "encoder", **vars(replace(SMOKE.encoder)))
    first = throughput.throughput(shape, 16, 32)
    assert first.batch_size < 16 and first.tokens_per_s > 0 and first.optimizer_s >= 0
    assert throughput.throughput(shape, 16, 32) is first and len(throughput.measurements()) == 1


def test_cli_prints_the_plan_and_its_json(smoke_plan, monkeypatch, capsys):
    monkeypatch.setattr(plan, "plan", lambda profile: smoke_plan)
    assert cli.main(["plan", "--profile", "smoke"]) == 0
    out = capsys.readouterr().out
    assert "ESTIMATE" in out and all(name in out for name in EXPERIMENTS)
    assert cli.main(["plan", "--profile", "smoke", "--json"]) == 0
    parsed = json.loads(capsys.readouterr().out)
    assert parsed["estimate"] and [c["name"] for c in parsed["chapters"]] == list(EXPERIMENTS)
