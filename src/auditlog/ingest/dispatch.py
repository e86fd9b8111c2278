"""One entry point for the CLI: `ingest(kind, sources, ...)` picks the parser.

The caller reads the files (this package does no I/O) and appends the returned
document; a malformed file raises InvalidInput before anything is appended.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from auditlog.errors import InvalidInput
from auditlog.ingest.common import Progress, SourceFile, read_by
from auditlog.ingest.inspect_ai import parse_inspect
from auditlog.ingest.junit import parse_junit
from auditlog.ingest.lm_eval import parse_lm_eval

KINDS = ("lm-eval", "inspect", "junit")
_ALIASES = {"lm_eval": "lm-eval", "lm-evaluation-harness": "lm-eval", "inspect_ai": "inspect", "inspect-ai": "inspect",
            "junit-xml": "junit"}
_OPTIONS = {"lm-eval": {"primary_metric", "sample_tasks"}, "inspect": {"scorer", "allow_incomplete"}, "junit": set()}


def ingest(kind: str, sources: Sequence[SourceFile], *, project_id: str | None = None, model_id: str | None = None,
           run_id: str | None = None, tags: Mapping[str, str] | None = None, progress: Progress = None,
           **options: Any) -> dict[str, Any]:
    """A run document from the files of one run.

    lm-eval: the results JSON first, then any per-sample files (options: primary_metric,
    sample_tasks). inspect: one log, .json or .eval (options: scorer, allow_incomplete).
    junit: one XML report (project_id and model_id required). `progress(done, total)` is told the
    bytes parsed so far where a format is parsed piece by piece (lm-eval's sample files, .eval members).
    """
    kind = _ALIASES.get(kind, kind)
    if kind not in KINDS:
        raise InvalidInput("kind", f"must be one of {', '.join(KINDS)}, not {kind!r}")
    unknown = sorted(set(options) - _OPTIONS[kind])
    if unknown:
        raise InvalidInput(unknown[0], f"is not an option of {kind} ingest (options: "
                                       f"{', '.join(sorted(_OPTIONS[kind])) or 'none'})")
    if not sources:
        raise InvalidInput("sources", "no file given")
    common: dict[str, Any] = {"project_id": project_id, "model_id": model_id, "run_id": run_id, "tags": tags}
    if kind != "lm-eval" and len(sources) != 1:
        raise InvalidInput("sources", f"{kind} ingest reads one file per run, not {len(sources)}")
    try:
        if kind == "lm-eval":
            return parse_lm_eval(sources[0], sources[1:], **common, progress=progress, **options)
        if kind == "inspect":
            return parse_inspect(sources[0], **common, progress=progress, **options)
        return parse_junit(sources[0], **common, **options)
    except InvalidInput as error:
        hint = read_by(sources[0], kind) if error.field.startswith(sources[0].name) else ""
        if not hint:
            raise
        raise InvalidInput(error.field, error.reason + hint) from None
