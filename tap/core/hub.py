"""Is the Hugging Face Hub reachable? Decided once, because every failed Hub call
otherwise costs tens of seconds of retries."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import urllib.error
import urllib.request
from functools import lru_cache

from .cache import cache_dir

OFFLINE_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
_TTL_S = 3600  # one build: later chapters reuse the first chapter's answer
PROBE_PATH = "/api/models/sentence-transformers/all-MiniLM-L6-v2"  # a small JSON answer from any Hub
PROBE_TIMEOUT_S = 5.0

# Every Hub repository the book loads, pinned to one commit, so a build online reads the same
# bytes next year. Repositories not listed here load from their default branch (``main``).
REVISIONS: dict[str, str] = {
    # datasets
    "stanfordnlp/imdb": "e6281661ce1c48d982bc483cf8a173c1bbeb5d31",
    "fancyzhx/ag_news": "eb185aade064a813bc0b7f42de02595523103ca4",
    "Yelp/yelp_review_full": "c1f9ee939b7d05667af864ee1cb066393154bf85",
    "timdettmers/openassistant-guanaco": "831dabac2283d99420cda0b673d7a2a43849f17a",
    "Salesforce/wikitext": "b08601e04326c79dfdd32d625aee71d232d685c3",
    # models and word vectors
    "stanfordnlp/glove": "1db2080b2d94def6e5b0386a523102f9d8849e9d",
    "sentence-transformers/all-MiniLM-L6-v2": "c9745ed1d9f207416be6d2e6f8de32d1f16199bf",
    "bert-base-uncased": "86b5e0934494bd15c9632b12f734a8a67f723594",
    "google-bert/bert-base-uncased": "86b5e0934494bd15c9632b12f734a8a67f723594",
    "bert-base-cased": "cd5ef92a9fb2f889e972770a36d4ed042daf221e",
    "google-bert/bert-base-cased": "cd5ef92a9fb2f889e972770a36d4ed042daf221e",
    "distilbert/distilbert-base-uncased-finetuned-sst-2-english": "714eb0fa89d2f80546fda750413ed43d93601a13",
    "openai-community/gpt2": "607a30d783dfa663caf39e06633721c8d4cfcd7e",
    "google-t5/t5-small": "df1b051c49625cf57a3d0d8d3863ed4d13564fe4",
    "facebook/opt-350m": "08ab08cc4b72ff5593870b5d527cf4230323703c",
    "papluca/xlm-roberta-base-language-detection": "9865598389ca9d95637462f743f683b51d75b87b",
}


def revision(hub_id: str) -> str:
    """The pinned commit of ``hub_id`` (``main`` when it is not pinned)."""
    return REVISIONS.get(hub_id, "main")


def offline_requested() -> bool:
    """True when the user set any of the Hugging Face offline variables."""
    return any(os.environ.get(v, "").strip().lower() in {"1", "true", "yes", "on"} for v in OFFLINE_VARS)


def endpoint() -> str:
    """The Hub's address, or the mirror's named by ``HF_ENDPOINT``."""
    return (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def _reachable(timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """Does the Hub answer a real request (the model-info API of the book's model) within
    ``timeout_s``? Any HTTP answer counts, even an error; a server that accepts connections but
    never answers does not, so the book reads its offline copies at once instead of waiting
    through the libraries' retries."""
    try:
        urllib.request.urlopen(endpoint() + PROBE_PATH, timeout=timeout_s).close()
        return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False


@lru_cache(maxsize=1)
def hub_available() -> bool:
    """Whether to try the Hub at all: offline variables win, then one time-limited request,
    remembered on disk for an hour so a whole book build pays for it at most once."""
    if offline_requested():
        return False
    memo = (
        cache_dir()
        / f"hub-reachable-{hashlib.sha256(os.environ.get('HF_ENDPOINT', '').encode()).hexdigest()[:8]}.json"
    )
    try:
        seen = json.loads(memo.read_text())
        if time.time() - seen["time"] < _TTL_S:
            return bool(seen["reachable"])
    except (OSError, ValueError, KeyError):
        pass
    reachable = _reachable()
    if not reachable:
        print(
            f"The Hugging Face Hub ({endpoint()}) did not answer within {PROBE_TIMEOUT_S:g} s: using the offline "
            "copies ($TAP_DATA_DIR, installed weights). Set HF_HUB_OFFLINE=1 to skip this check.",
            file=sys.stderr,
        )
    try:
        memo.write_text(json.dumps({"reachable": reachable, "time": time.time()}))
    except OSError:
        pass
    return reachable
