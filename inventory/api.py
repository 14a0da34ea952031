"""Native API of the model inventory (/api/v1/inventory…, /api/v1/models/<name>/inventory)."""

import json
import zipfile
from typing import Any

from django.http import FileResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from inventory import evidence_pack, pack_pdf, reports, selectors, services
from inventory.models import (
    CARD_SECTIONS,
    Finding,
    InventoryRecord,
    LifecycleStatus,
    ModelCard,
    Validation,
    ValidationOutcome,
)
from registry.api.schema import paginated
from registry.api.views import NativeAPIView, Pagination
from registry.errors import InvalidParameter


class InventorySerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="model.name")
    developer = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    production_version = serializers.SerializerMethodField()

    class Meta:
        model = InventoryRecord
        fields = [
            "model",
            "risk_tier",
            "intended_use",
            "business_owner",
            "developer",
            "third_party",
            "lifecycle_status",
            "regulatory_tags",
            "production_version",
            "updated_at",
        ]

    def get_production_version(self, record: InventoryRecord) -> int | None:
        return getattr(record, "production_version", None)


class InventoryInput(serializers.Serializer):
    """Input shape for the schema; the service validates every field and answers 400 itself."""

    risk_tier = serializers.CharField(required=False)
    intended_use = serializers.CharField(required=False)
    business_owner = serializers.CharField(required=False)
    developer = serializers.CharField(required=False, allow_null=True)
    third_party = serializers.BooleanField(required=False)
    lifecycle_status = serializers.ChoiceField(choices=LifecycleStatus.values, required=False)
    regulatory_tags = serializers.ListField(child=serializers.CharField(), required=False)


FILTERS = [
    OpenApiParameter("tier", str, description="Only models in this risk tier"),
    OpenApiParameter("status", str, enum=LifecycleStatus.values),
    OpenApiParameter("tag", str, description="Only models carrying this regulatory-scope tag"),
]


def _filters(request: Request) -> dict[str, Any]:
    return {key: request.query_params.get(key) or None for key in ("tier", "status", "tag")}


class InventoryListView(NativeAPIView):
    @extend_schema(parameters=FILTERS, responses=paginated(InventorySerializer))
    def get(self, request: Request) -> Response:
        paginator = Pagination()
        page = paginator.paginate_queryset(
            selectors.inventory_visible_to(request.user, **_filters(request)), request, view=self
        )
        return paginator.get_paginated_response(InventorySerializer(page, many=True).data)


