"""The 21 MLflow model-registry endpoints, each a thin call into registry services or selectors."""

from typing import Any

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from accounts.models import User
from config.celery import app as celery_app
from fronts.mlflow import artifacts
from fronts.mlflow.errors import error_response, missing_parameter
from fronts.mlflow.render import model_version_json, registered_model_json
from fronts.mlflow.transport import Handler, Params, run_endpoint, served_json_response
from registry import rules, search, selectors, services
from registry.models import ModelVersion, RegisteredModel


def _model_body(user: User, name: str) -> dict[str, Any]:
    model = selectors.registered_model_detail_queryset(
        RegisteredModel.objects.filter(pk=selectors.registered_model_get(user, name).pk)
    ).get()
    latest = selectors.latest_versions_by_model([model]).get(model.pk, [])
    return {"registered_model": registered_model_json(model, latest)}


def _version_body(user: User, name: str, version: int) -> dict[str, Any]:
    return {"model_version": model_version_json(selectors.model_version_get(user, name, version))}


# --- Registered models -------------------------------------------------------------------


def registered_model_create(request: HttpRequest, user: User, p: Params) -> dict[str, Any]:
    model = services.registered_model_create(
        actor=user,
        name=p.required("name"),
        description=p.optional_str("description") or "",
        tags=p.tags(),
    )
    return _model_body(user, model.name)


def registered_model_rename(request: HttpRequest, user: User, p: Params) -> dict[str, Any]:
    name, new_name = p.required("name"), p.required("new_name")
    model = services.registered_model_rename(actor=user, name=name, new_name=new_name)
    return _model_body(user, model.name)


def registered_model_update(request: HttpRequest, user: User, p: Params) -> dict[str, Any]:
    name = p.required("name")
    services.registered_model_update(actor=user, name=name, description=p.optional_str("description"))
    return _model_body(user, name)


def registered_model_delete(request: HttpRequest, user: User, p: Params) -> dict[str, Any]:
    services.registered_model_delete(actor=user, name=p.required("name"))
    return {}


def registered_model_get(request: HttpRequest, user: User, p: Params) -> dict[str, Any]:
    return _model_body(user, p.required("name"))


def registered_models_search(request: HttpRequest, user: User, p: Params) -> dict[str, Any]:
    max_results = search.max_results_parse(
        p.data.get("max_results"), default=search.MODELS_DEFAULT_RESULTS, maximum=search.MODELS_MAX_RESULTS
    )
    queryset = selectors.registered_models_search(
        user, filter_string=p.optional_str("filter"), order_by=p.str_list("order_by")
    )
    rows, next_token = search.page_slice(
        queryset, max_results=max_results, page_token=p.data.get("page_token")
    )
    latest = selectors.latest_versions_by_model(rows)
    body: dict[str, Any] = {}
    if rows:
        body["registered_models"] = [registered_model_json(m, latest.get(m.pk, [])) for m in rows]
    if next_token:
        body["next_page_token"] = next_token
    return body


def latest_versions_get(request: HttpRequest, user: User, p: Params) -> dict[str, Any]:
    model = selectors.registered_model_get(user, p.required("name"))
    stages = [rules.parse_stage(s) for s in p.str_list("stages")]
    versions = selectors.latest_versions(model, stages)
    return {"model_versions": [model_version_json(v) for v in versions]} if versions else {}


def registered_model_tag_set(request: HttpRequest, user: User, p: Params) -> dict[str, Any]:
    value = p.optional_str("value")
    if value is None:
        raise missing_parameter("value")
    services.registered_model_tag_set(actor=user, name=p.required("name"), key=p.required("key"), value=value)
    return {}


def registered_model_tag_delete(request: HttpRequest, user: User, p: Params) -> dict[str, Any]:
    services.registered_model_tag_delete(actor=user, name=p.required("name"), key=p.required("key"))
    return {}


# --- Model versions ----------------------------------------------------------------------


def model_version_create(request: HttpRequest, user: User, p: Params) -> dict[str, Any]:
    name = p.required("name")
    row = services.model_version_create(
        actor=user,
        name=name,
        source=p.required("source"),
        run_id=p.optional_str("run_id") or "",
        run_link=p.optional_str("run_link") or "",
        description=p.optional_str("description") or "",
        tags=p.tags(),
        model_id=p.optional_str("model_id") or "",
    )
    if celery_app.conf.task_always_eager:
        # Validation ran in-process at commit and may have moved the status already: read it back.
        return _version_body(user, name, row.version)
    # Validation is queued: the version as created is the answer (tags and all), no read back.
    return {"model_version": model_version_json(row)}


def model_version_update(request: HttpRequest, user: User, p: Params) -> dict[str, Any]:
    name, version = p.required("name"), p.version()
    services.model_version_update(
        actor=user, name=name, version=version, description=p.optional_str("description")
    )
    return _version_body(user, name, version)


def model_version_transition(request: HttpRequest, user: User, p: Params) -> dict[str, Any]:
    name, version = p.required("name"), p.version()
    services.model_version_stage_transition(
        actor=user,
        name=name,
        version=version,
        stage=p.required("stage"),
        archive_existing_versions=p.flag("archive_existing_versions"),
    )
    return _version_body(user, name, version)


def model_version_delete(request: HttpRequest, user: User, p: Params) -> dict[str, Any]:
    services.model_version_delete(actor=user, name=p.required("name"), version=p.version())
    return {}


def model_version_get(request: HttpRequest, user: User, p: Params) -> HttpResponseBase:
    return served_json_response(
        request, ("model-versions/get", user.pk), lambda: _version_body(user, p.required("name"), p.version())
    )


