"""``tap``'s online data path against a real Hub protocol server: ``olah`` (a self-hosted Hub
mirror) serves copies of the dataset repositories over HTTP, in another row order than the
offline copy, and the subsets and features must come out the same either way."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from fake_mirror import write_dataset

SUBSETS = """
import json
from tap.data import datasets
from tap.core import hub
from tap.core.profiles import get_profile
hub.REVISIONS.clear()  # the served repositories have their own commits, not the Hub's pinned ones
p = get_profile("smoke")
imdb, ag = datasets.imdb_splits(p), datasets.ag_news_splits(p)
print(json.dumps({"source": datasets.data_source(),
                  "features": {n: str(datasets.load(n)["test"].features) for n in datasets.HUB_IDS},
                  "subsets": [list(getattr(s, part)["text"]) for s in (imdb, ag) for part in ("train", "val", "test")]}))
"""


def _datasets(seed: int | None) -> dict:
    """IMDB and AG News copies (test split only for AG News, as offline); rows shuffled with ``seed``."""

    def order(frame):
        return frame if seed is None else frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)

    imdb = {
        split: order(
            pd.DataFrame(
                [
                    {"text": f"{split} review {i}, {'fine' if y else 'dull'}", "label": y}
                    for y in (0, 1)
                    for i in range(120)
                ]
            )
        )
        for split in ("train", "test")
    }
    ag = {
        "test": order(
            pd.DataFrame([{"text": f"story {i} on topic {y}", "label": y} for y in range(4) for i in range(150)])
        )
    }
    return {"imdb": imdb, "ag_news": ag}


def _git_repo(folder: Path) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "copy"]):
        subprocess.run(["git", *args], cwd=folder, env=env, check=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def olah_server(tmp_path):
    """``olah-cli`` on a loopback port, offline, serving the shuffled copies as git repositories."""
    pytest.importorskip(
        "olah", reason="olah (a self-hosted Hub mirror) is not installed: pip install -r requirements.txt"
    )
    mirrors = tmp_path / "mirrors"
    for name, splits in _datasets(seed=3).items():
        folder = write_dataset(mirrors / "datasets", name, splits)
        _git_repo(folder)
    port = _free_port()
    config = tmp_path / "olah.toml"
    config.write_text(
        f'[basic]\nhost = "127.0.0.1"\nport = {port}\nmirror-netloc = "127.0.0.1:{port}"\n'
        f'mirror-lfs-netloc = "127.0.0.1:{port}"\nmirrors-path = ["{mirrors}"]\n'
        f'repos-path = "{tmp_path / "repos"}"\n\n[accessibility]\noffline = true\n'
    )
    log = open(tmp_path / "olah.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "olah.server", "-c", str(config)], cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):  # up to 30 s
            try:
                urllib.request.urlopen(url, timeout=1)
                break
            except urllib.error.HTTPError:  # any HTTP answer: the server is up
                break
            except OSError:
                if server.poll() is not None:
                    break
                time.sleep(0.25)
        else:
            pytest.skip(f"olah did not answer on {url}: {(tmp_path / 'olah.log').read_text()[-500:]}")
        if server.poll() is not None:
            pytest.skip(f"olah could not start: {(tmp_path / 'olah.log').read_text()[-500:]}")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def _subsets(env: dict) -> dict:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TAP_DATA_DIR", "TRANSFORMERS_OFFLINE"))}
    out = subprocess.run(
        [sys.executable, "-c", SUBSETS], env={**base, **env}, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_online_data_path_gives_the_offline_subsets(olah_server, tmp_path):
    offline_copy = tmp_path / "offline"
    for name, splits in _datasets(seed=None).items():
        write_dataset(offline_copy, name, splits)
    online = _subsets(
        {
            "HF_ENDPOINT": olah_server,
            "HF_HOME": str(tmp_path / "hf-online"),
            "TAP_CACHE_DIR": str(tmp_path / "tap-online"),
        }
    )
    offline = _subsets(
        {
            "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
            "TAP_DATA_DIR": str(offline_copy),
            "HF_HOME": str(tmp_path / "hf-offline"),
            "TAP_CACHE_DIR": str(tmp_path / "tap-offline"),
        }
    )
    assert online["source"].startswith("Hugging Face Hub") and offline["source"].startswith("local copy")
    assert online["features"] == offline["features"]
    assert online["subsets"] == offline["subsets"]
