"""Run a suite on a frame with Great Expectations and keep the report under var/.

One ephemeral GX context per call (nothing GX-specific on disk but what we ask for): a
pandas data source, the suite, a validation definition and a checkpoint whose action renders
Data Docs into ``var/validation/docs``. The JSON result goes to
``var/validation/<suite>/<run>.json``; that is the path a failed run reports.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from nbrec.progress import shown
from nbrec.settings import get_settings
from nbrec.validation.suites import load_suite


@dataclass
class ValidationReport:
    """What a validation found: success, the names of failed expectations, where the report is."""

    suite: str
    success: bool
    failed: list[str]
    report_path: Path
    docs_path: Path | None = None
    statistics: dict = field(default_factory=dict)
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def summary(self) -> str:
        if self.success:
            return f"suite '{self.suite}' passed ({self.statistics.get('evaluated_expectations')} expectations)"
        return (
            f"suite '{self.suite}' failed {len(self.failed)} expectation(s): {'; '.join(self.failed)}. "
            f"Report: {self.report_path}"
            + (f" (Data Docs: {self.docs_path})" if self.docs_path else "")
        )

    def status(self) -> dict:
        """The entry of the pipeline status file for this suite."""
        return {"success": self.success, "failed_expectations": self.failed,
                "report": str(self.report_path), "at": self.at}  # fmt: skip


class ValidationFailed(RuntimeError):
    """Data did not pass its suite; ``report`` says which expectations and where to look."""

    def __init__(self, report: ValidationReport):
        super().__init__(report.summary())
        self.report = report


def validate(
    frame: pd.DataFrame,
    suite: str,
    parameters: dict | None = None,
    run_name: str | None = None,
    out_dir: str | Path | None = None,
    data_docs: bool = True,
    only: Callable[[dict], bool] | None = None,
) -> ValidationReport:
    """Validate ``frame`` against ``expectations/<suite>.json``; never raises on failed data.

    ``only`` keeps the suite's expectations (their JSON specs) it returns True for."""
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # GX announces every temporary docs folder at INFO (from a logger it sets to INFO itself);
    # Prefect would print each line.
    for name in ("great_expectations", "great_expectations.data_context.types.base"):
        logging.getLogger(name).setLevel(logging.WARNING)
    out_dir = Path(out_dir or get_settings().var_dir / "validation").resolve()
    run_name = _safe(run_name or datetime.now(UTC).strftime("%Y%m%dT%H%M%S"))
    spec = load_suite(suite)
    if only is not None:
        spec = {**spec, "expectations": [e for e in spec["expectations"] if only(e)]}

    context = gx.get_context(mode="ephemeral")
    # GX's own bar over the metrics it computes: on a terminal, for millions of rows only.
    context.variables.progress_bars = ProgressBarsConfig(globally=shown(len(frame)))
    actions = []
    if data_docs:
        context.add_data_docs_site("nbrec", {
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(out_dir / "docs")},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        })  # fmt: skip
        actions.append(gx.checkpoint.UpdateDataDocsAction(name="data_docs", site_names=["nbrec"]))
    batch = context.data_sources.add_pandas("nbrec").add_dataframe_asset(suite)
    definition = batch.add_batch_definition_whole_dataframe("snapshot")
    gx_suite = context.suites.add(
        gx.ExpectationSuite(
            name=spec["name"], expectations=spec["expectations"], meta=spec.get("meta", {})
        )
    )
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{suite}-check", data=definition, suite=gx_suite)
    )
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(name=f"{suite}-checkpoint", validation_definitions=[validation],
                      actions=actions, result_format="SUMMARY")
    )  # fmt: skip
    result = checkpoint.run(
        batch_parameters={"dataframe": frame},
        expectation_parameters=parameters or {},
        run_id=RunIdentifier(run_name=run_name),
    )
    ((identifier, suite_result),) = result.run_results.items()
    failed = [_name(r.expectation_config) for r in suite_result.results if not r.success]

    report_path = out_dir / suite / f"{run_name}.json"
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(suite_result.to_json_dict(), indent=2, default=str))
    docs = None
    if data_docs:  # GX's pages load CDN assets: point them at the copies nbrec ships
        from nbrec.validation.offline import make_offline

        make_offline(out_dir / "docs")
        docs = _docs_page(out_dir / "docs", suite, run_name)
    return ValidationReport(
        suite=suite, success=bool(suite_result.success), failed=failed, report_path=report_path,
        docs_path=docs, statistics=dict(suite_result.statistics),
    )  # fmt: skip


def _name(config) -> str:
    """The reviewed name from the suite's meta, else type(column)."""
    name = (config.meta or {}).get("name")
    if name:
        return name
    column = config.kwargs.get("column")
    return f"{config.type}({column})" if column else config.type


def _docs_page(docs_dir: Path, suite: str, run_name: str) -> Path | None:
    pages = sorted((docs_dir / "validations" / suite / run_name).glob("*/*.html"))
    return pages[-1] if pages else None


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name)
