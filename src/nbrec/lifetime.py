"""Child processes die with their parent: no orphan keeps a port or a server running.

BentoML's arbiter starts its workers in sessions of their own, so a SIGKILL of the
``nbrec serve`` process group (or the OOM killer taking the arbiter) would leave a worker
answering on the port; ``nbrec train``'s temporary Prefect server would outlive a killed
``nbrec train`` the same way. Linux's parent-death signal (``prctl(PR_SET_PDEATHSIG)``) has the
kernel signal the child the moment its parent is gone, however the parent died.

A server started as a child is used once it answers: ``wait_ready`` polls its health URL and
fails early, with the server's log, if the process died first.
"""

from __future__ import annotations

import ctypes
import http.client
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(sig: int = signal.SIGTERM) -> bool:
    """Have the kernel send ``sig`` to this process when its parent exits (Linux only).

    Returns False where the kernel has no such signal. If the parent is already gone (it died
    between our start and this call), ``sig`` is sent at once.
    """
    if not sys.platform.startswith("linux"):
        return False
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl(PR_SET_PDEATHSIG): {os.strerror(errno)}")
    if os.getppid() != parent:
        os.kill(os.getpid(), sig)
    return True


def preexec_die_with_parent(sig: int = signal.SIGTERM):
    """A ``subprocess.Popen(preexec_fn=...)`` that makes the child die with the caller.

    The signal survives ``exec``, so it holds for any program started this way. The kernel ties
    it to the thread that forked: start such children from a thread that lives as long as they
    should (the main thread).
    """

    def preexec() -> None:
        die_with_parent(sig)

    return preexec


def kill_tree(pid: int, sig: int = signal.SIGKILL) -> None:
    """Signal a process and all its descendants at once (default SIGKILL).

    What a crash test needs: BentoML's workers (which hold the event journal) run in sessions
    of their own, so killing the arbiter's process group alone would spare them.
    """
    import contextlib

    import psutil

    parent = psutil.Process(pid)
    for process in [*parent.children(recursive=True), parent]:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.send_signal(sig)


# Loopback servers: no proxy from the environment (http_proxy) may stand in between.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def wait_ready(
    url: str,
    name: str,
    timeout: float,
    process: subprocess.Popen | None = None,
    log: Path | None = None,
    interval: float = 0.25,
) -> None:
    """Poll ``url`` (GET) until it answers 200; fail early if ``process`` exited meanwhile.

    ``name`` (the server: "prefect server", "Superset", "nbrec serve") heads the error, followed
    by the last 3,000 characters of ``log`` when given: RuntimeError if the process exited,
    TimeoutError after ``timeout`` seconds.
    """

    def failed(what: str) -> str:
        tail = f":\n{log.read_text(errors='replace')[-3000:]}" if log and log.exists() else ""
        return f"{name} at {url} {what}{tail}"

    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(failed(f"exited with code {process.returncode} before it was ready"))
        try:
            with _DIRECT.open(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (OSError, http.client.HTTPException):  # refused, reset, half an answer, 5xx...
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(failed(f"not ready after {timeout:.0f} s"))
        time.sleep(interval)
