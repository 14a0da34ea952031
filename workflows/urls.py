from django.urls import path

from workflows import views

urlpatterns = [
    path("models/<str:name>/requests", views.ModelRequestListView.as_view(), name="model-requests"),
    path("models/<str:name>/policies", views.PolicyListView.as_view(), name="model-policies"),
    path(
        "models/<str:name>/policies/<str:target_kind>/<str:target>",
        views.PolicyDetailView.as_view(),
        name="model-policy",
    ),
    path(
        "models/<str:name>/versions/<int:version>/timeline",
        views.VersionTimelineView.as_view(),
        name="version-timeline",
    ),
    path("policies", views.DefaultPolicyListView.as_view(), name="default-policies"),
    path(
        "policies/<str:target_kind>/<str:target>",
        views.DefaultPolicyDetailView.as_view(),
        name="default-policy",
    ),
    path("requests", views.RequestListView.as_view(), name="request-list"),
    path("requests/<int:request_id>", views.RequestDetailView.as_view(), name="request-detail"),
    path("requests/<int:request_id>/approve", views.RequestApproveView.as_view(), name="request-approve"),
    path("requests/<int:request_id>/reject", views.RequestRejectView.as_view(), name="request-reject"),
    path("requests/<int:request_id>/cancel", views.RequestCancelView.as_view(), name="request-cancel"),
    path("requests/<int:request_id>/fail", views.RequestFailView.as_view(), name="request-fail"),
    path("requests/<int:request_id>/comments", views.RequestCommentView.as_view(), name="request-comments"),
]
