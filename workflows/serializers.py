"""Native API representations of requests, policies and timelines (input/output only)."""

from rest_framework import serializers

from workflows.models import Approval, PromotionPolicy, Signature, TransitionRequest, VersionActivity


class SignatureSerializer(serializers.ModelSerializer):
    """An electronic signature: who, when (UTC), what it means, what was signed, and whether it still
    verifies (`intact`: its hash recomputes; `current`: it signed the version's current artifacts)."""

    line = serializers.CharField(read_only=True)
    intact = serializers.BooleanField(read_only=True)

    class Meta:
        model = Signature
        fields = [
            "decision",
            "line",
            "signer_username",
            "signer_full_name",
            "meaning",
            "signed_at",
            "authentication",
            "model_name",
            "version_number",
            "target",
            "artifact_digest",
            "evidence_digest",
            "record_hash",
            "intact",
        ]


class ApprovalSerializer(serializers.ModelSerializer):
    approver = serializers.SlugRelatedField(slug_field="username", read_only=True)
    signature = serializers.SerializerMethodField()

    class Meta:
        model = Approval
        fields = ["approver", "comment", "artifact_digest", "created_at", "expires_at", "signature"]

    def get_signature(self, obj: Approval) -> dict | None:
        signed = getattr(obj, "signature", None)
        return SignatureSerializer(signed).data if signed is not None else None


class TransitionRequestSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="model.name")
    version = serializers.IntegerField(source="version.version")
    requester = serializers.SlugRelatedField(slug_field="username", read_only=True)
    approvals = ApprovalSerializer(many=True, read_only=True)
    signatures = SignatureSerializer(many=True, read_only=True)
    still_needed = serializers.SerializerMethodField()
    version_deleted = serializers.SerializerMethodField()
    evidence_snapshot = serializers.SerializerMethodField()

    class Meta:
        model = TransitionRequest
        fields = [
            "id",
            "name",
            "version",
            "target_kind",
            "target",
            "from_stage",
            "removes",
            "version_deleted",
            "archive_existing_versions",
            "requester",
            "reason",
            "state",
            "state_reason",
            "evidence",
            "evidence_snapshot",
            "approvals",
            "signatures",
            "still_needed",
            "created_at",
            "updated_at",
            "decided_at",
        ]

    def get_evidence_snapshot(self, obj: TransitionRequest) -> dict:
        from workflows.evidence import request_evidence_view

        return request_evidence_view(obj)

    def get_version_deleted(self, obj: TransitionRequest) -> bool:
        return obj.version.deleted_at is not None

    def get_still_needed(self, obj: TransitionRequest) -> list[str]:
        if obj.state != "pending":
            return []
        from workflows.selectors import request_verdict

        return list(request_verdict(obj).missing)


class TransitionRequestListSerializer(TransitionRequestSerializer):
    """Requests in a list: without `still_needed`, which re-checks every approver's permissions."""

    class Meta(TransitionRequestSerializer.Meta):
        fields = [
            f
            for f in TransitionRequestSerializer.Meta.fields
            if f not in ("still_needed", "evidence_snapshot")
        ]


class TransitionRequestCreateSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1)
    stage = serializers.CharField(required=False)
    alias = serializers.CharField(required=False)
    reason = serializers.CharField(allow_blank=True, trim_whitespace=False)
    archive_existing_versions = serializers.BooleanField(required=False, default=False)
    remove = serializers.BooleanField(required=False, default=False, help_text="Alias only: take it away.")

    def validate(self, attrs: dict) -> dict:
        if ("stage" in attrs) == ("alias" in attrs):
            raise serializers.ValidationError("Give exactly one target: 'stage' or 'alias'.")
        return attrs


class SigningSerializer(serializers.Serializer):
    """The re-authentication an electronic signature carries (21 CFR 11.200): never a token alone."""

    password = serializers.CharField(trim_whitespace=False, max_length=4096, write_only=True)
    otp = serializers.CharField(required=False, allow_blank=True, default="", max_length=64, write_only=True)
    meaning = serializers.CharField(required=False, allow_blank=True, default="", max_length=120)


class DecisionSerializer(serializers.Serializer):
    comment = serializers.CharField(allow_blank=True, trim_whitespace=False)


