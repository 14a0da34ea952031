from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts import first_sign_in
from config import health, landing, metrics, moved, schema  # noqa: F401  (schema registers auth schemes)
from fronts.databricks import urls as databricks_front
from fronts.mlflow import views as mlflow_views
from registry.api import views as native_views

urlpatterns = [
    path("", landing.landing, name="landing"),
    # The MLflow routes carry the serving path's reads, and Django tries patterns in order.
    path("", include("fronts.mlflow.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("admin/approvals/", include("workflows.admin_views")),
    path("admin/two-factor/", include("accounts.second_factor")),
    re_path(moved.MOVED_ADMIN_PATTERN, moved.moved_admin_page, name="admin-moved"),
    # Before the admin's own: the same page, whose form also ends a one-time password (audited).
    path(
        "admin/password_change/", admin.site.admin_view(first_sign_in.password_change), name="password-change"
    ),
    path("admin/", admin.site.urls),
    path("oidc/", include("accounts.oidc_urls")),
    path("api/2.0/mlflow/", include("fronts.databricks.urls")),
    path(".well-known/databricks-config", databricks_front.databricks_config, name="databricks-config"),
    path("api/v1/", include("registry.api.urls")),
    path("api/v1/", include("workflows.urls")),
    path("api/v1/audit/", include("audit.api.urls")),
    path("api/v1/", include("accounts.api.urls")),
    path("api/v1/", include("artifacts.urls")),
    path("api/v1/", include("webhooks.urls")),
    path("api/v1/", include("inventory.urls")),
    path("api/v1/", include("retention.urls")),
    # After every /api/v1/ include: unknown native paths get a JSON 404, not Django's HTML page.
    re_path(r"^api/v1/(?P<path>.*)$", native_views.endpoint_not_found, name="api-v1-not-found"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    # Last, after the Databricks-style routes under api/2.0/mlflow/: anything else below the MLflow
    # prefixes is an MLflow-style 404, never an HTML page.
    re_path(
        r"^(?:ajax-)?api/[23]\.0/(?P<path>.*)$", mlflow_views.endpoint_not_found, name="mlflow-not-found"
    ),
    # Very last: any other unknown path is a plain 404 page, never Django's debug page listing routes.
    re_path(r"^(?P<path>.*)$", landing.page_not_found, name=landing.NOT_FOUND_ROUTE),
]

if settings.QUORUM_BENCH_FLOOR:
    from bench.floor import bench_floor, bench_floor_pk

    # Outside /api/, so no catch-all shadows them; absent unless explicitly switched on.
    urlpatterns.insert(0, path("bench/floor", bench_floor, name="bench-floor"))
    urlpatterns.insert(0, path("bench/floor-pk", bench_floor_pk, name="bench-floor-pk"))
