"""The live product dashboard as one self-contained HTML page (``GET /dashboard``).

Charts are matplotlib figures (``nbrec.monitoring.product_plots``) inlined as SVG, styles are
inline: the page loads nothing from anywhere, so it works on a machine without internet. It is
a page from the first start: with no traffic yet it says what will appear and how to get there.
It reloads itself every REFRESH_SECONDS; "Refresh now" asks again at once.
"""

from __future__ import annotations

import html
import io
import math
from datetime import UTC, datetime

import pandas as pd

from nbrec.monitoring.live_data import ALL, DashboardData

REFRESH_SECONDS = 60
COLUMNS = {  # summary table: column -> (header, format)
    "model_version": ("model version", "{}"),
    "variant": ("variant", "{}"),
    "requests": ("requests", "{:,.0f}"),
    "users": ("users", "{:,.0f}"),
    "ctr": ("CTR", "{:.1%}"),
    "engagement": ("engagement", "{:.2f}"),
    "retention_d1": ("retention d1", "{:.1%}"),
    "retention_d7": ("retention d7", "{:.1%}"),
    "churn": ("churn", "{:.1%}"),
    "coverage": ("coverage", "{:.1%}"),
    "novelty": ("novelty (bits)", "{:.2f}"),
    "fallback_rate": ("fallback", "{:.1%}"),
    "latency_p99_ms": ("p99 ms", "{:.1f}"),
}
WHY_EMPTY = {
    "retention_d1": "day-1 retention needs a user's first day and the day after inside the range",
    "retention_d7": "day-7 retention needs 8 days of traffic inside the range",
    "churn": "churn needs users first seen at least 7 days before the end of the range",
}
STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1f2933;background:#f5f7fa}
header{background:#243b53;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;font-size:13px;color:#d9e2ec}main{padding:16px 24px;max-width:1400px}
form{display:flex;flex-wrap:wrap;gap:12px;align-items:end;background:#fff;padding:12px;border-radius:6px}
label{display:flex;flex-direction:column;font-size:12px;color:#52606d}
input,select,button{font-size:14px;padding:4px 6px}button{cursor:pointer}
section{background:#fff;border-radius:6px;padding:12px 16px;margin-top:16px}
h2{font-size:16px;margin:0 0 8px}.tiles{display:flex;gap:12px;flex-wrap:wrap}
.tile{background:#fff;border-radius:6px;padding:10px 16px;min-width:140px;margin-top:16px}
.tile b{display:block;font-size:22px}.tile span{font-size:12px;color:#52606d}
table{border-collapse:collapse;font-size:13px}td,th{padding:4px 8px;border-bottom:1px solid #e4e7eb;text-align:right}
td:first-child,th:first-child,td:nth-child(2),th:nth-child(2){text-align:left}
.note{font-size:13px;color:#52606d}.empty{border-left:4px solid #f0b429}
.chart svg{max-width:100%;height:auto}code{background:#f0f4f8;padding:1px 4px}
"""


def _svg(fig) -> str:
    """The figure as inline SVG (the XML prologue dropped), and the figure closed."""
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.find("<svg") :]


def _chart(title: str, fig, notes: list[str] | None = None) -> str:
    body = f'<div class="chart" role="img" aria-label="{html.escape(title)}">{_svg(fig)}</div>'
    notes_html = "".join(f'<p class="note">{html.escape(n)}</p>' for n in notes or [])
    return f"<section><h2>{html.escape(title)}</h2>{body}{notes_html}</section>"


def _cell(value, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    try:
        return html.escape(fmt.format(value))
    except (ValueError, TypeError):
        return html.escape(str(value))


def _table(frame: pd.DataFrame, columns: dict[str, tuple[str, str]]) -> str:
    shown = [c for c in columns if c in frame]
    head = "".join(f"<th>{html.escape(columns[c][0])}</th>" for c in shown)
    rows = "".join(
        "<tr>" + "".join(f"<td>{_cell(row[c], columns[c][1])}</td>" for c in shown) + "</tr>"
        for _, row in frame.iterrows()
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _options(values: list[str], chosen: str, everything: str) -> str:
    out = [f'<option value=""{" selected" if chosen == ALL else ""}>{everything}</option>']
    for value in values:
        mark = " selected" if value == chosen else ""
        out.append(f'<option value="{html.escape(value)}"{mark}>{html.escape(value)}</option>')
    return "".join(out)


def _form(data: DashboardData) -> str:
    f, c = data.filters, data.choices
    versions = sorted(c["model_version"].unique()) if not c.empty else []
    variants = sorted(c["variant"].unique()) if not c.empty else []
    first = str(c["first"].min())[:10] if not c.empty else ""
    last = str(c["last"].max())[:10] if not c.empty else ""
    start = f.start.isoformat() if f.start else ""
    end = f.end.isoformat() if f.end else ""
    return f"""<form method="get" action="dashboard" aria-label="filters">
<label>from<input type="date" name="start" value="{start}" min="{first}" max="{last}"></label>
<label>to<input type="date" name="end" value="{end}" min="{first}" max="{last}"></label>
<label>model version<select name="version">{_options(versions, f.version, "all versions")}</select></label>
<label>experiment variant<select name="variant">{_options(variants, f.variant, "all variants")}</select></label>
<button type="submit">Apply</button>
<button type="submit" name="refresh" value="1">Refresh now</button>
<a href="dashboard">reset</a>
<span class="note">logs cover {html.escape(first) or "nothing yet"}{" to " + html.escape(last) if last else ""}</span>
</form>"""


def _offline_section(data: DashboardData) -> str:
    offline = data.offline
    if offline.empty:
        return (
            "<section><h2>Offline leaderboard</h2><p class='note'>No registered model version yet: "
            "<code>nbrec train</code> registers one with its validation figures, shown here next "
            "to what it does online.</p></section>"
        )
    metric = offline["metric"].dropna()
    name = metric.iloc[0] if len(metric) else "metric"
    columns = {
        "model_version": ("model version", "{}"),
        "model": ("model", "{}"),
        "created": ("registered", "{}"),
        "offline": (f"validation {name}", "{:.4f}"),
        "popularity": (f"popularity {name}", "{:.4f}"),
    }
    return (
        "<section><h2>Offline leaderboard (registry, validation split)</h2>"
        + _table(offline, columns)
        + "</section>"
    )


def _empty_state(data: DashboardData) -> str:
    if data.choices.empty:
        return """<section class="empty"><h2>No traffic yet</h2>
<p>This page fills itself from the service's request/response logs and feedback events (and the
warehouse, once <code>nbrec ingest</code> has archived them). Per <b>model version</b> and
<b>experiment variant</b> it will show: requests and users, CTR (requests with a click),
engagement (feedback events per active user per day), day-1 and day-7 retention, churn,
catalogue coverage and novelty, fallback rate and p99 latency, each day by day, and the offline
leaderboard figures next to the online ones.</p>
<p>To see it fill: send a request, e.g. <code>curl -s -X POST localhost:3000/recommend -H
'Content-Type: application/json' -d '{"user_id": "u0001", "k": 5}'</code> (or try it in <a href="docs">the API docs</a>), then a
click to <code>/feedback</code>; or simulate users with <code>nbrec simulate --url
http://127.0.0.1:3000 --users 200 --requests 1000</code>. The page reloads every minute.</p>
</section>"""
    return """<section class="empty"><h2>No requests match these filters</h2>
<p>The logs hold traffic, but none in this date range for this version and variant. Widen the
dates or choose "all versions" / "all variants".</p></section>"""


def _charts(data: DashboardData) -> str:
    from nbrec.monitoring import product_plots as report_plots

    summary, daily = data.summary, data.daily
    parts = []
    parts.append(
        _chart(
            "Traffic and clicks per model version / variant",
            report_plots.metric_bars(
                summary, ["requests", "users", "ctr", "fallback_rate", "latency_p99_ms"], ""
            ),
        )
    )
    days = daily["day"].nunique()
    parts.append(
        _chart(
            "Day by day",
            report_plots.daily_lines(daily, ["requests", "ctr", "engagement"], ""),
            [f"{days} day(s) of traffic in the range: one point per day."] if days < 3 else [],
        )
    )
    people = ["engagement", "retention_d1", "retention_d7", "churn"]
    notes = [
        f"{col.replace('_', ' ')}: no figure — {WHY_EMPTY[col]}."
        for col in people
        if col in WHY_EMPTY and (col not in summary or summary[col].isna().all())
    ]
    parts.append(
        _chart(
            "Do people come back?",
            report_plots.metric_bars(summary, people, "", columns=4),
            notes,
        )
    )
    parts.append(
        _chart(
            "What gets recommended",
            report_plots.metric_bars(summary, ["coverage", "novelty"], "", columns=2),
        )
    )
    offline_cols = [c for c in data.comparison if c.startswith("offline")]
    if offline_cols and data.comparison[offline_cols[0]].notna().any():
        parts.append(
            _chart(
                "Offline leaderboard next to online",
                report_plots.offline_online(data.comparison, [(offline_cols[0], "ctr")], ""),
                [
                    "Offline: the version's validation figure recorded at registration; "
                    "online: its CTR in the range."
                ],  # fmt: skip
            )
        )
    else:
        parts.append(
            "<section><h2>Offline leaderboard next to online</h2><p class='note'>No offline "
            "figure for the versions in this range: they were published without "
            "<code>nbrec train</code> (e.g. <code>nbrec publish</code>), so the registry has no "
            "validation figure for them.</p></section>"
        )
    return "".join(parts)


def _tiles(data: DashboardData) -> str:
    s = data.summary
    requests = int(s["requests"].sum())
    ctr = float((s["ctr"] * s["requests"]).sum() / requests) if requests else float("nan")
    tiles = [
        ("requests", f"{requests:,}"),
        ("users (sum over groups)", f"{int(s['users'].sum()):,}"),
        ("CTR", _cell(ctr, "{:.1%}")),
        ("feedback events", f"{data.feedback_events:,}"),
        ("versions / variants", f"{len(s)}"),
    ]
    return '<div class="tiles">' + "".join(
        f'<div class="tile"><b>{value}</b><span>{html.escape(name)}</span></div>'
        for name, value in tiles
    ) + "</div>"  # fmt: skip


def render(data: DashboardData, source: str = "RR logs") -> str:
    """The whole page."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if data.has_traffic:
        body = (
            _tiles(data)
            + "<section><h2>Per model version and variant</h2>"
            + _table(data.summary, COLUMNS)
            + "</section>"
            + _charts(data)
        )
    else:
        body = _empty_state(data)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{REFRESH_SECONDS}">
<title>nbrec product dashboard</title><style>{STYLE}</style></head>
<body><header><h1>nbrec product dashboard</h1>
<p>From {html.escape(source)} with DuckDB · updated {now} · reloads every {REFRESH_SECONDS} s ·
<a style="color:#fff" href="docs">API docs</a></p></header>
<main>{_form(data)}{body}{_offline_section(data)}</main></body></html>"""


def render_error(filters_error: str) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>nbrec dashboard"
        f"</title><style>{STYLE}</style></head><body><header><h1>nbrec product dashboard</h1>"
        f"</header><main><section class='empty'><h2>Bad filter</h2><p>{html.escape(filters_error)}"
        "</p><p><a href='dashboard'>reset the filters</a></p></section></main></body></html>"
    )


def render_preparing() -> str:
    """Shown while the first page for a choice of filters is computed; reloads itself."""
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta http-equiv='refresh' content='3'><title>nbrec dashboard</title>"
        f"<style>{STYLE}</style></head><body><header><h1>nbrec product dashboard</h1></header>"
        "<main><section><h2>Preparing the dashboard</h2><p class='note'>The figures are being "
        "computed from the logs; this page reloads itself in 3 seconds.</p></section></main>"
        "</body></html>"
    )
