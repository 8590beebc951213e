"""Per-user ranked lists as compact bytes, and the arrays they are built from and read into.

A version stores its item ids once (``ItemTable``); each user's list is then
``tag (4 bytes) | item codes (int32, n) | scores (float32, n)``, little-endian: 8 bytes per
item instead of ~28 of JSON, encoded straight from the top-N arrays scoring computed; one
list is decoded with two precompiled ``struct`` unpacks (only its first items if that is all
the request path needs), many at once with numpy (``top_k_frame``). The tag is the CRC32 of the item table: a list
read with another table than the one it was written with (a version deleted and published
again under its name while a reader kept the old table) is detected, not mis-decoded.

Scores are float32, what every model scores in.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping, Sequence
from operator import itemgetter
from struct import Struct

import numpy as np
import orjson
import pandas as pd

from nbrec.constants import ITEM_COL, RANK_COL, SCORE_COL, USER_COL
from nbrec.progress import bar

# A ranked list: item ids and their scores, best first.
Ranked = tuple[list[str], list[float]]
HEADER = 4  # bytes of the table tag in front of every list


class CorruptList(ValueError):
    """A stored list that does not fit its version's item table."""


class ItemTable:
    """The item ids of one version: code ``c`` in a stored list is ``ids[c]``."""

    def __init__(self, item_ids: Sequence[str]):
        self.ids = np.asarray([str(i) for i in item_ids], dtype=object)
        self.blob = orjson.dumps(self.ids.tolist())
        self.tag = zlib.crc32(self.blob).to_bytes(HEADER, "little")
        self._tag_word = int(np.frombuffer(self.tag, "<i4")[0])
        self._index: dict[str, int] | None = None
        self._id_list: list[str] = self.ids.tolist()
        self._unpack: dict[int, tuple] = {}  # list length -> (codes, scores) unpackers

    @classmethod
    def from_blob(cls, blob: bytes) -> ItemTable:
        return cls(orjson.loads(blob))

    def __len__(self) -> int:
        return len(self.ids)

    def encode(self, ranked: Ranked) -> bytes:
        """One list given as item ids (every id must be in the table)."""
        if self._index is None:
            self._index = {item: code for code, item in enumerate(self.ids.tolist())}
        items, scores = ranked
        try:
            codes = np.fromiter((self._index[i] for i in items), "<i4", len(items))
        except KeyError as exc:
            raise ValueError(
                f"item {exc.args[0]!r} of a ranked list is not in the version's items"
            ) from None
        return self.tag + codes.tobytes() + np.asarray(scores, "<f4").tobytes()

    def decode(self, raw: bytes, head: int | None = None) -> Ranked:
        """The list stored in ``raw``, or only its first ``head`` items: the request path reads
        a few of a top-100 list, and each item decoded costs (benchmarks/serving/RESULTS.md)."""
        n = (len(raw) - HEADER) // 8
        if raw[:HEADER] != self.tag or len(raw) != HEADER + 8 * n:
            raise CorruptList(f"a stored list of {len(raw)} bytes does not fit this item table")
        m = n if head is None or head > n else max(head, 0)
        if m == 0:
            return [], []
        unpack = self._unpack.get(m)
        if unpack is None:  # one compiled pair per list length
            unpack = self._unpack[m] = (Struct(f"<{m}i").unpack_from, Struct(f"<{m}f").unpack_from)
        codes = unpack[0](raw, HEADER)
        try:  # a negative code counts from the end, as numpy's take() did
            items = list(itemgetter(*codes)(self._id_list)) if m > 1 else [self._id_list[codes[0]]]
        except IndexError:
            raise CorruptList("a stored list names items outside its version's table") from None
        # struct's float32 -> float is exact, the same values as numpy's tolist()
        return items, list(unpack[1](raw, HEADER + 4 * n))

    def top_k_frame(
        self, users: Sequence[str], raws: Sequence[bytes | None], k: int
    ) -> pd.DataFrame:
        """The first ``k`` items of many stored lists as a recommendations frame (users without a
        list left out), decoded in a few vectorised steps instead of list by list."""
        present = [n for n, raw in enumerate(raws) if raw is not None]
        if not present:
            return _frame([], [], [], [])
        lengths = np.fromiter((len(raws[n]) for n in present), np.int64, len(present))
        if ((lengths - HEADER) % 8).any() or (lengths < HEADER).any():
            raise CorruptList("stored lists that do not fit this version's item table")
        buf = b"".join(raws[n] for n in present)
        words, floats = np.frombuffer(buf, "<i4"), np.frombuffer(buf, "<f4")
        # Every list is 4 + 8n bytes, so each starts at a whole int32 word.
        starts = np.concatenate(([0], np.cumsum(lengths[:-1]))) // 4
        sizes = (lengths - HEADER) // 8
        if (words[starts] != self._tag_word).any():
            raise CorruptList("stored lists that do not fit this version's item table")
        take = np.minimum(sizes, k)
        first = np.cumsum(take) - take
        pos = np.arange(int(take.sum())) - np.repeat(first, take)  # 0..take-1 per user
        at = np.repeat(starts + 1, take) + pos
        return _frame(
            np.asarray(users, dtype=object)[np.repeat(present, take)],
            self.ids[words[at]],
            floats[at + np.repeat(sizes, take)].astype(np.float64),
            pos + 1,
        )


