"""Data: the canonical schema, loaders and splits."""

from nbrec.data.loaders import load_dataset, write_parquet_dataset
from nbrec.data.schema import DataError, Dataset, coerce_interactions, deduplicate
from nbrec.data.splits import Split, leave_last_split, split, stratified_split, temporal_split

__all__ = [
    "DataError", "Dataset", "Split", "coerce_interactions", "deduplicate", "leave_last_split",
    "load_dataset", "split", "stratified_split", "temporal_split", "write_parquet_dataset",
]  # fmt: skip
