"""The gate between a trained candidate and production.

A candidate goes live only if it beats the popularity baseline on the validation metric by
``margin`` and is not worse than the live model's recipe by more than ``tolerance``
(both re-scored on the same validation split). Otherwise the run ends "rejected".
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class GateDecision:
    passed: bool
    reason: str
    candidate: float
    popularity: float
    live: float | None

    def as_dict(self) -> dict:
        return {"passed": self.passed, "reason": self.reason, "candidate": self.candidate,
                "popularity": self.popularity, "live": self.live}  # fmt: skip


def decide(
    candidate: float, popularity: float, live: float | None, margin: float, tolerance: float,
    metric: str = "ndcg@10",
) -> GateDecision:  # fmt: skip
    """Apply the two rules; the reason says which failed and by how much."""
    if candidate < popularity + margin:
        reason = (f"candidate {metric} {candidate:.4f} does not beat popularity {popularity:.4f} "
                  f"by the margin {margin:.4f}")  # fmt: skip
        return GateDecision(False, reason, candidate, popularity, live)
    if live is not None and candidate < live - tolerance:
        reason = (f"candidate {metric} {candidate:.4f} is worse than the live model {live:.4f} "
                  f"beyond the tolerance {tolerance:.4f}")  # fmt: skip
        return GateDecision(False, reason, candidate, popularity, live)
    reason = f"candidate {metric} {candidate:.4f} vs popularity {popularity:.4f}" + (
        f", live {live:.4f}" if live is not None else ", no live model"
    )
    return GateDecision(True, reason, candidate, popularity, live)
