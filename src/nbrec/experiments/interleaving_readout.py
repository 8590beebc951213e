"""An interleaving experiment end to end: simulated in process, or read from the service's logs.

``simulate_interleaving`` serves an interleaving experiment as the service does (its users get a
team-draft blend of two policies' lists, the holdout gets team a's list) and clicks by the
simulated users' preferences: request rows carry ``items`` and ``teams`` as the RR log does.
``read_logged`` reads a served experiment's answers and clicks from the RR logs. Both feed
``interleaving.analyze_interleaving``, which recomputes the credit from the rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from nbrec.experiments.config import HOLDOUT, INTERLEAVED, INTERLEAVING, Experiment
from nbrec.experiments.interleaving import TEAM_A, TEAM_B, analyze_interleaving, team_draft_codes
from nbrec.experiments.simulator import Policy, Population, simulate
from nbrec.experiments.traffic import Traffic


def _check(experiment: Experiment) -> tuple[str, str]:
    if experiment.type != INTERLEAVING:
        raise ValueError(f"experiment {experiment.name!r} is not an interleaving experiment")
    return experiment.variants[0].name, experiment.variants[1].name


def simulate_interleaving(
    population: Population, experiment: Experiment, policy_a: Policy, policy_b: Policy,
    users: int, k: int = 10, seed: int = 0, traffic: Traffic | None = None, days: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """(request rows with ``items`` and ``teams``, feedback rows), as the service logs them."""
    _check(experiment)
    teams: list[np.ndarray] = []

    def blended(rows, k, rng):
        a, _ = policy_a(rows, k, rng)
        b, _ = policy_b(rows, k, rng)
        items, team = team_draft_codes(
            np.asarray(a), np.asarray(b), k, rng.random((len(rows), k)) < 0.5
        )
        teams.append(team)
        return items, None

    policies = {INTERLEAVED: blended, HOLDOUT: policy_a}
    requests, feedback = simulate(population, experiment, policies, users, k=k, seed=seed,
                                  traffic=traffic, days=days)  # fmt: skip
    inside = (requests["variant"] == INTERLEAVED).to_numpy()
    labels = np.array([TEAM_A, TEAM_B])
    requests["teams"] = None
    if teams:
        requests.loc[inside, "teams"] = pd.Series([labels[t].tolist() for t in teams[0]],
                                                  index=requests.index[inside], dtype=object)  # fmt: skip
    return requests, feedback


def analyze_rows(experiment: Experiment, requests: pd.DataFrame, feedback: pd.DataFrame) -> dict:
    """The interleaving read-out of request rows (with teams) and feedback rows."""
    names = _check(experiment)
    shown = requests[(requests["variant"] == INTERLEAVED) & requests["teams"].notna()]
    return analyze_interleaving(shown, feedback, names, experiment.alpha)


def read_logged(experiment: Experiment, log_dir: str | Path, lines=None) -> dict:
    """The interleaving read-out of what the service logged (``nbrec experiment analyze``;
    ``lines``: the RR lines as an Arrow table, as ``rrlog.reader.read_rr_logs`` takes them)."""
    from nbrec.rrlog.reader import read_interleaved, read_rr_logs

    names = _check(experiment)
    _, feedback = read_rr_logs(log_dir, experiment.name, lines=lines)
    shown = read_interleaved(log_dir, experiment.name, lines=lines)
    return analyze_interleaving(shown, feedback, names, experiment.alpha)


def pair(name: str, a: str, b: str, holdout: float = 0.0, alpha: float = 0.05) -> Experiment:
    """An interleaving experiment of ``a`` (team a) against ``b``: what a YAML file declares."""
    variants = [{"name": a}, {"name": b}]
    return Experiment(name=name, type=INTERLEAVING, holdout=holdout, alpha=alpha, variants=variants)
