"""The profile, not connectivity, chooses the models; offline resolution never touches the network."""

import time

import pytest

from tap.core import hub
from tap.core.profiles import get_profile
from tap.models import pretrained


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(
        hub, "_reachable", lambda *a, **k: pytest.fail("the Hub was probed although offline mode is set")
    )
    monkeypatch.setattr(pretrained, "STAND_INS", {})
    hub.hub_available.cache_clear()
    yield
    hub.hub_available.cache_clear()


@pytest.fixture
def online(monkeypatch):
    """The Hub 'answers': downloads are faked, so any use of one is visible."""
    monkeypatch.setattr(pretrained, "hub_available", lambda: True)
    monkeypatch.setattr(pretrained, "STAND_INS", {})
    monkeypatch.setattr(pretrained, "hub_snapshot", lambda hub_id: f"/hub/{hub_id}@{hub.revision(hub_id)}")


def test_book_profile_uses_the_stand_ins_offline(offline):
    book = get_profile("book")
    start = time.perf_counter()
    assert (
        pretrained.resolve("some/lm", stand_in=("a local stand-in", lambda: "/tmp/stand-in"), profile=book)
        == "/tmp/stand-in"
    )
    assert time.perf_counter() - start < 1.0  # no retries, no timeouts
    assert pretrained.resolve("bert-base-uncased", profile=book) == pretrained.minilm_path()
    assert set(pretrained.STAND_INS) == {"some/lm", "bert-base-uncased"}


def test_book_profile_uses_the_same_stand_ins_online(online):
    book = get_profile("book")
    assert (
        pretrained.resolve("some/lm", stand_in=("a local stand-in", lambda: "/tmp/stand-in"), profile=book)
        == "/tmp/stand-in"
    )
    assert (
        pretrained.resolve("bert-base-cased", profile=book)
        == f"/hub/{pretrained.MINILM}@{hub.revision(pretrained.MINILM)}"
    )
    assert "bert-base-cased" in pretrained.STAND_INS


def test_full_profile_uses_the_original_models_at_their_pinned_revision(online):
    def build():
        raise AssertionError("a stand-in was built in the full profile")

    where = pretrained.resolve("facebook/opt-350m", stand_in=("unused", build), profile=get_profile("full"))
    assert where == f"/hub/facebook/opt-350m@{hub.REVISIONS['facebook/opt-350m']}"
    assert pretrained.STAND_INS == {}


def test_full_profile_offline_is_a_clear_error_not_a_silent_swap(offline):
    with pytest.raises(pretrained.ModelUnavailableError, match="TAP_PROFILE=book"):
        pretrained.resolve("bert-base-uncased", profile=get_profile("full"))
    assert pretrained.STAND_INS == {}


def test_hub_only_extras_are_a_clear_error_offline(offline):
    with pytest.raises(pretrained.ModelUnavailableError, match="unreachable"):
        pretrained.resolve("google-t5/t5-small", profile=get_profile("book"))
