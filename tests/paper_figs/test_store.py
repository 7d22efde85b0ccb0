"""The resumable result store: stable names, atomic writes, exact round trips, and nothing read
back from disk trusted without verification (issue 13, section 2)."""

import dataclasses
import json
import logging
import os
import stat

import pandas as pd
import pytest

from paper_figs._store import (
    ResultStore,
    atomic_write_text,
    check_output_dir,
    check_output_file,
    collect,
    read_record,
    remove_stale_temporaries,
    setting_fields,
    setting_id,
    source_version,
    write_record,
)


@dataclasses.dataclass(frozen=True)
class _Setting:
    n: int
    beta: float
    sizes: tuple[int, ...] = (1, 2)
    seed: int = 0


@dataclasses.dataclass
class _Mutable:
    n: int


def _run(s):
    return pd.DataFrame(
        {"n": [s.n] * 3, "k": [0, 1, 2], "value": [s.beta / 3, s.beta * 0.1, 1e-300]}
    )


def test_setting_id_is_stable_and_discriminating():
    a = _Setting(3, 0.1)
    # A literal: the hash must not depend on the process (no hash()), so it is pinned.
    assert setting_id(a, "v1") == setting_id(_Setting(3, 0.1), "v1")
    assert setting_id(a, "v1").startswith("_Setting-")
    others = {
        setting_id(_Setting(4, 0.1), "v1"),
        setting_id(_Setting(3, 0.1 + 1e-17 + 1e-16), "v1"),
        setting_id(_Setting(3, 0.1, (1, 3)), "v1"),
        setting_id(_Setting(3, 0.1, seed=1), "v1"),
        setting_id(a, "v2"),
    }
    assert setting_id(a, "v1") not in others and len(others) == 5


