"""Pure parsers from the files evaluation tools write to run documents (docs/ingest.md)."""

from auditlog.ingest.common import SourceFile, source_provenance
from auditlog.ingest.dispatch import KINDS, ingest
from auditlog.ingest.environment import split_environment
from auditlog.ingest.inspect_ai import parse_inspect
from auditlog.ingest.junit import parse_junit
from auditlog.ingest.lm_eval import parse_lm_eval

__all__ = ["KINDS", "SourceFile", "ingest", "parse_inspect", "parse_junit", "parse_lm_eval", "source_provenance",
           "split_environment"]
