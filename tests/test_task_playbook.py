"""``python -m tap playbook`` on small CSV files (smoke profile: a tiny random BERT): end to
end with two and four classes, every bad input refused in one line before anything is written,
a rerun that recomputes nothing, and an adapter that PEFT loads with the logits the run had."""

import json
import random
from dataclasses import replace

import pandas as pd
import pytest
import torch

from tap import __main__ as cli
from tap.data.task_data import InputError, load_task, subset
from tap.playbook import budget
from tap.playbook.command import run_playbook

WORDS = {
    "pos": "great wonderful moving superb",
    "neg": "awful boring dull dreadful",
    "world": "election minister war treaty",
    "sports": "match goal season coach",
    "business": "shares profit market bank",
    "science": "software space research chip",
}
METHODS = "probe,lora,full"


def rows(classes: list[str], per_class: int, seed: int = 0) -> pd.DataFrame:
    """Texts whose words give their class away, so even a short run has something to learn."""
    rng = random.Random(seed)
    return pd.DataFrame(
        [
            {"text": f"item {i}: " + " ".join(rng.choices(WORDS[c].split(), k=6)), "label": c}
            for c in classes
            for i in range(per_class)
        ]
    )


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TAP_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def run(*args: str) -> int:
    return cli.main(["playbook", "--profile", "smoke", "--methods", METHODS, "--budget", "5m", *args])


@pytest.mark.parametrize("classes", [["pos", "neg"], ["world", "sports", "business", "science"]])
def test_end_to_end_on_a_csv_writes_the_report(classes, tmp_path, cache):
    rows(classes, 60).to_csv(tmp_path / "data.csv", index=False)
    out = tmp_path / "out"
    assert run(str(tmp_path / "data.csv"), "--out", str(out)) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["data"]["classes"] == sorted(classes)
    assert set(results["records"]) == {
        "linear probe",
        "LoRA (tap)",
        "full fine-tuning",
        "TF-IDF + logistic regression",
    }
    for label, runs in results["search"].items():  # the chosen rate is the one validation preferred
        assert len(runs) == 3 and len({r["lr"] for r in runs}) == 3
        best = max(r["best_val_accuracy"] for r in runs)
        assert results["records"][label]["best_val_accuracy"] == best
    assert results["plan"]["estimate_s"] > 0 and results["actual_s"] > 0
    report = (out / "report.md").read_text()
    assert "## Decision" in report and "full fine-tuning" in report and "| LoRA (tap)" in report
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 2 and "<table>" in html
    assert (out / "accuracy_vs_parameters.png").stat().st_size > 0 and (out / "accuracy_vs_time.png").exists()
    assert (out / "adapter" / "adapter_config.json").exists() and (out / "adapter" / "README.md").exists()


def test_a_rerun_recomputes_nothing_and_the_adapter_loads_in_peft(tmp_path, cache):
    from peft import PeftModel

    from tap.playbook.command import run_playbook

    rows(["pos", "neg"], 60).to_csv(tmp_path / "data.csv", index=False)
    first = run_playbook(
        str(tmp_path / "data.csv"), methods=METHODS, budget="5m", profile="smoke", echo=lambda _: None
    )
    again = run_playbook(
        str(tmp_path / "data.csv"), methods=METHODS, budget="5m", profile="smoke", echo=lambda _: None
    )
    assert again.plan.train == first.plan.train
    assert all(r["from_cache"] for runs in again.search.values() for r in runs)

    from tap.playbook import report

    folder = report.write(again, tmp_path / "out")
    label = report.best_adapter(again)
    record = again.records[label]
    trained = again.playbook.trained(record["method_key"], again.plan.train, lr=record["lr"])
    loaded = PeftModel.from_pretrained(again.playbook.load_model(), str(folder / "adapter")).eval()
    batch, _ = next(again.playbook.test.batches(8, shuffle=False))
    with torch.no_grad():
        torch.testing.assert_close(loaded(**batch), trained(**batch), atol=1e-5, rtol=1e-4)


