"""Use cases that need the services and the projections together; the CLI and the TUI call these."""
