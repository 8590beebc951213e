"""Load the Prefect flows that live in the project's ``flows/`` folder (thin files, not a package)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

FLOWS_DIR = Path(__file__).resolve().parents[3] / "flows"


def load_flow_module(name: str) -> ModuleType:
    """Import ``flows/<name>.py`` once, as module ``nbrec_flows.<name>``."""
    module_name = f"nbrec_flows.{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    path = FLOWS_DIR / f"{name}.py"
    if not path.is_file():
        raise FileNotFoundError(
            f"no flow file {path}; have {sorted(p.stem for p in FLOWS_DIR.glob('*.py'))}"
        )
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        # As importlib does: a file that failed to run is not left behind, half-initialised,
        # for the next call to return.
        del sys.modules[module_name]
        raise
    # Workers in other processes (Dask) cannot import ``nbrec_flows``: ship its tasks by value.
    import cloudpickle

    cloudpickle.register_pickle_by_value(module)
    return module
