"""The run cache: a run's record and checkpoint stored under a key derived from its
configuration, so later chapters reuse earlier work and unchanged rebuilds are fast.

An entry is a folder written under a temporary name (``.<entry>-xxxxxxxx``) and renamed into
place once complete (atomic), with a manifest of SHA-256 digests; an entry whose files do
not match is recomputed. The rules that keep it right when processes overlap or die:

* Reading a valid entry takes no lock and writes nothing, so a read-only cache serves its hits.
* Writing an entry holds a lock (``flock`` on ``.<entry>.lock`` next to it), and the entry is
  checked again once the lock is held: a process that waited for another one computing the
  same entry reuses its result instead of computing it a second time.
* Every temporary folder exists only while its writer holds the entry's lock, so a temporary
  folder whose lock is free was left by a killed writer: the next writer in that folder removes it.
* Where the cache cannot be written, a missing entry is computed but not stored, with a
  warning given before the computation (not after it), naming the folder and the fix.
* Under ``accelerate launch``, only the main process writes: the others compute beside it (a
  training run needs every process), then wait for it and read what it stored.
* Checkpoints load onto the CPU (``map_location``), so a run made on a GPU loads anywhere.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import io
import json
import os
import pickle
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import TypeVar

import torch
from accelerate.utils import broadcast_object_list

from .devices import state as process_state

CACHE_ENV = "TAP_CACHE_DIR"
CACHE_VERSION = 2  # bump when a change to the code makes old entries wrong (2: subsets chosen by content)
HAS_STATE = "cache_has_state"  # in a run's record.json: whether the run saved a state.pt (not returned)

T = TypeVar("T")


def cache_dir() -> Path:
    """``$TAP_CACHE_DIR``, else ``~/.cache/tap``; created on first use where possible (a
    location that cannot be created is reported by the first entry that needs writing)."""
    root = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "tap")
    if root.exists() and not root.is_dir():
        raise ValueError(
            f"${CACHE_ENV}={root} is a file, not a folder: point {CACHE_ENV} at a folder (it is created if missing)."
        )
    with contextlib.suppress(OSError):
        root.mkdir(parents=True, exist_ok=True)
    return root


def config_key(config: dict) -> str:
    """A stable digest of a JSON-able configuration (key order does not matter)."""
    text = json.dumps({"cache_version": CACHE_VERSION, **config}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def code_digest(paths: Iterable[Path]) -> str:
    """The one digest of source code: each file's name and bytes, in the order given. Run keys
    (``source_digest``) and the book's page cache (``book/_ext/fresh_pages.py``) both use it."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).name.encode() + b"\0" + Path(path).read_bytes())
    return digest.hexdigest()[:16]


def source_digest(*modules: ModuleType) -> str:
    """A digest of the source of the modules a run depends on: editing them invalidates the run."""
    return code_digest(Path(m.__file__) for m in modules)


# --------------------------------------------------------------------------- checking entries


def _read_manifest(folder: Path) -> dict[str, str]:
    """The entry's manifest: a JSON object of relative file names to digests that lists
    ``record.json``. Anything else (``[]``, ``null``, ``{}``, a path leaving the entry) is damage."""
    manifest = json.loads((folder / "manifest.json").read_text())
    if not isinstance(manifest, dict) or not all(isinstance(v, str) for v in manifest.values()):
        raise ValueError("manifest.json is not a mapping of file names to digests")
    if "record.json" not in manifest:
        raise ValueError("manifest.json does not list record.json")
    if any(PurePosixPath(name).is_absolute() or ".." in PurePosixPath(name).parts for name in manifest):
        raise ValueError("manifest.json names a file outside the entry")
    return manifest


def _verified_files(folder: Path, keep: tuple[str, ...]) -> dict[str, bytes]:
    """Check every file the manifest lists against its digest, and return the contents of the
    listed ones among ``keep``: the checked bytes themselves, so that a file replaced after the
    check cannot be loaded in its place."""
    contents = {}
    for name, digest in _read_manifest(folder).items():
        data = (folder / name).read_bytes()
        if hashlib.sha256(data).hexdigest() != digest:
            raise ValueError(f"{name} does not match its digest")
        if name in keep:
            contents[name] = data
    return contents


