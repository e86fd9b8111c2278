"""Who appended and where a run was made, read from the CI's environment variables.

Captured, not trusted: these values are whatever the writer's environment said.
Pure functions of a mapping, so that the same environment always gives the same record.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# (system name, variable that marks it, {field: variable})
_CI_SYSTEMS = (
    ("github-actions", "GITHUB_ACTIONS", {
        "repository": "GITHUB_REPOSITORY", "workflow": "GITHUB_WORKFLOW", "job": "GITHUB_JOB",
        "run_id": "GITHUB_RUN_ID", "run_attempt": "GITHUB_RUN_ATTEMPT", "commit": "GITHUB_SHA",
        "ref": "GITHUB_REF_NAME", "user": "GITHUB_ACTOR",
    }),
    ("gitlab-ci", "GITLAB_CI", {
        "repository": "CI_PROJECT_PATH", "pipeline": "CI_PIPELINE_ID", "job": "CI_JOB_NAME",
        "run_id": "CI_JOB_ID", "commit": "CI_COMMIT_SHA", "ref": "CI_COMMIT_REF_NAME",
        "user": "GITLAB_USER_LOGIN",
    }),
)


def ci_from_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """The CI system and its job coordinates, or {} outside a known CI."""
    for system, marker, fields in _CI_SYSTEMS:
        if environ.get(marker):
            found = {name: environ[var] for name, var in fields.items() if environ.get(var)}
            return {"system": system, **found}
    if environ.get("CI"):
        return {"system": "unknown"}
    return {}


def actor_from_environ(environ: Mapping[str, str], *, user: str | None) -> dict[str, Any]:
    """The `actor` of an event: the CI job when there is one, else the local user.

    `AUDITLOG_ACTOR` overrides the user name (a bot account, a service).
    """
    actor: dict[str, Any] = dict(ci_from_environ(environ))
    name = environ.get("AUDITLOG_ACTOR") or actor.get("user") or user
    if name:
        actor["user"] = name
    return actor
