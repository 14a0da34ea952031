"""OpenAPI descriptions of Quorum's authentication schemes, so /api/schema/ documents how to log in."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.BearerTokenAuthentication"
    name = "bearerToken"

    def get_security_definition(self, auto_schema: object) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token (qrm_…), as MLFLOW_TRACKING_TOKEN sends it.",
        }


class TokenBasicScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.TokenBasicAuthentication"
    name = "basicAuth"

    def get_security_definition(self, auto_schema: object) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "basic",
            "description": "Username and password, or username and an API token as the password.",
        }


NATIVE_PREFIXES = ("/api/v1/",)


def native_endpoints_only(
    endpoints: list[tuple[str, str, str, object]],
) -> list[tuple[str, str, str, object]]:
    """drf-spectacular preprocessing hook: keep the native API (/api/v1/) in /api/schema/ and /api/docs/."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith(NATIVE_PREFIXES)]
