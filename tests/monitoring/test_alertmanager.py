"""Alertmanager config: rendered from the environment, checked and routed by the real amtool."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

from nbrec.monitoring.alerting import DEV_VALUES, main, placeholders, render, render_file
from tests.conftest import ROOT
from tests.store.redis_server import require_binary

TEMPLATE = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
REAL = {
    "ALERTMANAGER_PAGERDUTY_ROUTING_KEY": "R0UT1NGKEY0123456789abcdef012345",
    "ALERTMANAGER_SLACK_WEBHOOK_URL": "https://hooks.slack.invalid/services/T000/B000/XXXX",
    "ALERTMANAGER_SLACK_CHANNEL": "#recsys-alerts",
    "ALERTMANAGER_EMAIL_TO": "recsys-team@example.org",
    "ALERTMANAGER_EMAIL_FROM": "alertmanager@example.org",
    "ALERTMANAGER_SMTP_SMARTHOST": "smtp.example.org:587",
    "ALERTMANAGER_SMTP_USERNAME": "alertmanager",
    "ALERTMANAGER_SMTP_PASSWORD": "s3cret-pa55",
}


def amtool(*args: str) -> subprocess.CompletedProcess:
    binary = require_binary("amtool", "prometheus-alertmanager")
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60)


@pytest.fixture
def rendered(tmp_path) -> Path:
    return render_file(TEMPLATE, tmp_path / "alertmanager.yml", env=REAL)


def test_rendered_config_passes_amtool_and_keeps_secrets_private(rendered):
    result = amtool("check-config", str(rendered))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 receivers" in result.stdout
    text = rendered.read_text()
    assert REAL["ALERTMANAGER_SMTP_PASSWORD"] in text and "${" not in text
    assert stat.S_IMODE(rendered.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        (["severity=critical"], "pagerduty,slack"),
        (["severity=warning"], "slack"),
        (["severity=info"], "email"),
        (["alertname=NbrecEmptyRecommendationsHigh", "severity=critical"], "pagerduty,slack"),
    ],
)
def test_routes_by_severity(rendered, labels, receivers):
    result = amtool("config", "routes", "test", f"--config.file={rendered}", *labels)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == receivers


def test_dev_rendering_for_make_observe_is_valid(tmp_path):
    out = render_file(TEMPLATE, tmp_path / "am.yml", env={}, dev=True)
    assert amtool("check-config", str(out)).returncode == 0


def test_amtool_rejects_a_broken_config(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(
        render(TEMPLATE.read_text(), REAL).replace("receiver: email", "receiver: fax")
    )
    result = amtool("check-config", str(broken))
    assert result.returncode != 0
    assert "fax" in result.stdout + result.stderr


def test_a_missing_variable_is_named_and_nothing_is_written(tmp_path, capsys, monkeypatch):
    env = {k: v for k, v in REAL.items() if k != "ALERTMANAGER_SLACK_WEBHOOK_URL"}
    with pytest.raises(KeyError, match="ALERTMANAGER_SLACK_WEBHOOK_URL"):
        render_file(TEMPLATE, tmp_path / "out.yml", env=env)
    assert not (tmp_path / "out.yml").exists()
    for name in DEV_VALUES:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main(["render", str(TEMPLATE), str(tmp_path / "out.yml")])
    assert exit_info.value.code == 2
    assert "ALERTMANAGER_PAGERDUTY_ROUTING_KEY" in capsys.readouterr().err


def test_dev_values_cover_every_placeholder():
    assert placeholders(TEMPLATE.read_text()) == set(DEV_VALUES)
