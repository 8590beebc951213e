"""nbrec: a recommender system that goes from notebooks to production."""

__version__ = "0.1.0"
