"""Databricks-compatible transition-request and comment endpoints under /api/2.0/mlflow/.

Existing scripts written against Databricks' Model Registry keep working: same paths, bodies and
activity shapes. They are a thin front over the same workflow services as the native API, and errors
use MLflow's JSON format `{"error_code", "message"}`. Databricks applies a stage on one approval;
here an approval counts towards the policy's quorum and the request applies once it is met.

Quorum extensions, ignored by Databricks clients that do not know them: a `stage` of `@<alias>`
requests a governed alias (the Databricks SDK's model_registry passes it through as a string), and
request answers carry `evidence`, what approvers are shown (workflows/evidence.py).
"""

from django.http import HttpRequest, JsonResponse
from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from access.grants import Level, user_can
from accounts.signing import SigningCredentials
from registry import rules as registry_rules
from registry.api.views import _validated
from registry.errors import InvalidParameter, NotFound
from workflows import evidence as request_evidence
from workflows import selectors, services
from workflows.models import (
    ActivityType,
    TargetKind,
    TransitionRequest,
    VersionActivity,
)
from workflows.serializers import SignatureSerializer, SigningSerializer


def databricks_config(request: HttpRequest) -> JsonResponse:
    """What the Databricks SDK asks every host for when it configures itself (HostMetadata).

    Quorum is a workspace reached with a personal access token: no OIDC endpoint to discover, no
    account or cloud. Answering stops the SDK's "Failed to automatically resolve config" warning.
    """
    if request.method != "GET":
        return JsonResponse({"error_code": "BAD_REQUEST", "message": "Use GET."}, status=405)
    return JsonResponse({"oidc_endpoint": "", "account_id": None, "workspace_id": None, "cloud": None})


def _ms(moment) -> int:
    return int(moment.timestamp() * 1000)


def _params(request) -> dict:
    """Databricks clients send GET and DELETE parameters in the query string, others in a JSON body."""
    params = request.query_params.dict()
    data = request.data
    if hasattr(data, "dict"):  # a form-encoded QueryDict: one value per key, as for the query string
        data = data.dict()
    if isinstance(data, dict):
        params.update(data)
    return params


def _required(params: dict, key: str) -> object:
    value = params.get(key)
    if value is None or value == "":
        raise InvalidParameter(f"Missing value for required parameter '{key}'.", field=key)
    if key in {"name", "stage", "creator"} and not isinstance(value, str):
        raise InvalidParameter(f"Parameter '{key}' must be a string.", field=key)
    return value


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "yes"}


def _signing(params: dict) -> SigningCredentials | None:
    """The decision's electronic signature: the native API's `signature` object beside Databricks' fields."""
    if params.get("signature") in (None, ""):
        return None
    return SigningCredentials(**_validated(SigningSerializer, params["signature"]))


def _signature_json(request_id: int, user) -> dict | None:
    """The signature the user just gave this request, as the native API shows it (None: unsigned)."""
    signed = selectors.signature_latest_by(user, request_id)
    return SignatureSerializer(signed).data if signed is not None else None


def activity_json(entry: VersionActivity) -> dict:
    return {
        "id": str(entry.pk),
        "activity_type": entry.activity_type,
        "from_stage": entry.from_stage or None,
        "to_stage": entry.to_stage or None,
        "user_id": entry.user.get_username() if entry.user_id else "system",
        "comment": entry.comment or None,
        "system_comment": entry.system_comment or None,
        "creation_timestamp": _ms(entry.created_at),
        "last_updated_timestamp": _ms(entry.updated_at),
    }


def _request_actions(user, request: TransitionRequest) -> list[str]:
    actions = []
    if selectors.approve_refusal_for(user, request) is None:
        actions.append("APPROVE_TRANSITION_REQUEST")
    if selectors.reject_refusal_for(user, request) is None:
        actions.append("REJECT_TRANSITION_REQUEST")
    if request.is_open and (request.requester_id == user.pk or user_can(user, Level.MANAGE, request.model)):
        actions.append("CANCEL_TRANSITION_REQUEST")
    return actions


def _requested_activity(request: TransitionRequest) -> VersionActivity:
    return (
        request.activities.filter(activity_type=ActivityType.REQUESTED_TRANSITION)
        .select_related("user")
        .first()
    )


def _latest_activity(request: TransitionRequest, activity_type: ActivityType, user) -> dict:
    entry = (
        request.activities.filter(activity_type=activity_type, user=user)
        .select_related("user")
        .order_by("-pk")
        .first()
    )
    return activity_json(entry)


def _target(value: object) -> tuple[str, str]:
    """(target kind, target) from a Databricks `stage`: a stage name, or `@alias` for a governed alias."""
    if isinstance(value, str) and value.startswith("@"):
        return TargetKind.ALIAS, value[1:]
    # Stage names are matched as MLflow accepts them (case-insensitive), returned canonical.
    return TargetKind.STAGE, registry_rules.parse_stage(value).value


def _open_stage_request(user, params: dict, *, creator: str | None = None) -> TransitionRequest:
    name = _required(params, "name")
    version = registry_rules.parse_version_number(_required(params, "version"))
    kind, target = _target(_required(params, "stage"))
    found = selectors.pending_stage_requests_of(user, name, version, target, target_kind=kind)
    if creator is not None:
        found = found.filter(requester__username=creator)
    request = found.first()
    if request is None:
        label = f"@{target}" if kind == TargetKind.ALIAS else f"stage '{target}'"
        raise NotFound(f"No open transition request for '{name}' version {version} to {label}.")
    return request


