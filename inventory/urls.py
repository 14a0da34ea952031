from django.urls import path

from inventory import api

urlpatterns = [
    path("inventory", api.InventoryListView.as_view(), name="inventory-list"),
    path("inventory/report", api.InventoryReportView.as_view(), name="inventory-report"),
    path("models/<str:name>/inventory", api.ModelInventoryView.as_view(), name="model-inventory"),
]
