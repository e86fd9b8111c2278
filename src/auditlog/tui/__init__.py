"""The terminal UI (`auditlog tui`): browse runs, inspect and compare them, watch trends, verify the chain.

A thin shell: `data/` asks the projections' query API and the AuditLog read/verify
API (no SQL, no textual), `screens/` and `widgets/` show the answers with Textual.
Only the `auditlog tui` command imports this package, and only when it runs, so the
rest of the CLI never pays for textual.
"""
