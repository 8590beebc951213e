"""``load_dataset(name)``: the one way to get a data set by name or path."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from nbrec.constants import ITEM_COL, USER_COL
from nbrec.data import movielens, synthetic
from nbrec.data.files import load_file
from nbrec.data.schema import DataError, Dataset, coerce_interactions, coerce_side_table
from nbrec.settings import get_settings

NAMED = {
    "movielens-100k": movielens.load_100k,
    "movielens-latest-small": movielens.load_latest_small,
}


def load_dataset(
    name: str, data_dir: str | Path | None = None, mapping: dict[str, str] | None = None
) -> Dataset:
    """Load a named data set from ``data_dir`` (default ``NBREC_DATA_DIR``) or a file path.

    ``synthetic`` reads ``<data_dir>/synthetic/*.parquet`` when ``nbrec data generate`` wrote
    them, else generates the default size in memory (deterministic).
    """
    root = Path(data_dir) if data_dir is not None else get_settings().data_dir
    if name == "synthetic":
        folder = root / "synthetic"
        if (folder / "interactions.parquet").is_file():
            return read_parquet_dataset(folder, "synthetic")
        return synthetic.generate()
    if name in NAMED:
        return NAMED[name](root / name)
    path = Path(name)
    if path.is_dir() and (path / "interactions.parquet").is_file():
        return read_parquet_dataset(path, path.name)
    if path.suffix.lower() in {".csv", ".tsv", ".txt", ".parquet", ".pq"}:
        return load_file(path, mapping)
    raise DataError(
        f"unknown data set {name!r}: use one of synthetic, {', '.join(NAMED)}, "
        "a folder written by `nbrec data generate`, or a .csv/.parquet file"
    )


def write_parquet_dataset(dataset: Dataset, folder: str | Path) -> Path:
    """Write interactions (and items, users when present) as parquet files into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dataset.interactions.to_parquet(folder / "interactions.parquet", index=False)
    for table in ("items", "users"):
        frame = getattr(dataset, table)
        if frame is not None:
            frame.to_parquet(folder / f"{table}.parquet", index=False)
    return folder


def read_parquet_dataset(folder: Path, name: str) -> Dataset:
    interactions = coerce_interactions(
        pd.read_parquet(folder / "interactions.parquet"), str(folder)
    )
    side = {}
    for table, key in (("items", ITEM_COL), ("users", USER_COL)):
        path = folder / f"{table}.parquet"
        side[table] = (
            coerce_side_table(pd.read_parquet(path), key, str(path)) if path.is_file() else None
        )
    return Dataset(name, interactions, side["items"], side["users"])
