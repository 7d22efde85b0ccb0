"""A resumable, verified store of results: one tidy CSV per setting (DESIGN.md items 10 and 16).

Every figure's sweep is a tuple of frozen-dataclass settings. Each setting's result is a tidy
``pandas.DataFrame`` written to ``ROOT/<figure>/<Setting>-<hash>.csv`` as soon as it finishes. The
file name is a stable hash of the setting's fields and of the code version of the figure's sweep
(the SHA-256 of its ``sweep.py`` source), so a second run loads every finished setting instead of
recomputing it, and editing a sweep invalidates only that sweep's files.

Nothing read back is trusted on its presence alone:

* Every file is written atomically: a temporary file in the same folder (created with the
  ordinary ``0666 & ~umask`` mode, like ``open``), flushed and fsynced, then ``os.replace``, then
  the folder fsynced. A killed run leaves the old file, the new one, or a stray ``.*.tmp`` that is
  never read.
* Beside each CSV, ``<same name>.json`` is a *record* (see :func:`write_record`): the setting, the
  code version, the seconds it took, the row count and the SHA-256 of the CSV's bytes, written
  *after* the CSV. A setting is finished when its record exists, is intact, names this setting,
  and the CSV's bytes hash to the recorded value and parse to the recorded number of rows.
* A record is JSON ``{"format", "key", "sha256", "payload"}`` whose hash covers the canonical
  serialization of the payload and whose key says what it is the result of; the cached claims of
  ``sharpen reproduce`` use the same records.
* A file that fails any check (cut mid-row, empty, garbage, a record that does not parse or
  belongs to something else, an older format without a hash) is named in a one-line warning on
  the ``paper_figs.store`` logger, renamed to ``<name>.corrupt-<UTC time>`` (never deleted), and
  treated as missing, so it is recomputed. Files written before hashes existed are set aside the
  same way: there is no way to tell a complete one from a cut one.

Results are always handed out as read back from disk (or, without a folder, from an in-memory CSV
round trip), so a resumed run and a fresh one plot identical numbers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import hashlib
import io
import json
import logging
import math
import os
import re
import secrets
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

# Length of the hexadecimal hash in file names: 64 bits, ample for a few thousand settings.
_HASH_CHARS = 16
# The layout of records; files without it (or with another value) are set aside, not trusted.
RECORD_FORMAT = 2
# Temporary files are `.<name>.<pid>.<token>.tmp`: the pid tells a live writer from a dead one.
_TEMPORARY = re.compile(r"^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$")

_log = logging.getLogger("paper_figs.store")


class CorruptResult(Exception):
    """A stored file failed verification; the message says why (no file name: callers add it)."""


def _jsonable(value: Any) -> Any:
    """The setting's fields as JSON values, floats written exactly (repr) and tuples as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in sorted(value.items())}
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        # JSON has no inf/nan; repr keeps every float's exact value in the hash.
        return value if math.isfinite(value) else repr(value)
    if hasattr(value, "item"):  # numpy scalar
        return _jsonable(value.item())
    raise TypeError(
        f"setting fields must be numbers, strings, booleans, None, tuples or dataclasses; "
        f"got {type(value).__name__} ({value!r})"
    )


def setting_fields(setting: Any) -> dict[str, Any]:
    """The fields of a frozen-dataclass ``setting`` as a JSON-ready dict."""
    if not (dataclasses.is_dataclass(setting) and not isinstance(setting, type)):
        raise TypeError(f"setting must be a dataclass instance, got {type(setting).__name__}")
    if not setting.__dataclass_params__.frozen:
        raise TypeError(f"setting must be a frozen dataclass, got {type(setting).__name__}")
    return _jsonable(setting)


def setting_id(setting: Any, version: str) -> str:
    """Stable file stem ``<Setting>-<hash>`` for ``setting`` under code version ``version``.

    The hash covers the setting's class name, its fields (exact float values) and ``version``, and
    does not depend on the Python process (no ``hash()``), so it is the same across runs.
    """
    payload = json.dumps(
        {"type": type(setting).__name__, "fields": setting_fields(setting), "version": version},
        sort_keys=True,
        separators=(",", ":"),
    )
    digest = hashlib.sha256(payload.encode()).hexdigest()[:_HASH_CHARS]
    return f"{type(setting).__name__}-{digest}"


