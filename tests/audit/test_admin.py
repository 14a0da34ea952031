"""The admin: read-only audit pages, the reports with the weekly chart, and a model's audit trail."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.test import Client, RequestFactory

from audit.admin import AuditTrailAdminMixin
from audit.models import AuditEvent
from registry import services
from registry.models import ModelVersion, RegisteredModel
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def auditor_staff(db):
    user = make_user("auditor", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    return type(user).objects.get(pk=user.pk)


def _browser(user) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


def test_auditors_browse_events_but_cannot_add_change_or_delete(fraud, auditor_staff):
    browser = _browser(auditor_staff)
    listing = browser.get("/admin/audit/auditevent/")
    assert listing.status_code == 200
    assert b"registered_model.created" in listing.content
    event = AuditEvent.objects.get(seq=1)
    page = browser.get(f"/admin/audit/auditevent/{event.pk}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert browser.get("/admin/audit/auditevent/add/").status_code == 403
    assert browser.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert browser.post(f"/admin/audit/auditevent/{event.pk}/change/", {"reason": "x"}).status_code == 403
    assert AuditEvent.objects.get(seq=1).reason == ""


def test_superusers_cannot_change_events_either(fraud, cast):
    browser = _browser(cast.admin)
    event = AuditEvent.objects.get(seq=1)
    assert browser.get("/admin/audit/auditevent/add/").status_code == 403
    assert browser.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403


def test_reports_page_charts_promotions_and_rejections_per_week(history, cast, monkeypatch):
    from datetime import UTC, datetime

    monkeypatch.setattr("django.utils.timezone.now", lambda: datetime(2026, 3, 20, tzinfo=UTC))
    page = _browser(cast.admin).get("/admin/audit/auditevent/reports/")
    assert page.status_code == 200
    text = page.content.decode()
    assert 'id="promotions-chart"' in text
    assert "1 applied, 1 rejected, 0 failed" in text  # week of 2 March
    # Week of 9 March: the two direct changes of ungoverned targets are no promotions, counted apart.
    assert "0 applied, 0 rejected, 1 failed" in text
    assert "2 direct changes (ungoverned)" in text
    assert "width:50.0%" in text  # 1 of the busiest week's 2


def test_report_pages_show_the_rows(history, cast):
    browser = _browser(cast.admin)
    page = browser.get("/admin/audit/auditevent/reports/promotions/", {"since": "2026-03-09"})
    assert page.status_code == 200
    assert page.content.decode().count('<tr class="report-row">') == 1
    direct = browser.get("/admin/audit/auditevent/reports/direct-changes/", {"since": "2026-03-09"})
    assert direct.content.decode().count('<tr class="report-row">') == 2
    assert b"alias:challenger" in direct.content
    bad = browser.get("/admin/audit/auditevent/reports/promotions/", {"since": "soon"})
    assert bad.status_code == 400
    assert b"must be an ISO 8601" in bad.content
    assert browser.get("/admin/audit/auditevent/reports/nonsense/").status_code == 404


def test_staff_without_the_audit_permission_get_no_reports(fraud, cast):
    staff = make_user("staffer", is_staff=True)
    assert _browser(staff).get("/admin/audit/auditevent/reports/").status_code == 403


class ModelAdmin(AuditTrailAdminMixin, admin.ModelAdmin):
    pass


class VersionAdmin(AuditTrailAdminMixin, admin.ModelAdmin):
    pass


def test_the_mixin_shows_a_models_and_a_versions_trail_on_their_pages(fraud, cast):
    services.model_version_update(actor=cast.owner, name="fraud", version=2, description="second")
    site = admin.AdminSite(name="audit_trail_test")
    model_admin = ModelAdmin(RegisteredModel, site)
    version_admin = VersionAdmin(ModelVersion, site)
    request = RequestFactory().get("/")
    request.user = cast.admin

    response = model_admin.change_view(request, str(fraud.pk))
    response.render()
    text = response.content.decode()
    assert "Audit trail of fraud" in text
    assert text.count("model_version.created") == 3
    assert "model_version.updated" in text

    version = fraud.versions.get(version=2)
    response = version_admin.change_view(request, str(version.pk))
    response.render()
    text = response.content.decode()
    assert "Audit trail of fraud v2" in text
    assert text.count("model_version.created") == 1
    assert "registered_model.created" not in text
