"""One home for column names, defaults and seeds, shared by notebooks, flows and the service."""

USER_COL = "user_id"
ITEM_COL = "item_id"
TIMESTAMP_COL = "timestamp"
WEIGHT_COL = "weight"
EVENT_COL = "event_type"
SCORE_COL = "score"
RANK_COL = "rank"

INTERACTION_COLUMNS = (USER_COL, ITEM_COL, TIMESTAMP_COL, WEIGHT_COL, EVENT_COL)

DEFAULT_K = 10
DEFAULT_SEED = 42
DEFAULT_TEST_RATIO = 0.25
DEFAULT_VALIDATION_RATIO = 0.2

# MovieLens-style explicit ratings: an event counts as "liked" at or above this rating.
POSITIVE_RATING = 4.0

DATASET_NAMES = ("synthetic", "movielens-100k", "movielens-latest-small")

# Publishing: recommendations precomputed per user, and published versions kept for rollback
# (the live one plus the newest others) after a version goes live.
TOP_N = 100
VERSIONS_KEPT = 5
