"""Admin for the model inventory: lists only visible models; a record changes only through the
audited service (MANAGE on the model), never by a direct save."""

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from access.grants import Level, user_can
from inventory import selectors, services
from inventory.models import InventoryRecord, LifecycleStatus
from registry.errors import RegistryError


def _staff(request: HttpRequest) -> bool:
    return bool(request.user.is_active and request.user.is_staff)


class InventoryForm(forms.ModelForm):
    """Validated and saved by the service in clean(), so its refusals show as form errors."""

    risk_tier = forms.ChoiceField(required=False)
    developer_username = forms.CharField(required=False, label="Developer (username)")
    tags_text = forms.CharField(
        required=False, label="Regulatory-scope tags", help_text="Comma-separated, e.g. eu-ai-act, sr-26-2"
    )
    request: HttpRequest

    class Meta:
        model = InventoryRecord
        fields = ["risk_tier", "intended_use", "business_owner", "third_party", "lifecycle_status"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["risk_tier"].choices = [("", "(not tiered)")] + [
            (t.name, f"{t.name} (review every {t.review_interval_days} days)") for t in selectors.risk_tiers()
        ]
        self.fields["lifecycle_status"].choices = LifecycleStatus.choices
        if self.instance.pk:
            self.fields["developer_username"].initial = (
                self.instance.developer.get_username() if self.instance.developer_id else ""
            )
            self.fields["tags_text"].initial = ", ".join(self.instance.regulatory_tags)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        tags = [tag.strip() for tag in (data.get("tags_text") or "").split(",") if tag.strip()]
        changes = {
            "risk_tier": data.get("risk_tier") or "",
            "intended_use": data.get("intended_use") or "",
            "business_owner": data.get("business_owner") or "",
            "third_party": bool(data.get("third_party")),
            "lifecycle_status": data.get("lifecycle_status"),
            "developer": data.get("developer_username") or None,
            "regulatory_tags": tags,
        }
        try:
            services.inventory_update(actor=self.request.user, name=self.instance.model.name, changes=changes)
        except RegistryError as exc:
            raise forms.ValidationError(exc.message)
        self.instance.refresh_from_db()
        return data


@admin.register(InventoryRecord)
class InventoryRecordAdmin(admin.ModelAdmin):
    form = InventoryForm
    list_display = [
        "model",
        "risk_tier",
        "lifecycle_status",
        "business_owner",
        "developer",
        "third_party",
        "tags",
    ]
    list_filter = ["risk_tier", "lifecycle_status", "third_party"]
    search_fields = ["model__name", "business_owner", "intended_use"]
    readonly_fields = ["model", "updated_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[InventoryRecord]:
        return selectors.inventory_visible_to(request.user)

    def get_form(
        self, request: HttpRequest, obj: InventoryRecord | None = None, change: bool = False, **kwargs: Any
    ) -> type[InventoryForm]:
        form_class = super().get_form(request, obj, change=change, **kwargs)
        return type("InventoryFormFor", (form_class,), {"request": request})

    @admin.display(description="regulatory tags")
    def tags(self, record: InventoryRecord) -> str:
        return ", ".join(record.regulatory_tags)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _staff(request)

    def has_view_permission(self, request: HttpRequest, obj: InventoryRecord | None = None) -> bool:
        return _staff(request) and (obj is None or self.get_queryset(request).filter(pk=obj.pk).exists())

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # every model has its record from creation

    def has_change_permission(self, request: HttpRequest, obj: InventoryRecord | None = None) -> bool:
        if obj is None:
            return _staff(request)
        return self.has_view_permission(request, obj) and user_can(request.user, Level.MANAGE, obj.model)

    def has_delete_permission(self, request: HttpRequest, obj: InventoryRecord | None = None) -> bool:
        return False  # the record lives and dies with its model

    def save_model(
        self, request: HttpRequest, obj: InventoryRecord, form: InventoryForm, change: bool
    ) -> None:
        pass  # already written by the service in the form's clean()
