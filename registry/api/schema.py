"""OpenAPI generation for the native API (the authentication schemes are described in config/schema.py)."""

NATIVE_PREFIXES = ("/api/v1/",)


def native_endpoints_only(
    endpoints: list[tuple[str, str, str, object]],
) -> list[tuple[str, str, str, object]]:
    """drf-spectacular preprocessing hook: keep the native API (/api/v1/) in /api/schema/ and /api/docs/.

    The MLflow- and Databricks-compatible routes are documented by those projects.
    """
    return [endpoint for endpoint in endpoints if endpoint[0].startswith(NATIVE_PREFIXES)]
