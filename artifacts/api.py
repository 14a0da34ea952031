"""Native API of the artifact pipeline: job progress, version evidence, governed copy, retry."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from artifacts import selectors, services
from artifacts.models import (
    ArtifactDownload,
    ArtifactJob,
    Attestation,
    DeploymentRecord,
    SourcePrefix,
    TrustedSigner,
)
from registry.api.schema import paginated
from registry.rules import parse_version_number


class ArtifactJobSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="version.model.name")
    version = serializers.IntegerField(source="version.version")
    percent_done = serializers.IntegerField(read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ArtifactJob
        fields = [
            "id",
            "kind",
            "name",
            "version",
            "status",
            "request_id",
            "destination",
            "objects_done",
            "objects_total",
            "bytes_done",
            "bytes_total",
            "percent_done",
            "error",
            "attempts",
            "created_by",
            "created_at",
            "started_at",
            "heartbeat_at",
            "finished_at",
        ]


class ManifestEntrySerializer(serializers.Serializer):
    path = serializers.CharField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    governed_verified_at = serializers.DateTimeField(allow_null=True)


class VersionArtifactsSerializer(serializers.Serializer):
    name = serializers.CharField()
    version = serializers.IntegerField()
    status = serializers.CharField()
    status_message = serializers.CharField()
    download_uri = serializers.CharField()
    evidence = serializers.DictField()
    entries = ManifestEntrySerializer(many=True)
    jobs = ArtifactJobSerializer(many=True)


class Pagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 500


class ArtifactJobListView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("name", str, description="Registered model name"),
            OpenApiParameter("version", int),
            OpenApiParameter("status", str, description="queued, running, succeeded or failed"),
        ],
        responses=paginated(ArtifactJobSerializer),
    )
    def get(self, request):
        params = request.query_params
        version = params.get("version")
        jobs = selectors.artifact_jobs_list(
            request.user,
            name=params.get("name"),
            version=parse_version_number(version) if version else None,
            status=params.get("status"),
        )
        paginator = Pagination()
        page = paginator.paginate_queryset(jobs, request, view=self)
        return paginator.get_paginated_response(ArtifactJobSerializer(page, many=True).data)


class ArtifactJobDetailView(APIView):
    @extend_schema(responses=ArtifactJobSerializer)
    def get(self, request, job_id: int):
        return Response(ArtifactJobSerializer(selectors.artifact_job_get(request.user, job_id)).data)


class ArtifactJobRetryView(APIView):
    @extend_schema(request=None, responses={202: ArtifactJobSerializer})
    def post(self, request, job_id: int):
        services.artifact_job_retry(actor=request.user, job_id=job_id)
        job = selectors.artifact_job_get(request.user, job_id)
        return Response(ArtifactJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class VersionArtifactsView(APIView):
    @extend_schema(responses=VersionArtifactsSerializer)
    def get(self, request, name: str, version: int):
        row, manifest = selectors.version_artifacts_get(request.user, name, version)
        body = {
            "name": row.model.name,
            "version": row.version,
            "status": row.status,
            "status_message": row.status_message,
            "download_uri": row.download_uri,
            "evidence": services.version_evidence(row),
            "entries": list(selectors.manifest_entries(manifest)) if manifest else [],
            "jobs": list(selectors.artifact_jobs_visible_to(request.user).filter(version=row)[:20]),
        }
        return Response(VersionArtifactsSerializer(body).data)


class VersionGovernedCopyView(APIView):
    @extend_schema(request=None, responses={202: ArtifactJobSerializer})
    def post(self, request, name: str, version: int):
        job = services.governed_copy_start(actor=request.user, name=name, version=version)
        job = selectors.artifact_job_get(request.user, job.pk)
        return Response(ArtifactJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class SourcePrefixSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = SourcePrefix
        fields = ["id", "prefix", "reason", "created_by", "created_at"]


class SourcePrefixInputSerializer(serializers.Serializer):
    prefix = serializers.CharField(max_length=2000)
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class SourcePrefixListView(APIView):
    """Where a model may register versions from, besides each version's own run (issue 19)."""

    @extend_schema(responses=SourcePrefixSerializer(many=True))
    def get(self, request, name: str):
        return Response(
            SourcePrefixSerializer(selectors.source_prefixes_for(request.user, name), many=True).data
        )

    @extend_schema(request=SourcePrefixInputSerializer, responses={201: SourcePrefixSerializer})
    def post(self, request, name: str):
        given = SourcePrefixInputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        row = services.source_prefix_add(actor=request.user, name=name, **given.validated_data)
        return Response(SourcePrefixSerializer(row).data, status=status.HTTP_201_CREATED)


