"""Application services: the one layer that combines the core with a store."""
