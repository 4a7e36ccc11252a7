"""Chapter 08's words about its command lines and its pinned sizes (the comparison itself is
tested in tests/test_task_playbook.py)."""

import re
from pathlib import Path

import pytest

from tap.chapters import ch08_your_task as ch08
from tap.core.profiles import get_profile

PAGE = Path(__file__).resolve().parents[1] / "book" / "08_your_task.md"


@pytest.mark.parametrize("name", ["smoke", "book", "full"])
def test_the_commands_name_the_page_s_dataset_budget_and_profile(name):
    profile = get_profile(name)
    command = ch08.command(profile)
    assert command.startswith(f"python -m tap playbook {ch08.DATASET} --")
    assert f"--budget {ch08.BUDGET[name]} --profile {name}" in command
    assert ch08.rerun_command(profile) == f"python -m tap run ch08 --profile {name}"


def test_the_page_shows_its_command_lines_as_code():
    # Pasted as text, "--" is typeset as an en dash ("–budget"), and the line no longer runs.
    page = PAGE.read_text()
    assert not re.findall(r"\{glue:text\}`ch08_(?:command|rerun)\b", page)
    assert "{glue:md}`ch08_command_code`" in page and "{glue:md}`ch08_rerun_code`" in page


def test_the_estimate_for_the_pinned_sizes_is_set_against_the_command_s_budget():
    over = ch08.budget_words(338.0, "5m")
    assert over.startswith("more than the 5 minutes the command line's budget allows") and "smaller" in over
    assert ch08.budget_words(250.0, "5m") == "within the 5 minutes the command line's budget allows"
    assert ch08.budget_words(30.0, "1m") == "within the 1 minute the command line's budget allows"


def _numbers(best: float, full: float, lo: float, hi: float) -> dict:
    return {
        "best_label": "(IA)³ (peft)",
        "best_acc": best,
        "full_acc": full,
        "diff_lo": lo,
        "diff_hi": hi,
        "target_met": full - best <= 1.0,
        "budget_pct": 1.0,
        "best_neural_label": "full fine-tuning",
        "best_neural_acc": full,
        "tfidf_acc": 80.0,
    }


def test_a_verdict_that_holds_on_the_accuracies_says_where_its_interval_does_not_show_it():
    imdb, ag = _numbers(78.1, 73.5, 2.8, 6.5), _numbers(86.3, 86.8, -2.3, 1.3)
    words = ch08.target_words(ag, imdb, same_target=True)
    assert "(+4.6 points against full fine-tuning, paired 95% interval +2.8 to +6.5)" in words
    assert "meets it (-0.5 points, paired 95% interval -2.3 to +1.3)" in words
    assert words.endswith(
        "On the accuracies, chapter 07's verdict holds on a second task; on AG News the paired interval reaches "
        "below -1 point, so that test set does not show the loss to be within the target."
    )
    assert ch08.target_words(_numbers(86.3, 86.8, -0.9, 0.1), imdb, True).endswith("holds on a second task.")
