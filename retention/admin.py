"""Admin for legal holds: every hold is placed and released through the audited services (the
compliance role or a superuser, with a reason); a hold is never deleted or edited in place."""

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from registry.errors import RegistryError
from retention import selectors, services
from retention.models import LegalHold


def _staff(request: HttpRequest) -> bool:
    return bool(request.user.is_active and request.user.is_staff)


class _ServiceForm(forms.ModelForm):
    """A form whose save is an audited service call, made in clean() so its refusals show as errors."""

    request: HttpRequest

    class Meta:
        model = LegalHold
        fields: list[str] = []

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        try:
            self.instance = self.call(data)
        except RegistryError as exc:
            raise forms.ValidationError(exc.message)
        return data

    def call(self, data: dict[str, Any]) -> LegalHold:
        raise NotImplementedError


class LegalHoldPlaceForm(_ServiceForm):
    model_name = forms.CharField(label="Registered model")
    version_number = forms.IntegerField(
        required=False, min_value=1, label="Version", help_text="Empty: hold the whole model."
    )
    hold_reason = forms.CharField(widget=forms.Textarea, label="Reason")

    def call(self, data: dict[str, Any]) -> LegalHold:
        return services.legal_hold_place(
            actor=self.request.user,
            name=data["model_name"],
            version=data.get("version_number"),
            reason=data["hold_reason"],
        )


class LegalHoldReleaseForm(_ServiceForm):
    release_reason_text = forms.CharField(widget=forms.Textarea, label="Why the hold is lifted")

    def call(self, data: dict[str, Any]) -> LegalHold:
        return services.legal_hold_release(
            actor=self.request.user, hold_id=self.instance.pk, reason=data["release_reason_text"]
        )


@admin.register(LegalHold)
class LegalHoldAdmin(admin.ModelAdmin):
    list_display = ["id", "model", "version", "active", "placed_by", "placed_at", "released_at"]
    list_filter = ["released_at"]
    search_fields = ["model__name"]
    readonly_fields = [
        "model",
        "version",
        "reason",
        "placed_by",
        "placed_at",
        "released_by",
        "released_at",
        "release_reason",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[LegalHold]:
        return selectors.legal_holds_visible_to(request.user)

    def get_readonly_fields(self, request: HttpRequest, obj: LegalHold | None = None) -> list[str]:
        return [] if obj is None else self.readonly_fields

    def get_form(
        self, request: HttpRequest, obj: LegalHold | None = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm]:
        base = LegalHoldPlaceForm if obj is None else LegalHoldReleaseForm
        kwargs["form"] = base
        kwargs["fields"] = (
            ["model_name", "version_number", "hold_reason"] if obj is None else ["release_reason_text"]
        )
        form_class = super().get_form(request, obj, change=change, **kwargs)
        return type(f"{base.__name__}For", (form_class,), {"request": request})

    def get_fields(self, request: HttpRequest, obj: LegalHold | None = None) -> list[str]:
        if obj is None:
            return ["model_name", "version_number", "hold_reason"]
        fields = list(self.readonly_fields)
        if not selectors.is_compliance(request.user):
            return [
                name for name in fields if name not in ("reason", "release_reason")
            ]  # the matter's details
        return [*fields, "release_reason_text"] if obj.active else fields

    @admin.display(boolean=True)
    def active(self, hold: LegalHold) -> bool:
        return hold.active

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _staff(request)

    def has_view_permission(self, request: HttpRequest, obj: LegalHold | None = None) -> bool:
        return _staff(request) and (obj is None or self.get_queryset(request).filter(pk=obj.pk).exists())

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _staff(request) and selectors.is_compliance(request.user)

    def has_change_permission(self, request: HttpRequest, obj: LegalHold | None = None) -> bool:
        # Changing a hold means releasing it: only an active one, by the compliance role.
        return (
            _staff(request)
            and selectors.is_compliance(request.user)
            and (obj is None or (obj.active and self.has_view_permission(request, obj)))
        )

    def has_delete_permission(self, request: HttpRequest, obj: LegalHold | None = None) -> bool:
        return False  # a hold is released, never deleted: its history is the record

    def save_model(self, request: HttpRequest, obj: LegalHold, form: forms.ModelForm, change: bool) -> None:
        pass  # already written by the service in the form's clean()
