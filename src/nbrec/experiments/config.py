"""Experiments as config: ``experiments/*.yaml`` loaded into checked pydantic models.

An experiment splits the users of one *layer* between variants. Experiments in the same layer
are mutually exclusive (each takes a slice, ``traffic``, of the layer's users, in order of start
then name); experiments in different layers overlap independently. Inside an experiment a
``holdout`` share is set aside first (served the live model, logged as variant ``holdout``),
the rest is split by the variants' ``allocation``.

A variant is either a model version (``model_version: v3``, or ``live`` for whatever is live)
or an online policy over a candidate pool (``policy: thompson``, ``pool_size: 50``).

``type: interleaving`` compares two model-version variants (the first is team ``a``) in one
answer: every user outside the holdout is served variant ``interleaved``, a team-draft blend of
both versions' lists (``nbrec.experiments.hooks``); allocations are not needed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from nbrec.errors import BadValueError, UnknownNameError

LIVE = "live"  # model_version meaning "the store's live version at request time"
HOLDOUT = "holdout"  # variant name of the held-out users
INTERLEAVED = "interleaved"  # variant name of the users of an interleaving experiment
AB, INTERLEAVING = "ab", "interleaving"  # experiment types
SEQUENTIAL, FIXED_HORIZON = "sequential", "fixed_horizon"  # which test decides the verdict
Policy = Literal["thompson", "ucb1", "epsilon_greedy"]


class Variant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    allocation: float = Field(gt=0, le=1)
    model_version: str | None = None
    policy: Policy | None = None
    pool_size: int = Field(
        50, ge=2, le=10_000
    )  # bandit arms: the live version's most popular items

    @model_validator(mode="after")
    def _one_kind(self) -> Variant:
        if self.policy is None and self.model_version is None:
            self.model_version = LIVE
        if self.policy is not None and self.model_version not in (None, LIVE):
            raise BadValueError(
                f"variant {self.name!r} sets both policy={self.policy!r} and "
                f"model_version={self.model_version!r}; a variant is a model version OR a policy"
            )
        if self.name in (HOLDOUT, INTERLEAVED):
            raise BadValueError(
                f"variant name {self.name!r} is reserved (holdout, interleaved answers)"
            )
        return self

    @property
    def is_policy(self) -> bool:
        return self.policy is not None


class Experiment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    type: Literal["ab", "interleaving"] = AB
    layer: str = "default"
    traffic: float = Field(1.0, gt=0, le=1)  # share of the layer's users in this experiment
    # A user in experiments of several layers gets the model of the highest priority, then of
    # the one that started first (nbrec.experiments.assignment.ExperimentRouter).
    priority: int = 0
    salt: str = ""  # "" -> the name; change it to reshuffle users between variants
    start: datetime | None = None
    end: datetime | None = None
    holdout: float = Field(0.0, ge=0, lt=0.5)
    control: str = ""  # "" -> the first variant
    metric: Literal["ctr"] = "ctr"
    mde: float = Field(
        0.01, gt=0, lt=1
    )  # minimum detectable effect (absolute) for the power analysis
    alpha: float = Field(0.05, gt=0, lt=0.5)
    # 0.9: the group-sequential stop rule then ends, on average, with 0.65x the users a fixed-horizon
    # test needs at that power (0.75x at power 0.8); docs/experiments.md, benchmarks/experiments.
    power: float = Field(0.9, gt=0.5, lt=1)
    # sequential: always-valid, read it any day; fixed_horizon: read once at the planned n.
    test: Literal["sequential", "fixed_horizon"] = SEQUENTIAL
    variants: list[Variant] = Field(min_length=2)

    @model_validator(mode="before")
    @classmethod
    def _interleaving_allocations(cls, raw: object) -> object:
        # Interleaving shows both variants to every user: their allocations mean nothing.
        if isinstance(raw, dict) and raw.get("type") == INTERLEAVING:
            variants = raw.get("variants")
            if isinstance(variants, list) and variants:
                share = {"allocation": 1 / len(variants)}
                raw = {**raw, "variants": [{**share, **v} if isinstance(v, dict) else v
                                           for v in variants]}  # fmt: skip
        return raw

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        # Naive timestamps in YAML are read as UTC, so "is it running" never depends on the host's zone.
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value

    @model_validator(mode="after")
    def _check(self) -> Experiment:
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise BadValueError(f"experiment {self.name!r}: variant names repeat: {names}")
        total = sum(v.allocation for v in self.variants)
        if abs(total - 1.0) > 1e-6:
            raise BadValueError(
                f"experiment {self.name!r}: variant allocations sum to {total:g}, they must sum to 1 "
                f"(got {[(v.name, v.allocation) for v in self.variants]})"
            )
        if self.start and self.end and self.end <= self.start:
            raise BadValueError(
                f"experiment {self.name!r}: end {self.end} is not after start {self.start}"
            )
        if self.control and self.control not in names:
            raise BadValueError(
                f"experiment {self.name!r}: control {self.control!r} is not one of {names}"
            )
        if self.type == INTERLEAVING:
            policies = [v.name for v in self.variants if v.is_policy]
            if len(self.variants) != 2 or policies:
                raise BadValueError(
                    f"experiment {self.name!r}: interleaving compares exactly two model-version "
                    f"variants; got {names} (policies: {policies})"
                )
        self.salt = self.salt or self.name
        self.control = self.control or names[0]
        return self

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise UnknownNameError(
            f"experiment {self.name!r} has no variant {name!r}; it has {self.variant_names}"
        )

    @property
    def variant_names(self) -> list[str]:
        return [v.name for v in self.variants]

    def is_running(self, now: datetime | None = None) -> bool:
        now = now or datetime.now(UTC)
        return (self.start is None or self.start <= now) and (self.end is None or now < self.end)


def load_experiment(path: str | Path) -> Experiment:
    """One YAML file -> ``Experiment``; errors name the file and the offending field."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
        return Experiment.model_validate(raw)
    except yaml.YAMLError as exc:
        raise BadValueError(f"{path}: not valid YAML: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'experiment'}: {e['msg']}" for e in exc.errors()
        )
        raise BadValueError(f"{path}: {problems}") from None


def load_experiments(directory: str | Path) -> list[Experiment]:
    """Every ``*.yaml`` / ``*.yml`` under ``directory``, checked together (names unique, layers fit)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    experiments = [load_experiment(p) for p in files]
    check_layers(experiments)
    return experiments


def check_layers(experiments: list[Experiment]) -> None:
    """Names are unique and, per layer, the experiments' traffic fits in 100% of the users."""
    seen: dict[str, str] = {}
    for exp in experiments:
        if exp.name in seen:
            raise BadValueError(f"experiment name {exp.name!r} is defined twice")
        seen[exp.name] = exp.layer
    for layer in sorted(set(seen.values())):
        members = [e for e in experiments if e.layer == layer]
        total = sum(e.traffic for e in members)
        if total > 1 + 1e-9:
            raise BadValueError(
                f"layer {layer!r}: experiments {[(e.name, e.traffic) for e in members]} take "
                f"{total:g} of its users; lower their traffic to sum to at most 1 or move one to another layer"
            )


def find_experiment(experiments: list[Experiment], name: str) -> Experiment:
    for exp in experiments:
        if exp.name == name:
            return exp
    raise UnknownNameError(f"no experiment {name!r}; defined: {[e.name for e in experiments]}")
