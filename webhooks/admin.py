"""Admin for webhooks: subscriptions written through the audited services (never a direct save),
a read-only delivery log with each attempt, and a replay action. Lists show only what the user
may manage: registry-wide webhooks with the global permission, per-model ones with MANAGE.
"""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from accounts.selectors import models_managed_by
from registry.errors import RegistryError
from registry.models import RegisteredModel
from webhooks import rules, selectors, services
from webhooks.models import DeliveryAttempt, Webhook, WebhookDelivery

EVENT_CHOICES = [(rules.WILDCARD, "* (every event)")] + [(event, event) for event in rules.EVENTS]


def _staff(request: HttpRequest) -> bool:
    return bool(request.user.is_active and request.user.is_staff)


class WebhookForm(forms.ModelForm):
    """Validated and saved by the services in clean(), so their refusals show as form errors."""

    events = forms.MultipleChoiceField(choices=EVENT_CHOICES, widget=forms.CheckboxSelectMultiple)
    secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave blank to keep the current secret (a new webhook gets a generated one, shown once).",
    )
    model = forms.ModelChoiceField(
        queryset=RegisteredModel.objects.none(), required=False, help_text="Empty: registry-wide."
    )

    class Meta:
        model = Webhook
        fields = ["name", "description", "url", "events", "status", "model", "secret"]

    request: HttpRequest
    generated_secret = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["model"].queryset = models_managed_by(self.request.user)
        self.fields["url"].widget = forms.TextInput(attrs={"size": 80})
        if self.instance.pk:
            self.fields["model"].disabled = True

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        try:
            if self.instance.pk:
                changes = {k: data.get(k) for k in ("name", "description", "url", "events", "status")}
                if data.get("secret"):
                    changes["secret"] = data["secret"]
                self.instance = services.webhook_update(
                    actor=self.request.user, webhook_id=self.instance.public_id, **changes
                )
            else:
                model = data.get("model")
                self.instance, self.generated_secret = services.webhook_create(
                    actor=self.request.user,
                    name=data.get("name"),
                    url=data.get("url"),
                    events=data.get("events"),
                    description=data.get("description") or "",
                    secret=data.get("secret") or None,
                    status=data.get("status"),
                    model_name=model.name if model else None,
                )
        except RegistryError as exc:
            raise forms.ValidationError(exc.message)
        return data


class AttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = readonly_fields = ["number", "started_at", "status_code", "latency_ms", "error", "replay"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    form = WebhookForm
    list_display = ["name", "scope", "url", "status", "event_list", "deliveries_link"]
    list_filter = ["status"]
    search_fields = ["name", "url", "model__name"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Webhook]:
        return selectors.webhooks_visible_to(request.user).select_related("model")

    def get_form(
        self, request: HttpRequest, obj: Webhook | None = None, change: bool = False, **kwargs: Any
    ) -> type[WebhookForm]:
        form_class = super().get_form(request, obj, change=change, **kwargs)
        return type("WebhookFormFor", (form_class,), {"request": request})

    def get_readonly_fields(self, request: HttpRequest, obj: Webhook | None = None) -> list[str]:
        return ["public_id", "deliveries_link"] if obj else []

    @admin.display(description="scope")
    def scope(self, webhook: Webhook) -> str:
        return webhook.model.name if webhook.model_id else "registry-wide"

    @admin.display(description="events")
    def event_list(self, webhook: Webhook) -> str:
        return ", ".join(webhook.events)

    @admin.display(description="delivery log")
    def deliveries_link(self, webhook: Webhook) -> str:
        url = reverse("admin:webhooks_webhookdelivery_changelist") + f"?webhook__id__exact={webhook.pk}"
        return format_html('<a href="{}">deliveries</a>', url)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _staff(request)

    def has_view_permission(self, request: HttpRequest, obj: Webhook | None = None) -> bool:
        return _staff(request) and (obj is None or self.get_queryset(request).filter(pk=obj.pk).exists())

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _staff(request)

    def has_change_permission(self, request: HttpRequest, obj: Webhook | None = None) -> bool:
        return self.has_view_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Webhook | None = None) -> bool:
        return self.has_view_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: Webhook, form: WebhookForm, change: bool) -> None:
        # Already written by the services in the form's clean(); here only the one-time secret is shown.
        if form.generated_secret and not change:
            messages.warning(
                request,
                f"Secret of '{obj.name}' (shown only now, store it with the receiver): {form.generated_secret}",
            )

    def delete_model(self, request: HttpRequest, obj: Webhook) -> None:
        services.webhook_delete(actor=request.user, webhook_id=obj.public_id)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Webhook]) -> None:
        for webhook in queryset:
            services.webhook_delete(actor=request.user, webhook_id=webhook.public_id)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["delivery_id", "webhook", "event", "status", "attempts", "last_status_code", "created_at"]
    list_filter = ["status", "is_test"]
    inlines = [AttemptInline]
    actions = ["replay"]
    exclude = ["record"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookDelivery]:
        visible = selectors.webhooks_visible_to(request.user).values("pk")
        return WebhookDelivery.objects.filter(webhook__in=visible).select_related("webhook__model", "record")

    def get_readonly_fields(self, request: HttpRequest, obj: WebhookDelivery | None = None) -> list[str]:
        return [f.name for f in WebhookDelivery._meta.fields if f.name != "record"] + ["event", "payload"]

    @admin.display(description="event")
    def event(self, delivery: WebhookDelivery) -> str:
        return delivery.record.event

    @admin.display(description="payload (as sent)")
    def payload(self, delivery: WebhookDelivery) -> str:
        return delivery.record.payload

    @admin.action(description="Replay selected deliveries (same delivery id)")
    def replay(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        replayed = 0
        for delivery in queryset:
            try:
                services.delivery_replay(
                    actor=request.user,
                    webhook_id=delivery.webhook.public_id,
                    delivery_id=str(delivery.delivery_id),
                )
                replayed += 1
            except RegistryError as exc:
                messages.error(request, f"{delivery.delivery_id}: {exc.message}")
        if replayed:
            messages.success(request, f"Replayed {replayed} deliveries.")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _staff(request)

    def has_view_permission(self, request: HttpRequest, obj: WebhookDelivery | None = None) -> bool:
        return _staff(request) and (obj is None or self.get_queryset(request).filter(pk=obj.pk).exists())

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: WebhookDelivery | None = None) -> bool:
        # Read-only pages; the replay action needs change permission on the changelist itself.
        return _staff(request) and obj is None

    def has_delete_permission(self, request: HttpRequest, obj: WebhookDelivery | None = None) -> bool:
        return False
