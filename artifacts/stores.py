"""Artifact stores: one small interface over S3, the local filesystem and an MLflow tracking server.

`store_for_uri(uri)` returns a store rooted at `uri`; paths passed to its methods are relative
to that root and always use '/'. Reading is streamed (never a whole object in memory).

Errors are sorted by what the caller should do about them:
- `SourceUnsupported`: Quorum has no way to read this location as configured (no credentials,
  no tracking server, a scheme without a reader). Nothing to retry.
- `StorageUnavailable`: transient (connection refused, timeouts, 5xx, throttling). Retry later.
- `ObjectMissing`, `ObjectExists`, and plain `StoreError`: permanent answers about the data.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import os
import posixpath
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote, unquote, urlparse

import boto3
import requests
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    ReadTimeoutError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)
from django.conf import settings

READ_CHUNK_BYTES = 1024 * 1024
# S3's hard limits: a single PUT or CopyObject takes at most 5 GiB; parts are 5 MiB .. 5 GiB.
S3_SINGLE_OPERATION_MAX = 5 * 1024**3
S3_MIN_PART_BYTES = 5 * 1024**2
DIGEST_KEY = "sha256"
TRANSIENT_S3_CODES = {
    "InternalError",
    "ServiceUnavailable",
    "SlowDown",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "Throttling",
    "ThrottlingException",
    "ConditionalRequestConflict",
    "500",
    "502",
    "503",
    "504",
}


class StoreError(Exception):
    """A permanent problem reading or writing a store; the message says what to fix."""


class SourceUnsupported(StoreError):
    """Quorum cannot read this location as configured (no reader, credentials or tracking server)."""


class StorageUnavailable(StoreError):
    """A transient failure: the store did not answer or asked us to slow down. Retry later."""


class ObjectMissing(StoreError):
    """The object (or bucket, or directory) does not exist."""


class ObjectExists(StoreError):
    """A create-only write found the object already there."""


@dataclass(frozen=True)
class StoredObject:
    """What a store knows about one object: its size and, when it was tagged, its SHA-256."""

    relpath: str
    size: int
    sha256: str = ""


def sha256_stream(stream: BinaryIO, chunk_bytes: int = READ_CHUNK_BYTES) -> tuple[str, int]:
    """(hex SHA-256, byte count) of a stream, read in chunks so memory stays flat."""
    digest = hashlib.sha256()
    size = 0
    if isinstance(stream, io.BufferedReader | io.FileIO):
        # Files: readinto one reused buffer avoids allocating a new bytes object per chunk.
        read = stream.readinto
        buffer = bytearray(chunk_bytes)
        view = memoryview(buffer)
        while True:
            count = read(view)
            if not count:
                break
            digest.update(view[:count])
            size += count
    else:
        while chunk := stream.read(chunk_bytes):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def relpath_clean(relpath: str) -> str:
    """A store-relative path in canonical form; refuses absolute paths and '..' segments."""
    if not isinstance(relpath, str) or "\\" in relpath or "\x00" in relpath:
        raise StoreError(f"Invalid artifact path {relpath!r}.")
    parts = [part for part in relpath.split("/") if part not in ("", ".")]
    if any(part == ".." for part in parts):
        raise StoreError(f"Invalid artifact path {relpath!r}: '..' is not allowed.")
    return "/".join(parts)


@dataclass(frozen=True)
class ObjectLock:
    """S3 Object Lock of new objects: `mode` GOVERNANCE or COMPLIANCE until `retain_until`; `legal_hold` on."""

    mode: str
    retain_until: datetime
    legal_hold: bool = False


class ArtifactStore(ABC):
    """A tree of objects under one root URI."""

    writable: bool = False

    @abstractmethod
    def uri_for(self, relpath: str = "") -> str:
        """The URI of `relpath` (or of the root) in this store."""

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[tuple[str, int]]:
        """Every object under `prefix`, as (relpath, size), in a stable order."""

    @abstractmethod
    def open(self, relpath: str) -> BinaryIO:
        """A binary stream of one object; close it when done."""

    @abstractmethod
    def stat(self, relpath: str) -> StoredObject | None:
        """Size and recorded digest of one object, or None if it does not exist."""

    def child(self, subpath: str) -> ArtifactStore:
        """A store rooted at `subpath` below this one."""
        raise NotImplementedError

    # --- writing (governed stores) ---

    def put(self, relpath: str, stream: BinaryIO, *, size: int, sha256: str) -> None:
        """Create `relpath` from `stream` (create-only where supported); ObjectExists if present."""
        raise StoreError(f"{self.uri_for()} is read-only.")

    def copy_from(
        self, source: ArtifactStore, source_relpath: str, relpath: str, *, size: int, sha256: str
    ) -> None:
        """Copy one object from `source` into this store; streaming unless a store knows better."""
        with contextlib.closing(source.open(source_relpath)) as stream:
            self.put(relpath, stream, size=size, sha256=sha256)

    def delete(self, relpath: str) -> None:
        raise StoreError(f"{self.uri_for()} is read-only.")

    def abort_incomplete_uploads(self, prefix: str = "") -> int:
        """Abort multipart uploads left behind under `prefix` (e.g. by a killed worker)."""
        return 0

    # --- retention (issue 25): a store that cannot lock objects says so and writes them unlocked ---

    def object_lock_supported(self) -> bool:
        """Whether objects written here can carry an Object Lock retention and legal hold."""
        return False

    def locked(self, lock: ObjectLock) -> ArtifactStore:
        """This store, locking objects under `lock` (only where object_lock_supported)."""
        raise StoreError(f"{self.uri_for()} cannot lock objects.")

    def lock_apply(self, relpath: str) -> None:
        """Lock one written (and verified) object under this store's lock; nothing without one."""
        return None

    def legal_hold_set(self, relpath: str, on: bool) -> None:
        """Turn the store's legal hold of one object on or off (only where object_lock_supported)."""
        raise StoreError(f"{self.uri_for()} cannot lock objects.")

    def purge(self, relpath: str) -> None:
        """Remove one object for good (every stored version of it, where the store keeps versions)."""
        self.delete(relpath)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.uri_for()}>"


