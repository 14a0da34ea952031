"""Password authentication for people only: service accounts never log in with a password."""

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


class HumanModelBackend(ThrottledModelBackend):
    """The throttled ModelBackend, refusing password logins (admin, HTTP Basic) for service accounts."""

    def user_can_authenticate(self, user) -> bool:
        if getattr(user, "is_service_account", False):
            return False
        return super().user_can_authenticate(user)

    def on_refused(self, username: str, request, refusal: Refusal) -> None:
        sign_in_refused_record(username, request, refusal)

    def on_failed(self, username: str, request) -> None:
        from accounts import services

        services.sign_in_failure_count(
            username=username, address=client_address(request) if request is not None else "", refused=False
        )
