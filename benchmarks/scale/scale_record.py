"""RESULTS.md and scale.png of the scale benchmark, from ``results/*.json``.

``results/<size>.json`` is the newest run of a size; ``keep`` moves the one it replaces to
``results/history/`` first, and every history record stays in the table as an older row.
"""

from __future__ import annotations

import json
import math
import os
import platform
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIZES = {  # users, items, events
    "small": (10_000, 5_000, 200_000),
    "medium": (100_000, 20_000, 2_000_000),
    "large": (1_000_000, 100_000, 20_000_000),
}
GOALS = {"small": None, "medium": (300, 8), "large": (1800, 16)}  # seconds, GiB


def keep(results: Path, size: str, result: dict) -> None:
    """Write ``result`` as the newest run of ``size``; the previous one goes to history/."""
    results.mkdir(parents=True, exist_ok=True)
    newest = results / f"{size}.json"
    if newest.is_file():
        old = json.loads(newest.read_text())
        if old.get("date") != result.get("date") or old.get("work") != result.get("work"):
            stamp = "".join(ch for ch in old.get("date", "old") if ch.isdigit())
            (results / "history").mkdir(exist_ok=True)
            newest.rename(results / "history" / f"{size}-{stamp}.json")
    newest.write_text(json.dumps(result, indent=2))


def exponent(a: dict, b: dict, key) -> float | None:
    """Growth exponent of a cost between two sizes, against the number of events."""
    ya, yb = key(a), key(b)
    if not ya or not yb:
        return None
    return math.log(yb / ya) / math.log(b["events"] / a["events"])


def cap_text(r: dict) -> str:
    return f"{r['cap_gib']:g} GiB" if r.get("cap_gib") else "none"


def goal_text(r: dict) -> str:
    """The goal and whether this run met it (time, memory and a completed run)."""
    goal, t = GOALS[r["size"]], r["train"]
    if not goal:
        return "-"
    met = t["returncode"] == 0 and t["seconds"] < goal[0] and (t["peak_rss_gib"] or 99) < goal[1]
    return f"< {goal[0] // 60} min, < {goal[1]} GiB: **{'met' if met else 'not met'}**"


def loads(values) -> str:
    return "/".join(f"{x:.1f}" for x in values) if values else "not recorded"


def fmt(value, spec: str = "{:.1f}") -> str:
    return spec.format(value) if isinstance(value, int | float) else "-"


def row(r: dict, label: str) -> str:
    t, a = r["train"], r.get("after", {})
    stages = ", ".join(f"{k} {v:.0f}" for k, v in t.get("stages", {}).items() if v == v)
    status = {0: "ok", 3: "rejected by the gate, exit 3"}.get(
        t["returncode"], f"FAILED (exit {t['returncode']})"
    )
    if t.get("seconds_from"):
        status += f"; {t['seconds_from']}"
    load = f"{loads(r['load_before'])} -> {loads(r['load_after'])}"
    return (
        f"| {r['size']} {label} | {r['users']:,} / {r['items']:,} / {r['events']:,} | "
        f"{t['seconds']:.0f} s ({status}) | {fmt(t['peak_rss_gib'], '{:.2f}')} GiB | "
        f"{cap_text(r)} | {stages} | {fmt(a.get('publish_sqlite_s'))} s | "
        f"{fmt(a.get('sqlite_bytes_per_user'), '{:.0f}')} | {fmt(a.get('publish_redis_s'))} s | "
        f"{fmt(a.get('redis_bytes_per_user'), '{:.0f}')} | "
        f"{fmt(a.get('scoring_users_per_s'), '{:,.0f}')} | {goal_text(r)} | {load} | {r['date']} |"
    )


def after_note(r: dict) -> str | None:
    """Where a row's after-training figures come from, when measured apart from its run."""
    a = r.get("after", {})
    if not a.get("date"):
        return None
    load, load_after = loads(a["load_before"]), loads(a["load_after"])
    return (f"After-training figures of the {r['size']} row of {r['date']}: `--after-only "
            f"{a['work']}` on "
            f"{a['date']} (load {load} -> {load_after}), on the model that run trained "
            f"({a.get('model')} {a.get('version')}, {a.get('users', 0):,} users): every user scored "
            f"once at top-{a.get('depth', 100)} on {a.get('threads', 1)} threads in "
            f"{fmt(a.get('scoring_s'), '{:.0f}')} s, then those arrays published into SQLite and "
            f"into Redis (each publish also builds the similar-items table); peak RSS "
            f"{fmt(a.get('peak_rss_gib'), '{:.2f}')} GiB.")  # fmt: skip


