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
