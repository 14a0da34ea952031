"""Read-only admin for the audit trail, the reports pages and the weekly promotions chart."""

import json
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse

from audit import reports
from audit.models import AuditCheckpoint, AuditEvent
from audit.selectors import EventFilter, user_is_auditor
from registry.errors import InvalidParameter
from registry.models import RegisteredModel

# The reports with a page of their own (the weekly one is the chart on the reports page).
REPORT_PAGES = [name for name in reports.REPORTS if name != "promotions-per-week"]
CHART_WEEKS = 12


def _cell(field: str, value: Any) -> dict[str, Any]:
    """A report value as the page shows it: JSON (before/after) pretty-printed, approvers one a line."""
    if value is None:
        return {"text": ""}
    if field == "approvers" and isinstance(value, list):
        lines = [
            f"{a.get('user')} at {a.get('at')}" + (f": {a['comment']}" if a.get("comment") else "")
            for a in value
        ]
        return {"lines": lines}
    if isinstance(value, dict | list):
        return {"json": json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)}
    return {"text": value}


class ReadOnlyAdmin(admin.ModelAdmin):
    """Nothing here can be added, changed or deleted; the database refuses it anyway."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict:
        return {}


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("seq", "timestamp", "actor_username", "actor_kind", "action", "target_name", "model_name")
    list_filter = ("action", "actor_kind")
    search_fields = ("=model_name", "=actor_username", "target_name", "request_id")
    date_hierarchy = "timestamp"
    ordering = ("-seq",)
    show_full_result_count = False  # counting millions of rows on every page view is not worth it
    change_list_template = "audit/admin/auditevent_change_list.html"

    def get_urls(self) -> list:
        urls = [
            path("reports/", self.admin_site.admin_view(self.reports_view), name="audit_reports"),
            path(
                "reports/<str:report>/",
                self.admin_site.admin_view(self.report_view),
                name="audit_report",
            ),
        ]
        return urls + super().get_urls()

    def _require_auditor(self, request: HttpRequest) -> None:
        if not user_is_auditor(request.user):
            raise PermissionDenied("Audit reports are for auditors (audit.view_auditevent).")

    def reports_view(self, request: HttpRequest) -> HttpResponse:
        """The weekly chart of promotions and rejections, and links to each report."""
        self._require_auditor(request)
        from datetime import timedelta

        from django.utils import timezone

        since = timezone.now() - timedelta(weeks=CHART_WEEKS)
        weeks = reports.report_rows(
            "promotions-per-week", AuditEvent.objects.all(), EventFilter(since=since, until=timezone.now())
        )
        peak = max([w["applied"] + w["rejected"] + w["failed"] for w in weeks] or [1]) or 1
        for week in weeks:
            week["applied_pct"] = round(100 * week["applied"] / peak, 1)
            week["rejected_pct"] = round(100 * week["rejected"] / peak, 1)
            week["failed_pct"] = round(100 * week["failed"] / peak, 1)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Audit reports",
            "weeks": weeks,
            "chart_weeks": CHART_WEEKS,
            "report_links": [
                (reports.REPORTS[key].title, reverse("admin:audit_report", args=[key]))
                for key in REPORT_PAGES
            ],
        }
        return TemplateResponse(request, "audit/admin/reports.html", context)

    def report_view(self, request: HttpRequest, report: str) -> HttpResponse:
        self._require_auditor(request)
        if report not in REPORT_PAGES:
            from django.http import Http404

            raise Http404(f"no report named {report}")
        definition = reports.REPORTS[report]
        params = {key: request.GET.get(key, "") for key in reports.REPORT_FILTERS}
        error = ""
        rows: list[dict[str, Any]] = []
        try:
            rows = reports.report_rows(
                report,
                AuditEvent.objects.all(),
                EventFilter.from_params(params),
                RegisteredModel.objects.order_by("name"),
            )
        except InvalidParameter as exc:
            error = exc.message
        title, fields = definition.title, definition.fields
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "report": report,
            "fields": fields,
            "table": [[_cell(f, row.get(f)) for f in fields] for row in rows],
            "error": error,
            "params": params,
        }
        return TemplateResponse(request, "audit/admin/report.html", context, status=400 if error else 200)


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(ReadOnlyAdmin):
    list_display = ("seq", "created_at", "hash", "key_id", "created_by")
    ordering = ("-seq", "-pk")


class AuditTrailAdminMixin:
    """Shows the audit trail of the object on its admin change page.

    Mix into a ModelAdmin of RegisteredModel or ModelVersion (or override `audit_trail_target`).
    It swaps in a change form template that includes "audit/includes/audit_trail.html"; admins
    with their own change form can instead put
    `{% include "audit/includes/audit_trail.html" %}` in it and keep the `audit_events` context.
    """

    change_form_template = "audit/admin/change_form_with_audit_trail.html"
    audit_trail_limit = 100

    def audit_trail_target(self, obj: Any) -> tuple[str, int | None]:
        if isinstance(obj, RegisteredModel):
            return obj.name, None
        return obj.model.name, obj.version

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        from django.contrib.admin.utils import unquote

        from audit.selectors import audit_events_visible_to, events_for_model

        extra = dict(extra_context or {})
        obj = self.get_object(request, unquote(object_id))
        if obj is not None:
            model_name, version = self.audit_trail_target(obj)
            visible = audit_events_visible_to(request.user).values("pk")
            events = events_for_model(model_name, version).filter(pk__in=visible)
            extra["audit_events"] = list(events[: self.audit_trail_limit])
            extra["audit_trail_title"] = f"Audit trail of {model_name}" + (f" v{version}" if version else "")
        return super().change_view(request, object_id, form_url, extra_context=extra)
