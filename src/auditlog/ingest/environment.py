"""The environment an eval was made in, as its harness wrote it in the file.

An ingested run was made elsewhere (a GPU box, another CI job): the machine that ingests it
is not where its numbers came from, so its environment is what the file says, marked
`recorded_by: <tool>`; an environment captured on the appending machine says
`recorded_by: auditlog`. The writer records it as it records a captured one: filled in, not
part of the submitted document, so that re-ingesting a file recorded by an older auditlog
(without these fields), or by a later one that reads more of the file, is a retry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from auditlog.evals.packages import normalize

LM_EVAL = "lm-eval"
INSPECT_AI = "inspect_ai"

# torch.utils.collect_env's lines in lm-eval's `pretty_env_info`: "[pip3] torch==2.3.1"
_PIP_LINE = re.compile(r"^\[pip3?\] ([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)\s*$", re.MULTILINE)
_PYTHON_LINE = re.compile(r"^Python version: (\d+\.\d+(?:\.\d+)?)", re.MULTILINE)


def lm_eval_environment(data: Mapping[str, Any]) -> dict[str, Any]:
    """Package versions from an lm-eval results file: `lm_eval_version` (0.4.9 and later),
    `transformers_version` (0.4.2 and later) and the `[pip3]` lines of `pretty_env_info` (torch,
    numpy, triton...), and the Python version it names. The top-level fields win over the list."""
    packages: dict[str, str] = {}
    info = data.get("pretty_env_info")
    env: dict[str, Any] = {"recorded_by": LM_EVAL}
    if isinstance(info, str):
        packages.update((normalize(name), version) for name, version in _PIP_LINE.findall(info))
        python = _PYTHON_LINE.search(info)
        if python:
            env["python"] = python.group(1)
    for key, name in (("transformers_version", "transformers"), ("lm_eval_version", "lm-eval")):
        if isinstance(data.get(key), str) and data[key].strip():
            packages[name] = data[key].strip()
    if packages:
        env["packages"] = dict(sorted(packages.items()))
    return env


def inspect_environment(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Package versions from an inspect_ai log's `eval.packages` ({"inspect_ai": "0.3.41"}; inspect
    writes no other environment)."""
    env: dict[str, Any] = {"recorded_by": INSPECT_AI}
    listed = spec.get("packages")
    if isinstance(listed, Mapping):
        packages = {normalize(str(name)): value for name, value in listed.items()
                    if isinstance(value, str) and value.strip()}
        if packages:
            env["packages"] = dict(sorted(packages.items()))
    return env


def split_environment(doc: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(the document to submit, the environment the file says): hand both to `AuditLog.record_run(doc,
    environment=...)`, which records that environment without making it part of the submitted document."""
    environment = doc.get("environment")
    if not isinstance(environment, dict):  # absent (junit: captured), or wrong and left for validation to name
        return dict(doc), None
    return {k: v for k, v in doc.items() if k != "environment"}, environment
