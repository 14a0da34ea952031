"""Password authentication for people only: service accounts never log in with a password."""

from django.conf import settings

from config.client import client_address
from config.login_throttle import Refusal, ThrottledModelBackend


def sign_in_refused_record(username: str, request, refusal: Refusal) -> None:
    """Count an attempt the throttle refused unchecked (aggregated, see accounts.services)."""
    from accounts import services  # services imports the authentication module, which imports this

    services.sign_in_failure_count(
        username=username,
        address=client_address(request) if request is not None else "",
        refused=True,
        network_wide=refusal.reason == "network_backoff",
    )


def local_password_allowed(username: str) -> bool:
    """Whether a Quorum password may sign this username in (QUORUM_LOCAL_PASSWORDS, break-glass accounts)."""
    return settings.QUORUM_LOCAL_PASSWORDS or username in settings.QUORUM_BREAK_GLASS_USERNAMES


class HumanModelBackend(ThrottledModelBackend):
    """The throttled ModelBackend, refusing password logins (admin, HTTP Basic) for service accounts.

    With local passwords switched off it refuses everyone but the break-glass accounts, and their
    password sessions end as well (`get_user` asks the same question).
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if password is None:
            # Not a password attempt (the identity provider's callback asks every backend): nothing
            # to check, and nothing to count as a failed sign-in.
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)

    def user_can_authenticate(self, user) -> bool:
        if getattr(user, "is_service_account", False):
            return False
        if not local_password_allowed(user.get_username()):
            return False
        return super().user_can_authenticate(user)

    def on_refused(self, username: str, request, refusal: Refusal) -> None:
        sign_in_refused_record(username, request, refusal)

    def on_failed(self, username: str, request) -> None:
        from accounts import services

        services.sign_in_failure_count(
            username=username, address=client_address(request) if request is not None else "", refused=False
        )
