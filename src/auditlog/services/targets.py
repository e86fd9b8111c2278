"""Where a log is published: a directory, az://, s3:// or gs://, as one small interface.

    DIR or file://DIR                  a local directory (written with temporary files, fsync, rename)
    az://CONTAINER[/PREFIX]            Azure Blob Storage: $AZURE_STORAGE_CONNECTION_STRING, else
                                       $AZURE_STORAGE_ACCOUNT with $AZURE_STORAGE_KEY or
                                       $AZURE_STORAGE_SAS_TOKEN, else the default credential chain
    s3://BUCKET[/PREFIX]               AWS: environment or profile; $AWS_ENDPOINT_URL_S3 or
                                       $AWS_ENDPOINT_URL for an S3-compatible store
    gs://BUCKET[/PREFIX]               Google Cloud Storage: application default credentials;
                                       $STORAGE_EMULATOR_HOST for an emulator (no credentials);
                                       $GOOGLE_CLOUD_PROJECT to create the bucket
    https://HOST/PATH (or http://)     read-only: a published log as anyone can fetch it (http_target.py)

Object stores go through `pyarrow.fs` (imported only here, and only when used). An object
appears whole when its upload completes, so a reader sees the old object or the new one. Files
are named relative to the prefix (`checkpoint`, `tile/0/000`); errors name the URI and file.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from auditlog.durable import write_atomically
from auditlog.errors import InvalidInput, NotFound, StorageError

SCHEMES = ("az", "s3", "gs")
WEB = ("http", "https")  # read-only


class Target(Protocol):
    """A place holding files under one prefix."""

    uri: str

    def read(self, name: str) -> bytes | None:
        """The file's bytes, or None if there is no such file."""

    def exists(self, name: str) -> bool:
        """Whether there is such a file (without reading it)."""

    def write(self, name: str, data: bytes, headers: Mapping[str, str] | None = None) -> None:
        """Write the whole file; a reader sees the old content or the new, never part. An object
        store serves `headers` (Content-Type, Cache-Control) with it; a directory has none."""

    def prepare(self) -> None:
        """Make the directory, container or bucket if it is missing (where the credentials allow)."""


@dataclass(frozen=True)
class Location:
    """A parsed destination: its scheme ('' for a local directory), bucket or container, prefix."""

    scheme: str
    bucket: str
    prefix: str


def parse_uri(uri: str) -> Location:
    """Split a destination URI; InvalidInput naming what is wrong."""
    if not uri:
        raise InvalidInput("--to/--from", "give a directory or an az://, s3:// or gs:// URI")
    if "://" not in uri:
        return Location("", "", uri)
    parts = urlsplit(uri)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise InvalidInput("--to/--from", f"{uri!r}: a file:// URI names a local path (file:///dir)")
        return Location("", "", parts.path)
    if parts.scheme in WEB:
        if not parts.netloc or parts.query or parts.fragment:
            raise InvalidInput("--to/--from", f"{uri!r}: expected {parts.scheme}://HOST/PATH, without ?query or #fragment")
        return Location(parts.scheme, parts.netloc, parts.path.strip("/"))
    if parts.scheme not in SCHEMES:
        raise InvalidInput("--to/--from", f"{uri!r}: unknown scheme {parts.scheme!r} (a directory, or "
                           "az://CONTAINER/PREFIX, s3://BUCKET/PREFIX, gs://BUCKET/PREFIX, https://HOST/PATH to read)")
    if not parts.netloc or parts.query or parts.fragment:
        raise InvalidInput("--to/--from", f"{uri!r}: expected {parts.scheme}://BUCKET/PREFIX, without ?query or #fragment")
    prefix = parts.path.strip("/")
    if any(p in ("", ".", "..") for p in prefix.split("/")) and prefix:
        raise InvalidInput("--to/--from", f"{uri!r}: the prefix has an empty, '.' or '..' element")
    return Location(parts.scheme, parts.netloc, prefix)


def open_target(uri: str) -> Target:
    """The target a URI names (nothing is contacted yet)."""
    location = parse_uri(uri)
    if not location.scheme:
        return DirectoryTarget(uri, Path(location.prefix))
    if location.scheme in WEB:
        from auditlog.services.http_target import HttpTarget
        return HttpTarget(uri)
    return ObjectTarget(uri, _filesystem(location), location)


