"""MovieLens loaders (original GroupLens files) and ``fetch`` from GroupLens with checksums.

The GroupLens terms forbid redistributing ml-100k, so nbrec never ships MovieLens: it reads the
files from ``<data_dir>/<name>/`` and downloads them there on request.
"""

from __future__ import annotations

import hashlib
import io
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from nbrec.constants import ITEM_COL, TIMESTAMP_COL, USER_COL, WEIGHT_COL
from nbrec.data.schema import DataError, Dataset, coerce_interactions, coerce_side_table

GENRES_100K = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
]  # fmt: skip


@dataclass(frozen=True)
class Archive:
    url: str
    algorithm: str  # hashlib name of the published archive checksum
    checksum: str
    member_prefix: str  # folder inside the zip
    files: dict[str, str]  # file -> sha256 of the extracted, original file


ARCHIVES = {
    "movielens-100k": Archive(
        url="https://files.grouplens.org/datasets/movielens/ml-100k.zip",
        algorithm="md5",
        checksum="0e33842e24a9c977be4e0107933c0723",  # GroupLens' ml-100k.zip.md5
        member_prefix="ml-100k/",
        files={
            "u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
            "u.item": "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701",
            "u.user": "f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c",
        },
    ),
    "movielens-latest-small": Archive(
        url="https://files.grouplens.org/datasets/movielens/ml-latest-small.zip",
        algorithm="sha256",
        checksum="696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436",
        member_prefix="ml-latest-small/",
        files={
            "ratings.csv": "aa289ca83157595d0df6aea1be6a4ded676ddc4385472e8313a8ed9805352646",
            "movies.csv": "5a5f32dd9bb3797b8e728a1b98958789d2b13f294a69fdfbc5727f8a9611aa07",
        },
    ),
}


def load_100k(folder: Path) -> Dataset:
    """ml-100k: ratings (u.data), movies with 19 genre flags (u.item), users (u.user)."""
    _require(folder, ["u.data", "u.item", "u.user"], "movielens-100k")
    ratings = pd.read_csv(
        folder / "u.data", sep="\t", names=[USER_COL, ITEM_COL, WEIGHT_COL, TIMESTAMP_COL]
    )
    ratings["event_type"] = "rating"
    items = pd.read_csv(
        folder / "u.item", sep="|", encoding="latin-1", header=None,
        names=[ITEM_COL, "title", "release_date", "video_release_date", "url", *GENRES_100K],
    )  # fmt: skip
    flags = items[GENRES_100K].to_numpy().astype(bool)
    items["genres"] = [
        "|".join(g for g, on in zip(GENRES_100K, row, strict=True) if on) for row in flags
    ]
    items = items[[ITEM_COL, "title", "release_date", "genres"]]
    users = pd.read_csv(
        folder / "u.user", sep="|", names=[USER_COL, "age", "gender", "occupation", "zip"]
    )
    users["age_band"] = pd.cut(users["age"], [0, 17, 24, 34, 44, 54, 200],
                               labels=["<18", "18-24", "25-34", "35-44", "45-54", "55+"]).astype(str)  # fmt: skip
    return Dataset(
        "movielens-100k",
        coerce_interactions(ratings, str(folder / "u.data")),
        coerce_side_table(items, ITEM_COL, str(folder / "u.item")),
        coerce_side_table(
            users[[USER_COL, "age_band", "gender", "occupation"]], USER_COL, str(folder / "u.user")
        ),
    )


def load_latest_small(folder: Path) -> Dataset:
    """ml-latest-small: ratings.csv and movies.csv (genres separated by '|'); no user table."""
    _require(folder, ["ratings.csv", "movies.csv"], "movielens-latest-small")
    ratings = pd.read_csv(folder / "ratings.csv").rename(
        columns={"userId": USER_COL, "movieId": ITEM_COL, "rating": WEIGHT_COL}
    )
    ratings["event_type"] = "rating"
    movies = pd.read_csv(folder / "movies.csv").rename(columns={"movieId": ITEM_COL})
    movies["genres"] = movies["genres"].replace("(no genres listed)", "")
    return Dataset(
        "movielens-latest-small",
        coerce_interactions(ratings, str(folder / "ratings.csv")),
        coerce_side_table(movies, ITEM_COL, str(folder / "movies.csv")),
    )


def _require(folder: Path, files: list[str], name: str) -> None:
    missing = [f for f in files if not (folder / f).is_file()]
    if missing:
        raise DataError(
            f"{name}: {', '.join(missing)} not found in {folder}. Set NBREC_DATA_DIR to the folder "
            f"holding '{name}/', or download it with `nbrec data fetch {name}`"
        )


def fetch(name: str, dest: Path, opener=urllib.request.urlopen) -> Path:
    """Download ``name`` from GroupLens into ``dest/name``, checking the published checksum."""
    if name not in ARCHIVES:
        raise DataError(f"unknown data set {name!r}; fetchable: {sorted(ARCHIVES)}")
    archive = ARCHIVES[name]
    with opener(archive.url, timeout=60) as response:
        payload = response.read()
    verify_archive(name, payload)
    return extract(name, payload, dest)


def verify_archive(name: str, payload: bytes) -> None:
    archive = ARCHIVES[name]
    digest = hashlib.new(archive.algorithm, payload).hexdigest()
    if digest != archive.checksum:
        raise DataError(
            f"{name}: downloaded archive has {archive.algorithm} {digest}, GroupLens publishes "
            f"{archive.checksum}; refusing to use it (retry the download)"
        )


def extract(name: str, payload: bytes, dest: Path) -> Path:
    """Unpack the data files of a verified archive into ``dest/name`` and check each file."""
    archive = ARCHIVES[name]
    target = Path(dest) / name
    target.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(payload)) as zf:
        for member in zf.namelist():
            if not member.startswith(archive.member_prefix) or member.endswith("/"):
                continue
            filename = member[len(archive.member_prefix) :]
            if "/" in filename or filename.startswith("."):
                continue  # no nested paths: nothing can be written outside target
            data = zf.read(member)
            expected = archive.files.get(filename)
            if expected and hashlib.sha256(data).hexdigest() != expected:
                raise DataError(f"{name}: {filename} does not match its published checksum")
            (target / filename).write_bytes(data)
    return target
