"""Any CSV or parquet file of interactions, with a column mapping onto nbrec's names."""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

import pandas as pd

from nbrec.constants import ITEM_COL, USER_COL
from nbrec.data.schema import DataError, Dataset, coerce_interactions

ID_COLUMNS = (USER_COL, ITEM_COL)
# pandas' default missing-value markers (``pandas.read_csv`` docs), kept for non-id columns.
DEFAULT_NA = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
              "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]  # fmt: skip


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
    frame = read_table(path, mapping)
    if mapping:
        absent = [c for c in mapping if c not in frame.columns]
        if absent:
            raise DataError(
                f"{path}: mapped column(s) {absent} not in file; found {list(frame.columns)}"
            )
        frame = frame.rename(columns=mapping)
    return Dataset(path.stem, coerce_interactions(frame, str(path)))


def read_table(path: str | Path, mapping: dict[str, str] | None = None) -> pd.DataFrame:
    """The file's rows as they are (parquet, CSV or sniffed TSV), or a ``DataError`` naming it.

    ``mapping`` (file column -> nbrec name) says which columns are ids; ids are read as text
    with no missing-value guessing, since ``NA`` (a country) or ``null`` (a username) are ids.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        if path.suffix.lower() in {".parquet", ".pq"}:
            return pd.read_parquet(path)
        return _read_text(path, mapping or {})
    except DataError:
        raise
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path}: the file is empty (no header, no rows)") from exc
    except (pd.errors.ParserError, pd.errors.ParserWarning) as exc:
        raise DataError(f"{path}: malformed rows (more fields than the header?): {exc}") from exc
    except (UnicodeDecodeError, OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot be parsed as {path.suffix or 'CSV'}: {exc}") from exc


def _read_text(path: Path, mapping: dict[str, str]) -> pd.DataFrame:
    """CSV (or sniffed TSV). A row with more fields than the header is an error, never an index;
    a column named twice is an error, never renamed (pandas would read the second as ``.1``)."""
    sniff = path.suffix.lower() in {".tsv", ".txt"}
    options = {"sep": None if sniff else ",", "engine": "python" if sniff else "c"}
    header = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False, **options)
    names = list(header.iloc[0]) if len(header) else []
    repeated = [name for name, count in Counter(names).items() if count > 1 and name]
    if repeated:
        raise DataError(
            f"{path}: column {repeated[0]!r} appears {names.count(repeated[0])} times in the "
            f"header {names}; rename or drop the extra one(s)"
        )
    ids = [name for name in names if mapping.get(name, name) in ID_COLUMNS]
    with warnings.catch_warnings():
        # pandas warns and silently drops the extra fields with index_col=False: refuse instead.
        warnings.simplefilter("error", pd.errors.ParserWarning)
        return pd.read_csv(
            path, index_col=False, dtype=dict.fromkeys(ids, str), keep_default_na=False,
            # Only an empty id is missing; other columns keep pandas' usual missing markers.
            na_values={name: [""] if name in ids else DEFAULT_NA for name in names}, **options,
        )  # fmt: skip