def azure_settings(environ: dict[str, str] | os._Environ[str]) -> dict[str, str]:
    """AzureFileSystem's arguments from the variables Azure's own tools read."""
    text = environ.get("AZURE_STORAGE_CONNECTION_STRING")
    if text:
        fields: dict[str, str] = {}
        for part in text.split(";"):
            if part.strip():
                key, sep, value = part.partition("=")
                if not sep:
                    raise InvalidInput("AZURE_STORAGE_CONNECTION_STRING", f"{key.strip()!r} is not Key=Value")
                fields[key.strip()] = value.strip()
        if "UseDevelopmentStorage" in fields:  # Azurite's well-known account, on its default port
            fields.setdefault("AccountName", "devstoreaccount1")
            fields.setdefault("AccountKey", _AZURITE_KEY)
            fields.setdefault("BlobEndpoint", "http://127.0.0.1:10000/devstoreaccount1")
        if "AccountName" not in fields:
            raise InvalidInput("AZURE_STORAGE_CONNECTION_STRING", "has no AccountName")
        out = {"account_name": fields["AccountName"]}
        if fields.get("AccountKey"):
            out["account_key"] = fields["AccountKey"]
        if fields.get("SharedAccessSignature"):
            out["sas_token"] = fields["SharedAccessSignature"]
        if fields.get("BlobEndpoint"):
            endpoint = urlsplit(fields["BlobEndpoint"])
            out["blob_storage_scheme"] = endpoint.scheme or "https"
            # Azurite serves the account as a path (http://host:port/account): pyarrow adds it itself
            out["blob_storage_authority"] = endpoint.netloc
            # pyarrow asks the DFS endpoint whether the account has a hierarchical namespace:
            # with a custom blob endpoint (Azurite, a private link) that is the same host
            out["dfs_storage_scheme"], out["dfs_storage_authority"] = out["blob_storage_scheme"], endpoint.netloc
        elif fields.get("DefaultEndpointsProtocol"):
            out["blob_storage_scheme"] = fields["DefaultEndpointsProtocol"]
        return out
    account = environ.get("AZURE_STORAGE_ACCOUNT")
    if not account:
        raise InvalidInput("az://", "set $AZURE_STORAGE_CONNECTION_STRING, or $AZURE_STORAGE_ACCOUNT "
                           "(with $AZURE_STORAGE_KEY, $AZURE_STORAGE_SAS_TOKEN, or a default Azure credential)")
    out = {"account_name": account}
    if environ.get("AZURE_STORAGE_KEY"):
        out["account_key"] = environ["AZURE_STORAGE_KEY"]
    elif environ.get("AZURE_STORAGE_SAS_TOKEN"):
        out["sas_token"] = environ["AZURE_STORAGE_SAS_TOKEN"]
    return out


_AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def s3_settings(environ: dict[str, str] | os._Environ[str]) -> dict[str, Any]:
    """S3FileSystem's arguments: the endpoint override, if any (credentials: AWS's own chain)."""
    out: dict[str, Any] = {"allow_bucket_creation": True}
    endpoint = environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidInput("AWS_ENDPOINT_URL", f"{endpoint!r} is not an http(s)://host[:port] URL")
        out["endpoint_override"] = parts.netloc
        out["scheme"] = parts.scheme
    if environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION"):
        out["region"] = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    return out


# How long Google's client retries what it takes for a transient error, unless $AUDITLOG_GCS_RETRY_SECONDS
# says otherwise (its own default is 15 minutes: a machine with no credentials would wait that long,
# retrying the metadata server, to be told so).
GCS_RETRY_SECONDS = 30


def gcs_settings(environ: dict[str, str] | os._Environ[str]) -> dict[str, Any]:
    """GcsFileSystem's arguments: $STORAGE_EMULATOR_HOST, the variable Google's client libraries read
    for an emulator (http://host:port, or host:port), served without credentials; and a bound on retries."""
    from datetime import timedelta

    retry = environ.get("AUDITLOG_GCS_RETRY_SECONDS", str(GCS_RETRY_SECONDS))
    if not retry.isdigit() or not 1 <= int(retry) <= 3600:
        raise InvalidInput("AUDITLOG_GCS_RETRY_SECONDS", f"{retry!r} is not a whole number of seconds from 1 to 3600")
    out: dict[str, Any] = {"retry_time_limit": timedelta(seconds=int(retry))}
    emulator = environ.get("STORAGE_EMULATOR_HOST")
    if emulator:
        parts = urlsplit(emulator if "://" in emulator else f"http://{emulator}")
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/"):
            raise InvalidInput("STORAGE_EMULATOR_HOST", f"{emulator!r} is not an http(s)://host[:port] URL")
        out.update(endpoint_override=parts.netloc, scheme=parts.scheme, anonymous=True)
    return out