class CSVRenderer(BaseRenderer):
    """`?format=csv` (DRF's format override): a report's text as CSV; an error stays JSON text."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        if isinstance(data, str):
            return data.encode()
        return json.dumps(data).encode()


class InventoryReportView(NativeAPIView):
    renderer_classes = [JSONRenderer, CSVRenderer]

    @extend_schema(
        parameters=[*FILTERS, OpenApiParameter("format", str, enum=["json", "csv"])],
        responses={(200, "application/json"): dict, (200, "text/csv"): str},
    )
    def get(self, request: Request) -> Response:
        rows = selectors.inventory_report(request.user, **_filters(request))
        if request.accepted_renderer.format == "csv":
            return Response(
                reports.rows_csv(rows, reports.REPORT_COLUMNS),
                headers={"Content-Disposition": 'attachment; filename="model-inventory.csv"'},
            )
        return Response({"models": rows, "tiers": selectors.tiers_described()})


class ModelInventoryView(NativeAPIView):
    @extend_schema(responses=InventorySerializer)
    def get(self, request: Request, name: str) -> Response:
        return Response(InventorySerializer(selectors.inventory_get(request.user, name)).data)

    @extend_schema(request=InventoryInput, responses=InventorySerializer)
    def patch(self, request: Request, name: str) -> Response:
        services.inventory_update(actor=request.user, name=name, changes=request.data)
        return Response(InventorySerializer(selectors.inventory_get(request.user, name)).data)


class FindingSerializer(serializers.ModelSerializer):
    class Meta:
        model = Finding
        fields = ["severity", "description", "remediation_status"]


class ValidationSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="version.model.name")
    version = serializers.IntegerField(source="version.version")
    validator = serializers.SlugRelatedField(slug_field="username", read_only=True)
    findings = FindingSerializer(many=True)

    class Meta:
        model = Validation
        fields = [
            "id",
            "model",
            "version",
            "validator",
            "scope",
            "findings",
            "conditions",
            "outcome",
            "risk_tier",
            "validated_on",
            "next_review_on",
            "created_at",
        ]


class ValidationInput(serializers.Serializer):
    """Input shape for the schema; the service validates every field and answers 400 itself."""

    scope = serializers.CharField()
    outcome = serializers.ChoiceField(choices=ValidationOutcome.values)
    conditions = serializers.CharField(required=False)
    findings = FindingSerializer(many=True, required=False)


VALIDATION_FIELDS = ("scope", "outcome", "conditions", "findings")


class VersionValidationListView(NativeAPIView):
    @extend_schema(responses=paginated(ValidationSerializer))
    def get(self, request: Request, name: str, version: int) -> Response:
        paginator = Pagination()
        page = paginator.paginate_queryset(
            selectors.validations_of(request.user, name, version), request, view=self
        )
        return paginator.get_paginated_response(ValidationSerializer(page, many=True).data)

    @extend_schema(request=ValidationInput, responses={201: ValidationSerializer})
    def post(self, request: Request, name: str, version: int) -> Response:
        if not isinstance(request.data, dict):
            raise InvalidParameter("The request body must be a JSON object.")
        unknown = sorted(set(request.data) - set(VALIDATION_FIELDS))
        if unknown:
            raise InvalidParameter(f"Unknown field '{unknown[0]}'.", field=unknown[0])
        validation = services.validation_record(
            actor=request.user,
            name=name,
            version=version,
            scope=request.data.get("scope"),
            outcome=request.data.get("outcome"),
            findings=request.data.get("findings"),
            conditions=request.data.get("conditions"),
        )
        return Response(ValidationSerializer(validation).data, status=status.HTTP_201_CREATED)


class OverdueReviewsView(NativeAPIView):
    @extend_schema(responses=paginated(ValidationSerializer))
    def get(self, request: Request) -> Response:
        paginator = Pagination()
        rows = selectors.validations_overdue_visible_to(request.user, timezone.localdate()).prefetch_related(
            "findings"
        )
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(ValidationSerializer(page, many=True).data)


class ModelCardSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="version.model.name")
    version = serializers.IntegerField(source="version.version")
    author = serializers.SlugRelatedField(slug_field="username", read_only=True)
    approved_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = ModelCard
        fields = [
            "model",
            "version",
            *CARD_SECTIONS,
            "state",
            "author",
            "approved_by",
            "approved_at",
            "approved_digest",
            "updated_at",
        ]


class ModelCardView(NativeAPIView):
    @extend_schema(responses=ModelCardSerializer)
    def get(self, request: Request, name: str, version: int) -> Response:
        return Response(ModelCardSerializer(selectors.model_card_get(request.user, name, version)).data)

    @extend_schema(request=ModelCardSerializer, responses=ModelCardSerializer)
    def patch(self, request: Request, name: str, version: int) -> Response:
        card = services.model_card_update(
            actor=request.user, name=name, version=version, sections=request.data
        )
        return Response(ModelCardSerializer(card).data)


class ModelCardSubmitView(NativeAPIView):
    @extend_schema(request=None, responses=ModelCardSerializer)
    def post(self, request: Request, name: str, version: int) -> Response:
        return Response(
            ModelCardSerializer(
                services.model_card_submit(actor=request.user, name=name, version=version)
            ).data
        )


class ModelCardApproveView(NativeAPIView):
    @extend_schema(request=None, responses=ModelCardSerializer)
    def post(self, request: Request, name: str, version: int) -> Response:
        return Response(
            ModelCardSerializer(
                services.model_card_approve(actor=request.user, name=name, version=version)
            ).data
        )


class DraftFromEvidenceInput(serializers.Serializer):
    overwrite = serializers.BooleanField(
        required=False, help_text="Replace sections that already hold text (never an approved card's)."
    )


class ModelCardDraftFromEvidenceView(NativeAPIView):
    """Fill the card's training-data and evaluation sections from the version's run (params, metrics,
    datasets): a starting draft; 409 for an approved or submitted card, or text a person wrote."""

    @extend_schema(request=DraftFromEvidenceInput, responses=ModelCardSerializer)
    def post(self, request: Request, name: str, version: int) -> Response:
        body = request.data if request.data else {}
        if not isinstance(body, dict):
            raise InvalidParameter("The request body must be a JSON object.")
        unknown = sorted(set(body) - {"overwrite"})
        if unknown:
            raise InvalidParameter(f"Unknown field '{unknown[0]}'.", field=unknown[0])
        card = services.model_card_draft_from_evidence(
            actor=request.user, name=name, version=version, overwrite=body.get("overwrite", False)
        )
        return Response(ModelCardSerializer(card).data)


class EvidencePackView(NativeAPIView):
    """One zip for an auditor: card, validations, requests and approvals, audit events with their chain
    proof and covering checkpoint, attestations, manifest, and a PDF of it all. The download is audited."""

    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY})
    def get(self, request: Request, name: str, version: int) -> FileResponse:
        pack = evidence_pack.evidence_pack_collect(request.user, name, version)
        archive = evidence_pack.evidence_pack_write(pack, pack_pdf.evidence_pack_pdf(pack))
        with zipfile.ZipFile(archive) as opened:
            files = sorted(opened.namelist())
        archive.seek(0)
        services.evidence_pack_download_record(
            actor=request.user,
            version=pack.row,
            archive_sha256=evidence_pack.pack_digest(archive),
            files=files,
            chain_proof=pack.chain_proof is not None,
        )
        return FileResponse(
            archive,
            as_attachment=True,
            filename=f"evidence-pack-{pack.model}-v{pack.version}.zip",
            content_type="application/zip",
        )
