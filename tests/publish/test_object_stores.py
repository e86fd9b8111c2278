"""Publishing to Azure Blob Storage (Azurite) and S3 (moto's server), checked as for a directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditlog.errors import InvalidInput, StorageError
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
    assert cli("history", "--from", uri, "--vkey", vkey, "--project", "mmlu-pro", "-o", "json", env=env).code == 0
    tile = bytearray(target.read("tile/0/000") or b"")
    tile[7] ^= 1
    target.write("tile/0/000", bytes(tile))
    forged = cli("verify", "--from", uri, "--vkey", vkey, env=env)
    assert forged.code == 1 and "tile/0/000" in forged.err, forged


def test_azure_blob_on_azurite(azurite, tmp_path, monkeypatch):
    env = clean_env(AZURE_STORAGE_CONNECTION_STRING=azurite)
    publish_verify_forge(tmp_path, "az://evals/team/history", env, monkeypatch)  # the container is created


def test_s3_on_moto(s3_endpoint, tmp_path, monkeypatch):
    env = clean_env(AWS_ENDPOINT_URL=s3_endpoint, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                    AWS_DEFAULT_REGION="us-east-1")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    probe = open_target("s3://probe-bucket/x")
    probe.prepare()
    try:
        probe.write("probe", b"x")
    except StorageError as exc:
        if "CompleteMultipartUpload" in str(exc):  # moto < 5.2.6 answers in a form pyarrow's AWS SDK rejects
            pytest.skip(f"this moto server cannot complete pyarrow's multipart uploads: {exc}")
        raise
    publish_verify_forge(tmp_path, "s3://evals-bucket/team", env, monkeypatch)  # the bucket is created


def test_uri_parsing_gs_included():
    """gs:// cannot be run here (no GCS emulator in the registries): its parsing is what is tested."""
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
