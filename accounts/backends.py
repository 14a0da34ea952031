"""Password authentication for people only: service accounts never log in with a password."""

from config.login_throttle import ThrottledModelBackend


class HumanModelBackend(ThrottledModelBackend):
    """The throttled ModelBackend, refusing password logins (admin, HTTP Basic) for service accounts."""

    def user_can_authenticate(self, user) -> bool:
        if getattr(user, "is_service_account", False):
            return False
        return super().user_can_authenticate(user)
