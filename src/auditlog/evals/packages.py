"""Which installed packages decide a result, and how their names and versions are read.

A run's score depends on the eval harness and the model libraries as much as on the model:
the same checkpoint scores differently under another lm-eval or transformers. Pure: names
and directory names in, names and versions out (services/packages.py looks on disk).
"""

from __future__ import annotations

import re

from auditlog.errors import InvalidInput

ENV_VARIABLE = "AUDITLOG_CAPTURE_PACKAGES"

# The harnesses, the model and serving libraries, the API clients, and auditlog itself.
# Names as PEP 503 normalises them; absent packages are simply not recorded.
DEFAULT_PACKAGES = (
    "auditlog-evals",
    "lm-eval", "inspect-ai", "evalsig",
    "torch", "transformers", "vllm", "sglang", "accelerate", "peft", "tokenizers", "datasets",
    "huggingface-hub", "jax", "tensorflow", "numpy",
    "openai", "anthropic", "litellm", "google-genai", "mistralai",
)

_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?\Z")
_SEPARATORS = re.compile(r"[-_.]+")


def normalize(name: str) -> str:
    """PEP 503: lower case, runs of `-`, `_` and `.` as one `-` ("Inspect_AI" -> "inspect-ai")."""
    return _SEPARATORS.sub("-", name).lower()


def selection(spec: str | None) -> tuple[str, ...]:
    """The packages to record, from $AUDITLOG_CAPTURE_PACKAGES: unset, the default list; "a,b" that
    list instead; "+a,b" the default and these; "" or "none", none. Names are checked (PEP 508)."""
    if spec is None:
        return DEFAULT_PACKAGES
    text = spec.strip()
    if text.lower() in ("", "none"):
        return ()
    extend = text.startswith("+")
    names = []
    for position, part in enumerate(text.removeprefix("+").split(","), start=1):
        name = part.strip()
        if not _NAME.match(name):
            raise InvalidInput(ENV_VARIABLE, f"name {position} ({name!r}) is not a package name "
                                             "(comma-separated names, e.g. 'lm-eval,torch' or '+my-harness')")
        names.append(normalize(name))
    chosen = (*DEFAULT_PACKAGES, *names) if extend else tuple(names)
    return tuple(dict.fromkeys(chosen))


def distribution_of(entry: str) -> tuple[str, str | None] | None:
    """(normalised name, version or None) from a `*.dist-info` or `*.egg-info` name on sys.path, the way
    importlib.metadata finds distributions; None for any other name.

    `name-1.0.dist-info`; `name-1.0-py3.11.egg-info`; `name.egg-info` (a development install:
    no version in the name, the caller reads PKG-INFO)."""
    if entry.endswith(".dist-info"):
        stem = entry[:-len(".dist-info")]
        name, dash, version = stem.rpartition("-")  # names escape "-" as "_"; versions have none
        return (normalize(name), version) if dash and name and version else None
    if entry.endswith(".egg-info"):
        parts = entry[:-len(".egg-info")].split("-")
        if not parts[0]:
            return None
        return normalize(parts[0]), (parts[1] if len(parts) > 1 and parts[1] else None)
    return None


def version_header(metadata: str) -> str | None:
    """The `Version:` of a METADATA or PKG-INFO text (its headers end at the first blank line)."""
    for line in metadata.splitlines():
        if not line.strip():
            return None
        key, colon, value = line.partition(":")
        if colon and key.strip().lower() == "version" and value.strip():
            return value.strip()
    return None
