"""Object stores on 127.0.0.1, started by the tests: Azurite (Azure Blob, from npm), moto's S3
server and gcp-storage-emulator (Google Cloud Storage), both from PyPI. Each is skipped, saying why,
only where it is not installed, and never in CI.

Azurite is looked for in $AZURITE_HOME/node_modules/.bin (default: .ci/node in the checkout,
where .ci/run installs it with `npm install --prefix .ci/node azurite`), then on $PATH.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, what: str) -> None:
    """Until the server accepts connections (or exits, or 60 s pass: then skip, saying so)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on port {port}")


@contextlib.contextmanager
def server(command: list[str], port: int, what: str, log: Path) -> Iterator[None]:
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, process, what)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def unavailable(reason: str) -> None:
    """Skip, saying why, on a developer's machine; fail in CI ($CI set), where .ci/run installs both
    servers: a skip there would hide a broken install step."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run these tests)")
    pytest.skip(reason)


def azurite_binary() -> str | None:
    home = Path(os.environ.get("AZURITE_HOME", ROOT / ".ci" / "node"))
    local = home / "node_modules" / ".bin" / "azurite-blob"
    return str(local) if local.exists() else shutil.which("azurite-blob")


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A connection string for a fresh Azurite on a free port."""
    binary = azurite_binary()
    if binary is None:
        unavailable("Azurite is not installed: `npm install --prefix .ci/node azurite` (as .ci/run does)")
    port = free_port()
    data = tmp_path_factory.mktemp("azurite")
    command = [binary, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(data),
               "--skipApiVersionCheck", "--loose", "--silent"]
    with server(command, port, "azurite", data / "azurite.log"):
        yield (f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};"
               f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;")


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a fresh moto S3 server on a free port."""
    try:
        import moto.server  # noqa: F401
    except ImportError:
        unavailable("moto's server is not installed: pip install 'moto[server]' (in the test extras)")
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with server([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], port, "moto", log):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The address of a fresh Google Cloud Storage emulator (gcp-storage-emulator, from PyPI: the JSON
    API that Google's C++ client in pyarrow speaks) on a free port, keeping its objects in memory."""
    try:
        import gcp_storage_emulator  # noqa: F401
    except ImportError:
        unavailable("gcp-storage-emulator is not installed: pip install gcp-storage-emulator (in the test extras)")
    port = free_port()
    log = tmp_path_factory.mktemp("gcs") / "gcs.log"
    with server([sys.executable, "-m", "gcp_storage_emulator", "start", "--host", "127.0.0.1", "--port", str(port),
                 "--in-memory"], port, "gcp-storage-emulator", log):
        yield f"http://127.0.0.1:{port}"
