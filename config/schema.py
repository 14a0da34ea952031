"""OpenAPI descriptions of the project's authentication schemes for drf-spectacular."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.BearerTokenAuthentication"
    name = "bearerToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "API token (qrm_…), as MLFLOW_TRACKING_TOKEN",
        }


class TokenBasicScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.TokenBasicAuthentication"
    name = "basicAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "basic", "description": "Username and password or API token"}
