"""A resumable store of sweep results: one tidy CSV per setting (DESIGN.md house style item 10).

Every figure's sweep is a tuple of frozen-dataclass settings. Each setting's result is a tidy
``pandas.DataFrame`` written to ``ROOT/<figure>/<Setting>-<hash>.csv`` as soon as it finishes, by an
atomic write (a temporary file in the same folder, then ``os.replace``), so an interrupted run
leaves either a complete file or none. The file name is a stable hash of the setting's fields and of
the code version of the figure's sweep (the SHA-256 of its ``sweep.py`` source), so a second run
loads every finished setting instead of recomputing it, and editing a sweep invalidates only that
sweep's files. Beside each CSV, ``<same name>.json`` records the setting, the version and the
seconds the setting took, for the report.

Results are always handed out as read back from disk (or, without a folder, from an in-memory CSV
round trip), so a resumed run and a fresh one plot identical numbers.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

# Length of the hexadecimal hash in file names: 64 bits, ample for a few thousand settings.
_HASH_CHARS = 16


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


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _round_trip(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` as it reads back from CSV (same dtypes and float values as a loaded file)."""
    return pd.read_csv(io.StringIO(df.to_csv(index=False)))


class ResultStore:
    """Per-setting tidy results under ``root`` (``None``: kept in memory only, e.g. in notebooks).

    Attributes:
      root: the data folder, or None.
      computed: ``(figure, setting_id)`` pairs computed (not loaded) by this store object, in order.
    """

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = None if root is None else Path(root)
        self.computed: list[tuple[str, str]] = []
        self._memory: dict[tuple[str, str], pd.DataFrame] = {}

    def path(self, figure: str, setting: Any, version: str) -> Path | None:
        """Where the CSV of ``setting`` of ``figure`` lives (None for an in-memory store)."""
        if self.root is None:
            return None
        return self.root / figure / f"{setting_id(setting, version)}.csv"

    def has(self, figure: str, setting: Any, version: str) -> bool:
        """Whether the result of ``setting`` is already stored."""
        path = self.path(figure, setting, version)
        if path is None:
            return (figure, setting_id(setting, version)) in self._memory
        return path.exists()

    def load(self, figure: str, setting: Any, version: str) -> pd.DataFrame:
        """The stored tidy result of ``setting`` (KeyError if it was never computed)."""
        path = self.path(figure, setting, version)
        if path is None:
            try:
                return self._memory[(figure, setting_id(setting, version))].copy()
            except KeyError:
                raise KeyError(f"{figure}: setting {setting!r} has no stored result") from None
        if not path.exists():
            raise KeyError(f"{figure}: setting {setting!r} has no stored result at {path}")
        return pd.read_csv(path)

    def save(
        self, figure: str, setting: Any, version: str, df: pd.DataFrame, seconds: float
    ) -> None:
        """Stores ``df`` atomically, with a JSON record of the setting beside it."""
        if not isinstance(df, pd.DataFrame):
            raise TypeError(
                f"a sweep's run must return a pandas DataFrame, got {type(df).__name__}"
            )
        sid = setting_id(setting, version)
        path = self.path(figure, setting, version)
        if path is None:
            self._memory[(figure, sid)] = _round_trip(df)
            return
        meta = {
            "figure": figure,
            "setting": type(setting).__name__,
            "fields": setting_fields(setting),
            "version": version,
            "seconds": seconds,
            "rows": len(df),
        }
        # The record first and the CSV last: the CSV's presence marks the setting as finished.
        atomic_write_text(path.with_suffix(".json"), json.dumps(meta, indent=1, sort_keys=True))
        atomic_write_text(path, df.to_csv(index=False))

    def seconds(self, figure: str, setting: Any, version: str) -> float | None:
        """Seconds the stored setting took to compute (None if unknown)."""
        path = self.path(figure, setting, version)
        if path is None or not path.with_suffix(".json").exists():
            return None
        return float(json.loads(path.with_suffix(".json").read_text())["seconds"])

    def get_or_run(
        self,
        figure: str,
        setting: Any,
        version: str,
        run: Callable[[Any], pd.DataFrame],
    ) -> pd.DataFrame:
        """Loads the result of ``setting``, computing and storing it first if it is missing."""
        if not self.has(figure, setting, version):
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
    """The ``(figure, setting, version)`` jobs whose results are not stored yet."""
    return [(f, s, v) for f, s, v in jobs if not store.has(f, s, v)]