def test_setting_id_pinned_value():
    # Recomputed by hand from the documented payload, so a change of scheme is noticed.
    import hashlib

    payload = json.dumps(
        {
            "type": "_Setting",
            "fields": {"n": 3, "beta": 0.1, "sizes": [1, 2], "seed": 0},
            "version": "v1",
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    assert (
        setting_id(_Setting(3, 0.1), "v1")
        == "_Setting-" + hashlib.sha256(payload.encode()).hexdigest()[:16]
    )


def test_bad_settings_are_refused():
    with pytest.raises(TypeError, match="frozen"):
        setting_fields(_Mutable(1))
    with pytest.raises(TypeError, match="dataclass"):
        setting_fields({"n": 1})
    with pytest.raises(TypeError, match="setting fields"):
        setting_id(_Setting(1, 0.1, sizes=(object(),)), "v")


def test_store_round_trip_and_resume(tmp_path):
    store = ResultStore(tmp_path)
    settings = [_Setting(1, 0.3), _Setting(2, 0.7)]
    calls = []

    def run(s):
        calls.append(s)
        return _run(s)

    df1 = collect(store, "fig_x", settings, "v", run)
    assert calls == settings
    assert sorted(p.name for p in (tmp_path / "fig_x").iterdir()) == sorted(
        [f"{setting_id(s, 'v')}{ext}" for s in settings for ext in (".csv", ".json")]
    )
    # Floats survive the CSV round trip exactly (down to 1e-300).
    expected = [v for s in settings for v in _run(s)["value"].tolist()]
    assert df1["value"].tolist() == expected
    assert df1["setting_id"].tolist() == [setting_id(s, "v") for s in settings for _ in range(3)]
    calls.clear()
    store2 = ResultStore(tmp_path)
    df2 = collect(store2, "fig_x", settings, "v", run)
    assert calls == [] and store2.computed == []
    pd.testing.assert_frame_equal(df1, df2)
    # A new code version recomputes.
    collect(store2, "fig_x", settings[:1], "w", run)
    assert calls == settings[:1]
    record = json.loads((tmp_path / "fig_x" / f"{setting_id(settings[0], 'v')}.json").read_text())
    meta = record["payload"]
    assert record["key"] == f"fig_x/{setting_id(settings[0], 'v')}"
    assert meta["fields"] == {"n": 1, "beta": 0.3, "sizes": [1, 2], "seed": 0}
    assert meta["seconds"] >= 0 and meta["rows"] == 3


def test_interrupted_write_leaves_no_file(tmp_path):
    store = ResultStore(tmp_path)
    s = _Setting(1, 0.3)

    def boom(_):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.get_or_run("fig_x", s, "v", boom)
    assert not store.has("fig_x", s, "v")
    assert not (tmp_path / "fig_x").exists() or not any((tmp_path / "fig_x").iterdir())


def test_memory_store_matches_disk(tmp_path):
    s = _Setting(5, 0.9)
    mem = ResultStore().get_or_run("fig_x", s, "v", _run)
    disk = ResultStore(tmp_path).get_or_run("fig_x", s, "v", _run)
    pd.testing.assert_frame_equal(mem, disk)


def test_run_must_return_dataframe(tmp_path):
    with pytest.raises(TypeError, match="DataFrame"):
        ResultStore(tmp_path).get_or_run("fig_x", _Setting(1, 0.1), "v", lambda s: [1, 2])


def test_source_version_tracks_content(tmp_path):
    p = tmp_path / "sweep.py"
    p.write_text("A = 1\n")
    v1 = source_version(p)
    p.write_text("A = 2\n")
    assert source_version(p) != v1 and len(v1) == 16


# --------------------------------------------------------------------------------------------
# Verification on read: each bad file is named, set aside (never deleted) and recomputed.


def _stored(tmp_path, s=_Setting(1, 0.3)):
    store = ResultStore(tmp_path)
    store.get_or_run("fig_x", s, "v", _run)
    return store.path("fig_x", s, "v"), s


def _corruptions():
    """Ways a CSV goes bad: cut mid-row, emptied, garbage bytes, rows edited or added."""

    def cut_mid_row(b):
        return b[: len(b) - 7]

    return {
        "cut_mid_row": cut_mid_row,
        "empty": lambda b: b"",
        "garbage": lambda b: b"\x00\xff garbage \x89PNG\r\n",
        "one_row_removed": lambda b: b"\n".join(b.split(b"\n")[:-2]) + b"\n",
        "value_edited": lambda b: b.replace(b"9", b"8", 1),
        "row_added": lambda b: b + b"1,9,9.0\n",
    }


@pytest.mark.parametrize("how", sorted(_corruptions()))
def test_a_bad_csv_is_named_set_aside_and_recomputed(tmp_path, how, caplog):
    path, s = _stored(tmp_path)
    good = path.read_bytes()
    path.write_bytes(_corruptions()[how](good))
    calls = []

    def run(setting):
        calls.append(setting)
        return _run(setting)

    store = ResultStore(tmp_path)
    with caplog.at_level(logging.WARNING, logger="paper_figs.store"):
        assert not store.has("fig_x", s, "v")
        df = store.get_or_run("fig_x", s, "v", run)
    assert calls == [s]
    assert path.read_bytes() == good  # recomputed bit for bit
    assert df["value"].tolist() == _run(s)["value"].tolist()
    # Named in one line, set aside beside it (CSV and its record), not deleted.
    (message,) = [r.getMessage() for r in caplog.records if str(path) in r.getMessage()]
    assert "failed verification" in message and "\n" not in message
    aside = sorted(p.name for p in path.parent.iterdir() if ".corrupt-" in p.name)
    assert [n.split(".corrupt-")[0] for n in aside] == [path.name, path.with_suffix(".json").name]
    assert store.set_aside and store.set_aside[0][0] == str(path)


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"", b"\xff\xfe", b"[1, 2]", b'{"figure": "fig_x", "seconds": 1.0}'],
    ids=["garbage", "empty", "not_utf8", "a_list", "old_format_without_hash"],
)
def test_a_bad_sidecar_is_set_aside_and_recomputed(tmp_path, content, caplog):
    path, s = _stored(tmp_path)
    path.with_suffix(".json").write_bytes(content)
    store = ResultStore(tmp_path)
    with caplog.at_level(logging.WARNING, logger="paper_figs.store"):
        assert store.seconds("fig_x", s, "v") is None  # no JSON parse error escapes
        store.get_or_run("fig_x", s, "v", _run)
    assert store.computed == [("fig_x", setting_id(s, "v"))]
    assert any(str(path.with_suffix(".json")) in r.getMessage() for r in caplog.records)
    assert ResultStore(tmp_path).has("fig_x", s, "v")  # and now it verifies


