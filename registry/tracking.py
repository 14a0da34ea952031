"""Resolving `runs:/` and `models:/<model_id>` sources through an MLflow tracking server.

With QUORUM_MLFLOW_TRACKING_URI set, a version registered from `runs:/<run_id>/<path>` or from
an MLflow 3 logged model (`models:/m-…`) gets a concrete storage location at registration time,
read from the tracking server's REST API. The source stays as the client sent it.

A location the tracking server itself proxies (`mlflow-artifacts:/x`) is stored as the server
reported it (it is relative to QUORUM_MLFLOW_TRACKING_URI); `absolute_location` turns it into
`http://tracking/api/2.0/mlflow-artifacts/artifacts/x` for clients, whose own tracking URI may
point elsewhere.
"""

import json
import logging
import posixpath
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import quote, urlparse

import requests
from django.conf import settings

from registry.errors import InvalidParameter, RegistryError

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10
# The logged-model tag MLflow's server writes when a version registers from a logged model
# (mlflow.utils.mlflow_tags.MLFLOW_MODEL_VERSIONS): a JSON list of {"name", "version"}.
MODEL_VERSIONS_TAG = "mlflow.modelVersions"
# Run and logged-model artifact locations never change in MLflow, so they are kept per process.
LINEAGE_CACHE_SIZE = 4096
_lineage_cache: OrderedDict[tuple[str, str, str], str] = OrderedDict()
_lineage_lock = threading.Lock()
ARTIFACTS_PROXY_PATH = "/api/2.0/mlflow-artifacts/artifacts"


class TrackingServerUnavailable(RegistryError):
    """The configured tracking server did not answer, or answered with a server error."""

    code = "TEMPORARILY_UNAVAILABLE"
    http_status = 503


class LineageNotFound(InvalidParameter):
    """The tracking server does not know the run (or logged model) a version names."""


def tracking_uri() -> str:
    return (getattr(settings, "QUORUM_MLFLOW_TRACKING_URI", "") or "").rstrip("/")


