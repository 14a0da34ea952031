"""Webhook tables (the `webhooks` app; their tables keep the names they had in the registry app)."""

import functools
import secrets
import uuid

from django.conf import settings
from django.db import models

# 32 random hex characters. A partial of the standard library, so migrations reference no app code.
PUBLIC_ID_NEW = functools.partial(secrets.token_hex, 16)


class WebhookStatus(models.TextChoices):
    ACTIVE = "ACTIVE", "Active: real events are delivered"
    DISABLED = "DISABLED", "Disabled: nothing is delivered"
    # As in Databricks' registry webhooks: only the test endpoint sends. Real events are still
    # logged (as suppressed deliveries), so an operator sees what would have gone out.
    TEST_MODE = "TEST_MODE", "Test mode: only test calls are sent; real events are logged, not sent"


class Webhook(models.Model):
    """A subscription: where to send which events, of one registered model or the whole registry."""

    public_id = models.CharField(max_length=32, unique=True, default=PUBLIC_ID_NEW, editable=False)
    name = models.CharField(max_length=256)
    description = models.TextField(blank=True, default="")
    url = models.URLField(max_length=2000)
    events = models.JSONField(default=list, help_text="Event names, e.g. 'model_version.created'.")
    # Kept in clear because every delivery is signed with it; never rendered after creation.
    secret = models.CharField(max_length=512, blank=True, default="")
    status = models.CharField(max_length=16, choices=WebhookStatus.choices, default=WebhookStatus.ACTIVE)
    # NULL: registry-wide (needs the global permission); otherwise one model (needs MANAGE on it).
    model = models.ForeignKey(
        "registry.RegisteredModel", null=True, blank=True, on_delete=models.CASCADE, related_name="webhooks"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "registry_webhook"  # the table it had as part of the registry app
        ordering = ["created_at", "id"]
        # The audit listener's one query: live subscriptions of one model or of the whole registry.
        indexes = [models.Index(fields=["status", "model"], name="webhook_live_lookup")]

    def __str__(self) -> str:
        scope = self.model.name if self.model_id else "registry-wide"
        return f"{self.name} ({scope})"


class WebhookEventRecord(models.Model):
    """One registry event as it will be sent: the exact JSON body, frozen when the change committed."""

    event = models.CharField(max_length=64, db_index=True)
    model_name = models.CharField(max_length=256, blank=True, default="")
    registered_model_id = models.BigIntegerField(null=True, blank=True)
    audit_seq = models.BigIntegerField(null=True, blank=True, help_text="The audit event it came from.")
    payload = models.TextField(help_text="The JSON body sent, byte for byte (the signature covers it).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "registry_webhookeventrecord"  # the table it had as part of the registry app
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.event} #{self.pk}"


class DeliveryStatus(models.TextChoices):
    PENDING = "PENDING", "Pending: waiting for its first or next attempt"
    SUCCEEDED = "SUCCEEDED", "Succeeded: the receiver answered 2xx"
    DEAD = "DEAD", "Dead letter: retries exhausted; replay to send again"
    SUPPRESSED = "SUPPRESSED", "Suppressed: the webhook was in test mode; replay to send"


class WebhookDelivery(models.Model):
    """One event for one webhook: the outbox row, written in the change's transaction, and its state."""

    # X-MLflow-Delivery-Id: the same for every attempt and replay, so receivers can deduplicate.
    delivery_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    record = models.ForeignKey(WebhookEventRecord, on_delete=models.CASCADE, related_name="deliveries")
    is_test = models.BooleanField(default=False, help_text="Sent by the test endpoint; never retried.")
    # A test or a replay: a person asked for it, so it is sent even while the webhook is in test mode.
    sent_on_request = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.IntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # While a worker sends, no other worker may: the sweep skips it until the lease lapses.
    leased_until = models.DateTimeField(null=True, blank=True)
    first_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="Start of the retry window (reset by a replay)."
    )
    last_status_code = models.IntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    dispatched_at = models.DateTimeField(
        null=True, blank=True, help_text="When the last published task is due to run."
    )
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "registry_webhookdelivery"  # the table it had as part of the registry app
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due")]

    def __str__(self) -> str:
        return f"delivery {self.delivery_id} ({self.status})"


class DeliveryAttempt(models.Model):
    """One HTTP attempt of a delivery: when, what the receiver answered, how long it took."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.IntegerField()
    started_at = models.DateTimeField()
    status_code = models.IntegerField(null=True, blank=True)
    latency_ms = models.IntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    replay = models.BooleanField(default=False)

    class Meta:
        db_table = "registry_deliveryattempt"  # the table it had as part of the registry app
        ordering = ["delivery_id", "number"]

    def __str__(self) -> str:
        outcome = self.status_code if self.status_code is not None else self.error[:40]
        return f"attempt {self.number}: {outcome}"