class CreateTransitionRequestView(APIView):
    def post(self, request):
        params = _params(request)
        stage = _required(params, "stage")
        # A stage is checked by the service as on every route; `@alias` names a governed alias.
        is_alias = isinstance(stage, str) and stage.startswith("@")
        kind, target = (TargetKind.ALIAS, stage[1:]) if is_alias else (TargetKind.STAGE, stage)
        row = services.transition_request_create(
            actor=request.user,
            name=_required(params, "name"),
            version=_required(params, "version"),
            target_kind=kind,
            target=target,
            reason=params.get("comment"),
        )
        entry = _requested_activity(row)
        return Response(
            {
                "request": {
                    "id": str(row.pk),
                    "creation_timestamp": _ms(entry.created_at),
                    "to_stage": row.target_label if kind == TargetKind.ALIAS else row.target,
                    "user_id": request.user.get_username(),
                    "comment": row.reason,
                    "available_actions": _request_actions(request.user, row),
                    "evidence": request_evidence.request_evidence_view(row),
                }
            }
        )


class ApproveTransitionRequestView(APIView):
    def post(self, request):
        params = _params(request)
        found = _open_stage_request(request.user, params)
        services.transition_request_approve(
            actor=request.user,
            request_id=found.pk,
            comment=params.get("comment"),
            archive_existing_versions=_flag(params.get("archive_existing_versions", False)),
            signing=_signing(params),
            http_request=request,
        )
        return Response(
            {
                "activity": _latest_activity(found, ActivityType.APPROVED_REQUEST, request.user),
                "signature": _signature_json(found.pk, request.user),
            }
        )


class RejectTransitionRequestView(APIView):
    def post(self, request):
        params = _params(request)
        found = _open_stage_request(request.user, params)
        services.transition_request_reject(
            actor=request.user,
            request_id=found.pk,
            comment=params.get("comment"),
            signing=_signing(params),
            http_request=request,
        )
        return Response(
            {
                "activity": _latest_activity(found, ActivityType.REJECTED_REQUEST, request.user),
                "signature": _signature_json(found.pk, request.user),
            }
        )


class DeleteTransitionRequestView(APIView):
    def delete(self, request):
        params = _params(request)
        found = _open_stage_request(request.user, params, creator=str(_required(params, "creator")))
        services.transition_request_cancel(
            actor=request.user, request_id=found.pk, comment=params.get("comment")
        )
        return Response({"activity": _latest_activity(found, ActivityType.CANCELLED_REQUEST, request.user)})


class ListTransitionRequestsView(APIView):
    def get(self, request):
        params = _params(request)
        name = _required(params, "name")
        version = registry_rules.parse_version_number(_required(params, "version"))
        pending = selectors.pending_stage_requests_of(request.user, name, version)
        requests = []
        for found in pending:
            body = activity_json(_requested_activity(found))
            body["available_actions"] = _request_actions(request.user, found)
            body["evidence"] = request_evidence.request_evidence_view(found)
            requests.append(body)
        return Response({"requests": requests})


def _comment_json(entry: VersionActivity, user) -> dict:
    body = activity_json(entry)
    actions = []
    if entry.user_id == user.pk:
        actions.append("EDIT_COMMENT")
    if entry.user_id == user.pk or user_can(user, Level.MANAGE, entry.version.model):
        actions.append("DELETE_COMMENT")
    return {
        "id": body["id"],
        "user_id": body["user_id"],
        "comment": entry.comment,
        "creation_timestamp": body["creation_timestamp"],
        "last_updated_timestamp": body["last_updated_timestamp"],
        "available_actions": actions,
    }


class CreateCommentView(APIView):
    def post(self, request):
        params = _params(request)
        entry = services.version_comment_create(
            actor=request.user,
            name=_required(params, "name"),
            version=_required(params, "version"),
            comment=params.get("comment"),
        )
        return Response({"comment": _comment_json(entry, request.user)})


class UpdateCommentView(APIView):
    def patch(self, request):
        params = _params(request)
        entry = services.version_comment_update(
            actor=request.user, comment_id=_required(params, "id"), comment=params.get("comment")
        )
        return Response({"comment": _comment_json(entry, request.user)})


class DeleteCommentView(APIView):
    def delete(self, request):
        params = _params(request)
        services.version_comment_delete(actor=request.user, comment_id=_required(params, "id"))
        return Response({})


urlpatterns = [
    path(
        "transition-requests/create", CreateTransitionRequestView.as_view(), name="databricks-request-create"
    ),
    path(
        "transition-requests/approve",
        ApproveTransitionRequestView.as_view(),
        name="databricks-request-approve",
    ),
    path(
        "transition-requests/reject", RejectTransitionRequestView.as_view(), name="databricks-request-reject"
    ),
    path(
        "transition-requests/delete", DeleteTransitionRequestView.as_view(), name="databricks-request-delete"
    ),
    path("transition-requests/list", ListTransitionRequestsView.as_view(), name="databricks-request-list"),
    path("comments/create", CreateCommentView.as_view(), name="databricks-comment-create"),
    path("comments/update", UpdateCommentView.as_view(), name="databricks-comment-update"),
    path("comments/delete", DeleteCommentView.as_view(), name="databricks-comment-delete"),
]
