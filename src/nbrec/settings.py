"""Settings from the environment (``NBREC_...``), read in one typed object."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob nbrec reads from the environment. Reading it creates nothing on disk."""

    model_config = SettingsConfigDict(env_prefix="NBREC_", extra="ignore")

    data_dir: Path = Path("var/data")
    var_dir: Path = Path("var")
    # "" -> SQLite under var/; "redis://host:port/db" -> Redis. Secrets stay out of reprs.
    store_url: str = Field("", repr=False)
    log_dir: Path | None = None  # None -> var/logs
    admin_token: str | None = Field(None, repr=False)
    admin_free_tries: int = Field(default=5, ge=1)  # wrong admin tokens before 429s
    seed: int = 42
    # Training pipeline (flows/training.py)
    # a model name, "a,b", or "auto" (every model but random and the bandits)
    train_model: str = "auto"
    train_notebooks: str = "01_framing,02_baselines"  # executed per training run ("" for none)
    # Memory the whole training run may hold (GiB; unset: what the machine has available).
    # Every model fit is checked against what is left of it before it allocates.
    memory_budget_gb: float | None = None
    # The model is chosen on a seeded sample of at most this many users (0: every user);
    # only the champion is fitted on all of them.
    selection_users: int = 10_000
    # Trying candidates stops once this is spent, and a candidate whose fit estimated from the
    # data's shape (nbrec.models.cost) exceeds what is left is skipped: 1.5 keeps the EASE
    # family (about 128 s each on a 10,000-user x 16k-item sample) out of a medium-size run,
    # which then trains in about 2 minutes on 2 cores (benchmarks/scale/RESULTS.md).
    selection_minutes: float | None = 1.5
    final_fit_minutes: float | None = 15.0  # the champion's predicted fit on all data must fit
    gate_margin: float = 0.01  # candidate must beat popularity's validation NDCG by this much
    gate_tolerance: float = 0.01  # ... and may trail the live model by at most this much
    task_runner: str = (
        ""  # "" -> threads; "dask" (local cluster) or "dask://host:port" (prefect-dask)
    )
    # BentoML's home (model store, built bentos, its scratch files): under var/ by default, so
    # two checkouts never share a registry; BENTOML_HOME (or NBREC_BENTOML_HOME) moves it, e.g.
    # BENTOML_HOME=~/bentoml for BentoML's usual one.
    bentoml_home: Path | None = Field(
        None, validation_alias=AliasChoices("NBREC_BENTOML_HOME", "BENTOML_HOME")
    )
    model_store_dir: Path | None = None  # None -> <bentoml home>/models (BentoML's layout)
    # Serving (bentos/recommender, nbrec serve)
    # BentoML worker processes. 1 (default) fits one core per service next to the store and
    # the pipeline on a small machine; one per core otherwise (counters and histograms on
    # /metrics are then summed over the workers, through PROMETHEUS_MULTIPROC_DIR).
    workers: int = Field(default=1, ge=1, le=64)
    log_stdout: bool = False  # RR log lines to stdout instead of files under logs_path
    refresh_interval: float = 0.25  # seconds between checks of the store's live pointer
    # Top-N lists kept in memory per worker (LRU; a version never changes). 0: off, every answer
    # reads its list from the store (the benchmark's uncached rows).
    top_n_cache_size: int = Field(default=50_000, ge=0)
    # BentoML's own HTTP metrics: off, since they label by raw path (any made-up URL became a
    # new series, without bound) and cost ~15% req/s; nbrec_requests_total counts every answer
    # with a bounded endpoint label. On again only behind a gateway that drops unknown paths.
    bentoml_metrics: bool = False
    # Seconds a client has to send a request body (408 after); BentoML's whole-request timeout
    # (10 s, its 504) stays the outer bound.
    body_timeout: float = Field(default=2.0, gt=0)
    # Reliability and privacy (nbrec.serving.guard, nbrec.rrlog.writer)
    store_timeout_ms: float = 20.0  # time budget of one feature-store call on the request path
    store_retry_after: float = 1.0  # seconds a failed store is skipped (fallback) before a retry
    log_user_ids: str = "plain"  # user ids in RR logs: "plain" | "hash" (salted sha256) | "drop"
    log_user_salt: str = Field(
        "", repr=False
    )  # salt of the hashed user ids (keep it secret and stable)
    # Experiments (nbrec.experiments): the folder of experiments/*.yaml the router reads
    experiments_dir: Path = Path("experiments")

    # The data loop (nbrec.events): where /feedback events are made durable, the warehouse
    events_url: str = (
        ""  # "" -> the store's Redis if the store is Redis, else var/events/journal.sqlite
    )
    events_timeout_ms: float = 1000.0  # /feedback answers 503 if not durable within this
    events_retry_after: float = 1.0  # the Retry-After (seconds) of that 503
    warehouse: str = ""  # a path or an fsspec URL (s3://bucket/prefix); "" -> var/warehouse
    # Training on production events (nbrec train --events warehouse; the scheduled deployment)
    train_events: str = ""  # "" -> base data only; "warehouse" -> plus the warehouse's events
    train_window: str = "90d"  # events inside this window (ending now): 90d, 12h, 2w
    event_weights: str = "view=1,click=3,purchase=5,rating=value"  # see nbrec.events.training
    event_half_life_days: float = 0.0  # > 0: a weight halves per this many days of age

    # The BI tool (Apache Superset, `make bi`): its own virtualenv and metadata under bi_dir
    bi_dir: Path | None = None  # None -> var/bi
    bi_port: int = 8088
    bi_user: str = "admin"  # the admin Superset creates on first start
    bi_password: str = Field("admin", repr=False)  # a local default: set it anywhere else
    bi_secret_key: str = Field("", repr=False)  # "" -> generated once into var/bi/secret_key

    @property
    def logs_path(self) -> Path:
        return self.log_dir if self.log_dir is not None else self.var_dir / "logs"

    @property
    def bentoml_home_path(self) -> Path:
        return self.bentoml_home if self.bentoml_home is not None else self.var_dir / "bentoml"

    @property
    def model_store_path(self) -> Path:
        """The registry's folder: ``NBREC_MODEL_STORE_DIR``, else BentoML's home's ``models``."""
        if self.model_store_dir is not None:
            return self.model_store_dir
        return self.bentoml_home_path / "models"

    def bentoml_env(self) -> dict[str, str]:
        """What a process must have in its environment before it imports BentoML."""
        return {"BENTOML_HOME": str(self.bentoml_home_path.resolve())}


def use_bentoml_home() -> None:
    """Point BentoML at nbrec's home before it is imported (BentoML reads it once, at import)."""
    os.environ.update(get_settings().bentoml_env())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; call ``get_settings.cache_clear()`` after changing the env."""
    return Settings()