def _frame(users, items, scores, ranks) -> pd.DataFrame:
    return pd.DataFrame({USER_COL: users, ITEM_COL: items, SCORE_COL: scores, RANK_COL: ranks})


class RankedTable(Mapping):
    """Every user's top-N as two arrays (``codes`` into ``items``, ``scores``, users x N), the
    way scoring computes it: 1M users x 100 items take 0.8 GiB here, about 4 GiB as Python
    lists. Non-finite scores (nothing left to recommend) end a user's list."""

    def __init__(self, user_ids, items: ItemTable, codes: np.ndarray, scores: np.ndarray):
        if codes.shape != scores.shape or codes.shape[0] != len(user_ids):
            raise ValueError(
                f"top-N arrays {codes.shape} and {scores.shape} do not match {len(user_ids)} users"
            )
        self.user_ids = [str(u) for u in user_ids]
        self.items = items
        self.codes = np.ascontiguousarray(codes, "<i4")
        self.scores = np.ascontiguousarray(scores, "<f4")
        self._rows: dict[str, int] | None = None

    def __getitem__(self, user: str) -> Ranked:
        if self._rows is None:
            self._rows = {u: row for row, u in enumerate(self.user_ids)}
        row = self._rows[user]
        keep = np.isfinite(self.scores[row])
        return self.items.ids[self.codes[row][keep]].tolist(), self.scores[row][keep].tolist()

    def __iter__(self) -> Iterator[str]:
        return iter(self.user_ids)

    def __len__(self) -> int:
        return len(self.user_ids)

    def encoded(self, order: Sequence[int] | None = None, block: int = 20_000):
        """(user, stored bytes) for every user, in row order or ``order``; rows are packed a
        block at a time and sliced out of one bytes object (a few hundred ns per user)."""
        rows = np.arange(len(self)) if order is None else np.asarray(order)
        width = self.codes.shape[1]
        for lo in range(0, len(rows), block):
            part = rows[lo : lo + block]
            codes, scores = self.codes[part], self.scores[part]
            finite = np.isfinite(scores)
            packed = np.empty((len(part), 1 + 2 * width), "<i4")
            packed[:, 0] = self.items._tag_word
            packed[:, 1 : 1 + width] = codes
            packed[:, 1 + width :] = scores.view("<i4")
            data, size = packed.tobytes(), 4 + 8 * width
            for n, row in enumerate(part.tolist()):
                if finite[n].all():
                    yield self.user_ids[row], data[n * size : (n + 1) * size]
                else:
                    keep = finite[n]
                    raw = self.items.tag + codes[n][keep].tobytes() + scores[n][keep].tobytes()
                    yield self.user_ids[row], raw

    def head(self, n: int) -> RankedTable:
        """Every list cut to its first ``n`` items (the same table if none is longer)."""
        if n >= self.codes.shape[1]:
            return self
        return RankedTable(self.user_ids, self.items, self.codes[:, :n], self.scores[:, :n])

    def top_k_frame(self, k: int) -> pd.DataFrame:
        """The first ``k`` items of every user's list as a recommendations frame."""
        width = min(k, self.codes.shape[1])
        scores = self.scores[:, :width]
        keep = np.isfinite(scores)
        rows, cols = np.nonzero(keep)
        return _frame(
            np.asarray(self.user_ids, dtype=object)[rows],
            self.items.ids[self.codes[:, :width][keep]],
            scores[keep].astype(np.float64),
            cols + 1,
        )


def table_of(ranked_lists: Mapping[str, Ranked], *more: Mapping[str, Ranked]) -> ItemTable:
    """An item table holding every item of ``ranked_lists`` (first seen first)."""
    if isinstance(ranked_lists, RankedTable):
        return ranked_lists.items
    seen: dict[str, None] = {}
    for table in (ranked_lists, *more):
        for items, _ in table.values():
            seen.update(dict.fromkeys(items))
    return ItemTable(list(seen))


def encoded_lists(ranked_lists: Mapping[str, Ranked], items: ItemTable, sort: bool = False):
    """(user, stored bytes) of every list; ``sort`` by user id (B-tree friendly inserts).
    A publish's write phase: a bar over the users past ``PROGRESS_MIN_ROWS`` (a terminal)."""
    n = len(ranked_lists)
    yield from bar(_encoded(ranked_lists, items, sort), size=n, total=n, desc="publish: write",
                   unit="user")  # fmt: skip


def _encoded(ranked_lists: Mapping[str, Ranked], items: ItemTable, sort: bool):
    if isinstance(ranked_lists, RankedTable):
        order = None
        if sort:
            ids = ranked_lists.user_ids
            order = sorted(range(len(ids)), key=ids.__getitem__)
        yield from ranked_lists.encoded(order)
        return
    users = sorted(ranked_lists) if sort else list(ranked_lists)
    for user in users:
        yield user, items.encode(ranked_lists[user])
