"""auditlog: a tamper-evident, event-sourced history of eval runs and CI gate verdicts."""

from auditlog.errors import (
    AuditLogError,
    Conflict,
    IntegrityError,
    InvalidInput,
    KeyFileError,
    LockTimeout,
    NotFound,
    ProofError,
    SignatureError,
    StorageError,
    UnexpectedLog,
    VerificationError,
)
from auditlog.evals.config import Bounds, ProjectConfig
from auditlog.services.log import AuditLog, write_run
from auditlog.services.verify import VerifyReport
from auditlog.services.writer import Receipt, Writer

__all__ = [
    "AuditLog", "AuditLogError", "Bounds", "Conflict", "IntegrityError", "InvalidInput", "KeyFileError",
    "LockTimeout", "NotFound", "ProjectConfig", "ProofError", "Receipt", "SignatureError", "StorageError",
    "UnexpectedLog", "VerificationError", "VerifyReport", "Writer", "write_run",
]
