"""MLflow routes: every registry endpoint under /api/2.0/mlflow/ and /ajax-api/2.0/mlflow/, the
read-only artifact proxy and server-info.

Included first at the site root from config/urls.py with the `mlflow` namespace, so each route's
name is `mlflow:<name>` (accounts.routes declares who may call them). The JSON ENDPOINT_NOT_FOUND
for anything else below the MLflow prefixes is the last route of config/urls.py.
"""

from django.urls import path

from fronts.mlflow import artifacts, views, webhooks

app_name = "mlflow"

PREFIXES = ("api/2.0/", "ajax-api/2.0/")


# The serving path's reads first: Django tries a URL's patterns in order, one by one, and every
# nested include costs a match object of its own, so these are found at the first tries.
HOT_ENDPOINTS = ("registered-models/alias", "model-versions/get", "model-versions/get-download-uri")


def _under_prefix(prefix: str) -> list:
    endpoints = [*HOT_ENDPOINTS, *(e for e in views.ENDPOINTS if e not in HOT_ENDPOINTS)]
    return [
        *(
            path(
                f"{prefix}mlflow/{endpoint}",
                views.registry_endpoint,
                {"endpoint": endpoint},
                name=views.ENDPOINTS[endpoint][2],
            )
            for endpoint in endpoints
        ),
        *webhooks.urlpatterns_for(prefix),
        path(f"{prefix}mlflow-artifacts/artifacts", artifacts.list_view, name="artifacts-list"),
        path(
            f"{prefix}mlflow-artifacts/artifacts/<path:artifact_path>",
            artifacts.download_view,
            name="artifacts-download",
        ),
    ]


urlpatterns = [route for prefix in PREFIXES for route in _under_prefix(prefix)]
urlpatterns += [
    path("api/3.0/mlflow/server-info", artifacts.server_info_view, name="server-info"),
    path("ajax-api/3.0/mlflow/server-info", artifacts.server_info_view, name="server-info"),
]
