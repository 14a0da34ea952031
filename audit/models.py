from django.db import models


class Action(models.TextChoices):
    """The fixed list of audited actions."""

    MODEL_CREATED = "registered_model.created"
    MODEL_RENAMED = "registered_model.renamed"
    MODEL_UPDATED = "registered_model.updated"
    MODEL_DELETED = "registered_model.deleted"
    MODEL_TAG_SET = "registered_model.tag_set"
    MODEL_TAG_DELETED = "registered_model.tag_deleted"
    VERSION_CREATED = "model_version.created"
    VERSION_UPDATED = "model_version.updated"
    VERSION_DELETED = "model_version.deleted"
    VERSION_TAG_SET = "model_version.tag_set"
    VERSION_TAG_DELETED = "model_version.tag_deleted"
    VERSION_STAGE_CHANGED = "model_version.stage_changed"
    VERSION_STATUS_CHANGED = "model_version.status_changed"
    ALIAS_SET = "alias.set"
    ALIAS_DELETED = "alias.deleted"
    REQUEST_CREATED = "request.created"
    REQUEST_COMMENTED = "request.commented"
    REQUEST_APPROVED = "request.approved"
    REQUEST_REJECTED = "request.rejected"
    REQUEST_CANCELLED = "request.cancelled"
    REQUEST_EXPIRED = "request.expired"
    REQUEST_APPLIED = "request.applied"
    REQUEST_FAILED = "request.failed"
    REQUEST_EVIDENCE_REFRESHED = "request.evidence_refreshed"
    POLICY_CHANGED = "policy.changed"
    # Refused governance attempts (workflows, issue 20 item 5): direct moves into or out of governed
    # targets, and approvals the rules refuse (self-approval, the author, a service account).
    TRANSITION_REFUSED = "transition.refused"
    APPROVAL_REFUSED = "approval.refused"
    ARTIFACTS_VALIDATED = "artifacts.validated"
    ARTIFACTS_COPIED = "artifacts.copied"
    ARTIFACTS_FAILED = "artifacts.failed"
    ARTIFACTS_DOWNLOADED = "artifacts.downloaded"
    ARTIFACTS_DEPLOYED = "artifacts.deployed"
    ACCESS_GRANTED = "access.granted"
    ACCESS_REVOKED = "access.revoked"
    TOKEN_CREATED = "token.created"
    TOKEN_REVOKED = "token.revoked"
    USER_CREATED = "user.created"
    USER_UPDATED = "user.updated"
    TEAM_CHANGED = "team.changed"
    TEAM_JOIN_REFUSED = "team.join.refused"
    LOGIN = "auth.login"
    LOGIN_FAILED = "auth.login_failed"
    SIGNATURE_FAILED = "signature.failed"
    SECOND_FACTOR_ENROLLED = "auth.second_factor_enrolled"
    SECOND_FACTOR_REMOVED = "auth.second_factor_removed"
    RECOVERY_CODE_USED = "auth.recovery_code_used"
    SUPERUSER_ACTION = "auth.superuser_action"
    WEBHOOK_CHANGED = "webhook.changed"
    CHECKPOINT_CREATED = "audit.checkpoint_created"
    # The model inventory (issue 25)
    INVENTORY_CHANGED = "inventory.changed"
    VALIDATION_RECORDED = "validation.recorded"
    VALIDATION_REVIEW_OVERDUE = "validation.review_overdue"
    MODEL_CARD_CHANGED = "model_card.changed"
    EVIDENCE_PACK_DOWNLOADED = "evidence_pack.downloaded"
    # Retention and legal hold (issue 25)
    LEGAL_HOLD_PLACED = "legal_hold.placed"
    LEGAL_HOLD_RELEASED = "legal_hold.released"
    LEGAL_HOLD_REFUSED = "legal_hold.refused"
    RETENTION_REFUSED = "retention.refused"  # a removal a legal hold refused
    RETENTION_PURGED = "retention.purged"  # one version (and its governed copy) removed by the purge
    RETENTION_PURGE_RUN = "retention.purge_run"  # the purge's summary


class ActorKind(models.TextChoices):
    USER = "user"
    TOKEN = "token"
    SERVICE_ACCOUNT = "service_account"
    SYSTEM = "system"
    ANONYMOUS = "anonymous"


class AuditEvent(models.Model):
    """One append-only, hash-chained audit event. The database refuses UPDATE and DELETE."""

    seq = models.BigIntegerField(unique=True)
    timestamp = models.DateTimeField(db_index=True)
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_username = models.CharField(max_length=150)
    actor_kind = models.CharField(max_length=20, choices=ActorKind.choices)
    actor_detail = models.CharField(max_length=200, blank=True, default="", help_text="Token or task name.")
    action = models.CharField(max_length=64, choices=Action.choices, db_index=True)
    target_type = models.CharField(max_length=64, blank=True, default="")
    target_id = models.CharField(max_length=64, blank=True, default="")
    target_name = models.CharField(max_length=600, blank=True, default="")
    model_name = models.CharField(max_length=256, blank=True, default="", db_index=True)
    # The model's primary key, so visibility survives renames (model_name is the name at the time).
    registered_model_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    version = models.IntegerField(null=True, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True, default="")
    request_id = models.CharField(max_length=64, blank=True, default="")
    client_ip = models.CharField(max_length=64, blank=True, default="")
    user_agent = models.CharField(max_length=512, blank=True, default="")
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["seq"]
        indexes = [
            models.Index(fields=["model_name", "seq"]),
            models.Index(fields=["actor_username", "seq"]),
            models.Index(fields=["action", "seq"]),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.target_name}"

    def save(self, *args, **kwargs) -> None:
        # The database refuses UPDATE too; this gives the ORM caller a clear message first.
        if not self._state.adding:
            raise TypeError("audit events are append-only and cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("audit events are append-only and cannot be deleted")


class ChainHead(models.Model):
    """The single row that appends lock: the last sequence number and hash of the chain."""

    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="0" * 64)

    def __str__(self) -> str:
        return f"head #{self.seq} {self.hash[:12]}"


class AuditCheckpoint(models.Model):
    """A signed statement that the chain head was (seq, hash) at `created_at`. Append-only too."""

    seq = models.BigIntegerField(db_index=True)
    hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    key_id = models.CharField(
        max_length=16,
        help_text="Which key signed: first hex digits of SHA-256 of the public key (HMAC: of the key).",
    )
    algorithm = models.CharField(
        max_length=16,
        default="ed25519",
        help_text="ed25519 (since issue 20), or hmac-sha256 for checkpoints made before.",
    )
    signature = models.CharField(
        max_length=128, help_text="Hex signature over the canonical checkpoint message (audit/chain.py)."
    )
    created_by = models.CharField(max_length=200, help_text="User name, or the task that made it.")

    class Meta:
        ordering = ["seq", "pk"]

    def __str__(self) -> str:
        return f"checkpoint #{self.seq} {self.hash[:12]} ({self.created_at:%Y-%m-%d %H:%M} UTC)"