class SignedDecisionSerializer(DecisionSerializer):
    signature = SigningSerializer(
        required=False, help_text="Sign the decision (required where the policy requires signatures)."
    )


class CancelSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)


class ActivitySerializer(serializers.ModelSerializer):
    user = serializers.SlugRelatedField(slug_field="username", read_only=True)
    request_id = serializers.IntegerField(allow_null=True, read_only=True)

    class Meta:
        model = VersionActivity
        fields = [
            "id",
            "activity_type",
            "request_id",
            "from_stage",
            "to_stage",
            "user",
            "comment",
            "system_comment",
            "created_at",
            "updated_at",
        ]


class PolicySerializer(serializers.ModelSerializer):
    name = serializers.SerializerMethodField()
    required_team = serializers.SerializerMethodField()

    class Meta:
        model = PromotionPolicy
        fields = [
            "name",
            "target_kind",
            "target",
            "governed",
            "required_approvals",
            "rank",
            "requester_may_approve",
            "creator_may_approve",
            "required_team",
            "require_validated_artifacts",
            "require_producer_signature",
            "refuse_pickle_severity",
            "approval_ttl_hours",
            "service_accounts_count",
            "require_current_validation",
            "require_approved_card",
            "require_signature",
            "signature_meanings",
            "required_meanings",
            "floor_waived",
            "updated_at",
        ]

    def get_name(self, obj: PromotionPolicy) -> str | None:
        return obj.model.name if obj.model_id else None

    def get_required_team(self, obj: PromotionPolicy) -> str | None:
        return obj.required_team.name if obj.required_team_id else None


class PolicySetSerializer(serializers.Serializer):
    governed = serializers.BooleanField(required=False, default=True)
    required_approvals = serializers.IntegerField(required=False, default=2, min_value=1, max_value=20)
    rank = serializers.ChoiceField(choices=["staging", "production"], required=False, default="production")
    requester_may_approve = serializers.BooleanField(required=False, default=False)
    creator_may_approve = serializers.BooleanField(required=False, default=False)
    required_team = serializers.CharField(required=False, allow_null=True, allow_blank=True, default=None)
    require_validated_artifacts = serializers.BooleanField(required=False, allow_null=True, default=None)
    require_producer_signature = serializers.BooleanField(required=False, default=False)
    refuse_pickle_severity = serializers.ChoiceField(
        choices=["", "suspicious", "dangerous"], required=False, allow_blank=True, default=""
    )
    approval_ttl_hours = serializers.IntegerField(required=False, default=72, min_value=1, max_value=8760)
    service_accounts_count = serializers.BooleanField(required=False, default=False)
    require_current_validation = serializers.BooleanField(required=False, default=False)
    require_approved_card = serializers.BooleanField(required=False, default=False)
    require_signature = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Unset: on for production rank, as by default.",
    )
    signature_meanings = serializers.ListField(
        child=serializers.CharField(max_length=120), required=False, default=list, max_length=20
    )
    required_meanings = serializers.ListField(
        child=serializers.CharField(max_length=120), required=False, default=list, max_length=20
    )


class EffectivePolicySerializer(serializers.Serializer):
    """The policy in force for one target and where it comes from (`source`: model, organisation, built-in)."""

    target_kind = serializers.CharField()
    target = serializers.CharField()
    source = serializers.CharField()
    governed = serializers.BooleanField()
    required_approvals = serializers.IntegerField(required=False)
    rank = serializers.CharField(required=False)
    requester_may_approve = serializers.BooleanField(required=False)
    creator_may_approve = serializers.BooleanField(required=False)
    required_team = serializers.CharField(required=False, allow_null=True)
    require_validated_artifacts = serializers.BooleanField(required=False)
    require_producer_signature = serializers.BooleanField(required=False)
    refuse_pickle_severity = serializers.CharField(required=False, allow_blank=True)
    approval_ttl_hours = serializers.IntegerField(required=False)
    service_accounts_count = serializers.BooleanField(required=False)
    require_current_validation = serializers.BooleanField(required=False)
    require_approved_card = serializers.BooleanField(required=False)
    require_signature = serializers.BooleanField(required=False)
    signature_meanings = serializers.ListField(child=serializers.CharField(), required=False)
    required_meanings = serializers.ListField(child=serializers.CharField(), required=False)
    floor_waived = serializers.BooleanField()
    raised_to_floor = serializers.BooleanField()
