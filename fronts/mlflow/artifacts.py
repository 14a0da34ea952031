"""Read-only MLflow artifact proxy over the validated artifacts of versions Quorum knows about.

Proxy namespace (what `mlflow-artifacts:/<path>` and `/api/2.0/mlflow-artifacts/artifacts/<path>` mean):

    quorum-models/<model name>/<version>/<file path inside the version's manifest>

A path names a registered version, never a place on disk or in a bucket, so the caller must be
able to READ that model (hidden == missing, 404). Only versions that passed validation are served
(artifacts.services.version_served), and only the files of their manifest: listings come from the
manifest, not from the folder, and each file is checked against its manifest digest as it streams
(a mismatch aborts the transfer and marks the version). A version with a governed copy is served
from it. Every file served is recorded (who, which version's file, when) and audited once per user,
version and hour. Locations read: local directories under QUORUM_ALLOWED_LOCAL_ROOTS or the local
governed store (plain paths or file://), and s3:// prefixes through artifacts' S3 client.
"""

import mimetypes
import os
import posixpath
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Protocol
from urllib.parse import quote, unquote, urlparse

from django.conf import settings
from django.http import FileResponse, HttpRequest
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from accounts.models import User
from artifacts import services as artifact_services
from artifacts.models import EvidenceState
from artifacts.selectors import version_manifest
from artifacts.services import ServedVersion
from config.client import public_url
from fronts.mlflow.transport import Params, run_endpoint
from registry import selectors, tracking
from registry.errors import InvalidParameter, NotFound, RegistryError
from registry.models import ModelVersion

NAMESPACE = "quorum-models"
PROXY_PATH = "/api/2.0/mlflow-artifacts/artifacts"
LIST_LIMIT = 10_000


class ArtifactReader(Protocol):
    """Opens a version's files. Listings come from the manifest, never from the folder or bucket
    (a folder may hold links leading out, or files added after validation)."""

    def open(self, relpath: str) -> BinaryIO:
        """The file at `relpath`; NotFound when there is none."""


# --- Paths --------------------------------------------------------------------------------


def safe_relpath(raw: str) -> str:
    """A relative path with no traversal in any spelling, normalized to 'a/b/c' ('' for the root)."""
    decoded = raw
    for _ in range(5):  # %252e%252e is '..' too, once a later layer decodes it
        once = unquote(decoded)
        if once == decoded:
            break
        decoded = once
    if "\\" in decoded or "\x00" in decoded or any(ord(ch) < 32 for ch in decoded):
        raise InvalidParameter(f"Invalid path '{raw}': backslashes and control characters are not allowed.")
    if decoded.startswith("/") and decoded.strip("/"):
        decoded = decoded.lstrip("/")
    segments = [s for s in decoded.split("/") if s not in ("", ".")]
    if any(s == ".." for s in segments) or re.search(r"(^|/)\.\.(/|$)", decoded):
        raise InvalidParameter(f"Invalid path '{raw}': path traversal ('..') is not allowed.")
    return "/".join(segments)


def _governed_roots() -> list[str]:
    """The governed store's folder when it is local: promoted versions are read from there."""
    parsed = urlparse(settings.QUORUM_GOVERNED_STORE)
    if parsed.scheme in ("file", ""):
        return [unquote(parsed.path)]
    return []


def _local_root(location: str) -> Path | None:
    """The directory of a local location under an allowed root (symlinks resolved), else None."""
    parsed = urlparse(location)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            return None
        path = unquote(parsed.path)
    elif parsed.scheme == "" and location.startswith("/"):
        path = location
    else:
        return None
    resolved = Path(os.path.realpath(path))
    for root in [*settings.QUORUM_ALLOWED_LOCAL_ROOTS, *_governed_roots()]:
        real_root = Path(os.path.realpath(str(root)))
        if resolved == real_root or real_root in resolved.parents:
            return resolved
    return None