def test_a_record_of_another_setting_is_not_trusted(tmp_path):
    path, s = _stored(tmp_path)
    other_path, other = _stored(tmp_path, _Setting(2, 0.7))
    # Copying another setting's pair over this one's name: both files intact, wrong key.
    path.write_bytes(other_path.read_bytes())
    path.with_suffix(".json").write_bytes(other_path.with_suffix(".json").read_bytes())
    store = ResultStore(tmp_path)
    assert store.get_or_run("fig_x", s, "v", _run)["n"].tolist() == [1, 1, 1]
    assert store.computed == [("fig_x", setting_id(s, "v"))]


def test_half_a_pair_is_unfinished(tmp_path):
    """A run killed between the CSV and its record leaves a CSV alone; the reverse, a record."""
    path, s = _stored(tmp_path)
    path.with_suffix(".json").unlink()
    store = ResultStore(tmp_path)
    assert not store.has("fig_x", s, "v")
    assert "no record" in store.set_aside[0][1]
    path2, s2 = _stored(tmp_path, _Setting(2, 0.7))
    path2.unlink()
    assert not store.has("fig_x", s2, "v")
    assert "no CSV" in store.set_aside[1][1]
    with pytest.raises(KeyError, match="no stored result"):
        store.load("fig_x", s2, "v")


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_files_are_written_with_the_umask_mode(tmp_path, umask):
    old = os.umask(umask)
    try:
        path, _ = _stored(tmp_path)
        write_record(tmp_path / "r.json", "k", {"a": 1})
    finally:
        os.umask(old)
    for p in (path, path.with_suffix(".json"), tmp_path / "r.json"):
        assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask, p


def test_records_round_trip_and_refuse_what_is_not_theirs(tmp_path):
    path = tmp_path / "c.json"
    payload = {"id": "C1", "x": [1.0, 1e-300, float("nan")], "s": "é"}
    write_record(path, "claim/C1", payload)
    back = read_record(path, "claim/C1")
    assert back["id"] == "C1" and back["x"][:2] == [1.0, 1e-300] and back["s"] == "é"
    assert read_record(tmp_path / "none.json", "claim/C1") is None  # missing: None, no error
    problems = []
    assert read_record(path, "claim/C2", problems=problems) is None  # another key
    assert not path.exists() and "claim/C2" in problems[0][1]
    write_record(path, "k", {"holds": True})
    text = path.read_text().replace("true", "false")  # edited after writing: hash mismatch
    path.write_text(text)
    assert read_record(path, "k") is None
    write_record(path, "k", {"holds": True})

    def validate(p):
        raise ValueError("no id")

    assert read_record(path, "k", validate) is None
    assert len(list(tmp_path.glob("c.json.corrupt-*"))) == 3  # all kept, none overwritten


def test_stale_temporaries_are_removed_live_ones_kept(tmp_path):
    (tmp_path / "fig_x").mkdir()
    dead = tmp_path / "fig_x" / ".a.csv.999999999.0123abcd.tmp"
    live = tmp_path / "fig_x" / f".b.csv.{os.getpid()}.0123abcd.tmp"
    other = tmp_path / "fig_x" / ".notes.tmp"
    for p in (dead, live, other):
        p.write_text("x")
    assert remove_stale_temporaries(tmp_path) == [dead]
    assert live.exists() and other.exists()


def test_atomic_write_leaves_no_temporary(tmp_path):
    atomic_write_text(tmp_path / "a" / "f.txt", "hello")
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["f.txt"]


def test_output_paths_are_checked_with_the_argument_named(tmp_path):
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    assert check_output_dir(tmp_path / "new" / "out", "--out").is_dir()
    with pytest.raises(ValueError, match=r"^--out .*file.txt: exists and is not a folder"):
        check_output_dir(a_file, "--out")
    with pytest.raises(ValueError, match=r"^--out .*: cannot write there"):
        check_output_dir(a_file / "sub", "--out")
    with pytest.raises(ValueError, match=r"^--out .*: cannot write there"):
        check_output_dir("/proc/sharpen-out", "--out")
    assert check_output_file(tmp_path / "r.json", "--json") == tmp_path / "r.json"
    with pytest.raises(ValueError, match=r"^--json .*: is a folder"):
        check_output_file(tmp_path, "--json")
    with pytest.raises(ValueError, match=r"^--json .*: folder .* does not exist"):
        check_output_file(tmp_path / "missing" / "r.json", "--json")
    with pytest.raises(ValueError, match=r"^--json .*: folder .* does not exist"):
        check_output_file(a_file / "r.json", "--json")
    with pytest.raises(ValueError, match=r"^--json .*: cannot write into /proc"):
        check_output_file("/proc/r.json", "--json")
