"""The pipeline's tests share the isolated home (var/, model store) of the flow tests."""

from tests.flows.conftest import pipeline_home  # noqa: F401 (a fixture)
