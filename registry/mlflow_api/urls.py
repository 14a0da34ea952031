"""MLflow routes: every registry endpoint under /api/2.0/mlflow/ and /ajax-api/2.0/mlflow/, the
read-only artifact proxy, server-info, and a JSON ENDPOINT_NOT_FOUND for anything else below them.

Included at the site root from config/urls.py with the `mlflow` namespace, so each route's name is
`mlflow:<name>` (accounts.routes declares who may call them).
"""

from django.urls import path, re_path

from registry.mlflow_api import artifacts, views
from registry.webhooks import mlflow as webhooks

app_name = "mlflow"

PREFIXES = ("api/2.0/", "ajax-api/2.0/")

urlpatterns = []
for prefix in PREFIXES:
    for endpoint, (_methods, _handler, name) in views.ENDPOINTS.items():
        urlpatterns.append(
            path(f"{prefix}mlflow/{endpoint}", views.registry_endpoint, {"endpoint": endpoint}, name=name)
        )
    urlpatterns += webhooks.urlpatterns_for(prefix)
    urlpatterns += [
        path(f"{prefix}mlflow-artifacts/artifacts", artifacts.list_view, name="artifacts-list"),
        path(
            f"{prefix}mlflow-artifacts/artifacts/<path:artifact_path>",
            artifacts.download_view,
            name="artifacts-download",
        ),
    ]
urlpatterns += [
    path("api/3.0/mlflow/server-info", artifacts.server_info_view, name="server-info"),
    path("ajax-api/3.0/mlflow/server-info", artifacts.server_info_view, name="server-info"),
    # Anything else under the MLflow prefixes is an MLflow-style 404, never an HTML page.
    re_path(r"^(?:ajax-)?api/[23]\.0/(?P<path>.*)$", views.endpoint_not_found, name="endpoint-not-found"),
]