def test_row_order_does_not_change_the_splits(tmp_path):
    data = rows(["pos", "neg"], 40)
    data.to_csv(tmp_path / "a.csv", index=False)
    data.sample(frac=1, random_state=1).to_csv(tmp_path / "b.csv", index=False)
    a, b = load_task(str(tmp_path / "a.csv")), load_task(str(tmp_path / "b.csv"))
    assert a.digest == b.digest and a.splits.test["text"] == b.splits.test["text"]
    assert not set(a.splits.train["text"]) & set(a.splits.test["text"])


def test_test_texts_seen_in_training_are_counted_and_left_out(tmp_path):
    train, test = rows(["pos", "neg"], 40), rows(["pos", "neg"], 10, seed=5)
    pd.concat([train, test.head(3)]).to_csv(tmp_path / "train.csv", index=False)
    test.to_csv(tmp_path / "test.csv", index=False)
    task = load_task(str(tmp_path / "train.csv"), test=str(tmp_path / "test.csv"))
    assert len(task.splits.test) == 17 and "3 test texts also appear in the training data" in task.warnings[0]


def bad_inputs(tmp_path):
    """(arguments, the start of the one-line error) for each bad input."""
    good = rows(["pos", "neg"], 40)
    good.to_csv(tmp_path / "good.csv", index=False)
    rows(["pos"], 40).to_csv(tmp_path / "one.csv", index=False)
    pd.concat([good, rows(["world"], 2)]).to_csv(tmp_path / "rare.csv", index=False)
    empty = good.copy()
    empty.loc[:4, "text"] = ""
    empty.to_csv(tmp_path / "empty.csv", index=False)
    (tmp_path / "latin1.csv").write_bytes("text,label\ncaf\xe9 ok,pos\n".encode("latin-1") * 3)
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really parquet")
    (tmp_path / "a_file").write_text("")
    d = str(tmp_path)
    return [
        ([f"{d}/good.csv", "--text", "review"], "has no column 'review'; its columns are: text, label"),
        ([f"{d}/one.csv"], "has a single class (pos)"),
        ([f"{d}/rare.csv"], "class 'world' has"),
        ([f"{d}/empty.csv"], "5 of 80 rows have an empty or missing 'text'"),
        ([f"{d}/latin1.csv"], "is not UTF-8 text"),
        ([f"{d}/broken.parquet"], "could not be read"),
        ([f"{d}/missing.csv"], "no such file or folder"),
        ([f"{d}/good.csv", "--budget", "soon"], "--budget 'soon'"),
        ([f"{d}/good.csv", "--out", f"{d}/a_file"], "is a file"),
    ]


