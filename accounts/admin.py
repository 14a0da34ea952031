"""Admin for users, teams and tokens. Token secrets are never stored, so never shown; token and
team changes go through the audited services."""

from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

import audit
from accounts import services
from accounts.models import ApiToken, SignInFailures, Team, User
from accounts.second_factor import SecondFactorAuthenticationForm
from audit.models import Action
from registry.errors import RegistryError

admin.site.unregister(Group)
# The sign-in asks for the one-time code of a second factor when the person has one (issue 23).
admin.site.login_form = SecondFactorAuthenticationForm
# django-otp's own device pages would show TOTP secrets to any superuser and change devices unaudited:
# people manage their own at /admin/two-factor/, and `manage.py second_factor_reset` resets a lost one.
for _device in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(_device):
        admin.site.unregister(_device)


@admin.register(Group)
class AuditedGroupAdmin(GroupAdmin):
    """Django groups (the teams' groups): global permissions granted here are access changes, so audited."""

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        # The admin runs the whole change form in one transaction; the event commits with it.
        super().save_related(request, form, formsets, change)
        group = form.instance
        audit.record(
            actor=request.user,
            action=Action.TEAM_CHANGED,
            target=group,
            after={
                "group": group.name,
                "changed": list(form.changed_data),
                "global_permissions": sorted(
                    f"{p.content_type.app_label}.{p.codename}"
                    for p in group.permissions.select_related("content_type")
                ),
            },
        )

    def delete_model(self, request: HttpRequest, obj: Group) -> None:
        with transaction.atomic():
            audit.record(
                actor=request.user,
                action=Action.TEAM_CHANGED,
                target=obj,
                before={"group": obj.name, "deleted": True},
            )
            super().delete_model(request, obj)


USER_AUDITED_FIELDS = ["username", "email", "is_active", "is_staff", "is_superuser", "is_service_account"]


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ["username", "email", "is_service_account", "is_staff", "is_superuser", "is_active"]
    list_filter = ["is_service_account", "is_staff", "is_superuser", "is_active"]
    fieldsets = [
        *DjangoUserAdmin.fieldsets,
        ("Service account", {"fields": ["is_service_account"]}),
    ]

    def save_model(self, request: HttpRequest, obj: User, form, change: bool) -> None:
        if obj.is_service_account and obj.has_usable_password():
            # Token-only: a password set before the flag must not keep working.
            obj.set_unusable_password()
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        # The admin runs the whole form in one transaction, so the event commits with the change;
        # it is written after the groups and global permissions are saved, to record them.
        super().save_related(request, form, formsets, change)
        obj = form.instance
        audit.record(
            actor=request.user,
            action=Action.USER_UPDATED if change else Action.USER_CREATED,
            target=obj,
            after={
                "changed": [name for name in form.changed_data if "password" not in name],
                "password_changed": any("password" in name for name in form.changed_data),
                **{name: getattr(obj, name) for name in USER_AUDITED_FIELDS},
                "groups": sorted(obj.groups.values_list("name", flat=True)),
                "global_permissions": sorted(
                    f"{p.content_type.app_label}.{p.codename}"
                    for p in obj.user_permissions.select_related("content_type")
                ),
            },
        )


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    """Teams are listed here; members change through the API or `manage.py team` (audited)."""

    list_display = ["name", "description", "member_count", "created_at"]
    readonly_fields = ["group", "description", "members", "created_at"]
    fields = readonly_fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Team]:
        return super().get_queryset(request).select_related("group").prefetch_related("group__user_set")

    @admin.display(description="members")
    def member_count(self, obj: Team) -> int:
        return len(obj.group.user_set.all())

    @admin.display(description="members")
    def members(self, obj: Team) -> str:
        return ", ".join(sorted(user.username for user in obj.group.user_set.all()))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Team | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Team | None = None) -> bool:
        return False


@admin.action(description="Revoke selected tokens")
def revoke_tokens(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
    count = 0
    for token in queryset:
        if token.revoked_at is None:
            try:
                services.token_revoke(actor=request.user, token_id=token.pk)
            except RegistryError as exc:
                messages.error(request, exc.message)
                continue
            count += 1
    messages.success(request, f"Revoked {count} token(s).")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens by prefix only: the digest is not shown and the secret was never stored."""

    list_display = ["user", "name", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["user__username", "name", "prefix"]
    fields = ["user", "name", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at"]
    readonly_fields = fields
    actions = [revoke_tokens]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiToken]:
        return super().get_queryset(request).select_related("user")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return False


@admin.register(SignInFailures)
class SignInFailuresAdmin(admin.ModelAdmin):
    """Counted failed sign-ins per username, network and window; written by the sign-in path only."""

    list_display = ("window_start", "username", "network", "failures", "refused", "last_at", "close_recorded")
    list_filter = ("close_recorded",)
    search_fields = ("username", "network")
    ordering = ("-window_start",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
