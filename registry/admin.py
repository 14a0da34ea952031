"""Admin for registered models and versions: read-only registry pages filtered by visibility, and
guardian's object-permission pages, open only to MANAGE holders and writing through the audited
grant services (never guardian's direct assign_perm).
"""

from django.contrib import admin, messages
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from guardian.admin import AdminGroupObjectPermissionsForm, AdminUserObjectPermissionsForm, GuardedModelAdmin

from access.entitlements import entitlements
from access.grants import CODENAME_LEVELS, LEVEL_CODENAMES, Level, levels_implied, user_can
from accounts import services as access_services
from audit.admin import AuditTrailAdminMixin
from registry.errors import RegistryError
from registry.models import ModelVersion, RegisteredModel
from registry.selectors import model_versions_visible_to, registered_models_visible_to


def _level_choices() -> list[tuple[str, str]]:
    return [(codename, f"{level.value} ({codename})") for level, codename in LEVEL_CODENAMES.items()]


def _grant_changes(actor, model: RegisteredModel, principal, initial: set[str], wanted: set[str]) -> None:
    """Apply a permission-form submission as audited grants and revocations."""
    levels = set(LEVEL_CODENAMES.values())
    for codename in sorted((wanted - initial) & levels):
        access_services.grant_add(
            actor=actor, model_name=model.name, principal=principal, level=CODENAME_LEVELS[codename]
        )
    for codename in sorted((initial - wanted) & levels):
        access_services.grant_remove(
            actor=actor, model_name=model.name, principal=principal, level=CODENAME_LEVELS[codename]
        )


def _user_form_for(actor):
    class LevelUserPermissionsForm(AdminUserObjectPermissionsForm):
        def get_obj_perms_field_choices(self) -> list[tuple[str, str]]:
            return _level_choices()

        def save_obj_perms(self) -> None:
            principal = access_services.Principal("user", self.user.get_username())
            wanted = set(self.cleaned_data[self.get_obj_perms_field_name()])
            _grant_changes(actor, self.obj, principal, set(self.get_obj_perms_field_initial()), wanted)

    return LevelUserPermissionsForm


def _group_form_for(actor):
    class LevelGroupPermissionsForm(AdminGroupObjectPermissionsForm):
        def get_obj_perms_field_choices(self) -> list[tuple[str, str]]:
            return _level_choices()

        def save_obj_perms(self) -> None:
            principal = access_services.Principal("team", self.group.name)
            wanted = set(self.cleaned_data[self.get_obj_perms_field_name()])
            _grant_changes(actor, self.obj, principal, set(self.get_obj_perms_field_initial()), wanted)

    return LevelGroupPermissionsForm


def _effective_row(principal, granted: dict[Level, list[str]]) -> dict:
    """One user's or team's row of the permissions page: each level held or not, and how."""
    top = next((level for level in reversed(Level) if level in granted), None)
    return {
        "principal": principal,
        "levels": [(level, ", ".join(sorted(set(granted.get(level, []))))) for level in Level],
        "effective": top.value if top else "none",
    }


