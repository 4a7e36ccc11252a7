import json

import pytest

from tap import __main__ as cli
from tap.chapters import EXPERIMENTS


def test_help_documents_the_commands(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert "list" in out and "run" in out and "plan" in out


def test_list_names_every_experiment_and_profile(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in EXPERIMENTS) and "smoke, book, full" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "ch99"], "Unknown experiment 'ch99'. Valid experiments: ch01"),
        (["run", "ch01", "--profile", "huge"], "Unknown run profile 'huge'. Valid profiles: smoke, book, full"),
        (["plan", "--profile", "huge"], "Unknown run profile 'huge'. Valid profiles: smoke, book, full"),
    ],
)
def test_unknown_names_are_clear_errors(args, message, capsys):
    assert cli.main(args) == 2
    assert message in capsys.readouterr().err


def test_run_writes_records_and_figures(mirror, tmp_path):
    assert cli.main(["run", "ch01", "--profile", "smoke", "--out", str(tmp_path / "out")]) == 0
    folder = tmp_path / "out" / "ch01" / "smoke"
    records = json.loads((folder / "records.json").read_text())
    assert records["from scratch"]["test_size"] == 64
    assert (folder / "training_curves.png").stat().st_size > 0
