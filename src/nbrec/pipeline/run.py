"""One training run's parameters and what is recorded about it (version id, metadata).

``TrainingParams`` is what every task of the training flow (``nbrec.flows.training``) is
given: one object instead of long positional lists; its defaults come from ``NBREC_*``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from nbrec.constants import DEFAULT_K, TOP_N
from nbrec.errors import BadValueError
from nbrec.pipeline import versions
from nbrec.pipeline.scoring import DEFAULT_SHARD_SIZE
from nbrec.settings import get_settings


@dataclass(frozen=True)
class TrainingParams:
    """What a training run does: data set, model choice, gate, publishing."""

    dataset: str = "synthetic"
    model: str = "auto"  # a model name, "a,b", or "auto"
    k: int = DEFAULT_K
    notebooks: tuple[str, ...] = ()
    tune: bool = False
    margin: float = 0.01  # the gate: lead over popularity ...
    tolerance: float = 0.01  # ... and allowed deficit vs the live model
    top_n: int = TOP_N
    shard_size: int = DEFAULT_SHARD_SIZE
    run_name: str = "local"
    events: str = ""  # "warehouse": the warehouse's events inside ``window`` are added
    window: str = "90d"
    event_weights: str = "view=1,click=3,purchase=5,rating=value"
    half_life_days: float = 0.0
    metric: str = field(init=False, default="")

    def __post_init__(self) -> None:
        object.__setattr__(self, "metric", f"ndcg@{self.k}")

    @classmethod
    def from_settings(cls, **given) -> TrainingParams:
        """The parameters ``given`` (None: not given), the rest from ``NBREC_*`` settings."""
        settings = get_settings()
        defaults = {
            "model": settings.train_model,
            "notebooks": [n.strip() for n in settings.train_notebooks.split(",") if n.strip()],
            "margin": settings.gate_margin,
            "tolerance": settings.gate_tolerance,
            "events": settings.train_events,
            "window": settings.train_window,
            "event_weights": settings.event_weights,
            "half_life_days": settings.event_half_life_days,
        }
        chosen = {**defaults, **{key: v for key, v in given.items() if v is not None}}
        chosen["notebooks"] = tuple(chosen.get("notebooks") or ())
        if chosen["events"] not in ("", "none", "warehouse"):
            raise BadValueError(
                f"events={chosen['events']!r}: use 'warehouse' (or '' for the base data only)"
            )
        return cls(**chosen)

    def named(self, run_name: str) -> TrainingParams:
        return replace(self, run_name=run_name)

    def params_hash(self, data_hash: str) -> str:
        """The hash naming this run's folder of executed notebooks."""
        return versions.params_hash({"dataset": data_hash, "model": self.model, "k": self.k,
                                     "tune": self.tune, "notebooks": list(self.notebooks),
                                     "top_n": self.top_n})  # fmt: skip

    def version(self, data_hash: str, model: str, params: dict) -> str:
        """The model version id: the same data, recipe and code give the same id."""
        recipe = {"model": model, "params": params, "k": self.k, "top_n": self.top_n}
        return versions.version_id(data_hash, recipe)

    def as_dict(self) -> dict:
        return asdict(self)
