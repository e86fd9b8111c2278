"""C2SP tlog-tiles and tlog-cosignature, pure: the published form of the log, for the auditor.

Beside `auditlog.core` (which it may import, with `auditlog.errors`): standard library and
`cryptography` only, no I/O. `paths` names the files, `tiles` says what they hold, `cosignature`
is a witness's timestamped signature, `witness` is a witness's decision. Writing and reading
the files is `auditlog.services.publish` and `auditlog.services.published`.
"""