def _json_object(data: bytes, name: str) -> dict:
    value = json.loads(data)
    if not isinstance(value, dict):
        raise ValueError(f"{name} does not hold a JSON object")
    return value


@contextlib.contextmanager
def _as_damage() -> Iterator[None]:
    """Turn every way an entry can fail to read into ValueError, the one error meaning 'damaged'."""
    try:
        yield
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as err:
        raise ValueError(f"{type(err).__name__}: {err}") from err


def _read_run(folder: Path) -> tuple[dict, dict | None]:
    """A run entry's ``(record, state)``, raising ValueError when it is partial or damaged.

    The rule for ``state.pt``: it is listed in the manifest exactly when the record says the run
    saved a state (``HAS_STATE``; entries written before that key existed are taken at their
    manifest's word), and it holds a dict — so a lost checkpoint is never returned as ``None``."""
    with _as_damage():
        files = _verified_files(folder, ("record.json", "state.pt"))
        record = _json_object(files["record.json"], "record.json")
        has_state = record.pop(HAS_STATE, "state.pt" in files)
        if has_state != ("state.pt" in files):
            raise ValueError("state.pt is missing" if has_state else "state.pt is there but the run saved none")
        state = torch.load(io.BytesIO(files["state.pt"]), map_location="cpu", weights_only=True) if has_state else None
        if has_state and not isinstance(state, dict):
            raise ValueError("state.pt does not hold a state dict")
    return record, state


def _read_folder(folder: Path) -> tuple[Path, dict]:
    """A folder entry's ``(folder, record)``, raising ValueError when it is partial or damaged."""
    with _as_damage():
        return folder, _json_object(_verified_files(folder, ("record.json",))["record.json"], "record.json")


# --------------------------------------------------------------------------- writing entries


def _write_manifest(folder: Path) -> None:
    """Digests of every file under ``folder`` (relative paths), except the manifest itself."""
    manifest = {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p != folder / "manifest.json"
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))


def _write_run(folder: Path, record: dict, state: dict | None) -> None:
    (folder / "record.json").write_text(json.dumps({**record, HAS_STATE: state is not None}, indent=1, default=str))
    if state is not None:
        torch.save(state, folder / "state.pt")
    _write_manifest(folder)


def writable(folder: Path) -> bool:
    """Whether entries can be written in ``folder`` (created if missing). Asked before computing,
    so that a read-only cache is reported before the work, not after it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK | os.X_OK)


def _lock_path(folder: Path) -> Path:
    return folder.parent / f".{folder.name}.lock"


@contextlib.contextmanager
def _lock(path: Path, wait: bool = True) -> Iterator[bool]:
    """Hold an exclusive ``flock`` on ``path``; yields whether it was obtained (always, when
    ``wait``). The kernel releases it when its holder dies, which is what makes a held lock
    proof of a living writer. Without ``fcntl`` (Windows) nothing is locked and ``False`` is
    yielded, so nothing is ever swept as stale."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield False
        return
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _sweep(parent: Path) -> None:
    """Remove the temporary folders in ``parent`` left by killed writers: a temporary folder
    only exists while its writer holds the entry's lock, so one whose lock is free is stale."""
    for tmp in parent.glob(".*-*"):
        if not tmp.is_dir():
            continue
        entry = parent / tmp.name[1:].rsplit("-", 1)[0]
        with _lock(_lock_path(entry), wait=False) as writer_is_gone:
            if writer_is_gone:
                shutil.rmtree(tmp, ignore_errors=True)


