from django.urls import path

from artifacts import api

urlpatterns = [
    path("artifact-jobs", api.ArtifactJobListView.as_view(), name="artifact-job-list"),
    path("artifact-jobs/<int:job_id>", api.ArtifactJobDetailView.as_view(), name="artifact-job-detail"),
    path("artifact-jobs/<int:job_id>/retry", api.ArtifactJobRetryView.as_view(), name="artifact-job-retry"),
    path(
        "models/<str:name>/versions/<int:version>/artifacts",
        api.VersionArtifactsView.as_view(),
        name="version-artifacts",
    ),
    path(
        "models/<str:name>/versions/<int:version>/governed-copy",
        api.VersionGovernedCopyView.as_view(),
        name="version-governed-copy",
    ),
    path(
        "models/<str:name>/versions/<int:version>/downloads",
        api.VersionDownloadListView.as_view(),
        name="version-downloads",
    ),
    path("models/<str:name>/source-prefixes", api.SourcePrefixListView.as_view(), name="source-prefix-list"),
    path(
        "models/<str:name>/source-prefixes/<int:prefix_id>",
        api.SourcePrefixDetailView.as_view(),
        name="source-prefix-detail",
    ),
    path(
        "models/<str:name>/versions/<int:version>/attestations",
        api.VersionAttestationListView.as_view(),
        name="version-attestations",
    ),
    path("deployments", api.DeploymentListView.as_view(), name="deployment-list"),
    path("trusted-signers", api.TrustedSignerListView.as_view(), name="trusted-signer-list"),
    path(
        "trusted-signers/<int:signer_id>", api.TrustedSignerDetailView.as_view(), name="trusted-signer-detail"
    ),
]
