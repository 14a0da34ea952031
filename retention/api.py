"""Native API of retention and legal holds (/api/v1/legal-holds…, /api/v1/models/<name>/versions/<v>/retention)."""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from registry.api.schema import paginated
from registry.api.views import NativeAPIView, Pagination
from registry.errors import InvalidParameter
from registry.selectors import model_version_get
from retention import selectors, services
from retention.models import CopyLockRecord, LegalHold


class LegalHoldSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="model.name")
    version = serializers.SerializerMethodField()
    placed_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    released_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    active = serializers.BooleanField(read_only=True)
    reason = serializers.CharField(
        read_only=True, allow_null=True, help_text="Null unless the caller is compliance."
    )
    release_reason = serializers.CharField(read_only=True, allow_null=True)

    class Meta:
        model = LegalHold
        fields = [
            "id",
            "model",
            "version",
            "reason",
            "active",
            "placed_by",
            "placed_at",
            "released_by",
            "released_at",
            "release_reason",
        ]

    def get_version(self, hold: LegalHold) -> int | None:
        return hold.version.version if hold.version_id else None

    def to_representation(self, hold: LegalHold) -> dict[str, Any]:
        data = super().to_representation(hold)
        if not self.context.get("compliance"):
            # A matter's details are the compliance role's: others learn that a hold exists, not why.
            data["reason"] = data["release_reason"] = None
        return data


class LegalHoldInput(serializers.Serializer):
    model = serializers.CharField()
    version = serializers.IntegerField(required=False, allow_null=True, help_text="Empty: the whole model.")
    reason = serializers.CharField()


class LegalHoldReleaseInput(serializers.Serializer):
    reason = serializers.CharField()


def _version_number(raw: Any) -> int | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool) or not isinstance(raw, (int, str)) or not str(raw).isdigit():
        raise InvalidParameter(
            "version must be a positive integer, or empty for the whole model.", field="version"
        )
    return int(raw)


class LegalHoldListView(NativeAPIView):
    @extend_schema(responses=paginated(LegalHoldSerializer))
    def get(self, request: Request) -> Response:
        holds = selectors.legal_holds_visible_to(request.user)
        if request.query_params.get("active") in ("true", "1"):
            holds = holds.filter(released_at__isnull=True)
        paginator = Pagination()
        page = paginator.paginate_queryset(holds, request, view=self)
        context = {"compliance": selectors.is_compliance(request.user)}
        return paginator.get_paginated_response(LegalHoldSerializer(page, many=True, context=context).data)

    @extend_schema(request=LegalHoldInput, responses={201: LegalHoldSerializer})
    def post(self, request: Request) -> Response:
        data = request.data if isinstance(request.data, dict) else {}
        name = data.get("model")
        if not isinstance(name, str) or not name:
            raise InvalidParameter("model names the registered model to hold.", field="model")
        hold = services.legal_hold_place(
            actor=request.user,
            name=name,
            version=_version_number(data.get("version")),
            reason=data.get("reason"),
        )
        return Response(
            LegalHoldSerializer(hold, context={"compliance": True}).data, status=status.HTTP_201_CREATED
        )


class LegalHoldReleaseView(NativeAPIView):
    @extend_schema(request=LegalHoldReleaseInput, responses=LegalHoldSerializer)
    def post(self, request: Request, hold_id: int) -> Response:
        data = request.data if isinstance(request.data, dict) else {}
        hold = services.legal_hold_release(actor=request.user, hold_id=hold_id, reason=data.get("reason"))
        return Response(LegalHoldSerializer(hold, context={"compliance": True}).data)


class VersionRetentionView(NativeAPIView):
    @extend_schema(responses=dict)
    def get(self, request: Request, name: str, version: int) -> Response:
        row = model_version_get(request.user, name, version)
        retention = selectors.version_retention(row)
        lock = CopyLockRecord.objects.filter(version=row).first()
        holds = selectors.holds_active_on(row.model, row)
        return Response(
            {
                "model": name,
                "version": version,
                "retention_class": retention.retention_class.name,
                "years": retention.retention_class.years,
                "retain_until": retention.retain_until.isoformat() if retention.retain_until else None,
                "legal_holds": [hold.pk for hold in holds],
                "object_lock": (
                    {
                        "applied": lock.applied,
                        "mode": lock.mode,
                        "retain_until": lock.retain_until.isoformat() if lock.retain_until else None,
                        "legal_hold": lock.legal_hold,
                        "detail": lock.detail,
                    }
                    if lock
                    else None
                ),
            }
        )
