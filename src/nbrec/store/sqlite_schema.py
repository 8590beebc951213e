"""The SQLite store's tables and the request path's statements."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (version TEXT PRIMARY KEY, created REAL, complete INTEGER,
                                     info BLOB);
CREATE TABLE IF NOT EXISTS live (id INTEGER PRIMARY KEY CHECK (id = 1), version TEXT);
CREATE TABLE IF NOT EXISTS live_history (seq INTEGER PRIMARY KEY AUTOINCREMENT, version TEXT);
CREATE TABLE IF NOT EXISTS kv (version TEXT, kind TEXT, key TEXT, value BLOB,
                               PRIMARY KEY (version, kind, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS seen (user_id TEXT, item_id TEXT, seq INTEGER,
                                 PRIMARY KEY (user_id, item_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS seen_recent ON seen (user_id, seq);
CREATE TABLE IF NOT EXISTS counters (namespace TEXT, arm TEXT, pulls INTEGER, rewards REAL,
                                     PRIMARY KEY (namespace, arm)) WITHOUT ROWID;
"""
# A user's recently seen items, newest first.
SEEN = "SELECT item_id FROM seen WHERE user_id = ? ORDER BY seq DESC LIMIT ?"
# The request path's one statement: the user's top-N list (tag 0) and recently seen items
# (tag 1, newest first), read in one transaction. SQLite runs a UNION ALL's parts in order and
# keeps the subquery's order: no sort of the whole result (an outer ORDER BY cost ~15% of the
# statement; the store contract tests pin the order).
VIEW = (
    "SELECT 0, value FROM kv WHERE version = ? AND kind = 'recs' AND key = ? "
    "UNION ALL SELECT * FROM (SELECT 1, item_id FROM seen WHERE user_id = ? "
    "ORDER BY seq DESC LIMIT ?)"
)
