"""The training pipeline's logic; ``flows/training.py`` strings these steps together as Prefect tasks."""
