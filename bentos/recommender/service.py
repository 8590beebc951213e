"""``bentoml build`` entry point: the service is ``nbrec.bento.NbrecService`` (shipped with the
package, so ``nbrec serve`` works from any directory after ``pip install``)."""

import sys
from pathlib import Path

try:
    import nbrec  # noqa: F401  (installed: a checkout, or an image with the package)
except ImportError:
    # A built bento carries the package as src/nbrec next to bentos/, and BentoML puts only
    # the bento's own folder on the path: serve that copy (bentoml serve <bento>, containers).
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from nbrec.bento import NbrecService  # noqa: E402

__all__ = ["NbrecService"]