def _filesystem(location: Location) -> Any:
    import pyarrow.fs as pafs

    try:
        if location.scheme == "az":
            return pafs.AzureFileSystem(**azure_settings(os.environ))
        if location.scheme == "s3":
            return pafs.S3FileSystem(**s3_settings(os.environ))
        return pafs.GcsFileSystem(**gcs_settings(os.environ))
    except (OSError, ValueError) as exc:  # pyarrow's ArrowException derives from these
        raise StorageError(f"{location.scheme}://{location.bucket}: cannot set up the client: {_brief(exc)}") from None


def _brief(exc: Exception) -> str:
    """The client's message without what Google's client appends to it: its error_info, which repeats the
    message, and metadata about its own source files."""
    return str(exc).split(" error_info={", 1)[0]


class DirectoryTarget:
    """A local directory: each file written to a temporary name, synced, renamed into place."""

    def __init__(self, uri: str, root: Path) -> None:
        self.uri = uri
        self.root = root

    def _path(self, name: str) -> Path:
        return self.root.joinpath(*name.split("/"))

    def read(self, name: str) -> bytes | None:
        try:
            return self._path(name).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise StorageError(f"{self.uri}: cannot read {name}: {exc.strerror or exc}") from None

    def exists(self, name: str) -> bool:
        return self._path(name).is_file()

    def write(self, name: str, data: bytes, headers: Mapping[str, str] | None = None) -> None:
        try:
            write_atomically(self._path(name), data)
        except OSError as exc:
            raise StorageError(f"{self.uri}: cannot write {name}: {exc.strerror or exc}") from None

    def prepare(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"{self.uri}: cannot make the directory: {exc.strerror or exc}") from None


class ObjectTarget:
    """A bucket or container through pyarrow.fs; the bucket is the first element of every path."""

    def __init__(self, uri: str, filesystem: Any, location: Location) -> None:
        self.uri = uri
        self.fs = filesystem
        self.location = location

    def _path(self, name: str) -> str:
        return "/".join(p for p in (self.location.bucket, self.location.prefix, name) if p)

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except FileNotFoundError as exc:
            raise NotFound(f"{self.uri}: {doing}: not found ({exc})") from None
        except (OSError, ValueError) as exc:
            raise StorageError(f"{self.uri}: {doing}: {_brief(exc)}") from None

    def read(self, name: str) -> bytes | None:
        import pyarrow.fs as pafs

        path = self._path(name)
        with self._errors(f"cannot read {name}"):
            try:
                if self.fs.get_file_info(path).type != pafs.FileType.File:
                    return None
                with self.fs.open_input_stream(path) as stream:
                    return bytes(stream.read())
            except FileNotFoundError:  # the container itself is missing, or the object went meanwhile
                return None

    def exists(self, name: str) -> bool:
        import pyarrow.fs as pafs

        with self._errors(f"cannot look up {name}"):
            try:
                return bool(self.fs.get_file_info(self._path(name)).type == pafs.FileType.File)
            except FileNotFoundError:
                return False

    def write(self, name: str, data: bytes, headers: Mapping[str, str] | None = None) -> None:
        # compression=None: pyarrow would otherwise guess a codec from the name's extension
        with self._errors(f"cannot write {name}"), \
                self.fs.open_output_stream(self._path(name), compression=None, metadata=dict(headers or {})) as out:
            out.write(data)

    def prepare(self) -> None:
        import pyarrow.fs as pafs

        with self._errors(f"cannot open or create {self.location.scheme}://{self.location.bucket}"):
            if self.fs.get_file_info(self.location.bucket).type == pafs.FileType.NotFound:
                self.fs.create_dir(self.location.bucket)
