"""Any CSV or parquet file of interactions, with a column mapping onto nbrec's names."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from nbrec.data.schema import DataError, Dataset, coerce_interactions


def parse_mapping(pairs: list[str] | str | None) -> dict[str, str]:
    """``["user_id=userId", "item_id=movieId"]`` or ``"user_id=userId,item_id=movieId"``."""
    if not pairs:
        return {}
    if isinstance(pairs, str):
        pairs = pairs.split(",")
    mapping = {}
    for pair in pairs:
        ours, sep, theirs = pair.partition("=")
        if not sep or not ours.strip() or not theirs.strip():
            raise DataError(
                f"bad column mapping {pair!r}: write nbrec_name=file_column, e.g. user_id=userId"
            )
        mapping[theirs.strip()] = ours.strip()
    return mapping


def load_file(path: str | Path, mapping: dict[str, str] | None = None) -> Dataset:
    """Load interactions from CSV/TSV or parquet; ``mapping`` renames file columns to nbrec's."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        frame = pd.read_parquet(path) if path.suffix in {".parquet", ".pq"} else _read_text(path)
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path}: the file is empty") from exc
    except (pd.errors.ParserError, pd.errors.ParserWarning) as exc:
        raise DataError(f"{path}: malformed rows (more fields than the header?): {exc}") from exc
    except (UnicodeDecodeError, OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot be parsed as {path.suffix or 'CSV'}: {exc}") from exc
    if mapping:
        absent = [c for c in mapping if c not in frame.columns]
        if absent:
            raise DataError(
                f"{path}: mapped column(s) {absent} not in file; found {list(frame.columns)}"
            )
        frame = frame.rename(columns=mapping)
    return Dataset(path.stem, coerce_interactions(frame, str(path)))


def _read_text(path: Path) -> pd.DataFrame:
    """CSV (or sniffed TSV). A row with more fields than the header is an error, never an index."""
    sniff = path.suffix in {".tsv", ".txt"}
    with warnings.catch_warnings():
        # pandas warns and silently drops the extra fields with index_col=False: refuse instead.
        warnings.simplefilter("error", pd.errors.ParserWarning)
        return pd.read_csv(
            path, sep=None if sniff else ",", engine="python" if sniff else "c", index_col=False
        )