class LocalReader:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, relpath: str) -> Path:
        target = Path(os.path.realpath(self.root / relpath)) if relpath else self.root
        # A symlink inside the version must not lead outside it.
        if target != self.root and self.root not in target.parents:
            raise NotFound(f"Artifact '{relpath}' not found.")
        return target

    def open(self, relpath: str) -> BinaryIO:
        target = self._path(relpath)
        if not target.is_file():
            raise NotFound(f"Artifact '{relpath}' not found.")
        return target.open("rb")


class ArtifactStorageUnavailable(RegistryError):
    """The store behind a version did not answer or refused Quorum: the client may retry later."""

    code = "TEMPORARILY_UNAVAILABLE"
    http_status = 503


@contextmanager
def _s3_errors(where: str) -> Iterator[None]:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "404", "NoSuchBucket"):
            raise NotFound(f"Artifact '{where}' not found.")
        raise ArtifactStorageUnavailable(f"The artifact store refused to serve '{where}' ({code}).")
    except BotoCoreError as exc:
        raise ArtifactStorageUnavailable(
            f"The artifact store is unreachable for '{where}' ({type(exc).__name__})."
        )


class S3Reader:
    def __init__(self, bucket: str, prefix: str) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def _client(self):
        # The artifact pipeline's client: same endpoint, region and credentials settings everywhere.
        from artifacts.stores import s3_client

        return s3_client()

    def _key(self, relpath: str) -> str:
        return "/".join(p for p in (self.prefix, relpath) if p)

    def open(self, relpath: str) -> BinaryIO:
        if not relpath:
            raise NotFound("Artifact '' is not a file.")
        with _s3_errors(relpath):
            return self._client().get_object(Bucket=self.bucket, Key=self._key(relpath))["Body"]


def reader_for(location: str) -> ArtifactReader | None:
    """A reader for a version location Quorum serves, or None when it serves none there."""
    root = _local_root(location)
    if root is not None:
        return LocalReader(root)
    parsed = urlparse(location)
    if parsed.scheme in ("s3", "s3a") and parsed.netloc:
        return S3Reader(parsed.netloc, parsed.path)
    return None


def version_location(version: ModelVersion) -> str:
    return version.storage_location or version.source


def download_uri(request: HttpRequest, version: ModelVersion) -> str:
    """What get-download-uri answers: a governed copy's location, else the proxy URL where Quorum serves.

    A path on Quorum's disk means nothing to a remote client, and an object-store location would
    hand out whatever it holds now: versions Quorum reads are answered with the absolute proxy URL
    of the version (HttpArtifactRepository downloads it through Quorum with the client's own MLflow
    credentials), where every byte is checked against the manifest. A governed copy is write-once and
    answered as it is; a location Quorum does not read is answered as stored.
    """
    location = version_location(version)
    manifest = version_manifest(version)
    if (
        manifest is not None
        and manifest.governed_location
        and _local_root(manifest.governed_location) is None
    ):
        return manifest.governed_location
    proxied = _local_root(location) is not None or (
        manifest is not None
        and manifest.state in (EvidenceState.VALIDATED, EvidenceState.FAILED)
        and reader_for(location) is not None
    )
    if not proxied:
        if urlparse(location).scheme == "mlflow-artifacts" and tracking.tracking_uri():
            # Relative to Quorum's tracking server, not to whatever tracking URI the client has.
            return tracking.absolute_location(location, tracking.tracking_uri())
        return location
    path = f"{NAMESPACE}/{quote(version.model.name, safe='')}/{version.version}"
    # From QUORUM_PUBLIC_URL: the Host header is the client's to choose (issue 20).
    return public_url(f"{PROXY_PATH}/{path}")


# --- Namespace resolution -----------------------------------------------------------------


