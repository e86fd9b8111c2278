"""Publishing to Azure Blob Storage (Azurite) and S3 (moto's server), checked as for a directory."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from auditlog.errors import InvalidInput
from auditlog.services.targets import azure_settings, open_target, parse_uri, s3_settings
from tests.integration.cli_support import clean_env, cli
from tests.publish import spec_verifier
from tests.publish.publish_support import keygen, make_log


def publish_verify_forge(tmp_path: Path, uri: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "evals.db"
    make_log(db, 299)
    key, vkey = keygen(tmp_path)
    first = cli("publish", "--log", db, "--to", uri, "--key", key, env=env)
    assert first.code == 0, first
    make_log(db, 5, start=299)
    second = cli("publish", "--log", db, "--to", uri, "--key", key, "-o", "json", env=env)
    assert second.code == 0, second
    assert "tile/0/000" not in second.json()["written"]
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    target = open_target(uri)
    size, _ = spec_verifier.check(Path("/nonexistent"), vkey, read=lambda name: target.read(name) or b"")
    assert size == 305
    assert cli("verify", "--from", uri, "--vkey", vkey, env=env).code == 0
    assert_served_headers(target)
    assert cli("history", "--from", uri, "--vkey", vkey, "--project", "mmlu-pro", "-o", "json", env=env).code == 0
    tile = bytearray(target.read("tile/0/000") or b"")
    tile[7] ^= 1
    target.write("tile/0/000", bytes(tile))
    forged = cli("verify", "--from", uri, "--vkey", vkey, env=env)
    assert forged.code == 1 and "tile/0/000" in forged.err, forged


def stored_headers(target: Any, name: str) -> dict[str, str]:
    """The HTTP headers the store keeps with an object (what it serves on GET)."""
    with target.fs.open_input_stream(target._path(name)) as stream:
        return {k: v.decode() for k, v in stream.metadata().items() if k in ("Content-Type", "Cache-Control")}


def assert_served_headers(target: Any) -> None:
    """tlog-tiles: tiles and bundles are immutable (cache them for good); the checkpoint and the
    files that change with it must be asked for again."""
    forever = "public, max-age=31536000, immutable"
    parquet = next(name for name in (target.read("projections/state.json") or b"").decode().split('"')
                   if name.endswith(".parquet"))
    assert stored_headers(target, "checkpoint") == {"Content-Type": "text/plain; charset=utf-8",
                                                   "Cache-Control": "no-cache"}
    assert stored_headers(target, "projections/signed-state")["Cache-Control"] == "no-cache"
    assert stored_headers(target, "projections/manifest.json") == {"Content-Type": "application/json",
                                                                   "Cache-Control": "no-cache"}
    for name in ("tile/0/000", "tile/0/001.p/49", "tile/entries/000"):
        assert stored_headers(target, name) == {"Content-Type": "application/octet-stream", "Cache-Control": forever}
    assert stored_headers(target, f"projections/{parquet}") == {"Content-Type": "application/vnd.apache.parquet",
                                                              "Cache-Control": forever}


def test_azure_blob_on_azurite(azurite, tmp_path, monkeypatch):
    env = clean_env(AZURE_STORAGE_CONNECTION_STRING=azurite)
    publish_verify_forge(tmp_path, "az://evals/team/history", env, monkeypatch)  # the container is created


def test_s3_on_moto(s3_endpoint, tmp_path, monkeypatch):
    env = clean_env(AWS_ENDPOINT_URL=s3_endpoint, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                    AWS_DEFAULT_REGION="us-east-1")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    publish_verify_forge(tmp_path, "s3://evals-bucket/team", env, monkeypatch)  # the bucket is created


def test_google_cloud_storage_on_its_emulator(gcs_emulator, tmp_path, monkeypatch):
    env = clean_env(STORAGE_EMULATOR_HOST=gcs_emulator, GOOGLE_CLOUD_PROJECT="evals-project")
    publish_verify_forge(tmp_path, "gs://evals-gcs/team", env, monkeypatch)  # the bucket is created


def test_an_unreachable_google_cloud_storage_is_an_error_not_a_hang(tmp_path):
    """Google's client retries a transient error for 15 minutes by default; ours for 30 s, or as long as
    $AUDITLOG_GCS_RETRY_SECONDS says."""
    from tests.publish.conftest import free_port

    db = tmp_path / "evals.db"
    make_log(db, 3)
    key, _ = keygen(tmp_path)
    env = clean_env(STORAGE_EMULATOR_HOST=f"http://127.0.0.1:{free_port()}",  # nothing listens there
                    AUDITLOG_GCS_RETRY_SECONDS="2")
    refused = cli("publish", "--log", db, "--to", "gs://evals-gcs/team", "--key", key, env=env)
    assert refused.code == 4 and "gs://evals-gcs/team" in refused.err and "Traceback" not in refused.err, refused
    assert "error_info" not in refused.err, "the client's repetition of its own message is left out"


def test_google_cloud_storage_settings():
    from datetime import timedelta

    from auditlog.services.targets import GCS_RETRY_SECONDS, gcs_settings
    assert gcs_settings({}) == {"retry_time_limit": timedelta(seconds=GCS_RETRY_SECONDS)}
    emulator = gcs_settings({"STORAGE_EMULATOR_HOST": "localhost:9023"})
    assert (emulator["endpoint_override"], emulator["scheme"], emulator["anonymous"]) == ("localhost:9023", "http", True)
    assert gcs_settings({"STORAGE_EMULATOR_HOST": "https://gcs.internal"})["scheme"] == "https"
    with pytest.raises(InvalidInput, match="STORAGE_EMULATOR_HOST"):
        gcs_settings({"STORAGE_EMULATOR_HOST": "ftp://x"})
    assert gcs_settings({"AUDITLOG_GCS_RETRY_SECONDS": "5"})["retry_time_limit"] == timedelta(seconds=5)
    for wrong in ("0", "-1", "2.5", "soon"):
        with pytest.raises(InvalidInput, match="AUDITLOG_GCS_RETRY_SECONDS"):
            gcs_settings({"AUDITLOG_GCS_RETRY_SECONDS": wrong})


def test_uri_parsing_gs_included():
    assert parse_uri("gs://bucket/a/b") == parse_uri("gs://bucket/a/b/")
    assert parse_uri("gs://bucket/a/b").prefix == "a/b"
    assert parse_uri("az://c").prefix == "" and parse_uri("/tmp/x").scheme == ""
    assert parse_uri("file:///tmp/x").prefix == "/tmp/x"
    with pytest.raises(InvalidInput):
        parse_uri("gs://bucket/x?y=1")


def test_credentials_from_the_variables_azure_and_aws_tools_read():
    settings = azure_settings({"AZURE_STORAGE_CONNECTION_STRING":
                               "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.windows.net"})
    assert settings == {"account_name": "acct", "account_key": "a2V5", "blob_storage_scheme": "https"}
    assert azure_settings({"AZURE_STORAGE_ACCOUNT": "acct"}) == {"account_name": "acct"}  # the default credential chain
    with pytest.raises(InvalidInput, match="AZURE_STORAGE"):
        azure_settings({})
    with pytest.raises(InvalidInput, match="Key=Value"):
        azure_settings({"AZURE_STORAGE_CONNECTION_STRING": "AccountName=a;garbage"})
    assert s3_settings({"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9000"})["endpoint_override"] == "127.0.0.1:9000"


def test_anyone_verifies_and_reads_a_published_log_over_http(tmp_path: Path) -> None:
    """What an outside auditor does: fetch the static files from a web server, with nothing but the vkey."""
    from tests.publish.conftest import free_port, server

    db, published = tmp_path / "evals.db", tmp_path / "www" / "team"
    make_log(db, 300)
    key, vkey = keygen(tmp_path)
    assert cli("publish", "--log", db, "--to", published, "--key", key).code == 0
    port = free_port()
    with server([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(tmp_path / "www"),
                 str(port)], port, "http.server", tmp_path / "http.log"):
        url = f"http://127.0.0.1:{port}/team"
        checked = cli("verify", "--from", url, "--vkey", vkey, "-o", "json")
        assert checked.code == 0, checked
        assert checked.json()["size"] == 301  # the genesis event and 300 runs
        listed = cli("history", "--from", url, "--vkey", vkey, "--project", "mmlu-pro", "-o", "json")
        assert listed.code == 0 and listed.json(), listed
        refused = cli("publish", "--log", db, "--to", url, "--key", key)
        assert refused.code == 2 and "read-only" in refused.err, refused
        missing = cli("verify", "--from", url + "/nothing-here", "--vkey", vkey)
        assert missing.code != 0 and "Traceback" not in missing.err, missing
        bundle = published / "tile" / "entries" / "001.p" / "45"
        entries = bytearray(bundle.read_bytes())
        entries[-3] ^= 1  # one byte of the last event
        bundle.write_bytes(bytes(entries))
        forged = cli("verify", "--from", url, "--vkey", vkey)
        assert forged.code == 1 and "tile/entries/001.p/45" in forged.err, forged
