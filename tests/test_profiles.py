"""Run profiles: every experiment takes a ``Profile``, a profile's name or None, and an unknown
name fails at once with the valid names."""

import pytest

from tap.chapters import EXPERIMENTS, chapter
from tap.core.profiles import PROFILE_ENV, as_profile, get_profile


def test_a_profile_its_name_or_none_give_the_same_profile(monkeypatch):
    monkeypatch.setenv(PROFILE_ENV, "smoke")
    assert as_profile("smoke") is get_profile("smoke") is as_profile(None)
    assert as_profile(get_profile("full")) is get_profile("full")


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_experiment_refuses_an_unknown_profile_name_before_any_work(name):
    with pytest.raises(ValueError) as err:
        chapter(name).experiment("nope")
    assert str(err.value) == (
        "Unknown run profile 'nope'. Valid profiles: smoke, book, full. "
        "Set it with `export TAP_PROFILE=book` (or pass profile=...)."
    )
