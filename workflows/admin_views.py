"""The approver's pages in the Django admin: a queue of requests to act on, and a request page.

Mounted at /admin/approvals/ with the admin's own login, look and staff check. Buttons appear only
when the signed-in user may act; the services check again on every POST.
"""

from django.conf import settings
from django.contrib import admin, messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from accounts.signing import SigningCredentials, has_second_factor
from registry.errors import NotFound, RegistryError
from workflows import evidence as request_evidence
from workflows import rules, selectors, services
from workflows.models import RequestState, TransitionRequest


def _version_facts(row, evidence: dict | None) -> dict:
    return {
        "row": row,
        "tags": {t.key: t.value for t in row.tags.all()},
        "aliases": ", ".join(a.alias for a in row.aliases.all()) or "—",
        "digest": (evidence or {}).get("artifact_digest") or "unknown",
    }


def _comparison(request_row: TransitionRequest) -> dict:
    """The requested version beside the one holding the target now (for a decided request: the one
    it held when the request was decided): tags, description, digest."""
    holder = (
        request_row.replaced_version if request_row.decided_at else selectors.version_holding(request_row)
    )
    candidate = _version_facts(request_row.version, services.version_evidence(request_row.version))
    current = _version_facts(holder, services.version_evidence(holder)) if holder else None
    keys = sorted(set(candidate["tags"]) | set(current["tags"] if current else ()))
    tag_rows = [
        (key, candidate["tags"].get(key, "—"), current["tags"].get(key, "—") if current else "—")
        for key in keys
    ]
    return {"candidate": candidate, "current": current, "tag_rows": tag_rows}


def _evidence(request_row: TransitionRequest) -> dict:
    """The request's evidence snapshot with every run parameter beside the holder's (differences marked)."""
    shown = request_evidence.request_evidence_view(request_row)
    if shown["state"] == "not_taken":
        return shown
    mine = (shown["candidate"].get("run") or {}).get("params") or {}
    theirs = ((shown["holder"] or {}).get("run") or {}).get("params") or {}
    shown["param_rows"] = [
        {
            "key": key,
            "candidate": mine.get(key),
            "holder": theirs.get(key),
            "differs": mine.get(key) != theirs.get(key),
        }
        for key in sorted(set(mine) | set(theirs))
    ]
    return shown


def queue_view(request: HttpRequest) -> HttpResponse:
    actionable = selectors.transition_requests_actionable_by(request.user)
    rows = [(r, selectors.request_verdict(r)) for r in actionable]
    others = (
        selectors.transition_requests_visible_to(request.user)
        .exclude(pk__in=[r.pk for r in actionable])
        .filter(state__in=[RequestState.PENDING, RequestState.APPLYING])
        .order_by("created_at")
    )
    recent = (
        selectors.transition_requests_visible_to(request.user)
        .exclude(state__in=[RequestState.PENDING, RequestState.APPLYING])
        .order_by("-updated_at")[:20]
    )
    context = {
        **admin.site.each_context(request),
        "title": "Approval queue",
        "rows": rows,
        "others": [(r, selectors.request_verdict(r)) for r in others],
        "recent": recent,
    }
    return render(request, "workflows/queue.html", context)


def request_view(request: HttpRequest, request_id: int) -> HttpResponse:
    try:
        row = selectors.transition_request_get(request.user, request_id)
    except RegistryError:
        raise Http404("No such request")
    timeline = selectors.request_timeline(row)
    context = {
        **admin.site.each_context(request),
        "title": f"Request #{row.pk}: {row.model.name} v{row.version.version} → {row.target_label}",
        "req": row,
        "verdict": selectors.request_verdict(row),
        "may_approve": selectors.approve_refusal_for(request.user, row) is None,
        "approve_refusal": selectors.approve_refusal_for(request.user, row),
        "may_reject": selectors.reject_refusal_for(request.user, row) is None,
        "may_end_stuck": row.state == RequestState.APPLYING and selectors.manages(request.user, row),
        "comparison": _comparison(row),
        "evidence": _evidence(row),
        "timeline": timeline,
        "policy": selectors.request_policy(row),
        "signer_has_second_factor": has_second_factor(request.user),
    }
    context["signature_meanings"] = rules.signature_meanings_accepted(
        context["policy"], settings.QUORUM_SIGNATURE_MEANINGS
    )
    if context["policy"] is not None:
        context["ttl_hours"] = int(context["policy"].approval_ttl.total_seconds() // 3600)
    return render(request, "workflows/request.html", context)


@require_POST
def decide_view(request: HttpRequest, request_id: int) -> HttpResponse:
    decision = request.POST.get("decision")
    comment = request.POST.get("comment", "")
    here = reverse("workflow-admin-request", args=[request_id])
    # A password typed into the form signs the decision; without one it is unsigned (refused where
    # the policy requires signatures).
    password = request.POST.get("password", "")
    signing = (
        SigningCredentials(
            password=password, otp=request.POST.get("otp", ""), meaning=request.POST.get("meaning", "")
        )
        if password
        else None
    )
    try:
        if decision == "approve":
            row = services.transition_request_approve(
                actor=request.user,
                request_id=request_id,
                comment=comment,
                signing=signing,
                http_request=request,
            )
        elif decision == "reject":
            row = services.transition_request_reject(
                actor=request.user,
                request_id=request_id,
                comment=comment,
                signing=signing,
                http_request=request,
            )
        elif decision == "fail":
            row = services.transition_request_fail(actor=request.user, request_id=request_id, comment=comment)
        elif decision == "cancel":
            row = services.transition_request_cancel(
                actor=request.user, request_id=request_id, comment=comment
            )
        else:
            messages.error(request, "Choose Approve or Reject.")
            return HttpResponseRedirect(here)
    except NotFound:
        raise Http404("No such request")
    except RegistryError as exc:
        messages.error(request, exc.message)
        return HttpResponseRedirect(here)
    messages.success(request, f"Request #{row.pk} is now {row.get_state_display().lower()}.")
    return HttpResponseRedirect(here)


urlpatterns = [
    path("", admin.site.admin_view(queue_view), name="workflow-admin-queue"),
    path("<int:request_id>/", admin.site.admin_view(request_view), name="workflow-admin-request"),
    path("<int:request_id>/decide", admin.site.admin_view(decide_view), name="workflow-admin-decide"),
]
