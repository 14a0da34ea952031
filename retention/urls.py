from django.urls import path

from retention import api

urlpatterns = [
    path("legal-holds", api.LegalHoldListView.as_view(), name="legal-hold-list"),
    path("legal-holds/<int:hold_id>/release", api.LegalHoldReleaseView.as_view(), name="legal-hold-release"),
    path(
        "models/<str:name>/versions/<str:version>/retention",
        api.VersionRetentionView.as_view(),
        name="version-retention",
    ),
]
