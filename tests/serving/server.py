"""Start the real service (``nbrec serve``: BentoML) on a free port; stop it afterwards."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nbrec.lifetime import wait_ready

NBREC = str(Path(sys.executable).parent / "nbrec")
START_TIMEOUT = 90.0


def rr_lines(folder: Path) -> list[dict]:
    """The RR log lines written so far under ``folder``, while the service may be writing.

    Lines end at "\n" only: ``str.splitlines`` would also split inside JSON strings holding
    U+2028, U+0085, ... (fuzzed field names echoed in error messages). A reader can catch the
    writer mid-chunk: the text after the last "\n" is not a complete line yet.
    """
    lines = []
    for path in folder.glob("rr-*.jsonl"):
        *complete, _partial = path.read_text().split("\n")
        lines += [json.loads(x) for x in complete]
    return lines


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def service_env(workdir: Path, store_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "NBREC_VAR_DIR": str(workdir / "var"),
        "NBREC_STORE_URL": store_url,
        "NBREC_REFRESH_INTERVAL": "0.1",
        "BENTOML_HOME": str(workdir / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "True",
    }


@contextmanager
def running_service(
    workdir: Path, store_url: str, env: dict[str, str] | None = None
) -> Iterator[str]:
    """Yield the base URL once /readyz answers 200 (a model must be published first).

    ``env`` adds to (or overrides) the service's environment.
    """
    port = free_port()
    log_path = workdir / f"service-{port}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [NBREC, "serve", "--port", str(port)], env={**service_env(workdir, store_url), **(env or {})},
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{url}/readyz", "nbrec serve", START_TIMEOUT, proc, log_path)
        yield url
    finally:
        # The whole process group: bentoml's arbiter and its worker.
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