def record(results_dir: Path) -> None:
    """RESULTS.md and scale.png from results/*.json (and results/history/*.json)."""
    found = {p.stem: json.loads(p.read_text()) for p in sorted(results_dir.glob("*.json"))}
    history = [json.loads(p.read_text()) for p in sorted((results_dir / "history").glob("*.json"))]
    rows = [found[s] for s in SIZES if s in found]
    lines = [
        "# Scale benchmark: the whole pipeline at three sizes",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, 24 GiB shared by ~8 engineers; "
        f"Python {platform.python_version()}. Load average (1/5/15 min) before and after each "
        "run is recorded: the 2 cores were shared, so times are upper bounds.",
        "",
        "Command per size: `python benchmarks/scale/bench_scale.py --size SIZE [--cap-gib CAP] "
        "--record` (data from `nbrec data generate --seed 7`, or `--data DIR`; `nbrec train "
        '--dataset DIR --notebooks "" --model auto` with its defaults, under `prlimit --as=CAP` '
        'when a cap is given: cap "none" is the run as a user runs it). The newest run of each '
        "size comes first; older runs (history) follow it.",
        "",
        "| size | users / items / events | train wall | train peak RSS | cap | stages (s) | "
        "publish SQLite | SQLite B/user | publish Redis | Redis B/user | scoring users/s | "
        "goal | load before/after | date |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for size in SIZES:
        if size in found:
            lines.append(row(found[size], "(newest)"))
        older = [h for h in history if h["size"] == size]
        lines += [row(h, "(history)") for h in sorted(older, key=lambda h: h["date"], reverse=True)]
    lines += ["", *(note for r in rows + history if (note := after_note(r)))]
    for size in SIZES:
        als = found.get(f"als-{size}")
        if als:
            lines += ["", f"ALS alone at the {size} size ({als['interactions']:,} interactions, "
                      f"in process, `--size {size} --als-fit`): fit "
                      f"{als['als_fit_s']:.0f} s (goal at large: < 300 s)"
                      + (f" in {als['iterations']} iterations" if als.get("iterations") else "")
                      + f", peak RSS {als['peak_rss_gib']:.1f} GiB including the data; data "
                      f"({als.get('data', 'generated')}) {als['generate_s']:.0f} s; load "
                      + (f"{'/'.join(f'{x:.1f}' for x in als['load_before'])} -> "
                         if als.get("load_before") else "")
                      + f"{'/'.join(f'{x:.1f}' for x in als['load'])}, {als['date']}."]  # fmt: skip
    done = {s: r for s, r in found.items() if s in SIZES and r["train"]["returncode"] == 0}
    for small, big in (("medium", "large"), ("small", "medium")):
        if small in done and big in done:
            e = exponent(done[small], done[big], lambda r: r["train"]["seconds"])
            lines += ["", f"Time growth exponent {small} -> {big}, newest runs (against events): "
                      f"{e:.2f}" + (" (goal <= 1.2)." if big == "large" else ".")]  # fmt: skip
    # Hand-written parts, kept across --record: notes, the store at 1M users, the foundation.
    parts = [
        (HERE / name).read_text() for name in ("notes.md", "store.md") if (HERE / name).is_file()
    ]
    foundation = HERE / "foundation.md"
    if foundation.is_file():
        parts.append(foundation.read_text().replace("# ", "## ", 1))
    (HERE / "RESULTS.md").write_text("\n".join(lines) + "\n\n" + "\n".join(parts))
    plot(rows)


def plot(rows: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in rows if r["train"]["returncode"] == 0]
    if not done:
        return
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    events = [r["events"] for r in done]
    left.loglog(events, [r["train"]["seconds"] for r in done], "o-", label="nbrec train (s)")
    left.loglog(events, [r["train"]["peak_rss_gib"] * 100 for r in done], "s--",
                label="peak RSS (GiB x 100)")  # fmt: skip
    for size, (seconds, _gib) in ((s, g) for s, g in GOALS.items() if g):
        left.plot([SIZES[size][2]], [seconds], "k*")
        left.annotate(f"{size} goal", (SIZES[size][2], seconds))
    left.set_xlabel("events")
    left.legend()
    last = done[-1]
    stages = {k: v for k, v in last["train"].get("stages", {}).items() if v == v}
    right.barh(list(stages), list(stages.values()))
    right.set_xlabel(f"seconds per stage, {last['size']} size")
    fig.suptitle("nbrec cost against size")
    fig.tight_layout()
    fig.savefig(HERE / "scale.png", dpi=100)
