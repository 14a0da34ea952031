from django.urls import path

from registry.api import views

urlpatterns = [
    path("models", views.RegisteredModelListView.as_view(), name="model-list"),
    path("models/<str:name>", views.RegisteredModelDetailView.as_view(), name="model-detail"),
    path("models/<str:name>/rename", views.RegisteredModelRenameView.as_view(), name="model-rename"),
    path("models/<str:name>/tags", views.RegisteredModelTagListView.as_view(), name="model-tags"),
    path("models/<str:name>/tags/<path:key>", views.RegisteredModelTagDetailView.as_view(), name="model-tag"),
    path("models/<str:name>/aliases", views.AliasListView.as_view(), name="alias-list"),
    path("models/<str:name>/aliases/<str:alias>", views.AliasDetailView.as_view(), name="alias-detail"),
    path("models/<str:name>/versions", views.ModelVersionListView.as_view(), name="version-list"),
    path(
        "models/<str:name>/versions/<str:version>",
        views.ModelVersionDetailView.as_view(),
        name="version-detail",
    ),
    path(
        "models/<str:name>/versions/<str:version>/stage",
        views.ModelVersionStageView.as_view(),
        name="version-stage",
    ),
    path(
        "models/<str:name>/versions/<str:version>/tags",
        views.ModelVersionTagListView.as_view(),
        name="version-tags",
    ),
    path(
        "models/<str:name>/versions/<str:version>/tags/<path:key>",
        views.ModelVersionTagDetailView.as_view(),
        name="version-tag",
    ),
    path("versions", views.ModelVersionSearchView.as_view(), name="version-search"),
    path("resolve", views.ResolveView.as_view(), name="resolve"),
]
