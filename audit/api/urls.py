from django.urls import path

from audit.api import views

# The report's path, and the route name kept from when each report had its own view.
REPORT_ROUTES = {
    "promotions": "audit-report-promotions",
    "direct-changes": "audit-report-direct-changes",
    "promotions-per-week": "audit-report-promotions-per-week",
    "aliases": "audit-report-aliases",
    "access-changes": "audit-report-access",
    "separation-of-duties": "audit-report-sod",
}

urlpatterns = [
    path("events", views.AuditEventListView.as_view(), name="audit-events"),
    path("events/export.<str:export_format>", views.AuditEventExportView.as_view(), name="audit-export"),
    path("checkpoints", views.CheckpointListView.as_view(), name="audit-checkpoints"),
    path("keys", views.PublicKeysView.as_view(), name="audit-keys"),
    *(path(f"reports/{name}", views.report_view(name), name=route) for name, route in REPORT_ROUTES.items()),
]
