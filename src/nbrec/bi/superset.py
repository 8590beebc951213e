"""Apache Superset for nbrec, in its own virtualenv, provisioned from the repository.

``make bi`` (``nbrec bi``) does, in order:

1. ``install``: ``var/bi/.venv`` with ``apache-superset`` and ``duckdb-engine`` pinned by
   ``requirements/bi-constraints.txt`` (skipped when the stamp names the same constraints);
2. ``write_config``: ``var/bi/superset_config.py`` (metadata in ``var/bi/superset.db``,
   ``SECRET_KEY`` from ``NBREC_BI_SECRET_KEY``, else generated once into ``var/bi/secret_key``,
   Superset's telemetry off);
3. ``build_views``: ``var/bi/nbrec.duckdb``, the views of ``nbrec.bi.views`` over the warehouse
   and the RR logs, written by the virtualenv's own DuckDB;
4. ``provision``: ``superset db upgrade``, the admin user (``NBREC_BI_USER`` /
   ``NBREC_BI_PASSWORD``, ``admin``/``admin`` by default: for local use only), ``superset init``
   and ``superset import-dashboards`` of ``deploy/superset/`` zipped with its paths filled in;
5. ``serve``: gunicorn on ``127.0.0.1:$NBREC_BI_PORT`` (8088).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nbrec.bi.views import local_globs, views_sql
from nbrec.settings import get_settings

PACKAGES = ("apache-superset", "duckdb-engine")
BUNDLE = Path("deploy/superset")
CONSTRAINTS = Path("requirements/bi-constraints.txt")
ROOT_FOLDER = "nbrec_dashboard"  # the bundle's top folder (Superset strips it)


@dataclass(frozen=True)
class BiHome:
    """The folder of Superset's virtualenv, configuration, metadata and views."""

    path: Path

    @classmethod
    def default(cls) -> BiHome:
        settings = get_settings()
        return cls((settings.bi_dir or settings.var_dir / "bi").resolve())

    @property
    def venv(self) -> Path:
        return self.path / ".venv"

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    @property
    def config(self) -> Path:
        return self.path / "superset_config.py"

    @property
    def duckdb(self) -> Path:
        return self.path / "nbrec.duckdb"

    def env(self) -> dict[str, str]:
        """The environment of every Superset command: its venv first, none of nbrec's paths."""
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env.update(
            PATH=f"{self.bin}{os.pathsep}{env.get('PATH', '')}",
            SUPERSET_CONFIG_PATH=str(self.config),
            SUPERSET_HOME=str(self.path),
            FLASK_APP="superset.app:create_app()",
            SCARF_ANALYTICS="false",
        )
        return env


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def install(home: BiHome, constraints: Path = CONSTRAINTS, python: str | None = None) -> bool:
    """Create the virtualenv and install Superset; False when it was already there."""
    stamp = home.venv / ".nbrec-installed"
    wanted = _digest(constraints)
    if stamp.is_file() and stamp.read_text().strip() == wanted:
        return False
    home.path.mkdir(parents=True, exist_ok=True)
    if not (home.bin / "python").is_file():
        _run([python or _base_python(), "-m", "venv", str(home.venv)], "create the virtualenv")
    _run([str(home.bin / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
          "-c", str(constraints.resolve()), *PACKAGES], "install Superset")  # fmt: skip
    no_telemetry_pixel(home)
    stamp.write_text(wanted + "\n")
    return True


TELEMETRY = re.compile(r"`https://apachesuperset\.gateway\.scarf\.sh/[^`]*`")


def no_telemetry_pixel(home: BiHome) -> int:
    """Blank the telemetry pixel's address in Superset's built frontend; the files changed.

    The PyPI build of Superset 5.0 draws an ``<img>`` from Scarf's host in its menu whatever
    ``SCARF_ANALYTICS`` says (the switch is read when the frontend is built): a page that must
    make no request off the machine (and a machine without internet) cannot have it. An empty
    ``src`` loads nothing.
    """
    changed = 0
    for path in home.venv.glob("lib/python3*/site-packages/superset/static/assets/*.js"):
        text = path.read_text(encoding="utf-8")
        if "gateway.scarf.sh" in text:
            path.write_text(TELEMETRY.sub('""', text), encoding="utf-8")
            changed += 1
    return changed


def _base_python() -> str:
    """The interpreter nbrec runs on, outside any virtualenv (Superset's venv is its own)."""
    base = (
        Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    )
    return str(base) if base.is_file() else sys.executable


def secret_key(home: BiHome) -> str:
    """``NBREC_BI_SECRET_KEY``, else one generated once into ``var/bi/secret_key`` (mode 600)."""
    given = get_settings().bi_secret_key
    if given:
        return given
    path = home.path / "secret_key"
    if not path.is_file():
        home.path.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48))
    return path.read_text().strip()


