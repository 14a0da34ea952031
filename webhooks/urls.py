from django.urls import path

from webhooks import api

urlpatterns = [
    path("webhooks", api.WebhookListView.as_view(), name="webhook-list"),
    path("webhooks/<str:webhook_id>", api.WebhookDetailView.as_view(), name="webhook-detail"),
    path("webhooks/<str:webhook_id>/test", api.WebhookTestView.as_view(), name="webhook-test"),
    path("webhooks/<str:webhook_id>/deliveries", api.DeliveryListView.as_view(), name="webhook-deliveries"),
    path(
        "webhooks/<str:webhook_id>/deliveries/<uuid:delivery_id>",
        api.DeliveryDetailView.as_view(),
        name="webhook-delivery",
    ),
    path(
        "webhooks/<str:webhook_id>/deliveries/<uuid:delivery_id>/replay",
        api.DeliveryReplayView.as_view(),
        name="webhook-delivery-replay",
    ),
]
