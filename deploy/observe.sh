#!/usr/bin/env bash
# `make observe`: Prometheus (rules, alerts) and Alertmanager on this machine, scraping the nbrec
# service (start it first: `make serve` / `nbrec serve`). Ctrl-C stops both.
#   SERVICE=host:port   the service to scrape (default localhost:3000)
#   PROM_PORT / AM_PORT  web ports (default 9090 / 9093)
# Alertmanager's receivers come from ALERTMANAGER_* variables; unset ones get harmless local
# values (--dev), so alerts show up in its UI but go nowhere. State: OBSERVE_DIR (var/observe).
set -euo pipefail
cd "$(dirname "$0")/.."
SERVICE="${SERVICE:-localhost:3000}"
PROM_PORT="${PROM_PORT:-9090}"
AM_PORT="${AM_PORT:-9093}"
PY="${PY:-.venv/bin/python}"
OUT="${OBSERVE_DIR:-var/observe}"

prometheus_bin=$(command -v prometheus || true)
alertmanager_bin=$(command -v prometheus-alertmanager || command -v alertmanager || true)
if [[ -z "$prometheus_bin" || -z "$alertmanager_bin" ]]; then
  echo "observe: needs prometheus and alertmanager: apt-get install prometheus prometheus-alertmanager" >&2
  exit 1
fi

mkdir -p "$OUT/rules"
cp deploy/prometheus/rules/*.yml "$OUT/rules/"
sed -e "s/localhost:3000/$SERVICE/" -e "s/localhost:9093/localhost:$AM_PORT/" \
  deploy/prometheus/prometheus.yml >"$OUT/prometheus.yml"
"$PY" -m nbrec.monitoring.alerting render deploy/alertmanager/alertmanager.yml \
  "$OUT/alertmanager.yml" --dev >/dev/null

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait; }
trap cleanup EXIT INT TERM

"$alertmanager_bin" --config.file="$OUT/alertmanager.yml" --storage.path="$OUT/alertmanager" \
  --web.listen-address="127.0.0.1:$AM_PORT" --cluster.listen-address= >"$OUT/alertmanager.log" 2>&1 &
pids+=($!)
"$prometheus_bin" --config.file="$OUT/prometheus.yml" --storage.tsdb.path="$OUT/prometheus" \
  --web.listen-address="127.0.0.1:$PROM_PORT" >"$OUT/prometheus.log" 2>&1 &
pids+=($!)

echo "Prometheus   http://127.0.0.1:$PROM_PORT  (alerts: /alerts, targets: /targets)"
echo "Alertmanager http://127.0.0.1:$AM_PORT"
echo "scraping     http://$SERVICE/metrics   logs: $OUT/*.log   Ctrl-C to stop"
wait -n
echo "observe: a server exited; see $OUT/prometheus.log and $OUT/alertmanager.log" >&2
exit 1