def write_config(home: BiHome) -> Path:
    """``superset_config.py``: SQLite metadata under ``var/bi``, the secret key, no telemetry."""
    home.path.mkdir(parents=True, exist_ok=True)
    key_file = home.path / "secret_key"
    secret_key(home)  # the file exists unless NBREC_BI_SECRET_KEY is set (read first below)
    source = (
        '"""Written by nbrec.bi.superset (make bi): edit that module, not this file."""\n'
        "import os\n\n"
        f"SECRET_KEY = os.environ.get('NBREC_BI_SECRET_KEY') or open({str(key_file)!r}).read().strip()\n"
        f"SQLALCHEMY_DATABASE_URI = {('sqlite:///' + str(home.path / 'superset.db'))!r}\n"
        "SCARF_ANALYTICS = False  # no telemetry pixel: the page makes no request off the machine\n"
        "ENABLE_PROXY_FIX = True\n"
        "SQLLAB_CTAS_NO_LIMIT = True\n"
        "FEATURE_FLAGS = {'DASHBOARD_NATIVE_FILTERS': True}\n"
        "CACHE_CONFIG = {'CACHE_TYPE': 'SimpleCache', 'CACHE_DEFAULT_TIMEOUT': 300}\n"
        "DATA_CACHE_CONFIG = {'CACHE_TYPE': 'SimpleCache', 'CACHE_DEFAULT_TIMEOUT': 60}\n"
        "FILTER_STATE_CACHE_CONFIG = {'CACHE_TYPE': 'SimpleCache', 'CACHE_DEFAULT_TIMEOUT': 86400}\n"
        "EXPLORE_FORM_DATA_CACHE_CONFIG = FILTER_STATE_CACHE_CONFIG\n"
        "RATELIMIT_STORAGE_URI = 'memory://'\n"
    )
    home.config.write_text(source)
    return home.config


def build_views(home: BiHome, warehouse: str | None = None, log_dir: str | None = None) -> Path:
    """(Re)write ``nbrec.duckdb``: views over what the warehouse and the log folder hold now."""
    from nbrec.events.warehouse import warehouse_root

    settings = get_settings()
    rr_glob, log_glob = local_globs(
        warehouse or warehouse_root(), log_dir or str(settings.logs_path)
    )
    sql = home.path / "views.sql"
    sql.write_text(views_sql(rr_glob, log_glob))
    fresh = home.duckdb.with_suffix(".duckdb.new")
    fresh.unlink(missing_ok=True)
    script = "import duckdb, sys; duckdb.connect(sys.argv[1]).execute(open(sys.argv[2]).read())"
    _run([str(home.bin / "python"), "-c", script, str(fresh), str(sql)], "build the views",
         env=home.env())  # fmt: skip
    os.replace(fresh, home.duckdb)
    return home.duckdb


def bundle(home: BiHome, source: Path = BUNDLE) -> Path:
    """``deploy/superset/`` as the ZIP ``superset import-dashboards`` reads, paths filled in."""
    values = {"${NBREC_BI_DUCKDB}": str(home.duckdb)}
    out = home.path / "dashboard.zip"
    with zipfile.ZipFile(out, "w") as archive:
        for path in sorted(source.rglob("*.yaml")):
            text = path.read_text()
            for key, value in values.items():
                text = text.replace(key, value)
            archive.writestr(f"{ROOT_FOLDER}/{path.relative_to(source).as_posix()}", text)
    return out


# Runs in Superset's virtualenv: its CLI commands in one process, on one app (each `superset`
# command would import Superset and build the app again: seconds each).
RUNNER = """
import json, os, sys
from flask.cli import ScriptInfo
from superset.app import create_app
from superset.cli.main import superset
info = ScriptInfo(create_app=create_app)
for args in json.loads(sys.argv[1]):
    args = [os.environ[a[1:]] if a.startswith("$") else a for a in args]  # secrets: from env
    print("nbrec: superset", args[0], args[1] if len(args) > 1 else "", flush=True)
    try:
        superset.main(args, obj=info, standalone_mode=False)
    except SystemExit as stop:
        if stop.code:
            raise
"""


def provision(home: BiHome, source: Path = BUNDLE) -> str:
    """Metadata schema, admin user, roles and the dashboard, idempotent: Superset's own
    commands (``db upgrade``, ``fab create-admin``, ``init``, ``import-dashboards``)."""
    settings = get_settings()
    commands = [
        ["db", "upgrade"],
        ["fab", "create-admin", "--username", settings.bi_user, "--firstname", "nbrec",
         "--lastname", "admin", "--email", "admin@localhost", "--password", "$NBREC_BI_PASSWORD"],
    ]  # fmt: skip
    stamp = home.path / ".initialised"
    if not stamp.is_file():  # roles and permissions: slow, and only new after an upgrade
        commands.append(["init"])
    commands.append(["import-dashboards", "--path", str(bundle(home, source)),
                     "--username", settings.bi_user])  # fmt: skip
    env = {**home.env(), "NBREC_BI_PASSWORD": settings.bi_password}  # not on a command line
    out = _run([str(home.bin / "python"), "-c", RUNNER, json.dumps(commands)],
               "provision Superset", env=env)  # fmt: skip
    stamp.touch()
    return out


def serve_command(home: BiHome, port: int, host: str = "127.0.0.1") -> list[str]:
    return [str(home.bin / "gunicorn"), "--bind", f"{host}:{port}", "--workers", "1",
            "--threads", "8", "--timeout", "120", "--worker-class", "gthread",
            "superset.app:create_app()"]  # fmt: skip


STEPS = ("install Superset", "write its config", "build the views", "provision the dashboard")


def prepare(
    home: BiHome | None = None, source: Path = BUNDLE, step: Callable[[str], None] | None = None
) -> tuple[BiHome, dict[str, float]]:
    """Everything before the server starts (``step`` is told each stage); seconds per stage."""
    home = home or BiHome.default()
    times: dict[str, float] = {}
    actions = (
        lambda: install(home),
        lambda: write_config(home),
        lambda: build_views(home),
        lambda: provision(home, source),
    )
    for name, action in zip(STEPS, actions, strict=True):
        if step:
            step(name)
        began = time.monotonic()
        action()
        times[name] = round(time.monotonic() - began, 1)
    return home, times


def _run(command: list[str], what: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0 or "error when importing" in done.stderr:
        tail = (done.stderr or done.stdout)[-3000:]
        raise RuntimeError(
            f"could not {what} ({Path(command[0]).name} exited {done.returncode}): {tail}"
        )
    return done.stdout + done.stderr