def source_version(path: str | os.PathLike) -> str:
    """Code version of a sweep: the first 16 hex digits of the SHA-256 of its source file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:_HASH_CHARS]


# --------------------------------------------------------------------------------------------
# Writing.


def _fsync_dir(folder: Path) -> None:
    """Makes a rename in ``folder`` durable (best effort: some file systems refuse it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Writes ``data`` to ``path`` so that readers see the old file or the new one, never a part.

    The temporary file is created by ``os.open`` with mode 0666, so the process's umask applies as
    it does for ``open`` (``tempfile.mkstemp`` would make it 0600, unreadable to the group).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """:func:`atomic_write_bytes` of ``text`` in UTF-8."""
    atomic_write_bytes(path, text.encode("utf-8"))


def _canonical(payload: Any) -> bytes:
    """The bytes a record's hash covers: sorted keys, no spaces (stable over a JSON round trip)."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8")


def write_record(path: str | os.PathLike, key: str, payload: Any) -> None:
    """Writes the JSON ``payload`` atomically with its ``key`` and the SHA-256 of its content.

    Args:
      path: the file (``.json``).
      key: what the payload is the result of (e.g. ``"claim/quick/C4/<library hash>"``); a record
        read back under another key is not trusted.
      payload: JSON-serializable data.
    """
    record = {
        "format": RECORD_FORMAT,
        "key": key,
        "sha256": hashlib.sha256(_canonical(payload)).hexdigest(),
        "payload": payload,
    }
    atomic_write_text(path, json.dumps(record, indent=1, sort_keys=True))


# --------------------------------------------------------------------------------------------
# Reading and setting aside.


def check_record(path: Path, key: str) -> Any:
    """The payload of the record at ``path``, verified (raises :class:`CorruptResult` if not).

    Raises:
      FileNotFoundError: there is no file.
      CorruptResult: the file is not a record of this format, names another key, or its payload
        does not hash to the recorded value.
    """
    data = path.read_bytes()
    try:
        record = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise CorruptResult(f"not JSON ({type(err).__name__}: {err})") from None
    if not isinstance(record, dict) or "format" not in record:
        raise CorruptResult("no format field: written by an older version, without a hash")
    if record.get("format") != RECORD_FORMAT:
        raise CorruptResult(f"format {record.get('format')!r}, expected {RECORD_FORMAT}")
    if record.get("key") != key:
        raise CorruptResult(f"it is the result of {record.get('key')!r}, not of {key!r}")
    if not {"sha256", "payload"} <= set(record):
        raise CorruptResult("no sha256 or no payload field")
    if hashlib.sha256(_canonical(record["payload"])).hexdigest() != record["sha256"]:
        raise CorruptResult("its content does not match its sha256 (changed after writing)")
    return record["payload"]


def set_aside(path: Path, reason: str) -> Path:
    """Renames a file that failed verification to ``<name>.corrupt-<UTC time>`` and logs it.

    Never deletes: a person may want to look at it. Returns the new path.
    """
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    new = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while new.exists():
        n += 1
        new = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    os.replace(path, new)
    _log.warning(
        "results store: %s failed verification (%s); set aside as %s", path, reason, new.name
    )
    return new


def read_record(
    path: str | os.PathLike,
    key: str,
    validate: Callable[[Any], None] | None = None,
    *,
    problems: list[tuple[str, str]] | None = None,
) -> Any | None:
    """The verified payload of the record at ``path``, or None if it is missing or was set aside.

    Args:
      path: the record's file.
      key: the key it must have been written under (see :func:`write_record`).
      validate: optional check of the payload's shape; raises ``CorruptResult`` (or ``ValueError``,
        ``KeyError``, ``TypeError``) to reject it.
      problems: where to append ``(path, reason)`` for a file set aside.
    """
    path = Path(path)
    try:
        payload = check_record(path, key)
        if validate is not None:
            try:
                validate(payload)
            except (ValueError, KeyError, TypeError) as err:
                raise CorruptResult(f"unexpected content ({err})") from None
    except FileNotFoundError:
        return None
    except CorruptResult as err:
        set_aside(path, str(err))
        if problems is not None:
            problems.append((str(path), str(err)))
        return None
    return payload


def remove_stale_temporaries(root: str | os.PathLike) -> list[Path]:
    """Deletes the ``.*.tmp`` files under ``root`` whose writing process is gone.

    They are what a killed writer leaves (never read: only ``os.replace`` makes a result); a
    temporary file of a process still running, here or in a concurrent run, is left alone.
    """
    removed = []
    root = Path(root)
    if not root.is_dir():
        return removed
    for path in root.rglob(".*.tmp"):
        m = _TEMPORARY.match(path.name)
        if m is None or _alive(int(m.group(1))):
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """Holds an exclusive lock on ``root/.lock`` (two processes never interleave a CSV and its
    record: one writes a pair while the other verifies it, a run beside a concurrent run)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: atomic writes alone (a race only costs a recomputation)
        yield
        return
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _round_trip(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` as it reads back from CSV (same dtypes and float values as a loaded file)."""
    return pd.read_csv(io.StringIO(df.to_csv(index=False)))


def _check_frame(data: bytes, meta: Any) -> pd.DataFrame:
    """The CSV ``data`` parsed, if it matches its record ``meta`` (else :class:`CorruptResult`)."""
    if not isinstance(meta, dict) or not {"sha256", "bytes", "rows"} <= set(meta):
        raise CorruptResult("its record has no sha256, bytes or rows field")
    if len(data) != meta["bytes"]:
        raise CorruptResult(f"{len(data)} bytes, its record says {meta['bytes']} (cut short?)")
    if hashlib.sha256(data).hexdigest() != meta["sha256"]:
        raise CorruptResult("its bytes do not match the sha256 in its record")
    try:
        df = pd.read_csv(io.BytesIO(data))
    except (ValueError, UnicodeDecodeError) as err:  # pandas' parser and empty-data errors
        raise CorruptResult(f"does not parse as CSV ({type(err).__name__}: {err})") from None
    if len(df) != meta["rows"]:
        raise CorruptResult(f"{len(df)} rows, its record says {meta['rows']}")
    return df


class ResultStore:
    """Per-setting tidy results under ``root`` (``None``: kept in memory only, e.g. in notebooks).

    Attributes:
      root: the data folder, or None.
      computed: ``(figure, setting_id)`` pairs computed (not loaded) by this store object, in order.
      set_aside: ``(path, reason)`` of every file this store object found bad and set aside.
    """

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = None if root is None else Path(root)
        self.computed: list[tuple[str, str]] = []
        self.set_aside: list[tuple[str, str]] = []
        self._memory: dict[tuple[str, str], pd.DataFrame] = {}

    def path(self, figure: str, setting: Any, version: str) -> Path | None:
        """Where the CSV of ``setting`` of ``figure`` lives (None for an in-memory store)."""
        if self.root is None:
            return None
        return self.root / figure / f"{setting_id(setting, version)}.csv"

    def _read(self, figure: str, setting: Any, version: str) -> pd.DataFrame | None:
        """The verified stored frame, or None (missing, or found bad and set aside)."""
        sid = setting_id(setting, version)
        path = self.path(figure, setting, version)
        if path is None:
            df = self._memory.get((figure, sid))
            return None if df is None else df.copy()
        meta_path = path.with_suffix(".json")
        if not path.exists() and not meta_path.exists():
            return None  # never finished (a writer's pair appears CSV first: see below)
        with _locked(self.root):
            if not path.exists() and not meta_path.exists():
                return None
            try:
                if not meta_path.exists():
                    # The CSV is written first: a run killed before its record leaves this.
                    raise CorruptResult("it has no record (.json) beside it: unfinished write")
                try:
                    meta = check_record(meta_path, f"{figure}/{sid}")
                except CorruptResult as err:
                    raise CorruptResult(f"its record {meta_path.name} is bad: {err}") from None
                try:
                    data = path.read_bytes()
                except FileNotFoundError:
                    raise CorruptResult(
                        f"its record {meta_path.name} has no CSV beside it"
                    ) from None
                return _check_frame(data, meta)
            except CorruptResult as err:
                for p in (path, meta_path):
                    if p.exists():
                        set_aside(p, str(err))
                self.set_aside.append((str(path), str(err)))
                return None

    def has(self, figure: str, setting: Any, version: str) -> bool:
        """Whether a verified result of ``setting`` is stored (a bad one is set aside: False)."""
        return self._read(figure, setting, version) is not None

    def load(self, figure: str, setting: Any, version: str) -> pd.DataFrame:
        """The stored, verified tidy result of ``setting``.

        Raises:
          KeyError: it was never computed, or the stored file failed verification (it is then set
            aside).
        """
        df = self._read(figure, setting, version)
        if df is None:
            where = "" if self.root is None else f" at {self.path(figure, setting, version)}"
            raise KeyError(f"{figure}: setting {setting!r} has no stored result{where}")
        return df

    def save(
        self, figure: str, setting: Any, version: str, df: pd.DataFrame, seconds: float
    ) -> None:
        """Stores ``df`` atomically: the CSV, then its record with the CSV's SHA-256."""
        if not isinstance(df, pd.DataFrame):
            raise TypeError(
                f"a sweep's run must return a pandas DataFrame, got {type(df).__name__}"
            )
        if len(df.columns) == 0:
            # A frame without columns writes a CSV that pandas cannot read back.
            raise ValueError(f"{figure}: a sweep's run returned a DataFrame with no columns")
        sid = setting_id(setting, version)
        path = self.path(figure, setting, version)
        if path is None:
            self._memory[(figure, sid)] = _round_trip(df)
            return
        data = df.to_csv(index=False).encode("utf-8")
        meta = {
            "figure": figure,
            "setting": type(setting).__name__,
            "fields": setting_fields(setting),
            "version": version,
            "seconds": seconds,
            "rows": len(df),
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        with _locked(self.root):
            # The CSV first and the record last: the record vouches for the bytes before it.
            atomic_write_bytes(path, data)
            write_record(path.with_suffix(".json"), f"{figure}/{sid}", meta)

    def seconds(self, figure: str, setting: Any, version: str) -> float | None:
        """Seconds the stored setting took to compute (None if unknown or not verifiable)."""
        path = self.path(figure, setting, version)
        if path is None:
            return None
        try:
            meta = check_record(
                path.with_suffix(".json"), f"{figure}/{setting_id(setting, version)}"
            )
            return float(meta["seconds"])
        except (OSError, CorruptResult, KeyError, TypeError, ValueError):
            return None  # only the report's timing column needs it; load() is what verifies

    def get_or_run(
        self,
        figure: str,
        setting: Any,
        version: str,
        run: Callable[[Any], pd.DataFrame],
    ) -> pd.DataFrame:
        """Loads the verified result of ``setting``, computing and storing it first if missing."""
        df = self._read(figure, setting, version)
        if df is not None:
            return df
        start = time.perf_counter()
        df = run(setting)
        self.save(figure, setting, version, df, time.perf_counter() - start)
        self.computed.append((figure, setting_id(setting, version)))
        return self.load(figure, setting, version)


def collect(
    store: ResultStore | None,
    figure: str,
    settings: Sequence[Any],
    version: str,
    run: Callable[[Any], pd.DataFrame],
    *,
    progress: Any = None,
) -> pd.DataFrame:
    """Runs or loads every setting and concatenates the tidy frames, with a ``setting_id`` column.

    Args:
      store: where results live; None runs everything in memory.
      figure: the figure's name (a sub-folder of the store).
      settings: the frozen-dataclass settings, in order.
      version: the sweep's code version (see :func:`source_version`).
      run: ``setting -> DataFrame`` (one tidy frame per setting).
      progress: optional tqdm-like object; ``update(1)`` is called after each setting.
    """
    store = ResultStore() if store is None else store
    frames = []
    for setting in settings:
        df = store.get_or_run(figure, setting, version, run)
        df.insert(0, "setting_id", setting_id(setting, version))
        frames.append(df)
        if progress is not None:
            progress.update(1)
    if not frames:
        raise ValueError(f"{figure}: no settings to collect")
    return pd.concat(frames, ignore_index=True)


def missing(store: ResultStore, jobs: Iterable[tuple[str, Any, str]]) -> list[tuple[str, Any, str]]:
    """The ``(figure, setting, version)`` jobs whose verified results are not stored yet."""
    return [(f, s, v) for f, s, v in jobs if not store.has(f, s, v)]


# --------------------------------------------------------------------------------------------
# Output paths named on the command line, checked before any work.


def check_output_dir(path: str | os.PathLike, argument: str) -> Path:
    """Creates the folder ``path`` if needed and checks a file can be written in it.

    Raises:
      ValueError: naming ``argument`` (e.g. ``"--out"``) and what is wrong, in one line.
    """
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ValueError(f"{argument} {path}: exists and is not a folder")
    try:
        p.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=p):
            pass
    except OSError as err:
        raise ValueError(f"{argument} {path}: cannot write there ({err.strerror or err})") from None
    return p


def check_output_file(path: str | os.PathLike, argument: str) -> Path:
    """Checks the file ``path`` can be written (its folder exists and takes a new file).

    Raises:
      ValueError: naming ``argument`` (e.g. ``"--json"``) and what is wrong, in one line.
    """
    p = Path(path)
    if str(path) == "" or p.is_dir():
        raise ValueError(f"{argument} {path!r}: is a folder, expected a file path")
    folder = p.parent
    if not folder.is_dir():
        raise ValueError(f"{argument} {path}: folder {folder} does not exist")
    if p.exists() and not os.access(p, os.W_OK):
        raise ValueError(f"{argument} {path}: the file exists and is not writable")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise ValueError(
            f"{argument} {path}: cannot write into {folder} ({err.strerror or err})"
        ) from None
    return p