def model_versions_search(request: HttpRequest, user: User, p: Params) -> dict[str, Any]:
    max_results = search.max_results_parse(
        p.data.get("max_results"),
        default=search.VERSIONS_DEFAULT_RESULTS,
        maximum=search.VERSIONS_MAX_RESULTS,
        minimum=1,
    )
    queryset = selectors.model_versions_search(
        user, filter_string=p.optional_str("filter"), order_by=p.str_list("order_by")
    )
    rows, next_token = search.page_slice(
        queryset, max_results=max_results, page_token=p.data.get("page_token")
    )
    body: dict[str, Any] = {}
    if rows:
        body["model_versions"] = [model_version_json(v) for v in rows]
    if next_token:
        body["next_page_token"] = next_token
    return body


def download_uri_get(request: HttpRequest, user: User, p: Params) -> dict[str, Any]:
    row: ModelVersion = selectors.model_version_get(user, p.required("name"), p.version())
    return {"artifact_uri": artifacts.download_uri(request, row)}


def model_version_tag_set(request: HttpRequest, user: User, p: Params) -> dict[str, Any]:
    value = p.optional_str("value")
    if value is None:
        raise missing_parameter("value")
    services.model_version_tag_set(
        actor=user, name=p.required("name"), version=p.version(), key=p.required("key"), value=value
    )
    return {}


def model_version_tag_delete(request: HttpRequest, user: User, p: Params) -> dict[str, Any]:
    services.model_version_tag_delete(
        actor=user, name=p.required("name"), version=p.version(), key=p.required("key")
    )
    return {}


# --- Aliases -----------------------------------------------------------------------------


def alias_set(request: HttpRequest, user: User, p: Params) -> dict[str, Any]:
    services.alias_set(actor=user, name=p.required("name"), alias=p.required("alias"), version=p.version())
    return {}


def alias_delete(request: HttpRequest, user: User, p: Params) -> dict[str, Any]:
    services.alias_delete(actor=user, name=p.required("name"), alias=p.required("alias"))
    return {}


def alias_get(request: HttpRequest, user: User, p: Params) -> HttpResponseBase:
    def build() -> dict[str, Any]:
        version = selectors.model_version_by_alias(user, p.required("name"), p.required("alias"))
        return {"model_version": model_version_json(version)}

    return served_json_response(request, ("registered-models/alias", user.pk), build)


def _alias_dispatch(request: HttpRequest, user: User, p: Params) -> HttpResponseBase | dict[str, Any]:
    handlers = {"GET": alias_get, "POST": alias_set, "DELETE": alias_delete}
    return handlers["GET" if request.method == "HEAD" else request.method](request, user, p)


# path -> (methods, handler, URL name). The URL names are what accounts.routes declares rules for.
ENDPOINTS: dict[str, tuple[frozenset[str], Handler, str]] = {
    "registered-models/create": (frozenset({"POST"}), registered_model_create, "registered-models-create"),
    "registered-models/rename": (frozenset({"POST"}), registered_model_rename, "registered-models-rename"),
    "registered-models/update": (frozenset({"PATCH"}), registered_model_update, "registered-models-update"),
    "registered-models/delete": (frozenset({"DELETE"}), registered_model_delete, "registered-models-delete"),
    "registered-models/get": (frozenset({"GET"}), registered_model_get, "registered-models-get"),
    # POST too: a filter longer than a request line fits in a body (MLflow's client itself sends GET).
    "registered-models/search": (
        frozenset({"GET", "POST"}),
        registered_models_search,
        "registered-models-search",
    ),
    "registered-models/get-latest-versions": (
        frozenset({"GET", "POST"}),
        latest_versions_get,
        "registered-models-get-latest-versions",
    ),
    "registered-models/set-tag": (frozenset({"POST"}), registered_model_tag_set, "registered-models-set-tag"),
    "registered-models/delete-tag": (
        frozenset({"DELETE"}),
        registered_model_tag_delete,
        "registered-models-delete-tag",
    ),
    "registered-models/alias": (
        frozenset({"GET", "POST", "DELETE"}),
        _alias_dispatch,
        "registered-models-alias",
    ),
    "model-versions/create": (frozenset({"POST"}), model_version_create, "model-versions-create"),
    "model-versions/update": (frozenset({"PATCH"}), model_version_update, "model-versions-update"),
    "model-versions/transition-stage": (
        frozenset({"POST"}),
        model_version_transition,
        "model-versions-transition-stage",
    ),
    "model-versions/delete": (frozenset({"DELETE"}), model_version_delete, "model-versions-delete"),
    "model-versions/get": (frozenset({"GET"}), model_version_get, "model-versions-get"),
    "model-versions/search": (frozenset({"GET", "POST"}), model_versions_search, "model-versions-search"),
    "model-versions/get-download-uri": (
        frozenset({"GET"}),
        download_uri_get,
        "model-versions-get-download-uri",
    ),
    "model-versions/set-tag": (frozenset({"POST"}), model_version_tag_set, "model-versions-set-tag"),
    "model-versions/delete-tag": (
        frozenset({"DELETE"}),
        model_version_tag_delete,
        "model-versions-delete-tag",
    ),
}


@csrf_exempt  # API clients authenticate per request; session callers are CSRF-checked by DRF's SessionAuthentication
def registry_endpoint(request: HttpRequest, endpoint: str) -> HttpResponseBase:
    methods, handler, _name = ENDPOINTS[endpoint]
    return run_endpoint(request, methods, handler, label=endpoint)


@csrf_exempt
def endpoint_not_found(request: HttpRequest, path: str = "") -> HttpResponseBase:
    return error_response(
        "ENDPOINT_NOT_FOUND", f"No API endpoint {request.method} {request.path} in this server.", 404
    )
