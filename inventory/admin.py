"""Admin for the model inventory: lists only visible models; a record changes only through the
audited service (MANAGE on the model), never by a direct save."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from access.grants import Level, user_can
from inventory import selectors, services
from inventory.models import CARD_SECTIONS, InventoryRecord, LifecycleStatus, ModelCard
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
        if "lifecycle_status" not in self.fields:
            return  # the view-only page (READ without MANAGE): every field is shown read-only
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


@admin.register(ModelCard)
class ModelCardAdmin(admin.ModelAdmin):
    """Card review: visible cards only; submit and approve run the audited services (approvers are
    never the card's authors), so the admin cannot move a card in a way the API refuses."""

    list_display = ["version", "state", "author", "approved_by", "approved_at", "updated_at"]
    list_filter = ["state"]
    search_fields = ["version__model__name"]
    actions = ["draft_cards_from_evidence", "submit_cards", "approve_cards"]
    readonly_fields = [
        "version",
        *CARD_SECTIONS,
        "state",
        "author",
        "approved_by",
        "approved_at",
        "approved_digest",
        "updated_at",
        "evidence_pack",
    ]
    exclude = ["contributor_ids"]

    @admin.display(description="evidence pack")
    def evidence_pack(self, card: ModelCard) -> str:
        url = reverse("version-evidence-pack", args=[card.version.model.name, card.version.version])
        return format_html('<a href="{}" id="evidence-pack-link">Download the evidence pack (zip)</a>', url)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ModelCard]:
        return selectors.model_cards_visible_to(request.user)

    def _each(self, request: HttpRequest, queryset: QuerySet[ModelCard], operation: Any, done: str) -> None:
        count = 0
        for card in queryset:
            try:
                operation(actor=request.user, name=card.version.model.name, version=card.version.version)
                count += 1
            except RegistryError as exc:
                messages.error(request, f"{card.version}: {exc.message}")
        if count:
            messages.success(request, f"{done} {count} model card(s).")

    @admin.action(description="Draft empty sections of selected cards from their run's evidence")
    def draft_cards_from_evidence(self, request: HttpRequest, queryset: QuerySet[ModelCard]) -> None:
        # Never overwrite from the admin: sections a person wrote are named in the refusal instead.
        self._each(request, queryset, services.model_card_draft_from_evidence, "Drafted")

    @admin.action(description="Submit selected cards for review")
    def submit_cards(self, request: HttpRequest, queryset: QuerySet[ModelCard]) -> None:
        self._each(request, queryset, services.model_card_submit, "Submitted")

    @admin.action(description="Approve selected cards (binds them to the artifact digest)")
    def approve_cards(self, request: HttpRequest, queryset: QuerySet[ModelCard]) -> None:
        self._each(request, queryset, services.model_card_approve, "Approved")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _staff(request)

    def has_view_permission(self, request: HttpRequest, obj: ModelCard | None = None) -> bool:
        return _staff(request) and (obj is None or self.get_queryset(request).filter(pk=obj.pk).exists())

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # written through the API (PATCH .../card)

    def has_change_permission(self, request: HttpRequest, obj: ModelCard | None = None) -> bool:
        return self.has_view_permission(request, obj)  # actions only: every field is read-only

    def has_delete_permission(self, request: HttpRequest, obj: ModelCard | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: ModelCard, form: Any, change: bool) -> None:
        pass  # every field is read-only; state changes go through the actions