def effective_access(model: RegisteredModel) -> tuple[list[dict], list[dict]]:
    """Who holds which level on `model`, by the access rule (access/grants.py through
    access/entitlements.py): MANAGE implies every level, team and global grants count, and so does
    being a superuser. Guardian's own table shows only the stored grant rows."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from guardian.shortcuts import get_groups_with_perms

    by_user: dict[str, dict[Level, list[str]]] = {}
    for row in entitlements(RegisteredModel.objects.filter(pk=model.pk)):
        how = row.via if row.granted_level == row.level else f"{row.via} {row.granted_level}"
        how += f" ({row.team})" if row.team else ""
        by_user.setdefault(row.user, {}).setdefault(Level(row.level), []).append(how)
    users = {u.get_username(): u for u in get_user_model().objects.filter(username__in=by_user)}
    user_rows = [_effective_row(users[name], granted) for name, granted in sorted(by_user.items())]
    by_team: dict[Group, dict[Level, list[str]]] = {}
    for group, codenames in get_groups_with_perms(model, attach_perms=True).items():
        for codename in codenames:
            if codename in CODENAME_LEVELS:
                granted = CODENAME_LEVELS[codename]
                for level in levels_implied(granted):
                    how = "direct" if level == granted else f"direct {granted.value}"
                    by_team.setdefault(group, {}).setdefault(level, []).append(how)
    global_codenames = [LEVEL_CODENAMES[level] for level in Level]
    for group in Group.objects.filter(
        permissions__content_type__app_label="registry", permissions__codename__in=global_codenames
    ).prefetch_related("permissions"):
        for permission in group.permissions.all():
            if permission.codename in CODENAME_LEVELS:
                granted = CODENAME_LEVELS[permission.codename]
                for level in levels_implied(granted):
                    how = "global" if level == granted else f"global {granted.value}"
                    by_team.setdefault(group, {}).setdefault(level, []).append(how)
    team_rows = [
        _effective_row(group, granted) for group, granted in sorted(by_team.items(), key=lambda g: g[0].name)
    ]
    return user_rows, team_rows


def _is_database_id(raw: object) -> bool:
    """Whether `raw` can be a primary key at all (digits within 64 bits), so lookups never error."""
    text = str(raw)
    return text.isdigit() and len(text) <= 18


def _staff(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_active and user.is_staff)


@admin.register(RegisteredModel)
class RegisteredModelAdmin(AuditTrailAdminMixin, GuardedModelAdmin):
    """Registry data is read-only here (changes go through the audited API); access is managed here."""

    list_display = ["name", "creator", "created_at", "updated_at", "last_version_number"]
    search_fields = ["name"]
    readonly_fields = ["name", "description", "creator", "created_at", "updated_at", "last_version_number"]
    fields = readonly_fields
    actions = None
    change_form_template = "admin/registry/registeredmodel/change_form.html"

    def get_queryset(self, request: HttpRequest):
        visible = registered_models_visible_to(request.user).values("pk")
        return super().get_queryset(request).filter(pk__in=visible).select_related("creator")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _staff(request)

    def has_view_permission(self, request: HttpRequest, obj: RegisteredModel | None = None) -> bool:
        return _staff(request) and (obj is None or user_can(request.user, Level.READ, obj))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: RegisteredModel | None = None) -> bool:
        # Registry data stays read-only; guardian asks this before its permission pages, which
        # set the flag only after checking MANAGE on the model (see _managed).
        return getattr(request, "_quorum_managing_access", False)

    def has_delete_permission(self, request: HttpRequest, obj: RegisteredModel | None = None) -> bool:
        return False

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["can_manage_access"] = obj is not None and user_can(request.user, Level.MANAGE, obj)
        return super().render_change_form(
            request, context, add=add, change=change, form_url=form_url, obj=obj
        )

    # --- guardian's object-permission pages -------------------------------------------------

    def _managed(self, request: HttpRequest, object_pk: str) -> RegisteredModel:
        """The model, if the user sees it (else 404) and manages it (else 403)."""
        if not _staff(request):
            raise PermissionDenied
        obj = self.get_queryset(request).filter(pk=object_pk).first() if _is_database_id(object_pk) else None
        if obj is None:
            raise Http404("Registered model not found.")
        if not user_can(request.user, Level.MANAGE, obj):
            raise PermissionDenied("Managing access needs the MANAGE permission on this model.")
        request._quorum_managing_access = True
        return obj

    def get_obj_perms_base_context(self, request: HttpRequest, obj: RegisteredModel) -> dict:
        context = super().get_obj_perms_base_context(request, obj)
        context["model_perms"] = Permission.objects.filter(
            content_type__app_label="registry", codename__in=list(LEVEL_CODENAMES.values())
        ).order_by("pk")
        context["levels"] = list(Level)
        context["effective_users"], context["effective_teams"] = effective_access(obj)
        return context

    def get_obj_perms_manage_template(self) -> str:
        return "admin/registry/registeredmodel/obj_perms_manage.html"

    def get_obj_perms_manage_user_form(self, request: HttpRequest):
        return _user_form_for(request.user)

    def get_obj_perms_manage_group_form(self, request: HttpRequest):
        return _group_form_for(request.user)

    def obj_perms_manage_view(self, request: HttpRequest, object_pk: str) -> HttpResponse:
        self._managed(request, object_pk)
        return self._as_manager(request, super().obj_perms_manage_view, object_pk)

    def obj_perms_manage_user_view(self, request: HttpRequest, object_pk: str, user_id: str) -> HttpResponse:
        self._managed(request, object_pk)
        if not _is_database_id(user_id):
            raise Http404("User not found.")
        return self._as_manager(request, super().obj_perms_manage_user_view, object_pk, user_id)

    def obj_perms_manage_group_view(
        self, request: HttpRequest, object_pk: str, group_id: str
    ) -> HttpResponse:
        self._managed(request, object_pk)
        if not _is_database_id(group_id):
            raise Http404("Team not found.")
        return self._as_manager(request, super().obj_perms_manage_group_view, object_pk, group_id)

    def _as_manager(self, request: HttpRequest, view, *args) -> HttpResponse:
        # All grant changes of one form submission commit together, or none does.
        try:
            with transaction.atomic():
                return view(request, *args)
        except RegistryError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(request.get_full_path())


@admin.register(ModelVersion)
class ModelVersionAdmin(AuditTrailAdminMixin, admin.ModelAdmin):
    """Versions of the models the user can see; read-only (changes go through the audited API)."""

    list_display = ["model", "version", "stage", "status", "creator", "created_at"]
    list_filter = ["stage", "status"]
    search_fields = ["model__name"]
    actions = None

    def get_queryset(self, request: HttpRequest):
        return model_versions_visible_to(request.user).select_related("model", "creator")

    def get_readonly_fields(self, request: HttpRequest, obj: ModelVersion | None = None) -> list[str]:
        return [field.name for field in ModelVersion._meta.fields]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _staff(request)

    def has_view_permission(self, request: HttpRequest, obj: ModelVersion | None = None) -> bool:
        return _staff(request) and (obj is None or user_can(request.user, Level.READ, obj.model))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ModelVersion | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ModelVersion | None = None) -> bool:
        return False
