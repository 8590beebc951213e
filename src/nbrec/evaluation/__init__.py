"""Evaluation: metrics, tuning on validation, the leaderboard."""

from nbrec.evaluation.evaluate import evaluate
from nbrec.evaluation.leaderboard import Leaderboard, prepare_split, run_leaderboard
from nbrec.evaluation.metrics import accuracy

__all__ = ["Leaderboard", "accuracy", "evaluate", "prepare_split", "run_leaderboard"]
