"""Broken CSV files through the real ``nbrec leaderboard``: one clear line naming what is wrong."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def nbrec(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``nbrec ...`` as a user does (a process of its own); messages joined onto one line."""
    done = subprocess.run(
        [sys.executable, "-m", "nbrec", *args], capture_output=True, text=True,
        env={**os.environ, "COLUMNS": "400", **(env or {})}, timeout=timeout,
    )  # fmt: skip
    done.message = " ".join(done.stderr.split())
    return done


def write(path, header: str, rows: list[str]):
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def events(n_users: int = 30, n_items: int = 25, per_user: int = 8, ts: str | None = None):
    """Rows ``u<i>,i<j>,<timestamp>``: each user sees ``per_user`` distinct items at distinct times."""
    return [
        f"u{u},i{(u * 7 + j) % n_items},{ts or 1_600_000_000 + 3600 * (u * per_user + j)}"
        for u in range(n_users)
        for j in range(per_user)
    ]


def leaderboard(path, *extra: str) -> subprocess.CompletedProcess:
    return nbrec("leaderboard", "--dataset", str(path), "--models", "popularity", "--format",
                 "json", "--no-tune", *extra)  # fmt: skip


def test_a_repeated_header_column_is_refused_by_name(tmp_path):
    path = write(tmp_path / "dup.csv", "user_id,item_id,user_id", [f"{r},x" for r in events()])
    done = leaderboard(path)
    assert done.returncode == 2, done.stderr
    assert "'user_id' appears 2 times in the header" in done.message and "dup.csv" in done.message
    assert "Traceback" not in done.stderr


def test_a_one_row_file_says_the_split_is_empty(tmp_path):
    done = leaderboard(write(tmp_path / "one.csv", "user_id,item_id", ["u1,i1"]))
    assert done.returncode == 2, done.stderr
    assert "leaves the test part empty" in done.message and "at least two interactions" in (
        done.message
    )
    assert "Traceback" not in done.stderr and "IndexError" not in done.stderr


def test_an_empty_file_is_named(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    done = leaderboard(tmp_path / "empty.csv")
    assert done.returncode == 2 and "empty.csv: the file is empty" in done.message


def test_identical_timestamps_explain_why_a_temporal_split_fails(tmp_path):
    path = write(tmp_path / "same.csv", "user_id,item_id,timestamp", events(ts="1600000000"))
    done = leaderboard(path, "--split", "temporal")
    assert done.returncode == 2, done.stderr
    assert "have the same timestamp" in done.message and "--split stratified" in done.message


@pytest.mark.parametrize("token", ["NA", "None", "null", "NaN", "n/a"])
def test_ids_that_look_missing_are_ids(tmp_path, token):
    """A country code, a username: ``NA`` and ``null`` are ids, not missing values."""
    rows = events()
    rows = [f"{token}{r[r.index(',') :]}" if i % 8 == 0 else r for i, r in enumerate(rows)]
    rows += [f"u1,{token},1500000000", f"u2,{token},1500000001"]
    done = leaderboard(write(tmp_path / "ids.csv", "user_id,item_id,timestamp", rows))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["model"] == "popularity"


def test_an_empty_id_is_still_missing(tmp_path):
    rows = [*events(), ",i1,1600000000"]
    done = leaderboard(write(tmp_path / "hole.csv", "user_id,item_id,timestamp", rows))
    assert done.returncode == 2 and "column 'user_id' has 1 null value(s)" in done.message
