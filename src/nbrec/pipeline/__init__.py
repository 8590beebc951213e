"""The training pipeline's logic; ``nbrec.flows.training`` strings these steps together as Prefect tasks."""