# --- Local filesystem --------------------------------------------------------------------


class LocalStore(ArtifactStore):
    """A directory tree. Writes are create-only: written to a temporary file, then hard-linked."""

    writable = True

    def __init__(self, root: Path):
        self.root = Path(os.path.normpath(root))

    def uri_for(self, relpath: str = "") -> str:
        path = self.root / relpath_clean(relpath) if relpath else self.root
        return f"file://{quote(str(path))}"

    def child(self, subpath: str) -> LocalStore:
        return LocalStore(self.root / relpath_clean(subpath))

    def _path(self, relpath: str) -> Path:
        clean = relpath_clean(relpath)
        if not clean:
            raise StoreError("An object path is required.")
        return self.root / clean

    def _inside_root(self, path: Path) -> bool:
        real_root = os.path.realpath(self.root)
        return os.path.commonpath([real_root, os.path.realpath(path)]) == real_root

    def list(self, prefix: str = "") -> Iterator[tuple[str, int]]:
        start = self.root / relpath_clean(prefix) if prefix else self.root
        if not start.is_dir():
            if start.exists():
                raise StoreError(f"{self.uri_for(prefix)} is a file, not a directory of artifacts.")
            raise ObjectMissing(f"{self.uri_for(prefix)} does not exist.")
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames.sort()
            for name in sorted(filenames):
                path = Path(dirpath) / name
                if name.startswith(".quorum-tmp-"):
                    continue  # an interrupted create-only write, never a real object
                if path.is_symlink() and not self._inside_root(path):
                    # Following it would read files outside the allowed roots.
                    raise StoreError(f"{self.uri_for()}: '{path.relative_to(self.root)}' links outside.")
                if not path.is_file():
                    continue
                yield path.relative_to(self.root).as_posix(), path.stat().st_size

    def open(self, relpath: str) -> BinaryIO:
        try:
            return open(self._path(relpath), "rb")  # noqa: SIM115 - the caller closes it
        except FileNotFoundError:
            raise ObjectMissing(f"{self.uri_for(relpath)} does not exist.")
        except IsADirectoryError:
            raise StoreError(f"{self.uri_for(relpath)} is a directory.")

    def stat(self, relpath: str) -> StoredObject | None:
        path = self._path(relpath)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return None
        try:
            digest = os.getxattr(path, f"user.{DIGEST_KEY}").decode()
        except (OSError, AttributeError):
            digest = ""  # no xattr support on this filesystem: untagged, callers re-hash
        return StoredObject(relpath=relpath_clean(relpath), size=size, sha256=digest)

    def put(self, relpath: str, stream: BinaryIO, *, size: int, sha256: str) -> None:
        final = self._path(relpath)
        final.parent.mkdir(parents=True, exist_ok=True)
        temporary = final.parent / f".quorum-tmp-{uuid.uuid4().hex}"
        try:
            with open(temporary, "xb") as out:
                while chunk := stream.read(READ_CHUNK_BYTES):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            with contextlib.suppress(OSError, AttributeError):
                os.setxattr(temporary, f"user.{DIGEST_KEY}", sha256.encode())
            try:
                # link() refuses an existing target: the create-only write, atomic on POSIX.
                os.link(temporary, final)
            except FileExistsError:
                raise ObjectExists(f"{self.uri_for(relpath)} already exists.")
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)

    def delete(self, relpath: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path(relpath))


