"""Versions of installed packages, found by the names of `*.dist-info` / `*.egg-info` on sys.path.

importlib.metadata answers the same question, but importing it costs about 12 ms, and every
`auditlog append` would pay that: so the directories on sys.path are listed (about 1 ms), as
importlib.metadata does itself, and only the METADATA of a wanted package is read, for its
version. The first directory on sys.path that holds a package wins, as for an import, and in one
directory a `.dist-info` wins over an `.egg-info`, as in importlib.metadata.
tests/integration/test_packages.py checks that both agree.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable

from auditlog.evals.packages import distribution_of, normalize, version_header


def installed_versions(names: Iterable[str] | None, path: Iterable[str] | None = None) -> dict[str, str]:
    """{normalised name: version} of the packages in `names` found on `path` (default sys.path);
    every distribution found when `names` is None. Absent packages are left out."""
    wanted = None if names is None else {normalize(n) for n in names}
    found: dict[str, str] = {}
    for directory in dict.fromkeys(path if path is not None else sys.path):
        if not isinstance(directory, str):
            continue
        try:
            entries = sorted(os.listdir(directory or "."), key=lambda e: (e.endswith(".egg-info"), e))
        except OSError:  # a zip file, a missing directory: nothing installed there that we can list
            continue
        for entry in entries:
            dist = distribution_of(entry)
            if dist is None or dist[0] in found or (wanted is not None and dist[0] not in wanted):
                continue
            version = _version(os.path.join(directory or ".", entry)) or dist[1]
            if version:
                found[dist[0]] = version
    return found


def _version(location: str) -> str | None:
    """The Version header of the distribution's METADATA (dist-info) or PKG-INFO (egg-info, a
    directory or the file itself); None when unreadable."""
    candidates = (os.path.join(location, "METADATA"), os.path.join(location, "PKG-INFO"), location)
    for candidate in candidates:
        try:
            with open(candidate, encoding="utf-8", errors="replace") as file:
                return version_header(file.read(16384))
        except OSError:  # absent, or a directory
            continue
    return None
