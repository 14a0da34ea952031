"""Audit API: read-only. Lists and exports start from the events the caller may see."""

import contextlib
from typing import Any

from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit import reports, selectors
from audit.chain import canonical_timestamp
from audit.export import FORMATS, events_export_lines, verifiable_export_lines
from audit.keys import CheckpointKeyUnavailable, public_keys, signing_key
from audit.models import AuditCheckpoint, AuditEvent
from registry.api.schema import paginated
from registry.errors import InvalidParameter, PermissionDenied
from registry.selectors import registered_models_visible_to

FILTER_PARAMS = [
    OpenApiParameter("model", str, description="Registered model name (follows renames)"),
    OpenApiParameter("version", int, description="Version number; needs model"),
    OpenApiParameter("actor", str, description="User name as recorded"),
    OpenApiParameter(
        "action", str, many=True, description="Action, comma-separated or repeated; 'request.*'"
    ),
    OpenApiParameter("since", str, description="ISO 8601 date or date-time (inclusive)"),
    OpenApiParameter(
        "until", str, description="ISO 8601 date or date-time (inclusive; a date means its end)"
    ),
    OpenApiParameter("after_seq", int, description="Only events after this sequence number"),
]
EXPORT_PARAMS = [
    *FILTER_PARAMS,
    OpenApiParameter(
        "verifiable",
        bool,
        description="Auditors, JSON Lines, no other filter: header, checkpoints and the whole chain, "
        "for `python -m audit.offline_verify`",
    ),
]
REPORT_PARAMS = [FILTER_PARAMS[0], FILTER_PARAMS[4], FILTER_PARAMS[5]]  # reports.REPORT_FILTERS


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        exclude = ["id"]


class AuditCheckpointSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditCheckpoint
        fields = ["id", "seq", "hash", "created_at", "key_id", "algorithm", "signature", "created_by"]


class PublicKeySerializer(serializers.Serializer):
    key_id = serializers.CharField()
    algorithm = serializers.CharField()
    current = serializers.BooleanField()
    public_key_pem = serializers.CharField()


class PublicKeysSerializer(serializers.Serializer):
    keys = PublicKeySerializer(many=True)


class Pagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 1000


def _filter(request: Request) -> selectors.EventFilter:
    return selectors.EventFilter.from_params(request.query_params, request.query_params.getlist)


class AuditEventListView(APIView):
    @extend_schema(parameters=FILTER_PARAMS, responses=paginated(AuditEventSerializer))
    def get(self, request: Request) -> Response:
        events = selectors.audit_events_list(request.user, _filter(request))
        paginator = Pagination()
        page = paginator.paginate_queryset(events, request, view=self)
        return paginator.get_paginated_response(AuditEventSerializer(page, many=True).data)


class AuditEventExportView(APIView):
    @extend_schema(parameters=EXPORT_PARAMS, responses={(200, "application/x-ndjson"): str})
    def get(self, request: Request, export_format: str) -> StreamingHttpResponse:
        if export_format not in FORMATS:
            raise InvalidParameter(
                f"Unknown export format '{export_format}'; use events/export.csv or events/export.jsonl.",
                field="format",
            )
        if request.query_params.get("verifiable", "").lower() in {"1", "true", "yes"}:
            lines = _verifiable_lines(request, export_format)
        else:
            lines = events_export_lines(
                selectors.audit_events_list(request.user, _filter(request)), export_format
            )
        response = StreamingHttpResponse(lines, content_type=FORMATS[export_format])
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        response["Content-Disposition"] = f'attachment; filename="audit-events-{stamp}.{export_format}"'
        return response


def _verifiable_lines(request: Request, export_format: str):
    """The whole chain with its checkpoints, for the offline verifier: auditors, JSON Lines, no filters."""
    if not selectors.user_is_auditor(request.user):
        raise PermissionDenied("The verifiable export is for auditors (audit.view_auditevent) only.")
    if export_format != "jsonl":
        raise InvalidParameter(
            "The verifiable export is JSON Lines: use events/export.jsonl.", field="format"
        )
    filters = sorted(set(request.query_params) - {"verifiable"})
    if filters:
        raise InvalidParameter(
            f"The verifiable export holds the whole chain; drop {', '.join(filters)}.", field=filters[0]
        )
    return verifiable_export_lines()


class CheckpointListView(APIView):
    @extend_schema(responses=paginated(AuditCheckpointSerializer))
    def get(self, request: Request) -> Response:
        if not selectors.user_is_auditor(request.user):
            raise PermissionDenied("Checkpoints are shown to auditors (audit.view_auditevent) only.")
        paginator = Pagination()
        page = paginator.paginate_queryset(
            AuditCheckpoint.objects.order_by("-seq", "-pk"), request, view=self
        )
        return paginator.get_paginated_response(AuditCheckpointSerializer(page, many=True).data)


class PublicKeysView(APIView):
    """The Ed25519 public keys checkpoints are signed with (current first, then retired ones)."""

    @extend_schema(responses=PublicKeysSerializer)
    def get(self, request: Request) -> Response:
        if not selectors.user_is_auditor(request.user):
            raise PermissionDenied("Audit keys are shown to auditors (audit.view_auditevent) only.")
        with contextlib.suppress(CheckpointKeyUnavailable):
            signing_key()  # the embedded default's key is made on first use; show it before any checkpoint
        return Response({"keys": [key.as_dict() for key in public_keys()]})


def _report(rows: list[dict[str, Any]], **meta: Any) -> Response:
    return Response(
        {**meta, "generated_at": canonical_timestamp(timezone.now()), "count": len(rows), "rows": rows}
    )


class ReportView(APIView):
    """One ready-made report (audit.reports.REPORTS), of the events and models the caller may see."""

    report = ""

    @extend_schema(parameters=REPORT_PARAMS, responses=dict)
    def get(self, request: Request) -> Response:
        event_filter = _filter(request)
        rows = reports.report_rows(
            self.report,
            selectors.audit_events_visible_to(request.user),
            event_filter,
            registered_models_visible_to(request.user).order_by("name"),
        )
        name = reports.REPORTS[self.report].api_name or self.report.replace("-", "_")
        return _report(rows, report=name, model=event_filter.model or None)


def report_view(name: str) -> Any:
    return type(f"{name.title().replace('-', '')}ReportView", (ReportView,), {"report": name}).as_view()