def _resolve(user: User, relpath: str) -> tuple[ServedVersion, ArtifactReader, str]:
    parts = relpath.split("/")
    if len(parts) < 3 or parts[0] != NAMESPACE:
        raise NotFound(f"No artifact at '{relpath}': paths are {NAMESPACE}/<model>/<version>/<file>.")
    if not re.fullmatch(r"\d{1,9}", parts[2]):
        raise NotFound(f"No artifact at '{relpath}': '{parts[2]}' is not a version number.")
    number = int(parts[2])
    version = selectors.model_version_get(user, parts[1], number)
    manifest = version_manifest(version)
    location = (manifest and (manifest.governed_location or manifest.source_location)) or version_location(
        version
    )
    if reader_for(location) is None:
        raise NotFound(
            f"The artifacts of '{parts[1]}' version {number} are not served by Quorum; "
            "use the version's download URI directly."
        )
    served = artifact_services.version_served(version)
    return served, reader_for(served.location), "/".join(parts[3:])


def _listing(user: User, relpath: str) -> list[tuple[str, bool, int | None]]:
    if relpath == "":
        return [(NAMESPACE, True, None)]
    parts = relpath.split("/")
    if parts[0] != NAMESPACE:
        return []
    if len(parts) == 1:
        names = selectors.registered_models_visible_to(user).order_by("name").values_list("name", flat=True)
        return [(name, True, None) for name in names[:LIST_LIMIT]]
    if len(parts) == 2:
        model = selectors.registered_model_get(user, parts[1])
        numbers = model.versions.order_by("version").values_list("version", flat=True)
        return [(str(n), True, None) for n in numbers[:LIST_LIMIT]]
    served, _reader, inner = _resolve(user, relpath)
    return artifact_services.served_listing(served, inner)[:LIST_LIMIT]


def artifacts_list(request: HttpRequest, user: User, p: Params) -> dict:
    relpath = safe_relpath(p.optional_str("path") or "")
    files = []
    for name, is_dir, size in _listing(user, relpath):
        entry: dict = {"path": name, "is_dir": is_dir}
        if size is not None:
            entry["file_size"] = size
        files.append(entry)
    return {"files": files} if files else {}


def artifact_download(request: HttpRequest, user: User, p: Params, artifact_path: str) -> HttpResponseBase:
    relpath = safe_relpath(artifact_path)
    served, reader, inner = _resolve(user, relpath)
    entry = artifact_services.served_entry(served, inner)
    stream = reader.open(inner)
    download_id = artifact_services.download_start(actor=user, served=served, path=inner)
    body = artifact_services.served_bytes(served, entry, stream, actor=user, download_id=download_id)
    content_type = mimetypes.guess_type(inner)[0] or "application/octet-stream"
    response = FileResponse(
        body, content_type=content_type, as_attachment=True, filename=posixpath.basename(inner)
    )
    # The promised length: a transfer aborted on a digest mismatch arrives short, and clients fail it.
    response["Content-Length"] = str(entry.size)
    return response


READ_ONLY = frozenset({"GET"})


@csrf_exempt
def list_view(request: HttpRequest) -> HttpResponseBase:
    return run_endpoint(request, READ_ONLY, artifacts_list, label="mlflow-artifacts/artifacts")


@csrf_exempt
def download_view(request: HttpRequest, artifact_path: str) -> HttpResponseBase:
    def handler(req: HttpRequest, user: User, p: Params) -> HttpResponseBase:
        return artifact_download(req, user, p, artifact_path)

    return run_endpoint(request, READ_ONLY, handler, label="mlflow-artifacts/artifacts/<path>")


def server_info(request: HttpRequest, user: User, p: Params) -> dict:
    # Multipart and presigned transfers are off: the client then uses plain GETs, which we serve.
    return {
        "store_type": "quorum",
        "workspaces_enabled": False,
        "trace_archival_enabled": False,
        "multipart_uploads_enabled": False,
        "multipart_downloads_enabled": False,
        "presigned_upload_run_id_supported": False,
        "presigned_upload_model_id_supported": False,
        # Asked by the mlflow 3.18 client's HttpArtifactRepository before it transfers anything.
        "model_artifact_presigned_downloads_supported": False,
        "artifacts_presigned_only": False,
        "features_enabled": {"gateway": False},
    }


@csrf_exempt
def server_info_view(request: HttpRequest) -> HttpResponseBase:
    return run_endpoint(request, READ_ONLY, server_info, label="server-info")
