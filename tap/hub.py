"""Is the Hugging Face Hub reachable? Decided once, because every failed Hub call
otherwise costs tens of seconds of retries."""
from __future__ import annotations

import json
import os
import socket
import time
from functools import lru_cache

from .cache import cache_dir

OFFLINE_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
_TTL_S = 3600  # one build: later chapters reuse the first chapter's answer


def offline_requested() -> bool:
    """True when the user set any of the Hugging Face offline variables."""
    return any(os.environ.get(v, "").strip().lower() in {"1", "true", "yes", "on"} for v in OFFLINE_VARS)


def _probe(host: str = "huggingface.co", timeout_s: float = 2.0) -> bool:
    try:
        socket.create_connection((host, 443), timeout=timeout_s).close()
        return True
    except OSError:
        return False


@lru_cache(maxsize=1)
def hub_available() -> bool:
    """Whether to try the Hub at all: offline variables win, then a 2-second probe,
    remembered on disk for an hour so a whole book build pays for it at most once."""
    if offline_requested():
        return False
    memo = cache_dir() / "hub-reachable.json"
    try:
        seen = json.loads(memo.read_text())
        if time.time() - seen["time"] < _TTL_S:
            return bool(seen["reachable"])
    except (OSError, ValueError, KeyError):
        pass
    reachable = _probe()
    try:
        memo.write_text(json.dumps({"reachable": reachable, "time": time.time()}))
    except OSError:
        pass
    return reachable
