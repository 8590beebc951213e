"""Data validation with Great Expectations: suites in ``expectations/``, reports under var/."""

from nbrec.validation.runner import ValidationFailed, ValidationReport, validate
from nbrec.validation.suites import (
    interactions_frame,
    interactions_parameters,
    load_suite,
    recommendation_frame,
    recommendation_parameters,
)

__all__ = [
    "ValidationFailed", "ValidationReport", "interactions_frame", "interactions_parameters",
    "load_suite", "recommendation_frame", "recommendation_parameters", "validate",
]  # fmt: skip
