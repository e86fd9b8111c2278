"""The embedded default backend: one SQLite file (store.py), its schema and migrations (schema.py)."""
