from django.urls import path

from inventory import api

urlpatterns = [
    path("inventory", api.InventoryListView.as_view(), name="inventory-list"),
    path("inventory/report", api.InventoryReportView.as_view(), name="inventory-report"),
    path("inventory/overdue-reviews", api.OverdueReviewsView.as_view(), name="inventory-overdue-reviews"),
    path(
        "models/<str:name>/versions/<str:version>/validations",
        api.VersionValidationListView.as_view(),
        name="version-validations",
    ),
    path("models/<str:name>/versions/<str:version>/card", api.ModelCardView.as_view(), name="version-card"),
    path(
        "models/<str:name>/versions/<str:version>/card/submit",
        api.ModelCardSubmitView.as_view(),
        name="version-card-submit",
    ),
    path(
        "models/<str:name>/versions/<str:version>/card/approve",
        api.ModelCardApproveView.as_view(),
        name="version-card-approve",
    ),
    path(
        "models/<str:name>/versions/<str:version>/card/draft-from-evidence",
        api.ModelCardDraftFromEvidenceView.as_view(),
        name="version-card-draft-from-evidence",
    ),
    path(
        "models/<str:name>/versions/<str:version>/evidence-pack",
        api.EvidencePackView.as_view(),
        name="version-evidence-pack",
    ),
    path("models/<str:name>/inventory", api.ModelInventoryView.as_view(), name="model-inventory"),
]