# --- S3 ----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _s3_client_cached(endpoint_url: str, region: str, env_key: tuple[str, ...], pool: int):
    del env_key  # part of the cache key only: a change of credentials in the environment
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url or None,
        region_name=region or None,
        config=Config(
            connect_timeout=5,
            read_timeout=120,
            retries={"max_attempts": 3, "mode": "standard"},
            max_pool_connections=pool,
            signature_version="s3v4",
            # Quorum verifies every object with its own SHA-256; botocore's extra CRC on each
            # upload and download would only cost CPU (and moto mis-reports it for copied
            # multipart objects).
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            s3={"addressing_style": "path"} if endpoint_url else {},
        ),
    )


def s3_client():
    """The boto3 S3 client; QUORUM_S3_* settings win, else boto3's usual AWS_* environment."""
    endpoint = settings.QUORUM_S3_ENDPOINT_URL or os.environ.get("AWS_ENDPOINT_URL_S3", "")
    endpoint = endpoint or os.environ.get("AWS_ENDPOINT_URL", "")
    region = settings.QUORUM_S3_REGION or os.environ.get("AWS_DEFAULT_REGION", "") or "us-east-1"
    env_key = tuple(
        os.environ.get(name, "")
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")
    )
    pool = max(10, 2 * settings.QUORUM_ARTIFACT_COPY_CONCURRENCY)
    return _s3_client_cached(endpoint, region, env_key, pool)


class _TranslatingStream(io.RawIOBase):
    """Wraps an S3 body so a connection dropped mid-read surfaces as StorageUnavailable."""

    def __init__(self, body, uri: str):
        self._body = body
        self._uri = uri

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        # Straight from the body: no intermediate buffer copy on the hashing path.
        try:
            return self._body.read(None if size is None or size < 0 else size)
        except (BotoCoreError, OSError) as exc:
            raise StorageUnavailable(f"Reading {self._uri} was interrupted: {exc}")

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._body.close()
        super().close()


@contextlib.contextmanager
def _s3_errors(uri: str):
    try:
        yield
    except NoCredentialsError:
        raise SourceUnsupported(
            f"Quorum has no S3 credentials to read {uri}: set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (or an AWS profile) for the Quorum server and workers."
        )
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in TRANSIENT_S3_CODES or status >= 500:
            raise StorageUnavailable(f"S3 did not answer for {uri}: {code or status}.")
        if code in ("NoSuchKey", "NoSuchBucket", "404", "NotFound"):
            raise ObjectMissing(f"{uri} does not exist ({code}).")
        if code in ("PreconditionFailed", "412"):
            raise ObjectExists(f"{uri} already exists (create-only write refused).")
        if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            raise StoreError(
                f"S3 refused access to {uri} ({code}): grant Quorum's credentials read access "
                "(s3:ListBucket, s3:GetObject) on it."
            )
        raise StoreError(f"S3 error for {uri}: {code} {error.get('Message', '')}".strip())
    except (BotoConnectionError, ReadTimeoutError) as exc:
        raise StorageUnavailable(f"S3 endpoint unreachable for {uri}: {exc}")
    except BotoCoreError as exc:
        raise StoreError(f"S3 client error for {uri}: {exc}")