def test_every_bad_input_is_one_line_with_status_2_and_nothing_written(tmp_path, cache, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for args, message in bad_inputs(tmp_path):
        before = set(tmp_path.iterdir())
        assert run(*args) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and message in err, (args, err)
        assert set(tmp_path.iterdir()) == before, args  # nothing written: no report folder, no cache


def test_unknown_methods_and_a_comparison_without_full_fine_tuning_are_refused(tmp_path, capsys):
    rows(["pos", "neg"], 40).to_csv(tmp_path / "good.csv", index=False)
    for methods, message in (("lora,fast", "unknown fast"), ("lora", "must include full")):
        assert cli.main(["playbook", str(tmp_path / "good.csv"), "--methods", methods, "--profile", "smoke"]) == 2
        assert message in capsys.readouterr().err


def test_drop_empty_leaves_the_empty_rows_out(tmp_path):
    data = rows(["pos", "neg"], 40)
    data.loc[:4, "text"] = "  "
    data.to_csv(tmp_path / "empty.csv", index=False)
    with pytest.raises(InputError):
        load_task(str(tmp_path / "empty.csv"))
    task = load_task(str(tmp_path / "empty.csv"), drop_empty=True)
    assert sum(task.splits.sizes().values()) == 75 and "5 rows" in task.warnings[0]


def test_a_larger_budget_buys_more_training_examples_and_a_tiny_one_says_how_much_is_needed():
    speed = budget.Speed(step_s=0.5, scored_per_s=50.0, load_s=1.0)
    available = {"train": 10_000, "val": 500, "test": 2_000}
    caps = {"train": 10_000, "val": 300, "test": 1_000}
    rates = {"full": [1e-4 / 3, 1e-4, 3e-4], "lora": [2e-3 / 3, 2e-3, 6e-3]}
    args = dict(rates=rates, batch_size=8, epochs=1, caps=caps, num_classes=2)
    small, large = (budget.make_plan(s, speed, available, **args) for s in (600, 1800))
    assert 0 < small.train < large.train and small.estimate_s <= 600 and large.estimate_s <= 1800
    assert small.runs == 6
    with pytest.raises(ValueError, match=r"Pass --budget \d+m or more"):
        budget.make_plan(10, speed, available, **args)


@pytest.mark.parametrize("text, seconds", [("10m", 600), ("90s", 90), ("1h30m", 5400), ("45", 45)])
def test_budgets_read_as_durations(text, seconds):
    assert budget.parse_budget(text) == seconds


def test_an_interrupted_comparison_resumes_without_recomputing_finished_runs(tmp_path, cache, monkeypatch, capsys):
    import tap.playbook.runs

    rows(["pos", "neg"], 60).to_csv(tmp_path / "data.csv", index=False)
    real_train, calls = tap.playbook.runs.train, []

    def interrupted(*args, **kwargs):  # Ctrl-C during the fourth training run
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real_train(*args, **kwargs)

    monkeypatch.setattr(tap.playbook.runs, "train", interrupted)
    assert run(str(tmp_path / "data.csv"), "--out", str(tmp_path / "out")) == 130
    assert "the same command resumes" in capsys.readouterr().err and not (tmp_path / "out").exists()
    monkeypatch.setattr(tap.playbook.runs, "train", real_train)
    from tap.playbook.command import run_playbook

    again = run_playbook(
        str(tmp_path / "data.csv"), methods=METHODS, budget="5m", profile="smoke", echo=lambda _: None
    )
    cached = [r["from_cache"] for runs in again.search.values() for r in runs]
    assert cached[:3] == [True, True, True] and not any(cached[3:])  # the probe's three runs had finished


def test_a_budgeted_rerun_reuses_its_plan_instead_of_measuring_again(tmp_path, cache, monkeypatch):
    """The budget binds here (a slow machine, faked): a second speed measurement would buy fewer
    examples, and so new runs. The rerun must plan nothing; a new budget, or an edit of the code
    that plans (its caps, rates, batch size), must plan again."""
    from tap.playbook import command

    rows(["pos", "neg"], 60).to_csv(tmp_path / "data.csv", index=False)
    speeds = iter([budget.Speed(5.0, 200.0, 1.0), budget.Speed(7.5, 150.0, 1.0), budget.Speed(7.5, 150.0, 1.0)])
    measured = []
    monkeypatch.setattr(command, "_speed", lambda book, precision: measured.append(1) or next(speeds))

    def plan(budget_text: str):
        return run_playbook(
            str(tmp_path / "data.csv"),
            methods=METHODS,
            budget=budget_text,
            profile="smoke",
            dry_run=True,
            echo=lambda _: None,
        )

    first = plan("3m")
    assert first.train < 64  # below the smoke cap: the speed decided the size
    assert plan("3m") == first and len(measured) == 1
    assert plan("200s").train < first.train and len(measured) == 2
    monkeypatch.setattr(command, "source_digest", lambda *modules: "edited")
    assert plan("3m").train < first.train and len(measured) == 3


@pytest.fixture
def task_book(tmp_path):
    from tap.core.profiles import get_profile
    from tap.playbook.runs import SIZES, Playbook

    rows(["pos", "neg"], 40).to_csv(tmp_path / "a.csv", index=False)
    size = replace(SIZES["smoke"], train=16, val=8, test=8)
    task = load_task(str(tmp_path / "a.csv"))
    return Playbook(task, size, get_profile("smoke"), "bert-base-uncased", seed=0, keep_state=("lora",))


def test_with_seed_keeps_the_task_and_its_sizes(task_book):
    other = task_book.with_seed(3)
    assert type(other) is type(task_book) and other.seed == 3 and task_book.seed == 0
    assert other.task is task_book.task and other.size == task_book.size
    assert (other.profile, other.hub_id) == (task_book.profile, task_book.hub_id)
    assert other.keep_state == task_book.keep_state and other.num_classes == task_book.num_classes


def test_seed_repeats_run_on_the_same_task(task_book, monkeypatch):
    from tap.playbook.runs import Playbook

    monkeypatch.setattr(Playbook, "chosen_rate", lambda self, key: 1e-3)
    monkeypatch.setattr(Playbook, "run", lambda self, key, lr: (self.task.name, self.seed))
    repeats = task_book.seed_repeats(("full",), (0, 1))
    assert repeats == {seed: {"full": (task_book.task.name, seed)} for seed in (0, 1)}


def test_pinned_sizes_with_a_pilot_are_estimated_as_pilots_then_one_run_per_method():
    speed = budget.Speed(step_s=0.5, scored_per_s=50.0, load_s=1.0)
    available = {"train": 10_000, "val": 500, "test": 2_000}
    rates = {"full": [1e-4 / 3, 1e-4, 3e-4], "lora": [2e-3 / 3, 2e-3, 6e-3]}
    args = dict(rates=rates, batch_size=8, epochs=1, caps={}, num_classes=2)
    sizes = {"train": 800, "val": 100, "test": 400}
    plain = budget.make_plan(60, speed, available, sizes=sizes, **args)
    piloted = budget.make_plan(60, speed, available, sizes={**sizes, "pilot": 400}, **args)
    assert plain.pinned and plain.pilot == 0 and piloted.pilot == 400
    pilots = budget.cost_s(speed, 6, 400, 100, 0, 8, 1)  # six searched runs, unscored
    finals = budget.cost_s(speed, 2, 800, 100, 400, 8, 1)  # each method's chosen rate, scored
    assert piloted.estimate_s == pytest.approx(pilots + finals) and piloted.estimate_s < plain.estimate_s
    assert budget.make_plan(60, speed, available, sizes={**sizes, "pilot": 800}, **args).pilot == 0  # no smaller


def test_another_seed_draws_other_examples_nested_and_the_same_everywhere(tmp_path):
    rows(["pos", "neg"], 60).to_csv(tmp_path / "data.csv", index=False)
    train = load_task(str(tmp_path / "data.csv")).splits.train
    assert subset(train, 10)["text"] == train["text"][:10]  # seed 0: the content order
    one, again, two = subset(train, 10, seed=1), subset(train, 10, seed=1), subset(train, 10, seed=2)
    assert one["text"] == again["text"] and one["text"] != two["text"] and one["text"] != subset(train, 10)["text"]
    assert subset(train, 5, seed=1)["text"] == one["text"][:5]  # nested within a seed


def test_a_seed_repeat_is_the_same_task_at_the_same_sizes_with_other_examples(tmp_path, cache):
    rows(["pos", "neg"], 120).to_csv(tmp_path / "data.csv", index=False)
    sizes = {"train": 32, "val": 16, "test": 24, "pilot": 16}
    result = run_playbook(str(tmp_path / "data.csv"), methods="probe,full", profile="smoke", sizes=sizes, echo=print)
    book = result.playbook
    assert result.plan.pilot == 16 and book.size.pilot == 16
    assert all(r["train_examples"] == 16 and "test_accuracy" not in r for runs in result.search.values() for r in runs)
    assert all(result.records[m]["train_examples"] == 32 for m in ("linear probe", "full fine-tuning"))
    longer = book.longer_runs(result.records, ["linear probe"])  # the run that tests undertraining
    again = longer["linear probe"]
    assert list(longer) == ["linear probe"] and again["steps"] == 2 * result.records["linear probe"]["steps"]
    assert again["lr"] == result.records["linear probe"]["lr"] and again["test_size"] == 24
    other = book.with_seed(1)
    assert type(other) is type(book) and other.task is book.task and other.size == book.size and other.seed == 1
    assert set(other.main.test["text"]) != set(book.main.test["text"]) and len(other.main.test) == 24
