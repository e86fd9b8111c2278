"""The eval domain, pure: run and verdict documents, gate policy, statistics, provenance. No I/O.

What the statistician reads, as `auditlog.core` is what the auditor reads. The same
contract holds: standard library (and auditlog.core, auditlog.errors) only, nothing
that stores, serves or renders.
"""
