"""The run store: keys, record and model files, the per-notebook index (00_baseline).

Every run `utils.training.fit` trains is saved under ``results/`` (or
``$COURSE_RESULTS_DIR``):

- ``runs/<key>.json``: the run record (settings and measured numbers);
- ``runs/<key>.keras``: the trained model;
- ``backup/<key>/``: the state of a run in progress, so that an interrupted run
  continues where it stopped; deleted when the run finishes;
- ``index/<profile>/<notebook>.json``: the runs the last execution of a notebook
  used, in order; `make run` reads it to write ``build/report.md``.

The key is a hash of what decides a run's numbers (the data, the model's
configuration, the training settings and the seed), so the same run asked for
again, in any notebook, is read back instead of retrained.

Every file is written to a temporary file first and then renamed over the old
one, so a crash or a full disk never leaves half a file behind. A file that
cannot be read anyway (written by a crash of an older version, or damaged later)
counts as missing: the caller retrains, after one line that names the file.
Two processes that train the same run take turns (`locked`).

This module is the only owner of that state, and of the notebook being run: it
imports nothing from the rest of the course, so that everything can ask it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import tempfile
from pathlib import Path

try:  # Linux, macOS and Colab; elsewhere runs of the same key are not serialized
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

RESULTS_ENV = "COURSE_RESULTS_DIR"
DEFAULT_RESULTS_DIR = Path(__file__).resolve().parent.parent / "results"
# Part of every key: a change in what a key covers retrains every run once.
KEY_SCHEMA = 2


def results_dir() -> Path:
    """Where run records, models, backups and indexes go (``$COURSE_RESULTS_DIR``)."""
    return Path(os.environ.get(RESULTS_ENV) or DEFAULT_RESULTS_DIR)


def run_key(payload: dict) -> str:
    """A short hash of a run's payload: everything that determines its numbers."""
    text = json.dumps({"schema": KEY_SCHEMA, **payload}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def data_fingerprint(*arrays) -> str:
    """A short hash of arrays' shapes, types and values: which images, which labels."""
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array if array.flags.c_contiguous else array.tobytes())
    return digest.hexdigest()[:16]


def record_path(key: str) -> Path:
    return results_dir() / "runs" / f"{key}.json"


def model_path(key: str) -> Path:
    return results_dir() / "runs" / f"{key}.keras"


def backup_dir(key: str) -> Path:
    """The folder holding the state of run ``key`` while it trains."""
    return results_dir() / "backup" / key


def shown(path: Path) -> str:
    """A path as a message shows it: relative to the results folder's parent."""
    try:
        return str(Path(path).relative_to(results_dir().parent))
    except ValueError:
        return str(path)


# --- atomic files ---


@contextlib.contextmanager
def replacing(path: Path):
    """Yield a temporary path next to ``path``; rename it over ``path`` on success.

    The temporary name keeps the suffix (Keras insists on ``.keras``). If the
    body raises (a full disk, an interruption), ``path`` keeps its old content
    and the temporary file is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent
    )
    os.close(handle)
    temporary = Path(temporary)
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (all of it or none of it)."""
    with replacing(path) as temporary:
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())


def write_json(path: Path, value) -> None:
    write_text(path, json.dumps(value, indent=1) + "\n")


def write_file(path: Path, write) -> None:
    """Call ``write(temporary_path)``, then rename the result over ``path``.

    For files another library writes, e.g. ``write_file(path, model.save)``.
    """
    with replacing(path) as temporary:
        write(temporary)


def read_or_none(path: Path, read, what: str, action: str = "treating it as missing"):
    """``read(path)``, or None when the file is missing or cannot be read.

    An unreadable file is reported in one line that names it and says what
    happens instead (``action``): the caller retrains or starts over.
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        return read(path)
    except Exception as error:  # any damage counts as missing
        reason = (str(error).splitlines() or [type(error).__name__])[0][:120]
        print(f"{what} {shown(path)} cannot be read ({reason}); {action}.", flush=True)
        return None


def read_json(path: Path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def load_record(key: str) -> dict | None:
    """The record of run ``key``, or None when it is missing or damaged."""

    def read(path):
        record = read_json(path)
        if not isinstance(record, dict) or record.get("key") != key:
            raise ValueError("not the record of this run")
        return record

    return read_or_none(record_path(key), read, "Run record", "retraining the run")


def save_record(record: dict) -> Path:
    """Save a run record (it holds its own ``key``) atomically; return its path."""
    path = record_path(record["key"])
    write_json(path, record)
    return path


@contextlib.contextmanager
def locked(key: str, verbose: bool = True):
    """Hold the lock of run ``key``: a second process training it waits its turn.

    The lock is the operating system's (``flock``), so a killed process releases
    it. Where there is none (Windows), runs are not serialized.
    """
    if fcntl is None:  # pragma: no cover
        yield
        return
    path = results_dir() / "locks" / f"{key}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if verbose:
                print(
                    "Another process is training this run; waiting for it to "
                    "finish, then using its result.",
                    flush=True,
                )
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- the notebook being run and its index ---

_notebook: str | None = None
_profile = None  # the `utils.config.Profile` the notebook chose


def begin_notebook(notebook: str, profile) -> None:
    """Start filing runs under ``notebook`` and its ``profile``; forget earlier ones.

    Called by `utils.config.start_notebook`; a new execution starts an empty index.
    """
    global _notebook, _profile
    _notebook, _profile = notebook, profile
    with locked(f"index-{profile.name}-{notebook}", verbose=False):
        write_json(index_path(notebook, profile.name), [])


def end_notebook() -> None:
    """Stop filing runs under a notebook (tests; scripts that train outside one)."""
    global _notebook, _profile
    _notebook, _profile = None, None


def current_notebook() -> str | None:
    """The notebook named by the last `begin_notebook`, if any."""
    return _notebook


def notebook_profile():
    """The profile the current notebook chose (a `utils.config.Profile`), or None."""
    return _profile


def index_path(notebook: str, profile_name: str) -> Path:
    return results_dir() / "index" / profile_name / f"{notebook}.json"


def _entries(path: Path) -> list[dict]:
    """The index's entries, ``{"name", "key"}``; a damaged index counts as empty."""

    def read(path):
        listed = read_json(path)
        if not isinstance(listed, list) or not all(
            isinstance(entry, dict) and {"name", "key"} <= set(entry)
            for entry in listed
        ):
            raise ValueError("not a list of runs")
        return listed

    return read_or_none(path, read, "Run index", "starting it empty") or []


def add_to_index(key: str, name: str) -> None:
    """List run ``key``, as ``name``, in the current notebook's index (if any)."""
    if _notebook is None:
        return
    path = index_path(_notebook, _profile.name)
    with locked(f"index-{_profile.name}-{_notebook}", verbose=False):
        listed = _entries(path)
        entry = {"name": name, "key": key}
        if entry not in listed:
            listed.append(entry)
        write_json(path, listed)


def indexed_records(notebook: str, profile_name: str) -> list[dict]:
    """The run records the last execution of ``notebook`` used, in order.

    Each record carries the name the notebook gave the run. A listed run whose
    record is missing or damaged is left out, with one line naming it.
    """
    records = []
    for entry in _entries(index_path(notebook, profile_name)):
        record = load_record(entry["key"])
        if record is None:
            print(
                f"{notebook}: run {entry['name']!r} is listed but its record is "
                f"gone; rerun the notebook to measure it again.",
                flush=True,
            )
            continue
        records.append({**record, "name": entry["name"]})
    return records


def machine_description() -> dict:
    """Cores and CPU model, so that every timing says where it was measured."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu": cpu, "python": platform.python_version()}