class SourcePrefixDetailView(APIView):
    @extend_schema(request=None, responses={204: None})
    def delete(self, request, name: str, prefix_id: int):
        services.source_prefix_remove(actor=request.user, name=name, prefix_id=prefix_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ArtifactDownloadSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="version.model.name")
    version = serializers.IntegerField(source="version.version")

    class Meta:
        model = ArtifactDownload
        fields = [
            "id",
            "name",
            "version",
            "username",
            "path",
            "served_from",
            "bytes_sent",
            "outcome",
            "started_at",
            "finished_at",
        ]


class VersionDownloadListView(APIView):
    """Who fetched which files of a version through Quorum, and when (MANAGE on the model)."""

    @extend_schema(responses=paginated(ArtifactDownloadSerializer))
    def get(self, request, name: str, version: int):
        downloads = selectors.version_downloads(request.user, name, version)
        paginator = Pagination()
        page = paginator.paginate_queryset(downloads, request, view=self)
        return paginator.get_paginated_response(ArtifactDownloadSerializer(page, many=True).data)


class TrustedSignerSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = TrustedSigner
        fields = [
            "id",
            "name",
            "kind",
            "fingerprint",
            "public_key_pem",
            "ca_certificate_pem",
            "created_by",
            "created_at",
            "retired_at",
        ]


class TrustedSignerInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=["key", "certificate"], required=False, default="key")
    public_key_pem = serializers.CharField(max_length=20000, required=False, default="")
    ca_certificate_pem = serializers.CharField(max_length=50000, required=False, default="")


class TrustedSignerListView(APIView):
    """The keys and CAs whose OMS signatures count as a verified producer (issue 24); superusers add them."""

    @extend_schema(responses=TrustedSignerSerializer(many=True))
    def get(self, request):
        return Response(TrustedSignerSerializer(selectors.trusted_signers(), many=True).data)

    @extend_schema(request=TrustedSignerInputSerializer, responses={201: TrustedSignerSerializer})
    def post(self, request):
        given = TrustedSignerInputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        row = services.trusted_signer_add(actor=request.user, **given.validated_data)
        return Response(TrustedSignerSerializer(row).data, status=status.HTTP_201_CREATED)


class TrustedSignerDetailView(APIView):
    @extend_schema(request=None, responses={200: TrustedSignerSerializer})
    def delete(self, request, signer_id: int):
        return Response(
            TrustedSignerSerializer(
                services.trusted_signer_retire(actor=request.user, signer_id=signer_id)
            ).data
        )


class AttestationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Attestation
        fields = [
            "id",
            "kind",
            "request_id",
            "subject_digest",
            "key_id",
            "envelope",
            "stored_location",
            "created_at",
        ]


class VersionAttestationListView(APIView):
    """Quorum's DSSE-signed in-toto statements about a version (validation, promotions); `quorum verify` reads them."""

    @extend_schema(responses=AttestationSerializer(many=True))
    def get(self, request, name: str, version: int):
        rows = selectors.version_attestations(request.user, name, version)
        return Response(AttestationSerializer(rows, many=True).data)


class DeploymentSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="version.model.name")
    version = serializers.IntegerField(source="version.version")
    reported_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = DeploymentRecord
        fields = [
            "id",
            "name",
            "version",
            "alias",
            "environment",
            "endpoint",
            "reported_digest",
            "expected_digest",
            "drift",
            "drift_reason",
            "reported_by",
            "reported_at",
        ]


class DeploymentInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255)
    version = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1)
    alias = serializers.CharField(required=False, allow_blank=True, default="", max_length=255)
    environment = serializers.CharField(max_length=100)
    endpoint = serializers.CharField(max_length=255)
    digest = serializers.CharField(max_length=80)


class DeploymentListView(APIView):
    """What serving systems reported loading (issue 24); `drift=true` lists the ones Quorum did not attest."""

    @extend_schema(
        parameters=[OpenApiParameter("name", str), OpenApiParameter("drift", bool)],
        responses=paginated(DeploymentSerializer),
    )
    def get(self, request):
        drift = request.query_params.get("drift")
        if drift not in (None, "true", "false"):
            raise serializers.ValidationError({"drift": "true or false"})
        rows = selectors.deployments_visible_to(
            request.user,
            name=request.query_params.get("name"),
            drift=None if drift is None else drift == "true",
        )
        paginator = Pagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(DeploymentSerializer(page, many=True).data)

    @extend_schema(request=DeploymentInputSerializer, responses={201: DeploymentSerializer})
    def post(self, request):
        given = DeploymentInputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        row = services.deployment_report(actor=request.user, **given.validated_data)
        return Response(DeploymentSerializer(row).data, status=status.HTTP_201_CREATED)
