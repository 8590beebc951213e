"""The gate's inputs: the candidate chosen on a validation split, and its rivals on that split.

``compare`` is the training flow's ``compare`` task in one call: select on a sample of users
within the memory and time budgets (``NBREC_MEMORY_BUDGET_GB``, ``NBREC_SELECTION_USERS``,
``NBREC_SELECTION_MINUTES``, ``NBREC_FINAL_FIT_MINUTES``), settle on a recipe that also fits on
all the data, and score popularity and the live version's recipe on the same split.
"""

from __future__ import annotations

from dataclasses import dataclass

from nbrec.constants import DEFAULT_K
from nbrec.data.schema import Dataset
from nbrec.models.memory import MemoryBudget
from nbrec.pipeline import candidates
from nbrec.settings import get_settings


@dataclass
class Comparison:
    """The candidate and its rivals' validation metric (``live`` None: nothing to compare)."""

    candidate: candidates.Candidate
    popularity: float
    live: float | None
    live_version: str | None


def memory_budget() -> MemoryBudget:
    return MemoryBudget.from_gb(get_settings().memory_budget_gb)


def compare(
    dataset: Dataset, model: str, k: int = DEFAULT_K, tune_params: bool = False,
    live_version: str | None = None, live_recipe: tuple[str, dict] | None = None,
) -> Comparison:  # fmt: skip
    """Choose the candidate; score popularity and the live version's recipe on its split."""
    settings = get_settings()
    budget = memory_budget()
    sample = candidates.selection_sample(dataset, settings.selection_users)
    data_split = candidates.validation_split(sample)
    minutes = settings.selection_minutes
    chosen = candidates.choose_candidate(model, data_split, sample, k, tune_params, budget=budget,
                                         progress=True, time_budget_s=minutes and minutes * 60)  # fmt: skip
    # The champion must also fit on all the data; else the next best that does.
    fit_minutes = settings.final_fit_minutes
    chosen = candidates.settle_final(chosen, dataset, budget, fit_minutes and fit_minutes * 60)
    popularity = chosen.tried.get("popularity")
    if popularity is None:
        popularity = candidates.validation_score("popularity", {}, data_split, sample, k)
    live = None
    if live_recipe is not None:
        live = (chosen.score if live_recipe == (chosen.model, chosen.params)
                else candidates.validation_score(*live_recipe, data_split, sample, k))  # fmt: skip
    return Comparison(chosen, popularity, live, live_version)
