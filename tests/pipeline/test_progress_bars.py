"""Progress bars at scale: shown on a terminal past ``PROGRESS_MIN_ROWS``, off otherwise.

The threshold is lowered in a child process whose stderr is a real pseudo-terminal, so the
bars of the snapshot, GX's validation, item-kNN's fit, scoring shards, publish (similar items,
write) and the read-back are seen as a user sees them on small data; under pytest (stderr not
a terminal) they stay off.
"""

from __future__ import annotations

import fcntl
import os
import struct
import subprocess
import sys
import termios
import textwrap

from nbrec.progress import bar

CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    import nbrec.progress
    from nbrec.data.synthetic import generate
    from nbrec.models import make_model
    from nbrec.pipeline import lifecycle, scoring, snapshot
    from nbrec.pipeline.publish import publish
    from nbrec.store import open_store
    from nbrec.validation import interactions_parameters
    from nbrec.validation.sampled import validate_interactions

    nbrec.progress.PROGRESS_MIN_ROWS = 50
    data = generate(users=60, items=30, interactions=600, seed=7)
    data.interactions.to_parquet(sys.argv[1] + "/interactions.parquet")
    snap = snapshot.take_snapshot(sys.argv[1], out_dir=sys.argv[1] + "/snapshots")
    validate_interactions(snap.interactions, interactions_parameters(), "bars", sys.argv[1])
    model = make_model("item_knn").fit(data.interactions)
    ranked = scoring.score_all(model, 10, shard_size=20, workers=2)
    url = f"sqlite:///{sys.argv[1]}/store.sqlite"
    publish(model, "v1", url, top_n=10, ranked=ranked)
    back = lifecycle.published_recs(open_store(url), "v1", ranked.user_ids, 5)
    assert len(back) == 5 * len(ranked.user_ids), len(back)
    print("DONE", flush=True)
    """
)


def test_bars_show_on_a_terminal_past_the_threshold(tmp_path):
    main, child = os.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # a width
    env = {**os.environ, "NBREC_VAR_DIR": str(tmp_path / "var")}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path)], stderr=child,
                            stdout=subprocess.PIPE, env=env, text=True)  # fmt: skip
    os.close(child)
    chunks = []
    while True:
        try:
            data = os.read(main, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    out = proc.stdout.read()
    assert proc.wait(timeout=300) == 0, b"".join(chunks).decode(errors="replace")[-3000:]
    os.close(main)
    err = b"".join(chunks).decode(errors="replace")
    assert "DONE" in out
    for desc in ("snapshot", "Calculating Metrics", "item_knn: neighbours", "score users",
                 "publish: similar items", "publish: write", "read back"):  # fmt: skip
        assert desc in err, f"no {desc!r} bar in: {err[-2000:]}"


def test_bars_stay_off_when_small_or_not_on_a_terminal():
    assert bar(range(3), size=10, desc="small").disable
    assert bar(range(3), size=10**9, desc="piped").disable  # pytest's stderr is no terminal
