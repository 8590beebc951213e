"""Running notebooks with papermill, and the one helper their last cell uses to record results.

Executed copies go under ``var/notebooks/<run>/``, with an HTML rendering from nbconvert.
Flows and tests read the results JSON, never the notebook's output cells.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np

from nbrec.errors import BadValueError, MissingFileError
from nbrec.resources import resource_dir

NOTEBOOK_DIR = resource_dir("notebooks")
# The kernel listens on loopback only, yet warns at every start that TCP is not encrypted; its
# errors still show.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]
# nbconvert warns that matplotlib images have no alt text (it then adds a generic one) on every
# export; its errors still show.
_EXPORT_LOG = logging.getLogger("nbrec.notebooks.nbconvert")
_EXPORT_LOG.setLevel(logging.ERROR)


def notebook_path(name: str) -> Path:
    """``"02_baselines"`` or ``"02_baselines.ipynb"`` -> path of the shipped notebook."""
    path = NOTEBOOK_DIR / (name if name.endswith(".ipynb") else f"{name}.ipynb")
    if not path.is_file():
        raise MissingFileError(
            f"notebook {path} not found; have: {[p.name for p in list_notebooks()]}"
        )
    return path


def list_notebooks() -> list[Path]:
    return sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))


def notebook_parameters(path: Path) -> dict:
    """The names and defaults of the notebook's ``parameters`` cell."""
    import papermill

    return papermill.inspect_notebook(str(path))


def check_parameters(path: Path, parameters: dict) -> None:
    """Papermill only warns about unknown parameters; nbrec refuses them."""
    known = notebook_parameters(path)
    unknown = sorted(set(parameters) - set(known))
    if unknown:
        raise BadValueError(f"{path.name} has no parameter(s) {unknown}; it takes {sorted(known)}")


def run_notebook(
    name: str | Path,
    parameters: dict | None = None,
    out_dir: str | Path = "var/notebooks",
    html: bool = True,
    progress: bool = False,
) -> Path:
    """Execute a notebook with papermill into ``out_dir`` (and render HTML); return the copy's path."""
    import papermill

    path = Path(name) if Path(name).is_file() else notebook_path(str(name))
    parameters = parameters or {}
    check_parameters(path, parameters)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / path.name
    papermill.execute_notebook(
        str(path), str(output), parameters=parameters, progress_bar=progress,
        kernel_name="python3", cwd=str(out_dir), extra_arguments=KERNEL_ARGUMENTS,
    )  # fmt: skip
    if html:
        render_html(output)
    return output


def render_html(notebook: Path, exclude_input: bool = False) -> Path:
    """Render an executed notebook to HTML next to it (``exclude_input`` hides code cells).

    The page works offline: nothing is loaded from a CDN (nbconvert's template asks for
    MathJax and require.js there); a notebook with math gets the vendored MathJax inlined
    (``nbrec/static/mathjax``). stderr output (library warnings such as tqdm's) is not shown:
    it stays in the executed notebook.
    """
    import nbformat
    from nbconvert import HTMLExporter

    node = nbformat.read(notebook, as_version=4)
    for cell in node.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if not _is_stderr(o)]
    has_math = any(
        cell.cell_type == "markdown" and ("$" in cell.source or "\\(" in cell.source)
        for cell in node.cells
    )
    exporter = HTMLExporter(exclude_input=exclude_input, log=_EXPORT_LOG)
    body, _ = exporter.from_notebook_node(node)
    target = notebook.with_suffix(".html")
    target.write_text(offline_html(body, has_math), encoding="utf-8")
    return target


def _is_stderr(output) -> bool:
    return output.get("output_type") == "stream" and output.get("name") == "stderr"


MATHJAX = Path(__file__).resolve().parent / "static" / "mathjax" / "tex-svg.js"
MATHJAX_CONFIG = (
    "window.MathJax = {tex: {inlineMath: [['$', '$'], ['\\\\(', '\\\\)']], "
    "displayMath: [['$$', '$$'], ['\\\\[', '\\\\]']], processEscapes: true}, "
    "svg: {fontCache: 'global'}};"
)


def offline_html(body: str, math: bool) -> str:
    """nbconvert's page without its CDN scripts; the local MathJax inlined when ``math``."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(body, "html.parser")
    for script in soup.find_all("script"):
        source = script.get("src") or ""
        remote = source.startswith(("http:", "https:")) or "https://" in (script.string or "")
        # The module script imports mermaid from a CDN (for mermaid diagrams: nbrec has none).
        if script.get("type") == "text/x-mathjax-config" or remote:
            script.decompose()
    if math:
        config = soup.new_tag("script")
        config.string = MATHJAX_CONFIG
        engine = soup.new_tag("script")
        engine.string = MATHJAX.read_text(encoding="utf-8")
        soup.head.append(config)
        soup.head.append(engine)
    return str(soup)


def record_results(path: str | Path, **results) -> None:
    """Write ``results`` as JSON to ``path``: the last cell of every notebook calls this.

    Returns nothing, so the notebook's last cell shows no raw dict of every figure.
    """
    clean = {key: _jsonable(value) for key, value in results.items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(clean, indent=2, default=str))


def read_results(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())


def _jsonable(value):
    if hasattr(value, "to_dict") and hasattr(value, "columns"):
        return json.loads(value.to_json(orient="records"))
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
