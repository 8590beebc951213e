"""Snapshot the input data: parquet files under ``var/snapshots/<hash>/`` with a content hash.

Every later stage reads the snapshot, never the source, so a run can be reproduced and two
runs on the same data get the same hash (and the same model version).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from nbrec.constants import ITEM_COL, USER_COL
from nbrec.data import load_dataset
from nbrec.data.files import read_table
from nbrec.data.schema import Dataset, coerce_interactions, coerce_side_table
from nbrec.progress import bar
from nbrec.settings import get_settings

TABLES = ("interactions", "items", "users")


@dataclass
class DataSnapshot:
    """The frozen input of one run: raw tables as read, their hash and where they are stored."""

    name: str
    data_hash: str
    path: Path
    tables: dict[str, pd.DataFrame]

    @property
    def interactions(self) -> pd.DataFrame:
        return self.tables["interactions"]

    def dataset(self) -> Dataset:
        """The canonical ``Dataset`` (call only after the raw tables passed validation)."""
        source = str(self.path)
        return Dataset(
            self.name,
            coerce_interactions(self.tables["interactions"], source),
            coerce_side_table(self.tables.get("items"), ITEM_COL, f"{source}/items"),
            coerce_side_table(self.tables.get("users"), USER_COL, f"{source}/users"),
            meta={"data_hash": self.data_hash},
        )


def snapshots_dir() -> Path:
    return get_settings().var_dir / "snapshots"


def snapshot_items(data_hash: str, root: str | Path | None = None) -> pd.DataFrame | None:
    """The item table of the snapshot ``data_hash`` (coerced as in ``DataSnapshot.dataset``); None if
    the snapshot has none or is gone."""
    path = (Path(root) if root is not None else snapshots_dir()) / data_hash / "items.parquet"
    if not path.is_file():
        return None
    return coerce_side_table(pd.read_parquet(path), ITEM_COL, str(path.parent / "items"))


def read_raw(name: str, data_dir: str | Path | None = None) -> tuple[str, dict[str, pd.DataFrame]]:
    """The tables of a data set as they are, so validation sees bad rows before any coercion.

    A folder of parquet files (``interactions.parquet`` and optional ``items``/``users``) and a
    single parquet or CSV file of interactions (nbrec's column names) are read untouched; named
    data sets go through ``load_dataset``.
    """
    path = Path(name)
    if path.is_dir() and (path / "interactions.parquet").is_file():
        files = {t: path / f"{t}.parquet" for t in TABLES}
        return path.name, {t: pd.read_parquet(f) for t, f in files.items() if f.is_file()}
    if path.suffix.lower() in {".parquet", ".pq", ".csv"}:
        return path.stem, {"interactions": read_table(path)}
    dataset = load_dataset(name, data_dir)
    tables = {t: getattr(dataset, t) for t in TABLES if getattr(dataset, t) is not None}
    return dataset.name, tables


def content_hash(tables: dict[str, pd.DataFrame], steps=None) -> str:
    """sha256 over every table's name, columns and values (row order matters); ``steps``: a
    progress bar advanced per table."""
    digest = hashlib.sha256()
    for table in sorted(tables):
        if steps is not None:
            steps.set_postfix_str(f"hash {table}")
        frame = tables[table]
        digest.update(table.encode())
        digest.update(json.dumps([str(c) for c in frame.columns]).encode())
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
        if steps is not None:
            steps.update()
    return digest.hexdigest()[:16]


def with_events(tables: dict[str, pd.DataFrame], events: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The tables with ``events`` (canonical interactions) appended to ``interactions``.

    Events on items the data set's ``items`` table does not know are left out (a model with
    item features could not place them); events of unknown users are kept: they become users.
    """
    if events.empty:
        return tables
    if "items" in tables and ITEM_COL in tables["items"]:
        known = tables["items"][ITEM_COL].astype(str)
        events = events[events[ITEM_COL].isin(set(known))]
    base = tables["interactions"]
    extra = events[[c for c in base.columns if c in events.columns]]
    if {USER_COL, ITEM_COL} <= set(base.columns) and base[USER_COL].dtype != object:
        base = base.astype({USER_COL: str, ITEM_COL: str})
    return {**tables, "interactions": pd.concat([base, extra], ignore_index=True)}


def take_snapshot(
    name: str, data_dir: str | Path | None = None, out_dir: str | Path | None = None,
    events: pd.DataFrame | None = None,
) -> DataSnapshot:  # fmt: skip
    """Read ``name`` (plus ``events``: warehouse events as interactions), hash it and write it
    under ``out_dir/<hash>/`` (kept if already there). The hash covers the events used."""
    label, tables = read_raw(name, data_dir)
    if events is not None:
        tables = with_events(tables, events)
    rows = len(tables.get("interactions", ()))
    with bar(size=rows, total=2 * len(tables), desc="snapshot", unit="step") as steps:
        data_hash = content_hash(tables, steps)
        root = Path(out_dir) if out_dir is not None else snapshots_dir()
        path = (root / data_hash).resolve()
        if not (path / "snapshot.json").is_file():
            path.mkdir(parents=True, exist_ok=True)
            for table, frame in tables.items():
                steps.set_postfix_str(f"write {table}")
                frame.to_parquet(path / f"{table}.parquet", index=False)
                steps.update()
            meta = {"name": label, "source": str(name), "data_hash": data_hash,
                    "rows": {t: len(f) for t, f in tables.items()},
                    "events": None if events is None else len(events)}  # fmt: skip
            # Written last: its presence means the snapshot is complete.
            (path / "snapshot.json").write_text(json.dumps(meta, indent=2))
    return DataSnapshot(label, data_hash, path, tables)
