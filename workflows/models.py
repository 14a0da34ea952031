"""Promotion policies, transition requests, approvals and the per-version activity timeline."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from registry.models import ModelVersion, RegisteredModel
from workflows.rules import signature_content_hash, signature_line


class TargetKind(models.TextChoices):
    STAGE = "stage", "Stage"
    ALIAS = "alias", "Alias"


class Rank(models.TextChoices):
    """Which approve permission counts for a target: APPROVE_STAGING or APPROVE_PRODUCTION."""

    STAGING = "staging", "Staging"
    PRODUCTION = "production", "Production"


class RequestState(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    APPLYING = "applying", "Applying"
    APPLIED = "applied", "Applied"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"
    FAILED = "failed", "Failed"


# Open requests still hold the target: at most one per (version, target), and they can still move.
OPEN_STATES = (RequestState.PENDING, RequestState.APPROVED, RequestState.APPLYING)


class ActivityType(models.TextChoices):
    """Databricks' activity types, so its transition-request clients read our timeline unchanged."""

    REQUESTED_TRANSITION = "REQUESTED_TRANSITION"
    APPROVED_REQUEST = "APPROVED_REQUEST"
    REJECTED_REQUEST = "REJECTED_REQUEST"
    CANCELLED_REQUEST = "CANCELLED_REQUEST"
    APPLIED_TRANSITION = "APPLIED_TRANSITION"
    SYSTEM_TRANSITION = "SYSTEM_TRANSITION"
    NEW_COMMENT = "NEW_COMMENT"


class PromotionPolicy(models.Model):
    """How one target (a stage or an alias) is governed, for one model or (model empty) organisation-wide."""

    model = models.ForeignKey(
        RegisteredModel,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="promotion_policies",
        help_text="Empty: the organisation-wide default for models without their own policy.",
    )
    target_kind = models.CharField(max_length=8, choices=TargetKind.choices)
    target = models.CharField(max_length=255, help_text="Stage name (Production) or alias (champion).")
    governed = models.BooleanField(
        default=True, help_text="Off: this target is explicitly ungoverned (EDIT holders set it directly)."
    )
    required_approvals = models.PositiveSmallIntegerField(default=2)
    rank = models.CharField(max_length=16, choices=Rank.choices, default=Rank.PRODUCTION)
    requester_may_approve = models.BooleanField(default=False)
    creator_may_approve = models.BooleanField(default=False)
    required_team = models.ForeignKey(
        "accounts.Team",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="At least one approval must come from a member of this team.",
    )
    require_validated_artifacts = models.BooleanField(default=True)
    require_producer_signature = models.BooleanField(
        default=False, help_text="The version's files carry an OMS signature a trusted signer's key verifies."
    )
    refuse_pickle_severity = models.CharField(
        max_length=16,
        blank=True,
        default="",
        choices=[("", "off"), ("suspicious", "suspicious or worse"), ("dangerous", "dangerous")],
        help_text="Refuse versions whose pickle scan found a global at least this unsafe.",
    )
    approval_ttl_hours = models.PositiveIntegerField(default=72, help_text="Approvals older than this lapse.")
    service_accounts_count = models.BooleanField(
        default=False,
        help_text="Organisation policies: service accounts' approvals count towards the quorum (off: people only).",
    )
    require_current_validation = models.BooleanField(
        default=False,
        help_text="The version needs a current passing independent validation (the model inventory's).",
    )
    require_approved_card = models.BooleanField(
        default=False, help_text="The version needs an approved model card (for its current artifacts)."
    )
    require_signature = models.BooleanField(
        default=False,
        help_text="Approvals are electronic signatures: the signer re-authenticates and gives a meaning.",
    )
    signature_meanings = models.JSONField(
        default=list, blank=True, help_text="Signature meanings accepted (empty: every configured meaning)."
    )
    required_meanings = models.JSONField(
        default=list, blank=True, help_text="Meanings that each need a signature (from different people)."
    )
    floor_waived = models.BooleanField(
        default=False,
        help_text="Model policies: a superuser set it although it loosens the organisation's policy (audited).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "registry_promotionpolicy"  # the table it had as part of the registry app
        verbose_name_plural = "promotion policies"
        constraints = [
            models.UniqueConstraint(
                fields=["model", "target_kind", "target"],
                condition=Q(model__isnull=False),
                name="uniq_policy_per_model_target",
            ),
            models.UniqueConstraint(
                fields=["target_kind", "target"],
                condition=Q(model__isnull=True),
                name="uniq_default_policy_target",
            ),
            models.CheckConstraint(condition=Q(required_approvals__gte=1), name="policy_needs_an_approval"),
        ]

    def __str__(self) -> str:
        scope = self.model.name if self.model_id else "default"
        return f"{scope}: {self.target_kind} {self.target}"


class TransitionRequest(models.Model):
    """A request to move a version into or out of a governed stage, or to point a governed alias at it
    or take it away (`removes`): entering and leaving are governed alike."""

    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="transition_requests")
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="transition_requests")
    target_kind = models.CharField(max_length=8, choices=TargetKind.choices)
    target = models.CharField(max_length=255)
    from_stage = models.CharField(max_length=16, help_text="The version's stage when requested.")
    removes = models.BooleanField(
        default=False, help_text="Alias requests: take the alias away from the version (a removal request)."
    )
    archive_existing_versions = models.BooleanField(default=False)
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.TextField()
    state = models.CharField(max_length=16, choices=RequestState.choices, default=RequestState.PENDING)
    state_reason = models.TextField(blank=True, default="", help_text="Why it failed, expired or ended.")
    evidence = models.JSONField(default=dict, help_text="Artifact digest and validation at request time.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    # What the target held when the request was decided (None: nothing, or not decided yet), so a
    # decided request is compared with the version it replaced, not with today's holder.
    replaced_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        db_table = "registry_transitionrequest"  # the table it had as part of the registry app
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["version", "target_kind", "target"],
                condition=Q(state__in=["pending", "approved", "applying"]),
                name="one_open_request_per_version_target",
            )
        ]
        indexes = [models.Index(fields=["state", "created_at"], name="request_state_created")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.version} -> {self.target_label}"

    @property
    def target_label(self) -> str:
        if self.target_kind == TargetKind.ALIAS:
            return f"remove @{self.target}" if self.removes else f"@{self.target}"
        return self.target

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


