import hashlib

from django.contrib.auth.models import AbstractUser, Group
from django.db import models
from django.utils import timezone


class User(AbstractUser):
    """A person, or a service account (non-human, token-only) used by CI pipelines."""

    is_service_account = models.BooleanField(
        default=False, help_text="Non-human account: authenticates with API tokens only, never a password."
    )
    must_change_password = models.BooleanField(
        default=False,
        help_text="Signed in with a one-time password someone else saw (printed by quickstart): the "
        "admin shows only the password change page, and password API calls are refused, until changed.",
    )


class Team(models.Model):
    """A team: a Django group with a description; grants to the group apply to every member."""

    group = models.OneToOneField(Group, on_delete=models.CASCADE, related_name="team")
    description = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.group.name

    @property
    def name(self) -> str:
        return self.group.name


def token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiToken(models.Model):
    """An API token: the secret is shown once at creation and only its SHA-256 is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, db_index=True, help_text="First characters, to recognise it.")
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "name"], name="uniq_token_name_per_user")]

    def __str__(self) -> str:
        return f"{self.user.username}/{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()


class SignInFailures(models.Model):
    """Failed sign-ins for one username from one network in one time window: counted, audited twice at most.

    The audit chain gets one event when a window sees its first failure and one with the totals
    when it closes (accounts.tasks); every guess in between only moves these counters.
    `username` is empty for attempts the network's flood backoff refused before any username mattered.
    """

    username = models.CharField(max_length=150, blank=True)
    network = models.CharField(max_length=64, help_text="IPv4 address or IPv6 /64 the attempts came from.")
    window_start = models.DateTimeField()
    failures = models.PositiveIntegerField(default=0, help_text="Wrong passwords checked.")
    refused = models.PositiveIntegerField(default=0, help_text="Attempts refused unchecked by the throttle.")
    last_at = models.DateTimeField()
    close_recorded = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["username", "network", "window_start"], name="uniq_sign_in_failures_window"
            )
        ]
        indexes = [models.Index(fields=["close_recorded", "window_start"], name="sign_in_failures_open")]
        verbose_name_plural = "sign-in failures"

    def __str__(self) -> str:
        return f"{self.username or '*'} from {self.network}: {self.failures} failed, {self.refused} refused"


class ExternalIdentity(models.Model):
    """A user's account at the organisation's identity provider (issuer and subject), linked to a Quorum user.

    People are linked at their first sign-in through the provider; service accounts by an operator
    (`manage.py oidc_link`). `refresh_token` (encrypted, see accounts.oidc) is what the periodic sync
    asks the provider with; service accounts have none.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="external_identities")
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    refresh_token = models.TextField(blank=True, default="", help_text="Encrypted; empty when none.")
    created_at = models.DateTimeField(auto_now_add=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    deactivated_by_sync = models.BooleanField(
        default=False,
        help_text="The sync ended the account: a later sign-in through the provider restores it.",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="uniq_external_identity_subject")
        ]
        verbose_name_plural = "external identities"

    def __str__(self) -> str:
        return f"{self.user.username} = {self.subject} at {self.issuer}"
