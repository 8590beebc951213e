"""Deployable entry point of the training flow (defined in ``nbrec.flows.training``).

``python flows/training.py`` runs it once; ``nbrec train`` does the same with options.
"""

from nbrec.flows.training import run_training, training

__all__ = ["run_training", "training"]

if __name__ == "__main__":
    print(run_training())