def _get_json(base: str, path: str, params: dict[str, str], what: str) -> dict:
    url = f"{base}{path}"
    try:
        response = requests.get(url, params=params, timeout=TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        raise TrackingServerUnavailable(
            f"Could not resolve {what}: the tracking server at {base} did not answer ({type(exc).__name__})."
        )
    if response.status_code in (400, 404):
        raise LineageNotFound(
            f"Invalid model version source: {what} was not found on the tracking server {base}.",
            field="source",
        )
    if response.status_code != 200:
        raise TrackingServerUnavailable(
            f"Could not resolve {what}: the tracking server at {base} answered HTTP {response.status_code}."
        )
    try:
        body = response.json()
    except ValueError:
        raise TrackingServerUnavailable(f"Could not resolve {what}: the tracking server sent no JSON.")
    return body if isinstance(body, dict) else {}


def absolute_location(location: str, base: str) -> str:
    """A tracking server's artifact location made independent of the reader's tracking URI."""
    parsed = urlparse(location)
    if parsed.scheme != "mlflow-artifacts":
        return location
    server = urlparse(base)
    netloc = parsed.netloc or server.netloc
    path = posixpath.join(server.path or "/", ARTIFACTS_PROXY_PATH.lstrip("/"), parsed.path.lstrip("/"))
    return f"{server.scheme}://{netloc}{re.sub(r'//+', '/', path)}".rstrip("/")


def _run_info(base: str, run_id: str) -> dict:
    body = _get_json(base, "/api/2.0/mlflow/runs/get", {"run_id": run_id}, f"run '{run_id}'")
    info = body.get("run", {}).get("info", {})
    if (
        not isinstance(info, dict)
        or not isinstance(info.get("artifact_uri"), str)
        or not info["artifact_uri"]
    ):
        raise TrackingServerUnavailable(
            f"The tracking server returned no artifact location for run '{run_id}'."
        )
    return info


def _run_logged_model_uri(base: str, run_id: str, experiment_id: str, name: str) -> str | None:
    """The location of the MLflow 3 logged model `name` produced by the run, if there is one.

    MLflow 3's log_model writes under the logged model, not under the run, so `runs:/<run>/model`
    means that model's artifacts (the client's RunsArtifactRepository looks it up the same way).
    """
    if not experiment_id or "'" in name:
        return None
    try:
        response = requests.post(
            f"{base}/api/2.0/mlflow/logged-models/search",
            json={"experiment_ids": [experiment_id], "filter": f"name = '{name}'", "max_results": 100},
            timeout=TIMEOUT_SECONDS,
        )
    except requests.RequestException:
        return None  # older servers have no logged models; the run location stands
    if response.status_code != 200:
        return None
    try:
        models = response.json().get("models", [])
    except ValueError:
        return None
    for model in models if isinstance(models, list) else []:
        info = model.get("info", {}) if isinstance(model, dict) else {}
        if info.get("source_run_id") == run_id and isinstance(info.get("artifact_uri"), str):
            return info["artifact_uri"]
    return None


def run_get(run_id: str) -> dict:
    """The run as the tracking server reports it (info, data, inputs); RegistryError when it cannot.

    TrackingServerUnavailable when no server is configured or it does not answer; InvalidParameter
    when it does not know the run.
    """
    base = tracking_uri()
    if not base:
        raise TrackingServerUnavailable("No tracking server is configured (QUORUM_MLFLOW_TRACKING_URI).")
    run = _get_json(base, "/api/2.0/mlflow/runs/get", {"run_id": run_id}, f"run '{run_id}'").get("run", {})
    return run if isinstance(run, dict) else {}


def run_ui_url(experiment_id: str, run_id: str) -> str:
    """The run's page in the tracking server's UI."""
    base = tracking_uri()
    return (
        f"{base}/#/experiments/{quote(experiment_id, safe='')}/runs/{quote(run_id, safe='')}" if base else ""
    )


def _logged_model(base: str, model_id: str) -> dict:
    body = _get_json(
        base, f"/api/2.0/mlflow/logged-models/{quote(model_id, safe='')}", {}, f"logged model '{model_id}'"
    )
    model = body.get("model", {})
    return model if isinstance(model, dict) else {}


def _logged_model_info(base: str, model_id: str) -> dict:
    info = _logged_model(base, model_id).get("info", {})
    if (
        not isinstance(info, dict)
        or not isinstance(info.get("artifact_uri"), str)
        or not info["artifact_uri"]
    ):
        raise TrackingServerUnavailable(
            f"The tracking server returned no artifact location for logged model '{model_id}'."
        )
    return info


def _logged_model_artifact_uri(base: str, model_id: str) -> str:
    return _logged_model_info(base, model_id)["artifact_uri"]


@dataclass(frozen=True)
class ResolvedSource:
    """Where a source's artifacts are, and the run that produced them when the source says so."""

    location: str
    source_run_id: str = ""


def source_resolve(source: str) -> ResolvedSource:
    """The concrete storage location of a validated source ("" when it needs no resolution), and
    for an MLflow 3 logged model the run that logged it (MLflow's registry fills run_id from it).

    Only `runs:/` and `models:/<model_id>` are resolved, and only with a tracking server
    configured; without one they are stored as sent and clients resolve them themselves.
    """
    base = tracking_uri()
    if not base:
        return ResolvedSource("")
    run = re.match(r"^runs:/([^/]+)(?:/(.*))?$", source)
    if run:
        run_id, relative = run.group(1), (run.group(2) or "").strip("/")
        info = _run_info(base, run_id)
        if relative:
            name, _, rest = relative.partition("/")
            logged = _run_logged_model_uri(base, run_id, str(info.get("experiment_id", "")), name)
            if logged:
                return ResolvedSource(f"{logged.rstrip('/')}/{rest}" if rest else logged, run_id)
            return ResolvedSource(f"{info['artifact_uri'].rstrip('/')}/{relative}", run_id)
        return ResolvedSource(info["artifact_uri"], run_id)
    logged = re.match(r"^models:/(m-[0-9a-f]{32})/?$", source)
    if logged:
        info = _logged_model_info(base, logged.group(1))
        source_run = info.get("source_run_id")
        return ResolvedSource(info["artifact_uri"], source_run if isinstance(source_run, str) else "")
    return ResolvedSource("")


def logged_model_source_run(model_id: str) -> str:
    """The run that logged an MLflow 3 logged model, or "" (none, or no tracking server to ask)."""
    base = tracking_uri()
    if not base or not model_id:
        return ""
    source_run = _logged_model_info(base, model_id).get("source_run_id")
    return source_run if isinstance(source_run, str) else ""


def logged_model_versions_tag(*, model_id: str, name: str, version: int) -> None:
    """Record on the logged model that `name` version `version` was registered from it.

    What MLflow's server does after create_model_version (AbstractStore.set_model_versions_tags):
    read the tag, append {"name", "version"} unless it is already listed, write it back. Best
    effort, after commit: the version exists whether or not the tracking server takes the tag
    (MLflow's client only warns when it cannot write it either).
    """
    base = tracking_uri()
    if not base or not model_id:
        return
    entry = {"name": name, "version": version}
    try:
        info = _logged_model(base, model_id).get("info", {})
        tags = info.get("tags", []) if isinstance(info, dict) else []  # LoggedModelInfo.tags
        current = next(
            (t.get("value") for t in tags if isinstance(t, dict) and t.get("key") == MODEL_VERSIONS_TAG),
            None,
        )
        listed = json.loads(current) if current else []
        if not isinstance(listed, list):
            listed = []
        if entry in listed:
            return
        response = requests.patch(
            f"{base}/api/2.0/mlflow/logged-models/{quote(model_id, safe='')}/tags",
            json={"tags": [{"key": MODEL_VERSIONS_TAG, "value": json.dumps([*listed, entry])}]},
            timeout=TIMEOUT_SECONDS,
        )
        response.raise_for_status()
    except (RegistryError, requests.RequestException, ValueError) as exc:
        logger.warning(
            "Could not tag logged model %s with %s for %s version %s: %s",
            model_id, MODEL_VERSIONS_TAG, name, version, exc,
        )  # fmt: skip


def lineage_root(*, run_id: str = "", model_id: str = "") -> str | None:
    """The artifact location of the run (or MLflow 3 logged model) a version names, or None.

    None: no run or model is named, or no tracking server is configured to ask. An unknown run
    or model is an InvalidParameter naming only its id. `mlflow-artifacts:` locations come back
    as the server reported them (relative to it), like the sources clients send.
    """
    base = tracking_uri()
    if not base or not (run_id or model_id):
        return None
    key = (base, run_id, model_id)
    with _lineage_lock:
        cached = _lineage_cache.get(key)
        if cached is not None:
            _lineage_cache.move_to_end(key)
            return cached
    if model_id:
        location = _logged_model_artifact_uri(base, model_id)
    else:
        location = _run_info(base, run_id)["artifact_uri"]
    with _lineage_lock:
        _lineage_cache[key] = location
        while len(_lineage_cache) > LINEAGE_CACHE_SIZE:
            _lineage_cache.popitem(last=False)
    return location


def lineage_root_prefetch(*, run_id: str = "", model_id: str = "") -> None:
    """Ask for a lineage root ahead of the write lock; any error is raised again when it is needed."""
    try:
        lineage_root(run_id=run_id, model_id=model_id)
    except RegistryError:
        pass