class Approval(models.Model):
    """One person's approval of a request; it lapses at `expires_at`."""

    request = models.ForeignKey(TransitionRequest, on_delete=models.CASCADE, related_name="approvals")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    comment = models.TextField()
    artifact_digest = models.CharField(
        max_length=128, blank=True, default="", help_text="The version's artifact digest when approved."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()

    class Meta:
        db_table = "registry_approval"  # the table it had as part of the registry app
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["request", "approver"], name="one_approval_per_person")
        ]

    def __str__(self) -> str:
        return f"{self.approver} approved request #{self.request_id}"


class VersionActivity(models.Model):
    """One entry of a version's timeline: requests, approvals, comments and transitions."""

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="activities")
    request = models.ForeignKey(
        TransitionRequest, null=True, blank=True, on_delete=models.CASCADE, related_name="activities"
    )
    activity_type = models.CharField(max_length=32, choices=ActivityType.choices)
    from_stage = models.CharField(max_length=16, blank=True, default="")
    to_stage = models.CharField(max_length=256, blank=True, default="", help_text="Stage, or @alias.")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    comment = models.TextField(blank=True, default="")
    system_comment = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "registry_versionactivity"  # the table it had as part of the registry app
        ordering = ["created_at", "pk"]
        verbose_name_plural = "version activities"

    def __str__(self) -> str:
        return f"{self.version} {self.activity_type}"


class Decision(models.TextChoices):
    APPROVE = "approve", "Approval"
    REJECT = "reject", "Rejection"


class Signature(models.Model):
    """An electronic signature of a decision on a request (21 CFR 11.50, 11.70): who (printed name and
    username), when (the server's UTC clock), what it means, and what was signed (request, version,
    artifact digest, evidence digest), bound by `record_hash`, which the decision's audit event
    carries into the hash chain. Rows are never edited; one whose hash does not recompute never counts."""

    request = models.ForeignKey(TransitionRequest, on_delete=models.CASCADE, related_name="signatures")
    approval = models.OneToOneField(
        Approval, null=True, blank=True, on_delete=models.CASCADE, related_name="signature"
    )
    decision = models.CharField(max_length=8, choices=Decision.choices)
    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    signer_username = models.CharField(max_length=150)
    signer_full_name = models.CharField(max_length=300)
    meaning = models.CharField(max_length=120)
    signed_at = models.DateTimeField()
    authentication = models.CharField(
        max_length=32, help_text="How the signer re-authenticated: password, or password+totp."
    )
    model_name = models.CharField(max_length=256)
    version_number = models.PositiveIntegerField()
    target = models.CharField(
        max_length=260, help_text="The request's target as shown (Production, @champion)."
    )
    artifact_digest = models.CharField(max_length=128, blank=True, default="")
    evidence_digest = models.CharField(
        max_length=64, blank=True, default="", help_text="The evidence snapshot the signer was shown."
    )
    record_hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["signed_at", "pk"]

    def __str__(self) -> str:
        return self.line

    def content(self) -> dict:
        """What `record_hash` covers."""
        return {
            "request": self.request_id,
            "decision": self.decision,
            "signer_id": self.signer_id,
            "signer_username": self.signer_username,
            "signer_full_name": self.signer_full_name,
            "meaning": self.meaning,
            "signed_at": self.signed_at.isoformat(),
            "authentication": self.authentication,
            "model": self.model_name,
            "version": self.version_number,
            "target": self.target,
            "artifact_digest": self.artifact_digest,
            "evidence_digest": self.evidence_digest,
        }

    @property
    def line(self) -> str:
        return signature_line(self.signer_full_name, self.signer_username, self.signed_at, self.meaning)

    @property
    def intact(self) -> bool:
        return signature_content_hash(self.content()) == self.record_hash


__all__ = [
    "ActivityType",
    "Approval",
    "Decision",
    "PromotionPolicy",
    "Rank",
    "RequestState",
    "Signature",
    "TargetKind",
    "TransitionRequest",
    "VersionActivity",
]


class EvidenceSnapshot(models.Model):
    """What approvers were shown for a request: the version's run, model files and validation, and
    the target holder's, frozen with a content digest (a refresh adds a row; rows never change)."""

    request = models.ForeignKey(TransitionRequest, on_delete=models.CASCADE, related_name="snapshots")
    reason = models.CharField(
        max_length=64, help_text="Why it was taken: filed, validation finished, decided."
    )
    candidate = models.JSONField(help_text="The requested version's evidence.")
    holder_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    holder = models.JSONField(
        null=True, blank=True, help_text="The evidence of the version holding the target."
    )
    content_digest = models.CharField(max_length=64, help_text="SHA-256 of the canonical JSON of both.")
    taken_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-taken_at", "-pk"]

    def __str__(self) -> str:
        return f"evidence of request #{self.request_id} ({self.reason})"
