"""Render the Alertmanager config template with receivers and secrets from the environment.

``deploy/alertmanager/alertmanager.yml`` holds ``${NAME}`` placeholders (envsubst syntax, via
``string.Template``). Unlike envsubst, a placeholder left unset is an error that names it, so a
half-configured Alertmanager never starts and silently drops pages.

    python -m nbrec.monitoring.alerting render TEMPLATE OUT [--dev]
"""

from __future__ import annotations

import argparse
import os
import string
from collections.abc import Mapping
from pathlib import Path

# Harmless local values for `make observe`: notifications go nowhere (port 9 is "discard").
DEV_VALUES = {
    "ALERTMANAGER_PAGERDUTY_ROUTING_KEY": "dev-routing-key-not-a-secret",
    "ALERTMANAGER_SLACK_WEBHOOK_URL": "http://127.0.0.1:9/slack-webhook",
    "ALERTMANAGER_SLACK_CHANNEL": "#nbrec-alerts",
    "ALERTMANAGER_EMAIL_TO": "oncall@localhost",
    "ALERTMANAGER_EMAIL_FROM": "alertmanager@localhost",
    "ALERTMANAGER_SMTP_SMARTHOST": "127.0.0.1:25",
    "ALERTMANAGER_SMTP_USERNAME": "alertmanager",
    "ALERTMANAGER_SMTP_PASSWORD": "dev-password-not-a-secret",
}


def placeholders(text: str) -> set[str]:
    """The ``${NAME}`` names a template uses."""
    return {
        match.group("braced") or match.group("named")
        for match in string.Template.pattern.finditer(text)
        if match.group("braced") or match.group("named")
    }


def render(template: str, env: Mapping[str, str], dev: bool = False) -> str:
    """Fill the template from ``env`` (with ``DEV_VALUES`` underneath when ``dev``)."""
    values = {**DEV_VALUES, **env} if dev else dict(env)
    missing = sorted(name for name in placeholders(template) if not values.get(name))
    if missing:
        raise KeyError(
            f"Alertmanager config needs {', '.join(missing)} in the environment; export them "
            "(see README, Operations and monitoring), or render with --dev for local receivers"
        )
    return string.Template(template).substitute(values)


def render_file(
    template: Path, out: Path, env: Mapping[str, str] | None = None, dev: bool = False
) -> Path:
    """Render ``template`` into ``out`` (mode 0600: it holds secrets); return ``out``."""
    text = render(template.read_text(), os.environ if env is None else env, dev=dev)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.touch(mode=0o600, exist_ok=True)
    out.chmod(0o600)
    out.write_text(text)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m nbrec.monitoring.alerting", description=__doc__
    )
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("render", help="render the Alertmanager config template")
    cmd.add_argument("template", type=Path)
    cmd.add_argument("out", type=Path)
    cmd.add_argument("--dev", action="store_true", help="fill unset values with local dummies")
    args = parser.parse_args(argv)
    try:
        print(render_file(args.template, args.out, dev=args.dev))
    except KeyError as exc:
        parser.exit(2, f"error: {exc.args[0]}\n")


if __name__ == "__main__":
    main()
