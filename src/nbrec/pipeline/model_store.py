"""The model store: model versions saved in BentoML's model store, listed, loaded with checksums.

Each version is the BentoML model ``nbrec-recommender:<version>``; its folder holds the
model saved by ``Recommender.save`` under ``model/``, and its metadata the metrics, data
hash, parameters, code version and a sha256 manifest of the artifact files. ``load_model``
refuses artifacts whose checksums do not match the manifest.

The store is the project's: ``NBREC_MODEL_STORE_DIR``, by default ``models`` in BentoML's home,
which is ``var/bentoml`` unless ``BENTOML_HOME`` says otherwise (``Settings.model_store_path``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from nbrec.errors import UnknownNameError
from nbrec.models import Recommender
from nbrec.settings import get_settings, use_bentoml_home

MODEL_NAME = "nbrec-recommender"
ARTIFACT_DIR = "model"


class ChecksumError(RuntimeError):
    """An artifact file differs from the manifest recorded at registration."""


@dataclass
class ModelVersion:
    version: str
    created: str
    model: str
    metadata: dict
    path: Path

    @property
    def metrics(self) -> dict:
        return self.metadata.get("metrics", {})


def bento_store():
    """The BentoML ``ModelStore`` at ``Settings.model_store_path`` (created on first use)."""
    use_bentoml_home()
    from bentoml._internal.models import ModelStore

    folder = get_settings().model_store_path
    folder.mkdir(parents=True, exist_ok=True)
    return ModelStore(str(folder.resolve()))


def manifest(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder``, by relative path."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def verify(folder: Path, expected: dict[str, str]) -> None:
    """Raise ``ChecksumError`` naming the files that are missing, extra or changed."""
    actual = manifest(folder)
    bad = sorted(
        name for name in set(actual) | set(expected) if actual.get(name) != expected.get(name)
    )
    if bad:
        raise ChecksumError(
            f"artifacts in {folder} do not match their manifest: {bad}; re-register the version"
        )


def _find(version: str, store=None):
    """The BentoML model of ``version`` in ``store`` (default: ``bento_store()``), or None."""
    import bentoml
    from bentoml.exceptions import NotFound

    try:
        return bentoml.models.get(f"{MODEL_NAME}:{version}", _model_store=store or bento_store())
    except NotFound:
        return None


def save_model(model: Recommender, version: str, metadata: dict) -> tuple[ModelVersion, bool]:
    """Save ``model`` as ``version`` with ``metadata``; (version, False) if it was already there."""
    import bentoml

    store = bento_store()
    found = _find(version, store)
    if found is not None:
        return _as_version(found), False
    clean = _drop_nulls(json.loads(json.dumps(metadata, default=str)))
    with bentoml.models.create(
        f"{MODEL_NAME}:{version}", labels={"model": model.name}, metadata=clean, _model_store=store
    ) as bento_model:
        folder = Path(bento_model.path_of(ARTIFACT_DIR))
        model.save(folder)
        bento_model.info.metadata["manifest"] = manifest(folder)
    # Read back from the store: the model object above points at its temporary build folder.
    return _as_version(_find(version, store)), True


def _drop_nulls(value):
    """BentoML metadata refuses None: absent keys stand for "no value"."""
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value if v is not None]
    return value


def _as_version(bento_model) -> ModelVersion:
    return ModelVersion(
        version=bento_model.tag.version,
        created=bento_model.info.creation_time.isoformat(),
        model=bento_model.info.labels.get("model", "?"),
        metadata=dict(bento_model.info.metadata),
        path=Path(bento_model.path),
    )


def get_model_version(version: str) -> ModelVersion:
    found = _find(version)
    if found is None:
        known = [v.version for v in list_model_versions()]
        raise UnknownNameError(f"no registered model version {version!r}; registered: {known}")
    return _as_version(found)


def list_model_versions() -> list[ModelVersion]:
    """Every registered version, newest first."""
    import bentoml
    from bentoml.exceptions import NotFound

    try:
        found = bentoml.models.list(MODEL_NAME, _model_store=bento_store())
    except NotFound:
        return []
    return sorted((_as_version(m) for m in found), key=lambda v: v.created, reverse=True)


def load_model(version: str) -> Recommender:
    """The registered model, after its files matched the recorded sha256 manifest."""
    entry = get_model_version(version)
    folder = entry.path / ARTIFACT_DIR
    verify(folder, entry.metadata.get("manifest", {}))
    return Recommender.load(folder)
