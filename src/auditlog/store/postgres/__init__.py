"""The PostgreSQL backend: the store (store.py, which imports psycopg), its schema, triggers and
catalog check as SQL text (schema.py, catalog.py), error translation (errors.py) and locations
(location.py, which the CLI reads without loading psycopg). Importing this package loads nothing."""
