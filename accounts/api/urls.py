from django.urls import path

from accounts.api import views

urlpatterns = [
    path("tokens", views.TokenListView.as_view(), name="token-list"),
    path("tokens/<int:token_id>", views.TokenDetailView.as_view(), name="token-detail"),
    path("teams", views.TeamListView.as_view(), name="team-list"),
    path("teams/<str:team>", views.TeamDetailView.as_view(), name="team-detail"),
    path("teams/<str:team>/members", views.TeamMembersView.as_view(), name="team-members"),
    path("teams/<str:team>/members/<str:username>", views.TeamMemberView.as_view(), name="team-member"),
    path("models/<str:name>/grants", views.ModelGrantListView.as_view(), name="model-grants"),
    path(
        "models/<str:name>/grants/<str:kind>/<str:principal>/<str:level>",
        views.ModelGrantDetailView.as_view(),
        name="model-grant",
    ),
    path("users/<str:username>/access", views.UserAccessView.as_view(), name="user-access"),
    path("access-report", views.AccessReportView.as_view(), name="access-report"),
]
