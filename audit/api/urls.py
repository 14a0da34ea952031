from django.urls import path

from audit.api import views

urlpatterns = [
    path("events", views.AuditEventListView.as_view(), name="audit-events"),
    path("events/export.<str:export_format>", views.AuditEventExportView.as_view(), name="audit-export"),
    path("checkpoints", views.CheckpointListView.as_view(), name="audit-checkpoints"),
    path("keys", views.PublicKeysView.as_view(), name="audit-keys"),
    path("reports/promotions", views.PromotionsReportView.as_view(), name="audit-report-promotions"),
    path(
        "reports/promotions-per-week",
        views.PromotionsPerWeekReportView.as_view(),
        name="audit-report-promotions-per-week",
    ),
    path("reports/aliases", views.AliasHistoryReportView.as_view(), name="audit-report-aliases"),
    path("reports/access-changes", views.AccessChangesReportView.as_view(), name="audit-report-access"),
    path(
        "reports/separation-of-duties",
        views.SeparationOfDutiesReportView.as_view(),
        name="audit-report-sod",
    ),
]
