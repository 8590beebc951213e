"""Loaders: MovieLens from the original files, CSV/parquet with a mapping, clear errors."""

from __future__ import annotations

import io
import zipfile

import pandas as pd
import pytest

from nbrec.constants import EVENT_COL, ITEM_COL, TIMESTAMP_COL, USER_COL, WEIGHT_COL
from nbrec.data import DataError, deduplicate, load_dataset
from nbrec.data.files import load_file, parse_mapping
from nbrec.data.movielens import ARCHIVES, extract, verify_archive


def test_movielens_100k(movielens_dir):
    ds = load_dataset("movielens-100k", movielens_dir)
    s = ds.summary()
    assert (s["interactions"], s["users"], s["items"]) == (100_000, 943, 1_682)
    assert ds.interactions[WEIGHT_COL].between(1, 5).all()
    assert str(ds.interactions[TIMESTAMP_COL].dt.tz) == "UTC"
    assert "Comedy" in ds.items.loc[ds.items[ITEM_COL] == "1", "genres"].iloc[0]
    assert {"age_band", "gender", "occupation"} <= set(ds.users.columns)


def test_movielens_latest_small(movielens_dir):
    ds = load_dataset("movielens-latest-small", movielens_dir)
    assert (len(ds.interactions), ds.interactions[USER_COL].nunique()) == (100_836, 610)
    assert ds.users is None and len(ds.items) == 9_742


def test_missing_movielens_says_how_to_get_it(tmp_path):
    with pytest.raises(DataError, match="nbrec data fetch movielens-100k"):
        load_dataset("movielens-100k", tmp_path)


def test_extract_checks_each_file(movielens_dir, tmp_path):
    """An archive laid out like GroupLens' is unpacked and each file checked against its checksum."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name in ("u.data", "u.item", "u.user"):
            zf.write(movielens_dir / "movielens-100k" / name, f"ml-100k/{name}")
        zf.writestr("ml-100k/../escape", "no")
    target = extract("movielens-100k", buffer.getvalue(), tmp_path)
    assert (target / "u.data").stat().st_size == 1_979_173
    assert not (tmp_path / "escape").exists()
    tampered = io.BytesIO()
    with zipfile.ZipFile(tampered, "w") as zf:
        zf.writestr("ml-100k/u.data", "1\t1\t5\t0\n")
    with pytest.raises(DataError, match="u.data does not match"):
        extract("movielens-100k", tampered.getvalue(), tmp_path / "t")


def test_archive_with_wrong_checksum_is_refused():
    with pytest.raises(DataError, match="refusing"):
        verify_archive("movielens-100k", b"not the archive")
    assert ARCHIVES["movielens-latest-small"].algorithm == "sha256"


def write(tmp_path, text, name="events.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_with_mapping(tmp_path):
    path = write(tmp_path, "uid,mid,stars,when\n1,10,4.5,2024-01-01T10:00:00Z\n2,10,3,1700000000\n")
    ds = load_file(path, parse_mapping("user_id=uid,item_id=mid,weight=stars,timestamp=when"))
    assert ds.interactions[USER_COL].tolist() == ["1", "2"]
    assert ds.interactions[WEIGHT_COL].tolist() == [4.5, 3.0]
    assert ds.interactions[EVENT_COL].tolist() == ["interaction"] * 2


def test_parquet_round_trip(tmp_path):
    frame = pd.DataFrame(
        {USER_COL: ["a"], ITEM_COL: ["b"], TIMESTAMP_COL: [pd.Timestamp("2024-01-01", tz="UTC")]}
    )
    frame.to_parquet(tmp_path / "x.parquet")
    assert load_dataset(str(tmp_path / "x.parquet")).interactions[ITEM_COL].tolist() == ["b"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("user_id,item_id\n", "no interactions"),
        ("user,item_id\n1,2\n", r"missing column\(s\) \['user_id'\]"),
        ("user_id,item_id,timestamp\n1,2,yesterday\n", "timestamp.*'yesterday'"),
        ("user_id,item_id,weight\n1,2,five\n", "weight.*'five'"),
        ("user_id,item_id\n,2\n", "user_id.*null"),
    ],
)
def test_bad_files_name_file_column_and_value(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(DataError, match=message) as info:
        load_file(path)
    assert str(path) in str(info.value)


def test_bad_mapping_and_unknown_dataset(tmp_path):
    with pytest.raises(DataError, match="nbrec_name=file_column"):
        parse_mapping("user_id")
    with pytest.raises(DataError, match="unknown data set"):
        load_dataset("no-such-thing", tmp_path)


def test_duplicate_rule_keeps_latest_event_and_max_weight():
    frame = pd.DataFrame(
        {
            USER_COL: ["a", "a", "a", "b"],
            ITEM_COL: ["x", "x", "x", "x"],
            TIMESTAMP_COL: pd.to_datetime([1, 3, 2, 1], unit="D", utc=True),
            WEIGHT_COL: [5.0, 1.0, 3.0, 2.0],
            EVENT_COL: ["purchase", "view", "like", "view"],
        }
    )
    out = deduplicate(frame).set_index(USER_COL)
    assert len(out) == 2
    assert out.loc["a", WEIGHT_COL] == 5.0 and out.loc["a", EVENT_COL] == "view"
    assert out.loc["a", TIMESTAMP_COL] == pd.Timestamp(3, unit="D", tz="UTC")


def test_fetch_over_http_refuses_a_bad_download(tmp_path):
    """A real HTTP download (from a loopback server standing in for GroupLens) that fails its checksum."""
    import http.server
    import threading
    import urllib.request

    from nbrec.data.movielens import fetch

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"PK not really a zip")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    requested = []

    def opener(url, timeout):
        requested.append(url)
        return urllib.request.urlopen(
            f"http://127.0.0.1:{server.server_port}/ml-100k.zip", timeout=timeout
        )

    try:
        with pytest.raises(DataError, match="refusing"):
            fetch("movielens-100k", tmp_path, opener=opener)
    finally:
        server.shutdown()
    assert requested == [ARCHIVES["movielens-100k"].url]
    assert not (tmp_path / "movielens-100k").exists()