def _make_in_place(folder: Path, make: Callable[[Path], T]) -> T:
    """``make(tmp)`` fills an empty temporary folder, which then replaces ``folder``; the caller
    holds the entry's lock. On failure nothing is left behind."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        value = make(tmp)
        shutil.rmtree(folder, ignore_errors=True)  # a damaged entry being replaced
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return value


def _get_or_make(
    folder: Path, read: Callable[[Path], T], make: Callable[[Path], T], unstored: Callable[[], T]
) -> tuple[T, bool]:
    """The entry at ``folder`` and whether it came from the cache. ``read`` loads an entry
    (ValueError when damaged), ``make`` computes it into an empty folder, ``unstored`` computes
    it where the cache cannot be written."""
    if process_state().num_processes > 1:
        return _get_or_make_together(folder, read, make, unstored)
    return _get_or_make_alone(folder, read, make, unstored)


def _get_or_make_together(
    folder: Path, read: Callable[[Path], T], make: Callable[[Path], T], unstored: Callable[[], T]
) -> tuple[T, bool]:
    """``_get_or_make`` for several processes: the main one decides whether the entry is there
    (all must agree, or one would train while another waits); if it is not, every process
    computes it, the main one stores it, and the others wait and then read the stored entry, so
    that all return the same record."""
    state = process_state()
    found, value = [False], None
    if state.is_main_process and folder.exists():
        with contextlib.suppress(ValueError):
            value, found = read(folder), [True]
    broadcast_object_list(found)
    if found[0]:
        return (value if state.is_main_process else read(folder)), True
    value = _get_or_make_alone(folder, read, make, unstored)[0] if state.is_main_process else unstored()
    state.wait_for_everyone()
    if not state.is_main_process and folder.exists():
        value = read(folder)
    return value, False


def _get_or_make_alone(
    folder: Path, read: Callable[[Path], T], make: Callable[[Path], T], unstored: Callable[[], T]
) -> tuple[T, bool]:
    if folder.exists():
        with contextlib.suppress(ValueError):  # damage is reported below, under the lock
            return read(folder), True
    if not writable(folder.parent):
        warnings.warn(
            f"Cache entry {folder.name} is missing or damaged, and the cache folder "
            f"{folder.parent} is not writable: computing it without storing the result. "
            f"Set ${CACHE_ENV} to a writable folder to keep it.",
            stacklevel=3,
        )
        return unstored(), False
    _sweep(folder.parent)
    with _lock(_lock_path(folder)):
        if folder.exists():  # maybe written by the process this one waited for
            try:
                return read(folder), True
            except ValueError as err:
                warnings.warn(f"Cache entry {folder} is corrupted ({err}); recomputing it.", stacklevel=3)
        return _make_in_place(folder, make), False


def _entry_folder(kind: str, name: str, config: dict) -> Path:
    return cache_dir() / kind / f"{name}-{config_key(config)}"


def cached_run(name: str, config: dict, compute: Callable[[], tuple[dict, dict | None]]) -> tuple[dict, dict | None]:
    """Return ``(record, state_dict)`` for ``config``: from the cache, or by calling
    ``compute()`` and storing its result. The record says whether it came from the cache."""
    folder = _entry_folder("runs", name, config)

    def finished() -> tuple[dict, dict | None]:
        record, state = compute()
        return {**record, "run_name": name, "config": config}, state

    def store(tmp: Path) -> tuple[dict, dict | None]:
        record, state = finished()
        _write_run(tmp, record, state)
        return record, state

    (record, state), from_cache = _get_or_make(folder, _read_run, store, finished)
    return {**record, "from_cache": from_cache}, state


def _scratch_folder(name: str) -> Path:
    """A folder for an entry the cache cannot store, outside it, removed when the process exits."""
    scratch = Path(tempfile.mkdtemp(prefix=f"tap-{name}-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    return scratch


def cached_folder(name: str, config: dict, compute: Callable[[Path], dict]) -> tuple[Path, dict]:
    """Return ``(folder, record)`` for ``config``: a cache entry holding whatever files
    ``compute(tmp)`` writes into the empty folder ``tmp`` (for example a model's
    ``save_pretrained`` output), plus ``record.json`` with the dict it returns. Like
    ``cached_run``: written under a temporary name and renamed into place, checked against
    a manifest of digests on every use, recomputed (with a warning) when damaged. Where the
    cache is read-only, a missing entry is computed into a temporary folder that lasts as
    long as the process."""
    folder = _entry_folder("folders", name, config)

    def fill(tmp: Path) -> dict:
        record = {**compute(tmp), "run_name": name, "config": config}
        (tmp / "record.json").write_text(json.dumps(record, indent=1, default=str))
        _write_manifest(tmp)
        return record

    def unstored() -> tuple[Path, dict]:
        scratch = _scratch_folder(folder.name)
        return scratch, fill(scratch)

    (where, record), from_cache = _get_or_make(folder, _read_folder, lambda tmp: (folder, fill(tmp)), unstored)
    return where, {**record, "from_cache": from_cache}
