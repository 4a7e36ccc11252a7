"""The run cache: a run's record and checkpoint stored under a key derived from its
configuration, so later chapters reuse earlier work and unchanged rebuilds are fast.

An entry is a folder written to a temporary name and renamed into place (atomic), with
a manifest of SHA-256 digests; an entry whose files do not match is recomputed.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from types import ModuleType
from typing import Callable, Iterator

import torch

CACHE_ENV = "TAP_CACHE_DIR"
CACHE_VERSION = 2  # bump when a change to the code makes old entries wrong (2: subsets chosen by content)


def cache_dir() -> Path:
    """``$TAP_CACHE_DIR``, else ``~/.cache/tap``; created on first use."""
    root = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "tap")
    root.mkdir(parents=True, exist_ok=True)
    return root


def config_key(config: dict) -> str:
    """A stable digest of a JSON-able configuration (key order does not matter)."""
    text = json.dumps({"cache_version": CACHE_VERSION, **config}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def source_digest(*modules: ModuleType) -> str:
    """A digest of the source of the modules a run depends on: editing them invalidates the run."""
    text = "".join(Path(m.__file__).read_text() for m in modules)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_entry(folder: Path, record: dict, state: dict | None) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    (tmp / "record.json").write_text(json.dumps(record, indent=1, default=str))
    if state is not None:
        torch.save(state, tmp / "state.pt")
    manifest = {p.name: _digest(p) for p in sorted(tmp.iterdir())}
    (tmp / "manifest.json").write_text(json.dumps(manifest))
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)


def _read_entry(folder: Path) -> tuple[dict, dict | None]:
    """Load an entry, raising ValueError when it is partial or corrupted."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        for name, digest in manifest.items():
            if _digest(folder / name) != digest:
                raise ValueError(f"{name} does not match its digest")
        record = json.loads((folder / "record.json").read_text())
        state = torch.load(folder / "state.pt", weights_only=True) if "state.pt" in manifest else None
    except (OSError, json.JSONDecodeError, RuntimeError) as err:
        raise ValueError(str(err)) from err
    return record, state


def cached_run(
    name: str, config: dict, compute: Callable[[], tuple[dict, dict | None]]
) -> tuple[dict, dict | None]:
    """Return ``(record, state_dict)`` for ``config``: from the cache, or by calling
    ``compute()`` and storing its result. The record says whether it came from the cache."""
    folder = cache_dir() / "runs" / f"{name}-{config_key(config)}"
    if folder.exists():
        try:
            record, state = _read_entry(folder)
            return {**record, "from_cache": True}, state
        except ValueError as err:
            warnings.warn(f"Run cache entry {folder} is corrupted ({err}); recomputing it.", stacklevel=2)
            shutil.rmtree(folder, ignore_errors=True)
    record, state = compute()
    record = {**record, "run_name": name, "config": config}
    _write_entry(folder, record, state)
    return {**record, "from_cache": False}, state


def _folder_manifest(folder: Path) -> dict[str, str]:
    """Digests of every file under ``folder`` (relative paths), except the manifest itself."""
    return {p.relative_to(folder).as_posix(): _digest(p) for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != "manifest.json"}


def _check_folder(folder: Path) -> dict:
    """The record of a folder entry, raising ValueError when it is partial or corrupted."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        for name, digest in manifest.items():
            if _digest(folder / name) != digest:
                raise ValueError(f"{name} does not match its digest")
        return json.loads((folder / "record.json").read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(str(err)) from err


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (POSIX ``flock``), so two processes asking for the same
    entry compute it once; a no-op where ``fcntl`` does not exist."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cached_folder(name: str, config: dict, compute: Callable[[Path], dict]) -> tuple[Path, dict]:
    """Return ``(folder, record)`` for ``config``: a cache entry holding whatever files
    ``compute(tmp)`` writes into the empty folder ``tmp`` (for example a model's
    ``save_pretrained`` output), plus ``record.json`` with the dict it returns. Like
    ``cached_run``: written under a temporary name and renamed into place, checked against
    a manifest of digests on every use, recomputed (with a warning) when damaged."""
    folder = cache_dir() / "folders" / f"{name}-{config_key(config)}"
    with _lock(folder.parent / f".{folder.name}.lock"):
        if folder.exists():
            try:
                return folder, {**_check_folder(folder), "from_cache": True}
            except ValueError as err:
                warnings.warn(f"Cache entry {folder} is corrupted ({err}); recomputing it.", stacklevel=2)
                shutil.rmtree(folder, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
        try:
            record = {**compute(tmp), "run_name": name, "config": config}
            (tmp / "record.json").write_text(json.dumps(record, indent=1, default=str))
            (tmp / "manifest.json").write_text(json.dumps(_folder_manifest(tmp)))
            os.replace(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return folder, {**record, "from_cache": False}
