"""One-off operations on the tables: the backfill (ARCHITECTURE §8)."""