class S3Store(ArtifactStore):
    """Objects under s3://bucket/prefix/. Governed writes use If-None-Match: * and a sha256 tag."""

    writable = True

    def __init__(self, bucket: str, prefix: str = "", lock: ObjectLock | None = None):
        self.bucket = bucket
        clean = relpath_clean(prefix)
        self.prefix = f"{clean}/" if clean else ""
        self.client = s3_client()
        self.lock = lock

    def uri_for(self, relpath: str = "") -> str:
        return f"s3://{self.bucket}/{(self.prefix + relpath_clean(relpath)).rstrip('/')}"

    def child(self, subpath: str) -> S3Store:
        return S3Store(self.bucket, self.prefix + relpath_clean(subpath), self.lock)

    def object_lock_supported(self) -> bool:
        try:
            with _s3_errors(self.uri_for()):
                configuration = self.client.get_object_lock_configuration(Bucket=self.bucket)
        except StorageUnavailable:
            raise
        except StoreError:
            return False  # ObjectLockConfigurationNotFoundError: the bucket was created without it
        return configuration.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"

    def locked(self, lock: ObjectLock) -> S3Store:
        return S3Store(self.bucket, self.prefix, lock)

    def lock_apply(self, relpath: str) -> None:
        if self.lock is None:
            return
        key = self.key(relpath)
        with _s3_errors(self.uri_for(relpath)):
            try:
                current = self.client.get_object_retention(Bucket=self.bucket, Key=key)["Retention"]
            except ClientError:
                current = {}  # none yet
            # Retention only ever lengthens: an object already kept longer (an earlier copy) stays so.
            if not current.get("RetainUntilDate") or current["RetainUntilDate"] < self.lock.retain_until:
                self.client.put_object_retention(
                    Bucket=self.bucket,
                    Key=key,
                    Retention={"Mode": self.lock.mode, "RetainUntilDate": self.lock.retain_until},
                )
            if self.lock.legal_hold:
                self.client.put_object_legal_hold(Bucket=self.bucket, Key=key, LegalHold={"Status": "ON"})

    def legal_hold_set(self, relpath: str, on: bool) -> None:
        with _s3_errors(self.uri_for(relpath)):
            self.client.put_object_legal_hold(
                Bucket=self.bucket, Key=self.key(relpath), LegalHold={"Status": "ON" if on else "OFF"}
            )

    def purge(self, relpath: str) -> None:
        key = self.key(relpath)
        paginator = self.client.get_paginator("list_object_versions")
        with _s3_errors(self.uri_for(relpath)):
            found = False
            for page in paginator.paginate(Bucket=self.bucket, Prefix=key):
                for item in page.get("Versions", []) + page.get("DeleteMarkers", []):
                    if item["Key"] == key:
                        found = True
                        self.client.delete_object(Bucket=self.bucket, Key=key, VersionId=item["VersionId"])
            if not found:
                self.client.delete_object(Bucket=self.bucket, Key=key)

    def key(self, relpath: str) -> str:
        clean = relpath_clean(relpath)
        if not clean:
            raise StoreError("An object path is required.")
        return self.prefix + clean

    def list(self, prefix: str = "") -> Iterator[tuple[str, int]]:
        clean = relpath_clean(prefix)
        start = self.prefix + (f"{clean}/" if clean else "")
        paginator = self.client.get_paginator("list_objects_v2")
        with _s3_errors(self.uri_for(prefix)):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=start):
                for item in page.get("Contents", []):
                    relpath = item["Key"][len(self.prefix) :]
                    if relpath.endswith("/"):
                        continue  # a "directory marker" object some tools create
                    yield relpath, int(item["Size"])

    def open(self, relpath: str) -> BinaryIO:
        with _s3_errors(self.uri_for(relpath)):
            body = self.client.get_object(Bucket=self.bucket, Key=self.key(relpath))["Body"]
        return _TranslatingStream(body, self.uri_for(relpath))

    def stat(self, relpath: str) -> StoredObject | None:
        try:
            with _s3_errors(self.uri_for(relpath)):
                head = self.client.head_object(Bucket=self.bucket, Key=self.key(relpath))
        except ObjectMissing:
            return None
        return StoredObject(
            relpath=relpath_clean(relpath),
            size=int(head["ContentLength"]),
            sha256=head.get("Metadata", {}).get(DIGEST_KEY, ""),
        )

    def _governance_args(self, sha256: str) -> dict:
        return {"Metadata": {DIGEST_KEY: sha256}, "Tagging": f"{DIGEST_KEY}={sha256}"}

    def put(self, relpath: str, stream: BinaryIO, *, size: int, sha256: str) -> None:
        key = self.key(relpath)
        part_bytes = max(settings.QUORUM_ARTIFACT_COPY_CHUNK_BYTES, S3_MIN_PART_BYTES)
        with _s3_errors(self.uri_for(relpath)):
            if size <= part_bytes:
                self.client.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=stream.read(),
                    IfNoneMatch="*",
                    # S3 refuses a PutObject into a bucket with a default object lock retention (the
                    # governed bucket) unless it names a checksum algorithm; botocore's own are off.
                    ChecksumAlgorithm="SHA256",
                    **self._governance_args(sha256),
                )
                return
        self._multipart(
            relpath,
            sha256,
            lambda number, upload_id: self._upload_part(stream, key, number, upload_id, part_bytes),
            part_count=-(-size // part_bytes),
        )

    def _upload_part(self, stream: BinaryIO, key: str, number: int, upload_id: str, part_bytes: int) -> dict:
        data = stream.read(part_bytes)
        response = self.client.upload_part(
            Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data
        )
        return {"PartNumber": number, "ETag": response["ETag"]}

    def _multipart(self, relpath: str, sha256: str, send_part, *, part_count: int) -> None:
        """Run a multipart upload; any failure aborts it so no half-written parts linger."""
        key = self.key(relpath)
        with _s3_errors(self.uri_for(relpath)):
            upload_id = self.client.create_multipart_upload(
                Bucket=self.bucket, Key=key, **self._governance_args(sha256)
            )["UploadId"]
        try:
            with _s3_errors(self.uri_for(relpath)):
                parts = [send_part(number, upload_id) for number in range(1, part_count + 1)]
                self.client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                    IfNoneMatch="*",
                )
        except BaseException:
            with contextlib.suppress(Exception):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            raise

    def copy_from(
        self, source: ArtifactStore, source_relpath: str, relpath: str, *, size: int, sha256: str
    ) -> None:
        if not isinstance(source, S3Store):
            super().copy_from(source, source_relpath, relpath, size=size, sha256=sha256)
            return
        # Both ends are S3 behind the same client: the bytes never leave the storage service.
        copy_source = {"Bucket": source.bucket, "Key": source.key(source_relpath)}
        threshold = min(settings.QUORUM_ARTIFACT_MULTIPART_COPY_THRESHOLD, S3_SINGLE_OPERATION_MAX)
        if size <= threshold:
            with _s3_errors(self.uri_for(relpath)):
                self.client.copy_object(
                    Bucket=self.bucket,
                    Key=self.key(relpath),
                    CopySource=copy_source,
                    MetadataDirective="REPLACE",
                    TaggingDirective="REPLACE",
                    IfNoneMatch="*",
                    **self._governance_args(sha256),
                )
            return
        part_bytes = max(settings.QUORUM_ARTIFACT_COPY_CHUNK_BYTES, S3_MIN_PART_BYTES)
        key = self.key(relpath)

        def copy_part(number: int, upload_id: str) -> dict:
            first = (number - 1) * part_bytes
            last = min(first + part_bytes, size) - 1
            response = self.client.upload_part_copy(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                CopySource=copy_source,
                CopySourceRange=f"bytes={first}-{last}",
            )
            return {"PartNumber": number, "ETag": response["CopyPartResult"]["ETag"]}

        self._multipart(relpath, sha256, copy_part, part_count=-(-size // part_bytes))

    def delete(self, relpath: str) -> None:
        with _s3_errors(self.uri_for(relpath)):
            self.client.delete_object(Bucket=self.bucket, Key=self.key(relpath))

    def abort_incomplete_uploads(self, prefix: str = "") -> int:
        start = self.prefix + relpath_clean(prefix)
        aborted = 0
        paginator = self.client.get_paginator("list_multipart_uploads")
        with _s3_errors(self.uri_for(prefix)):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=start):
                for upload in page.get("Uploads", []):
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                    aborted += 1
        return aborted


# --- MLflow tracking server (read-only) ---------------------------------------------------


class MlflowArtifactsStore(ArtifactStore):
    """Artifacts served by an MLflow tracking server (`mlflow-artifacts:/...`), read-only."""

    def __init__(self, tracking_uri: str, path: str):
        self.tracking_uri = tracking_uri.rstrip("/")
        self.path = relpath_clean(path)

    def uri_for(self, relpath: str = "") -> str:
        return f"mlflow-artifacts:/{posixpath.join(self.path, relpath_clean(relpath))}".rstrip("/")

    def child(self, subpath: str) -> MlflowArtifactsStore:
        return MlflowArtifactsStore(self.tracking_uri, posixpath.join(self.path, relpath_clean(subpath)))

    def _get(self, url: str, **kwargs) -> requests.Response:
        try:
            response = requests.get(url, timeout=(5, 120), **kwargs)
        except requests.RequestException as exc:
            raise StorageUnavailable(f"MLflow tracking server {self.tracking_uri} unreachable: {exc}")
        if response.status_code == 404:
            raise ObjectMissing(f"{url} does not exist on the MLflow tracking server.")
        if response.status_code >= 500:
            raise StorageUnavailable(f"MLflow tracking server answered {response.status_code} for {url}.")
        if response.status_code >= 400:
            raise StoreError(f"MLflow tracking server refused {url}: {response.status_code}.")
        return response

    def list(self, prefix: str = "") -> Iterator[tuple[str, int]]:
        pending = [relpath_clean(prefix)]
        while pending:
            relative = pending.pop(0)
            full = posixpath.join(self.path, relative) if relative else self.path
            listing = self._get(
                f"{self.tracking_uri}/api/2.0/mlflow-artifacts/artifacts", params={"path": full}
            ).json()
            for item in sorted(listing.get("files", []), key=lambda entry: entry["path"]):
                child = posixpath.join(relative, item["path"]) if relative else item["path"]
                if item.get("is_dir"):
                    pending.append(child)
                else:
                    yield child, int(item.get("file_size", 0))

    def open(self, relpath: str) -> BinaryIO:
        full = posixpath.join(self.path, relpath_clean(relpath))
        response = self._get(
            f"{self.tracking_uri}/api/2.0/mlflow-artifacts/artifacts/{quote(full)}", stream=True
        )
        response.raw.decode_content = True
        return response.raw

    def stat(self, relpath: str) -> StoredObject | None:
        clean = relpath_clean(relpath)
        for path, size in self.list(posixpath.dirname(clean)):
            if path == clean:
                return StoredObject(relpath=clean, size=size)
        return None


def _tracking_server() -> str:
    tracking = settings.QUORUM_MLFLOW_TRACKING_URI
    if not tracking or not tracking.startswith(("http://", "https://")):
        raise SourceUnsupported(
            "This source is resolved through an MLflow tracking server, and none is configured: "
            "set QUORUM_MLFLOW_TRACKING_URI to the server's http(s) address."
        )
    return tracking.rstrip("/")


def _artifact_uri_from_tracking(uri: str) -> str:
    """The artifact location behind `runs:/<run_id>/<path>` or `models:/<logged model id>`."""
    tracking = _tracking_server()
    if uri.startswith("runs:/"):
        run_id, _, path = uri[len("runs:/") :].partition("/")
        endpoint, params, key = f"{tracking}/api/2.0/mlflow/runs/get", {"run_id": run_id}, "run"
    else:
        model_id, path = uri[len("models:/") :].strip("/"), ""
        endpoint, params, key = f"{tracking}/api/2.0/mlflow/logged-models/{model_id}", {}, "model"
    try:
        response = requests.get(endpoint, params=params, timeout=(5, 30))
    except requests.RequestException as exc:
        raise StorageUnavailable(f"MLflow tracking server {tracking} unreachable: {exc}")
    if response.status_code >= 500:
        raise StorageUnavailable(f"MLflow tracking server answered {response.status_code} for {uri}.")
    if response.status_code != 200:
        raise ObjectMissing(f"The MLflow tracking server does not know {uri} ({response.status_code}).")
    base = response.json()[key]["info"]["artifact_uri"]
    return f"{base.rstrip('/')}/{relpath_clean(path)}" if path else base


def _local_root_allowed(path: Path, extra_roots: list[Path]) -> bool:
    # Both by name and where symlinks really lead: a linked folder under a root can point anywhere.
    real = Path(os.path.realpath(path))
    for root in [*settings.QUORUM_ALLOWED_LOCAL_ROOTS, *extra_roots]:
        root = Path(os.path.normpath(root))
        real_root = Path(os.path.realpath(root))
        if (path == root or root in path.parents) and (real == real_root or real_root in real.parents):
            return True
    return False


def _local_store(raw_path: str, uri: str, extra_roots: list[Path]) -> LocalStore:
    path = Path(os.path.normpath(unquote(raw_path)))
    if not path.is_absolute() or ".." in Path(unquote(raw_path)).parts:
        raise StoreError(f"Local artifact locations must be absolute paths without '..': {uri}")
    if not _local_root_allowed(path, extra_roots):
        raise SourceUnsupported(f"{uri} is outside the folders Quorum may read (QUORUM_ALLOWED_LOCAL_ROOTS).")
    return LocalStore(path)


def _governed_local_roots() -> list[Path]:
    parsed = urlparse(settings.QUORUM_GOVERNED_STORE)
    if parsed.scheme == "file":
        return [Path(os.path.normpath(unquote(parsed.path)))]
    if parsed.scheme == "":
        return [Path(os.path.normpath(settings.QUORUM_GOVERNED_STORE))]
    return []


def store_for_uri(uri: str, *, _depth: int = 0) -> ArtifactStore:
    """A store rooted at `uri`. Local paths only under QUORUM_ALLOWED_LOCAL_ROOTS or the governed root."""
    if not isinstance(uri, str) or not uri:
        raise StoreError("An artifact location is required.")
    parsed = urlparse(uri)
    scheme = parsed.scheme.lower()
    if scheme in ("s3", "s3a"):
        if not parsed.netloc:
            raise StoreError(f"{uri} names no bucket.")
        return S3Store(parsed.netloc, unquote(parsed.path))
    if scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise StoreError(f"file:// locations may not name a host: {uri}")
        return _local_store(parsed.path, uri, _governed_local_roots())
    if scheme == "":
        return _local_store(uri, uri, _governed_local_roots())
    if scheme == "mlflow-artifacts":
        return MlflowArtifactsStore(_tracking_server(), unquote(parsed.path))
    if scheme in ("runs", "models"):
        if _depth > 2:
            raise StoreError(f"{uri} resolves in a loop.")
        return store_for_uri(_artifact_uri_from_tracking(uri), _depth=_depth + 1)
    raise SourceUnsupported(
        f"Quorum has no reader for '{scheme}:' locations; supported are s3://, file:// (under the "
        "allowed roots), and runs:/, models:/ and mlflow-artifacts:/ through a tracking server."
    )


def governed_store() -> ArtifactStore:
    """The configured governed store (QUORUM_GOVERNED_STORE), writable."""
    store = store_for_uri(settings.QUORUM_GOVERNED_STORE)
    if not store.writable:
        raise StoreError(f"The governed store {settings.QUORUM_GOVERNED_STORE} is not writable.")
    return store


def governed_store_put(key: str, stream: BinaryIO, size: int, sha256: str) -> str:
    """Write one object into the governed store (write-once rules apply); returns its URI."""
    store = governed_store()
    store.put(key, stream, size=size, sha256=sha256)
    return store.uri_for(key)


def governed_store_list(prefix: str) -> Iterator[str]:
    """Keys of the governed store's objects under `prefix`, in key order (none if it is absent)."""
    try:
        for relpath, _size in governed_store().list(prefix):
            yield relpath
    except ObjectMissing:
        return


def governed_store_read(key: str) -> bytes:
    """One (small) object of the governed store, whole: the audit checkpoints' read side."""
    with contextlib.closing(governed_store().open(key)) as stream:
        return stream.read()
